/// A position in a manifest file: a path relative to the repository root, with 1-based line and column.
public struct SourceLocation: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The file, relative to the repository (or validated directory) root.
    public var file: String
    /// The line, counted from 1.
    public var line: Int
    /// The column in Unicode scalars, counted from 1.
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:column`, as compilers print it; control characters in the file name are escaped, so a
    /// file named `x\nfake.yaml:1:1: error: …` cannot forge a line of its own.
    public var description: String { "\(file.escapingControlCharacters):\(line):\(column)" }
}
