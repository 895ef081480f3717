import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import SentimentOpenInference
import SentimentProtocol
import SentimentService
#if canImport(Glibc)
import Glibc
#endif

/// Where one HTTP listener listens.
enum HTTPListenTarget: Sendable, CustomStringConvertible {
    /// Bind this Unix socket path (a stale socket is removed, a live one refused) with these permissions.
    case unixPath(String, mode: UInt32)
    /// Bind this TCP address (`server.http_listen`, outside systemd).
    case tcp(TCPAddress)
    /// A listening socket systemd passed (`sentimentd-http.socket`, or the HTTP socket of `sentimentd.socket`).
    case activated(ActivatedSocket)

    var description: String {
        switch self {
        case let .unixPath(path, _): return path
        case let .tcp(address): return "tcp \(address)"
        case let .activated(socket): return "fd \(socket.fd) from systemd (\(socket.unixPath ?? socket.name))"
        }
    }
}

/// The HTTP front end: Hummingbird's HTTP/1.1 channel and router behind listeners of our own.
///
/// Why not Hummingbird's `Application`/`Server`: its server binds a host and port or a socket path itself and has
/// no way to adopt a listening descriptor, which socket activation needs (`sentimentd-http.socket` passes TCP into a
/// service that has no network of its own). So each listener is NIO's `ServerBootstrap` (bind, or
/// `bind(_ socket:)` for a passed descriptor), and each accepted connection gets Hummingbird's `HTTP1Channel` with a
/// responder that carries the connection's transport (the peer's credentials on the Unix socket). Admission is the
/// JSON-RPC socket's ledger: the same `max_connections`, per-uid quota and admin slots on the Unix socket; TCP
/// connections take slots of `max_connections` (their caller is known per request, by token). A connection refused
/// by a limit gets one answer, 429 (this uid's quota) or 503 (all slots taken), and is closed.
public final class HTTPFrontEnd: FrontEnd, @unchecked Sendable {
    private let state: ServingState
    private let targets: [HTTPListenTarget]
    private let group: any EventLoopGroup
    private let logger: Logger
    private let responder: RouterResponder<HTTPRequestContext>
    private let lock = NSLock()
    private var listeners: [NIOAsyncChannel<HTTPConnection, Never>] = []
    private var acceptLoops: [Task<Void, Never>] = []
    private var connections: [ObjectIdentifier: any Channel] = [:]
    private var boundPaths: [(path: String, inode: UInt64)] = []

    init(state: ServingState, tokens: TokenAuthority, targets: [HTTPListenTarget], group: any EventLoopGroup, logger: Logger) {
        self.state = state
        self.targets = targets
        self.group = group
        self.logger = logger
        responder = HTTPRoutes(state: state, access: HTTPAccess(state: state, tokens: tokens)).responder()
    }

    /// The front end the configuration and the passed sockets ask for; nil when HTTP is off.
    public static func make(_ context: FrontEndContext) throws -> (any FrontEnd)? {
        let config = context.state.config
        var targets = context.activated.map(HTTPListenTarget.activated)
        if !context.activated.contains(where: \.isUnix), let path = config.httpSocketPath {
            targets.append(.unixPath(path, mode: config.socketMode))
        }
        if let address = config.httpListen { targets.append(.tcp(address)) }
        guard !targets.isEmpty else { return nil }
        return HTTPFrontEnd(state: context.state, tokens: context.tokens, targets: targets,
                            group: context.eventLoopGroup, logger: context.logger)
    }

    public func start() async throws {
        for target in targets {
            let listener = try await bind(target)
            lock.withLock { listeners.append(listener) }
            let logger = self.logger
            let loop = Task {
                await withDiscardingTaskGroup { group in
                    do {
                        try await listener.executeThenClose { inbound in
                            for try await connection in inbound {
                                group.addTask { await connection.run(logger: logger) }
                            }
                        }
                    } catch {
                        logger.debug("HTTP listener stopped", metadata: ["error": "\(error)"])
                    }
                }
            }
            lock.withLock { acceptLoops.append(loop) }
            logger.notice("HTTP listening", metadata: ["listener": "\(target)"])
        }
    }

