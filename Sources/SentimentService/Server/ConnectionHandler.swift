import Foundation
import Logging
import NIOCore
import SentimentProtocol
import SentimentCore

/// Sent down a connection's pipeline when the daemon starts draining.
struct DrainConnectionEvent {}

/// One client connection: parses request lines, hands them to the router, and writes the answers back in request
/// order. A request is started only while fewer than `maxPipelined` of the connection's and fewer than
/// `max_pipelined_per_uid` of its uid's (`ConnectionLedger`) are unanswered; lines that arrive beyond that wait here
/// (one socket read may bring several), and reading pauses while any wait or the socket's send buffer is full, so a
/// client that pipelines too much or does not read its answers only slows itself down.
///
/// Idle timeout: a connection that makes no progress — completes no request line and takes no answer off the
/// socket — for `idle_timeout_seconds` is closed, unless the daemon owes it answers it is still working on. That
/// covers a client that never sends, one that trickles a line byte by byte, and one that stops reading its answers.
///
/// Every method runs on the channel's event loop.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = LineFrame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let router: Router
    private let state: ServingState
    private let peer: PeerCredentials
    private let ledger: ConnectionLedger
    private let ticket: ConnectionLedger.Ticket
    private let logger: Logger
    /// Last time a request line arrived or an answer was written to the socket.
    private var lastProgress = NIODeadline.now()
    private var idleCheck: Scheduled<Void>?

    private var nextSequence: UInt64 = 0
    private var nextToWrite: UInt64 = 0
    /// Answers waiting for an earlier one; nil for notifications (nothing to write, but they hold their place).
    private var finished: [UInt64: ByteBuffer?] = [:]
    private var unanswered = 0
    /// Frames read but not started yet (the quotas were reached).
    private var held: [LineFrame] = []
    private var readPending = false
    /// No more requests will come: the client half-closed, or the daemon is draining.
    private var inputDone = false
    private var active = true

    init(router: Router, state: ServingState, peer: PeerCredentials, ledger: ConnectionLedger,
         ticket: ConnectionLedger.Ticket, logger: Logger) {
        self.router = router
        self.state = state
        self.peer = peer
        self.ledger = ledger
        self.ticket = ticket
        var logger = logger
        logger[metadataKey: "peer_uid"] = "\(peer.uid)"
        logger[metadataKey: "peer_pid"] = "\(peer.pid)"
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        scheduleIdleCheck(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastProgress = .now()
        held.append(unwrapInboundIn(data))
        startHeld(context: context)
    }

    /// Starts the held frames, in order, while the quotas allow.
    private func startHeld(context: ChannelHandlerContext) {
        while let frame = held.first, active, mayStart(context) {
            held.removeFirst()
            start(frame, context: context)
        }
    }

    private func start(_ frame: LineFrame, context: ChannelHandlerContext) {
        let sequence = nextSequence
        switch frame {
        case .tooLong:
            nextSequence += 1
            unanswered += 1
            ledger.requestStarted(ticket)
            let limit = state.config.requestLineBytes
            state.metrics.requestFinished(method: "invalid", outcome: RPCErrorCode.requestTooLarge.kind, seconds: 0)
            finish(context: context, sequence: sequence,
                   line: RPCResponse.encodeFailure(id: .null, error: RPCError.requestTooLarge(limit: limit).wireObject))
        case let .line(buffer):
            let bytes = buffer.readableBytesView
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return } // blank line: keep-alive
            nextSequence += 1
            unanswered += 1
            ledger.requestStarted(ticket)
            handle(line: Data(bytes), sequence: sequence, context: context)
        }
    }

    private func handle(line: Data, sequence: UInt64, context: ChannelHandlerContext) {
        let started = ContinuousClock.now
        let request: RPCRequest
        switch RPCRequest.parse(line: line) {
        case let .failure(failure):
            state.metrics.requestFinished(method: "invalid", outcome: failure.error.code.kind, seconds: 0)
            finish(context: context, sequence: sequence,
                   line: RPCResponse.encodeFailure(id: failure.id, error: failure.error.wireObject))
            return
        case let .success(r):
            request = r
        }
        let methodLabel = router.isKnown(request.method) ? request.method : "unknown"
        if state.phase == .draining {
            state.metrics.requestFinished(method: methodLabel, outcome: RPCErrorCode.shuttingDown.kind, seconds: 0)
            finish(context: context, sequence: sequence, line: request.id.map {
                RPCResponse.encodeFailure(id: $0, error: RPCError.shuttingDown.wireObject)
            })
            return
        }
        let loop = context.eventLoop
        let boundContext = NIOLoopBound(context, eventLoop: loop)
        let boundSelf = NIOLoopBound(self, eventLoop: loop)
        let id = request.id
        let texts = request.method == PredictMethod.name ? Self.textCount(request.params) : 0
        router.handle(request, caller: .peer(peer), logger: logger) { [state] reply in
            // Encode here, on whichever thread answered (the batcher's for predict would stall the next batch:
            // hop first).
            loop.execute {
                let line: Data?
                let outcome: String
                switch reply {
                case let .success(result):
                    do {
                        line = try id.map { try RPCResponse.encodeSuccess(id: $0, result: result) }
                        outcome = "ok"
                    } catch {
                        // A result that does not encode (a NaN probability) is a bug: say so, do not crash.
                        let e = RPCError.internalError("the answer could not be encoded: \(error)")
                        line = id.map { RPCResponse.encodeFailure(id: $0, error: e.wireObject) }
                        outcome = e.code.kind
                    }
                case let .failure(error):
                    line = id.map { RPCResponse.encodeFailure(id: $0, error: error.wireObject) }
                    outcome = error.code.kind
                }
                state.metrics.requestFinished(method: methodLabel, outcome: outcome,
                                              seconds: (ContinuousClock.now - started).seconds)
                if outcome == "ok" { state.requestAnswered(texts: texts) }
                boundSelf.value.finish(context: boundContext.value, sequence: sequence, line: line)
            }
        }
    }

    private static func textCount(_ params: JSONValue?) -> Int {
        if case let .object(o)? = params, case let .array(a)? = o["texts"] { return a.count }
        return 0
    }

    /// Records an answer and writes every answer that is now in order.
    private func finish(context: ChannelHandlerContext, sequence: UInt64, line: Data?) {
        guard active else { return }
        let buffer = line.map { data in
            var buffer = context.channel.allocator.buffer(capacity: data.count + 1)
            buffer.writeBytes(data)
            buffer.writeInteger(RPCFraming.newline)
            return buffer
        }
        // updateValue, not subscript assignment: a nil answer (notification) must still hold its place.
        finished.updateValue(buffer, forKey: sequence)
        var wrote = false
        while let entry = finished.removeValue(forKey: nextToWrite) {
            nextToWrite += 1
            unanswered -= 1
            ledger.requestFinished(ticket)
            if let buffer = entry {
                let promise = context.eventLoop.makePromise(of: Void.self)
                let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
                promise.futureResult.whenSuccess { bound.value.lastProgress = .now() }
                context.write(wrapOutboundOut(buffer), promise: promise)
                wrote = true
            }
        }
        if wrote { context.flush() }
        startHeld(context: context)
        resumeReadingIfAllowed(context: context)
        closeIfDone(context: context)
    }

    // MARK: - Back-pressure

    /// Whether one more request may start: the connection's and its uid's quotas. When the uid's is the one that is
    /// full, the ledger wakes this connection once one of the uid's answers goes out.
    private func mayStart(_ context: ChannelHandlerContext) -> Bool {
        guard unanswered < state.config.maxPipelined else { return false }
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        return ledger.mayRead(ticket, limits: ConnectionLedger.Limits(state.config)) {
            loop.execute {
                let (handler, context) = bound.value
                handler.startHeld(context: context)
                handler.resumeReadingIfAllowed(context: context)
                handler.closeIfDone(context: context)
            }
        }
    }

    private func mayRead(_ context: ChannelHandlerContext) -> Bool {
        !inputDone && held.isEmpty && context.channel.isWritable && mayStart(context)
    }

    func read(context: ChannelHandlerContext) {
        if mayRead(context) {
            context.read()
        } else {
            readPending = true
        }
    }

    private func resumeReadingIfAllowed(context: ChannelHandlerContext) {
        if readPending && mayRead(context) {
            readPending = false
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        resumeReadingIfAllowed(context: context)
        context.fireChannelWritabilityChanged()
    }

    // MARK: - Ending

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is DrainConnectionEvent || (event as? ChannelEvent) == .inputClosed {
            inputDone = true
            closeIfDone(context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func closeIfDone(context: ChannelHandlerContext) {
        if inputDone && unanswered == 0 && held.isEmpty && active {
            active = false
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        active = false
        idleCheck?.cancel()
        idleCheck = nil
        // Requests still unanswered no longer count against the uid's quota.
        for _ in 0..<max(0, unanswered) { ledger.requestFinished(ticket) }
        unanswered = 0
        held.removeAll()
        finished.removeAll()
        context.fireChannelInactive()
    }

    // MARK: - Idle timeout

    private func scheduleIdleCheck(context: ChannelHandlerContext) {
        let timeout = TimeAmount.nanoseconds(Int64(state.config.idleTimeoutSeconds * 1e9))
        let due = max(lastProgress + timeout, .now() + .milliseconds(10))
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleCheck = context.eventLoop.scheduleTask(deadline: due) { bound.value.0.checkIdle(context: bound.value.1) }
    }

    private func checkIdle(context: ChannelHandlerContext) {
        guard active else { return }
        let seconds = state.config.idleTimeoutSeconds
        if NIODeadline.now() >= lastProgress + .nanoseconds(Int64(seconds * 1e9)) {
            // Answers the daemon is still working on are not the client's idleness; answers it will not read are.
            let waitingForUs = (unanswered > 0 || !held.isEmpty) && context.channel.isWritable
            if !waitingForUs {
                logger.info("closing a connection that made no progress", metadata: [
                    "idle_timeout_seconds": "\(seconds)", "unanswered": "\(unanswered)",
                ])
                state.metrics.connectionTimedOut()
                active = false
                context.close(promise: nil)
                return
            }
            lastProgress = .now()
        }
        scheduleIdleCheck(context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let io = error as? IOError, io.errnoCode == ECONNRESET || io.errnoCode == EPIPE {
            logger.debug("client went away", metadata: ["error": "\(error)"])
        } else {
            logger.warning("closing a connection after an error", metadata: ["error": "\(error)"])
        }
        active = false
        context.close(promise: nil)
    }
}
