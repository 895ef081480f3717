import NIOCore

/// One frame of the line protocol.
enum LineFrame: Equatable {
    case line(ByteBuffer)
    /// A line longer than the limit arrived; its bytes were discarded up to and including its newline (or are being
    /// discarded until it comes), and the connection goes on with the next line.
    case tooLong
}

/// Splits a byte stream at `\n` (dropping a `\r` before it), like NIOExtras' `LineBasedFrameDecoder`, but with a
/// limit on the line length: a longer line is reported once as `.tooLong` and skipped, instead of growing the
/// buffer without bound. Pure state machine, so it is tested without a channel.
struct LineSplitter {
    let maxLineBytes: Int
    private var discarding = false
    /// Bytes already scanned without finding a newline (from the reader index).
    private var scanned = 0

    init(maxLineBytes: Int) {
        self.maxLineBytes = maxLineBytes
    }

    /// The next frame in `buffer`, consuming its bytes; nil when more bytes are needed.
    mutating func next(_ buffer: inout ByteBuffer) -> LineFrame? {
        while true {
            let view = buffer.readableBytesView
            let searchStart = view.index(view.startIndex, offsetBy: scanned)
            if let newline = view[searchStart...].firstIndex(of: 0x0A) {
                let length = newline - view.startIndex
                scanned = 0
                if discarding {
                    buffer.moveReaderIndex(forwardBy: length + 1)
                    discarding = false
                    continue
                }
                let hasCR = length > 0 && view[newline - 1] == 0x0D
                if length - (hasCR ? 1 : 0) > maxLineBytes {
                    buffer.moveReaderIndex(forwardBy: length + 1)
                    return .tooLong
                }
                var line = buffer.readSlice(length: length)!
                buffer.moveReaderIndex(forwardBy: 1)
                if hasCR { line.moveWriterIndex(to: line.writerIndex - 1) }
                return .line(line)
            }
            // No newline yet.
            if discarding {
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                scanned = 0
                return nil
            }
            if buffer.readableBytes > maxLineBytes + 1 {
                // Tell the client now; the rest of the line is dropped as it arrives.
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                scanned = 0
                discarding = true
                return .tooLong
            }
            scanned = buffer.readableBytes
            return nil
        }
    }

    /// At end of input: a last line without newline is still a line (unless it was being discarded).
    mutating func finish(_ buffer: inout ByteBuffer) -> LineFrame? {
        defer { buffer.moveReaderIndex(forwardBy: buffer.readableBytes) }
        scanned = 0
        guard buffer.readableBytes > 0, !discarding else { return nil }
        if buffer.readableBytes > maxLineBytes { return .tooLong }
        return .line(buffer.readSlice(length: buffer.readableBytes)!)
    }
}

/// The channel handler around `LineSplitter`.
final class LineFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = LineFrame

    private var splitter: LineSplitter

    init(maxLineBytes: Int) {
        splitter = LineSplitter(maxLineBytes: maxLineBytes)
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = splitter.next(&buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if let frame = splitter.finish(&buffer) {
            context.fireChannelRead(wrapInboundOut(frame))
        }
        return .needMoreData
    }
}
