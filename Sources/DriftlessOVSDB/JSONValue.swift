import Foundation

/// A JSON document as a Swift value, parsed and serialized by Foundation.
///
/// OVSDB needs to tell JSON integers, reals and booleans apart, which
/// `JSONSerialization`'s `Any` tree blurs; this enum keeps them distinct.
/// Parsing and serialization are delegated to Foundation's
/// `JSONSerialization` (the fastest Foundation path on Linux); this type only
/// converts between its object tree and Swift cases.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case integer(Int64)
    case real(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

extension JSONValue {
    /// Parses one complete JSON text with Foundation.
    ///
    /// - Throws: `JSONValue.ParseError` when Foundation rejects the text.
    public init(parsing data: Data) throws {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw ParseError(message: "\(error)", byteCount: data.count)
        }
        self = JSONValue(foundationObject: object)
    }

    /// Parses one complete JSON text given as a string.
    public init(parsing text: String) throws {
        try self.init(parsing: Data(text.utf8))
    }

    /// Serializes the value to compact JSON bytes with Foundation.
    ///
    /// - Throws: `JSONValue.ParseError` for values JSON cannot express (NaN, infinity).
    public func serialized() throws -> Data {
        do {
            return try JSONSerialization.data(
                withJSONObject: foundationObject,
                options: [.fragmentsAllowed, .withoutEscapingSlashes]
            )
        } catch {
            throw ParseError(message: "cannot serialize: \(error)", byteCount: 0)
        }
    }

    /// The value serialized as a compact JSON string (for messages and tests).
    public var jsonText: String {
        guard let data = try? serialized() else { return "<unserializable JSON>" }
        return String(decoding: data, as: UTF8.self)
    }

    /// A failure to parse or serialize JSON text.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        /// Foundation's explanation.
        public var message: String
        /// How many bytes the rejected text had.
        public var byteCount: Int

        public var description: String { "invalid JSON (\(byteCount) bytes): \(message)" }
    }
}

// MARK: - Bridging to and from Foundation's object tree

extension JSONValue {
    /// Converts a `JSONSerialization` object tree into a `JSONValue`.
    ///
    /// Booleans arrive as `NSNumber`s whose Objective-C type is `c` (char);
    /// every other number has an integer or floating type code. This is the
    /// documented way to tell `true` from `1` in a Foundation tree.
    init(foundationObject object: Any) {
        switch object {
        case let string as String:
            self = .string(string)
        case let array as [Any]:
            self = .array(array.map(JSONValue.init(foundationObject:)))
        case let dictionary as [String: Any]:
            var result: [String: JSONValue] = [:]
            result.reserveCapacity(dictionary.count)
            for (key, value) in dictionary {
                result[key] = JSONValue(foundationObject: value)
            }
            self = .object(result)
        case let number as NSNumber:
            self = JSONValue(number: number)
        default:
            self = .null
        }
    }

    private init(number: NSNumber) {
        let code = number.objCType.pointee
        switch UInt8(bitPattern: code) {
        case UInt8(ascii: "c"), UInt8(ascii: "B"):
            self = .bool(number.boolValue)
        case UInt8(ascii: "d"), UInt8(ascii: "f"):
            self = .real(number.doubleValue)
        case UInt8(ascii: "Q"), UInt8(ascii: "L"):
            let unsigned = number.uint64Value
            self = unsigned <= UInt64(Int64.max) ? .integer(Int64(unsigned)) : .real(number.doubleValue)
        default:
            self = .integer(number.int64Value)
        }
    }

    /// The value as a tree `JSONSerialization` can write.
    var foundationObject: Any {
        switch self {
        case .null: return NSNull()
        case .bool(let value): return NSNumber(value: value)
        case .integer(let value): return NSNumber(value: value)
        case .real(let value): return NSNumber(value: value)
        case .string(let value): return value
        case .array(let values): return values.map(\.foundationObject)
        case .object(let members):
            var result: [String: Any] = [:]
            result.reserveCapacity(members.count)
            for (key, value) in members {
                result[key] = value.foundationObject
            }
            return result
        }
    }
}

// MARK: - Convenience accessors

extension JSONValue {
    /// The string, when this is a JSON string.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The elements, when this is a JSON array.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The members, when this is a JSON object.
    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// The integer, when this is a JSON number with an integer value.
    public var integerValue: Int64? {
        switch self {
        case .integer(let value): return value
        case .real(let value) where value.rounded() == value && abs(value) < 9.2e18: return Int64(value)
        default: return nil
        }
    }

    /// Whether this is JSON `null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The member named `key`, when this is a JSON object that has it.
    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .real(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension JSONValue: CustomStringConvertible {
    public var description: String { jsonText }
}
