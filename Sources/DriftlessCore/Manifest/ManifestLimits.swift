/// Bounds that keep hostile input (alias bombs, huge files, deep nesting) cheap to reject.
public struct ManifestLimits: Sendable {
    /// The largest manifest file read, in bytes; larger files are an error and are not parsed.
    public var maxFileBytes: Int
    /// Nodes a document may expand to beyond one per byte of its file, before it counts as an alias bomb.
    public var extraNodeBudget: Int
    /// The deepest nesting of mappings and sequences (enforced by libyaml's parser).
    public var maxNesting: Int

    public init(maxFileBytes: Int = 4 << 20, extraNodeBudget: Int = 10_000, maxNesting: Int = 1000) {
        self.maxFileBytes = maxFileBytes
        self.extraNodeBudget = extraNodeBudget
        self.maxNesting = maxNesting
    }

    public static let `default` = ManifestLimits()

    /// The most nodes all documents of a file of `bytes` bytes may expand to: every node written takes at
    /// least one byte, so only aliases can exceed this.
    public func nodeBudget(forFileOfSize bytes: Int) -> Int { bytes + extraNodeBudget }
}
