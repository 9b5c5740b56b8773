/// Bounds that keep hostile input (alias bombs, huge files, deep nesting, slow parses) cheap to reject.
///
/// `YAMLPrecheck` enforces them on libyaml's event stream before Yams composes a file; `YAMLReader.convert`
/// checks them again while it builds the `YAMLNode` tree.
public struct ManifestLimits: Sendable, Equatable {
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
    /// How long reading any file (its YAML events, composition and conversion) may take before it is stopped
    /// with an error, plus `parseTimePerMiB`; checked every 1,024 events or nodes.
    public var parseTimeBudget: Duration
    /// The time a file may take beyond `parseTimeBudget`, per MiB: reading is linear in the file's size
    /// (a 4 MiB file of 19,000 documents takes about 1.3 s in a release build), so large valid files are
    /// never stopped while a small hostile one is within about a second.
    public var parseTimePerMiB: Duration

    public init(
        maxFileBytes: Int = 4 << 20, extraNodeBudget: Int = 10_000, maxNesting: Int = 64,
        parseTimeBudget: Duration = .seconds(1), parseTimePerMiB: Duration = .seconds(1)
    ) {
        self.maxFileBytes = maxFileBytes
        self.extraNodeBudget = extraNodeBudget
        self.maxNesting = min(maxNesting, Self.libyamlNesting)
        self.parseTimeBudget = parseTimeBudget
        self.parseTimePerMiB = parseTimePerMiB
    }

    public static let `default` = ManifestLimits()

    /// libyaml's maximum nesting (its `yaml_set_max_nest_level` default, which Driftless leaves alone).
    static let libyamlNesting = 1000

    /// The most nodes all documents of a file of `bytes` bytes may expand to: every node written takes at
    /// least one byte, so only aliases can exceed this.
    public func nodeBudget(forFileOfSize bytes: Int) -> Int { bytes + extraNodeBudget }

    /// How long reading a file of `bytes` bytes may take.
    public func parseTimeBudget(forFileOfSize bytes: Int) -> Duration {
        parseTimeBudget + parseTimePerMiB * (Double(bytes) / Double(1 << 20))
    }

    /// A duration for a message, to the tenth of a second: `1s`, `4.8s`, `0s`.
    static func describe(_ duration: Duration) -> String {
        duration.tenthsDescription
    }
}
