import NIOCore

/// A NIO decoder that cuts the inbound byte stream into whole JSON texts.
///
/// Each emitted `ByteBuffer` holds exactly one top-level JSON object or
/// array, found by `JSONStreamFramer`; parsing is left to the next handler.
struct JSONFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    private var framer: JSONStreamFramer

    init(maximumFrameSize: Int) {
        self.framer = JSONStreamFramer(maximumFrameSize: maximumFrameSize)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let found = try buffer.withUnsafeReadableBytes { try framer.scan($0) }
        guard let frame = found else { return .needMoreData }
        let start = buffer.readerIndex
        guard let slice = buffer.getSlice(at: start + frame.range.lowerBound, length: frame.range.count) else {
            throw JSONStreamFramer.FramingError(message: "frame outside the buffer")
        }
        buffer.moveReaderIndex(forwardBy: frame.consumed)
        context.fireChannelRead(wrapInboundOut(slice))
        return .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