    /// Stops accepting; requests in progress finish (their answers say `Connection: close`), idle connections close.
    public func drain() async {
        let (open, bound, channels) = lock.withLock { (listeners, boundPaths, Array(connections.values)) }
        for listener in open { try? await listener.channel.close() }
        for (path, inode) in bound {
            var st = stat()
            if lstat(path, &st) == 0, UInt64(st.st_ino) == inode { unlink(path) }
        }
        for channel in channels { channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
    }

    public func waitForConnections(timeout: Duration) async {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline, !lock.withLock({ connections.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(10))
        }
        for channel in lock.withLock({ Array(connections.values) }) { try? await channel.close() }
        for loop in lock.withLock({ acceptLoops }) { await loop.value }
    }

    // MARK: listening

    private func bind(_ target: HTTPListenTarget) async throws -> NIOAsyncChannel<HTTPConnection, Never> {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
        switch target {
        case let .unixPath(path, mode):
            try SocketServer.prepare(path: path)
            let channel: NIOAsyncChannel<HTTPConnection, Never>
            do {
                channel = try await bootstrap.bind(unixDomainSocketPath: path) { [self] in setUp($0, unix: true) }
            } catch {
                throw ServerError.bindFailed(path: path, reason: "\(error)")
            }
            guard chmod(path, mode_t(mode)) == 0 else {
                let reason = String(cString: strerror(errno))
                try? await channel.channel.close()
                throw ServerError.bindFailed(path: path, reason: "chmod \(String(mode, radix: 8)): \(reason)")
            }
            var st = stat()
            if lstat(path, &st) == 0 { lock.withLock { boundPaths.append((path, UInt64(st.st_ino))) } }
            return channel
        case let .tcp(address):
            do {
                return try await bootstrap.bind(host: address.host, port: address.port) { [self] in setUp($0, unix: false) }
            } catch {
                throw ServerError.bindFailed(path: "\(address) (server.http_listen)", reason: "\(error)")
            }
        case let .activated(socket):
            do {
                return try await bootstrap.bind(socket.fd) { [self] in setUp($0, unix: socket.isUnix) }
            } catch {
                throw ServerError.adoptFailed(fd: socket.fd, reason: "\(error)")
            }
        }
    }

    /// One accepted connection: who it is, whether a slot is free for it, then Hummingbird's HTTP/1.1 channel.
    private func setUp(_ channel: any Channel, unix: Bool) -> EventLoopFuture<HTTPConnection> {
        let transport: EventLoopFuture<HTTPTransport>
        if unix {
            transport = PeerCredentials.of(channel).map { .unix($0) }
        } else {
            transport = channel.eventLoop.makeSucceededFuture(.tcp(remote: channel.remoteAddress.map { "\($0)" } ?? "tcp"))
        }
        let state = self.state
        return transport.flatMapThrowing { [self] transport in
            let limits = ConnectionLedger.Limits(state.config)
            let admission: Result<ConnectionLedger.Ticket, ConnectionLedger.Refusal>
            switch transport {
            case let .unix(peer):
                admission = state.ledger.admit(uid: peer.uid, isAdmin: state.authorizer.role(of: peer) == .admin,
                                               limits: limits)
            case .tcp:
                admission = state.ledger.admitAnonymous(limits: limits)
            }
            let respond: HTTPChannelHandler.Responder
            switch admission {
            case let .failure(refusal):
                state.metrics.connectionRefused()
                logger.info("HTTP connection refused",
                            metadata: ["caller": "\(transport)", "reason": "\(refusal.error.message)"])
                let error = HTTPAPIError(refusal.perUID ? .tooManyRequests : .serviceUnavailable, refusal.error.message,
                                         headers: [.connection: "close"])
                respond = { request, writer, _ in
                    // `Connection: close`: the connection ends after this answer.
                    let context = HTTPRequestContext(source: .init(logger: self.logger, transport: transport))
                    let response = try error.response(from: request, context: context)
                    try await writer.write(response: response.head, body: response.body)
                }
            case let .success(ticket):
                let id = ObjectIdentifier(channel)
                lock.withLock { connections[id] = channel }
                state.metrics.connectionsChanged(to: state.connectionOpened())
                channel.closeFuture.whenComplete { [self] _ in
                    state.ledger.release(ticket)
                    lock.withLock { _ = connections.removeValue(forKey: id) }
                    state.metrics.connectionsChanged(to: state.connectionClosed())
                }
                respond = { [self] request, writer, _ in
                    try await self.respond(to: request, writer: writer, transport: transport)
                }
            }
            let metrics = state.metrics
            let configuration = HTTP1Channel.Configuration(additionalChannelHandlers: [
                HTTPConnectionGuard(timeout: { .nanoseconds(Int64(state.config.idleTimeoutSeconds * 1e9)) },
                                    onTimeout: { metrics.connectionTimedOut() }),
            ])
            let http = HTTP1Channel(responder: respond, configuration: configuration)
            return http.setup(channel: channel, logger: logger).map { HTTPConnection(http: http, value: $0) }
        }.flatMap { $0 }
    }

    private func respond(to request: Request, writer: consuming ResponseWriter, transport: HTTPTransport) async throws {
        // Clients that wait for a go-ahead before sending a body (curl past 1 KiB) get it at once, unless the body
        // is over the limit: then the 413 comes first and the body is never sent.
        let declared = request.headers[.contentLength].flatMap(Int.init) ?? 0
        if request.headers[.expect]?.lowercased() == "100-continue", declared <= state.config.requestLineBytes {
            try await writer.writeInformationalHead(HTTPResponse(status: .continue))
        }
        let context = HTTPRequestContext(source: .init(logger: logger, transport: transport))
        var response: Response
        do {
            response = try await responder.respond(to: request, context: context)
        } catch {
            let failure = HTTPAPIError(.internalServerError, "internal error: \(error)")
            response = try failure.response(from: request, context: context)
        }
        // A body refused unread (too large, or from a caller without a token) is not drained: the answer says
        // `Connection: close` and the connection ends after it (Hummingbird closes after such an answer). A
        // draining daemon says so on every answer.
        let refusedBody = response.status == .contentTooLarge || (response.status == .unauthorized && request.method == .post)
        if refusedBody || state.phase == .draining { response.headers[.connection] = "close" }
        try await writer.write(response: response.head, body: response.body)
    }
}

/// An accepted connection ready to serve: Hummingbird's channel handler and its async channel.
struct HTTPConnection: Sendable {
    let http: HTTP1Channel
    let value: HTTP1Channel.Value

    func run(logger: Logger) async { await http.handle(value: value, logger: logger) }
}
