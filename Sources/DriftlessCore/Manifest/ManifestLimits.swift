/// Bounds that keep hostile input (alias bombs, huge files, deep nesting, slow parses) cheap to reject.
///
/// `YAMLPrecheck` enforces them on libyaml's event stream before Yams composes a file; `YAMLReader.convert`
/// checks them again while it builds the `YAMLNode` tree.
public struct ManifestLimits: Sendable {
    /// The largest manifest file read, in bytes; larger files are an error and are not parsed.
    public var maxFileBytes: Int
    /// Nodes a document may expand to beyond one per byte of its file, before it counts as an alias bomb.
    public var extraNodeBudget: Int
    /// The deepest nesting of mappings and sequences, counted after alias expansion (an alias is as deep as
    /// the node it names). A manifest needs about 6. Every recursive stage of loading (Yams' composer, the
    /// conversion, the schema checker, the decoder) stays within this many levels: 64 levels take under
    /// 256 KiB of stack in a debug build, within the 512 KiB stacks of the threads that load files in
    /// parallel. libyaml's own limit, 1000, is the ceiling.
    public var maxNesting: Int
    /// How long reading one file (its YAML events, composition and conversion) may take before it is stopped
    /// with an error; checked every 1,024 events or nodes.
    public var parseTimeBudget: Duration

    public init(
        maxFileBytes: Int = 4 << 20, extraNodeBudget: Int = 10_000, maxNesting: Int = 64,
        parseTimeBudget: Duration = .seconds(2)
    ) {
        self.maxFileBytes = maxFileBytes
        self.extraNodeBudget = extraNodeBudget
        self.maxNesting = min(maxNesting, Self.libyamlNesting)
        self.parseTimeBudget = parseTimeBudget
    }

    public static let `default` = ManifestLimits()

    /// libyaml's maximum nesting (its `yaml_set_max_nest_level` default, which Driftless leaves alone).
    static let libyamlNesting = 1000

    /// The most nodes all documents of a file of `bytes` bytes may expand to: every node written takes at
    /// least one byte, so only aliases can exceed this.
    public func nodeBudget(forFileOfSize bytes: Int) -> Int { bytes + extraNodeBudget }

    /// A duration for a message: `2s`, `250ms`.
    static func describe(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }
}
