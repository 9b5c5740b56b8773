import Foundation

/// Splits a byte stream into complete top-level JSON texts.
///
/// OVSDB peers send JSON-RPC messages back to back with no delimiter. This is
/// framing, not parsing: it tracks only string boundaries, backslash escapes
/// and bracket depth to find where each top-level object or array ends, and
/// hands the bytes to Foundation for the real parse. State is kept between
/// calls, so bytes already examined are never scanned again.
public struct JSONStreamFramer: Sendable {
    /// The largest single JSON text accepted before the stream is declared broken.
    public var maximumFrameSize: Int

    private var scanned = 0
    private var frameStart: Int?
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var pending: [UInt8] = []

    /// Creates a framer that refuses texts longer than `maximumFrameSize` bytes.
    public init(maximumFrameSize: Int = 512 * 1024 * 1024) {
        self.maximumFrameSize = maximumFrameSize
    }

    /// A stream that cannot be a sequence of JSON objects or arrays.
    public struct FramingError: Error, Sendable, CustomStringConvertible {
        /// What was wrong.
        public var message: String
        public var description: String { "JSON framing error: \(message)" }
    }

    /// Where the next complete text lies in the bytes given to `scan(_:)`.
    public struct Frame: Sendable, Equatable {
        /// The text itself, without surrounding whitespace.
        public var range: Range<Int>
        /// How many bytes to discard from the front (whitespace and the text).
        public var consumed: Int
    }

    /// Continues scanning `bytes` (the unconsumed stream, starting at the same
    /// position as at the previous call) for the end of the next JSON text.
    ///
    /// Returns `nil` when more bytes are needed. After a frame is returned the
    /// caller must drop `consumed` bytes from the front before calling again.
    public mutating func scan(_ bytes: UnsafeRawBufferPointer) throws -> Frame? {
        var index = scanned
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else if let start = frameStart {
                switch byte {
                case UInt8(ascii: "\""):
                    inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 {
                        let frame = Frame(range: start..<(index + 1), consumed: index + 1)
                        reset()
                        return frame
                    }
                default:
                    break
                }
            } else {
                switch byte {
                case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                    break
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    frameStart = index
                    depth = 1
                default:
                    throw FramingError(message: "unexpected byte 0x\(String(byte, radix: 16)) between JSON messages")
                }
            }
            index += 1
        }
        scanned = index
        if let start = frameStart, index - start > maximumFrameSize {
            throw FramingError(message: "message exceeds \(maximumFrameSize) bytes")
        }
        return nil
    }

    /// Appends bytes and returns every JSON text completed by them, in order.
    ///
    /// This is the buffered form of `scan(_:)`, for callers that do not hold
    /// their own buffer; the framer keeps any incomplete tail.
    public mutating func append(_ bytes: some Sequence<UInt8>) throws -> [Data] {
        pending.append(contentsOf: bytes)
        var frames: [Data] = []
        while true {
            let snapshot = pending
            let found = try snapshot.withUnsafeBytes { try scan($0) }
            guard let frame = found else { break }
            frames.append(Data(snapshot[frame.range]))
            pending.removeFirst(frame.consumed)
        }
        if frameStart == nil, pending.allSatisfy(Self.isWhitespace) {
            pending.removeAll(keepingCapacity: true)
            scanned = 0
        }
        return frames
    }

    /// Whether bytes of an unfinished text are waiting for the rest.
    public var hasPartialFrame: Bool { frameStart != nil }

    private mutating func reset() {
        scanned = 0
        frameStart = nil
        depth = 0
        inString = false
        escaped = false
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
            || byte == UInt8(ascii: "\t")
    }
}
