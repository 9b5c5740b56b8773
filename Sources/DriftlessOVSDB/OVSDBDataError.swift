import Foundation

/// A value that does not fit the OVSDB data model or the column's type.
public struct OVSDBDataError: Error, Sendable, CustomStringConvertible {
    /// What was wrong, naming the offending JSON where it helps.
    public var message: String

    /// Creates an error with `message`.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
