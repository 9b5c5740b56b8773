import Foundation

/// The one JSON form of every document Driftless prints, serves or keeps: keys sorted, slashes left as they
/// are, dates in ISO 8601 (plans, reports, history, the API); pretty for people, compact for the store.
public enum DocumentJSON {
    /// Pretty-printed, with a final newline: what the commands print.
    public static func render<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try data(value), as: UTF8.self) + "\n"
    }

    /// Pretty-printed bytes: what the HTTP API answers.
    public static func data<T: Encodable>(_ value: T) throws -> Data {
        try encoder(pretty: true).encode(value)
    }

    /// Compact bytes: what the store keeps.
    public static func compact<T: Encodable>(_ value: T) throws -> Data {
        try encoder(pretty: false).encode(value)
    }

    static func encoder(pretty: Bool) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
}
