import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import SentimentService

/// The idle rule of the JSON-RPC socket (`ConnectionHandler`), for HTTP connections: a connection that completes
/// no request and takes no answer for `idle_timeout_seconds` is closed, unless the daemon still owes it an answer
/// it is working on. That closes a keep-alive connection nobody uses, a client that trickles its headers or body
/// byte by byte (each byte would reset a plain read timeout), and one that does not read its answers.
///
/// Sits after the HTTP codec, so it sees whole request and response parts. Every method runs on the channel's
/// event loop.
final class HTTPConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let timeout: () -> TimeAmount
    private let onTimeout: @Sendable () -> Void
    private var lastProgress = NIODeadline.now()
    /// Requests received in full whose answer has not been produced yet.
    private var owed = 0
    private var check: Scheduled<Void>?

    init(timeout: @escaping () -> TimeAmount, onTimeout: @escaping @Sendable () -> Void) {
        self.timeout = timeout
        self.onTimeout = onTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) { schedule(context: context) }

    func handlerRemoved(context: ChannelHandlerContext) { check?.cancel() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            owed += 1
            lastProgress = .now()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        owed -= 1
        // Progress when the answer has left for the socket, not when it was produced: a client that does not read
        // makes none.
        let written = promise ?? context.eventLoop.makePromise()
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        written.futureResult.whenSuccess { bound.value.lastProgress = .now() }
        context.write(data, promise: written)
    }

    private func schedule(context: ChannelHandlerContext) {
        let limit = timeout()
        let step = TimeAmount.nanoseconds(max(limit.nanoseconds / 4, TimeAmount.milliseconds(50).nanoseconds))
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleTask(in: step) {
            let (handler, context) = bound.value
            if handler.owed <= 0 && NIODeadline.now() - handler.lastProgress > handler.timeout() {
                handler.onTimeout()
                context.close(promise: nil)
            } else if context.channel.isActive {
                handler.schedule(context: context)
            }
        }
    }
}
