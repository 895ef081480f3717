import Foundation
import Logging
import NIOCore
import NIOPosix
import SentimentProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Where the server listens.
enum ListenTarget: Sendable, Equatable {
    /// Bind this path (after removing a stale socket; refusing if a live daemon answers on it) with these permissions.
    case path(String, mode: UInt32)
    /// A listening socket passed by systemd (sd_listen_fds).
    case activated(fd: Int32)
}

package enum ServerError: Error, Equatable, CustomStringConvertible {
    case socketInUse(path: String)
    case notASocket(path: String)
    case cannotPrepare(path: String, reason: String)
    case bindFailed(path: String, reason: String)
    case adoptFailed(fd: Int32, reason: String)

    package var description: String {
        switch self {
        case let .socketInUse(path):
            return "\(path): another daemon is answering on this socket; stop it first or choose another path (--socket, server.socket)"
        case let .notASocket(path):
            return "\(path) exists and is not a socket; refusing to remove it (choose another path: --socket, server.socket)"
        case let .cannotPrepare(path, reason): return "\(path): cannot prepare the socket: \(reason)"
        case let .bindFailed(path, reason): return "\(path): cannot listen: \(reason)"
        case let .adoptFailed(fd, reason): return "socket activation: cannot use descriptor \(fd): \(reason)"
        }
    }
}

/// The Unix socket server: accepts connections, reads the peer's credentials, admits them by `ConnectionLedger`,
/// installs the line decoder and the connection handler, and drains on shutdown.
package final class SocketServer: @unchecked Sendable {
    private let group: EventLoopGroup
    private let router: Router
    private let state: ServingState
    private let logger: Logger
    private let lock = NSLock()
    private var serverChannel: Channel?
    private var connections: [ObjectIdentifier: Channel] = [:]
    private var boundPath: (path: String, inode: UInt64)?

    init(group: EventLoopGroup, router: Router, state: ServingState, logger: Logger) {
        self.group = group
        self.router = router
        self.state = state
        self.logger = logger
    }

    /// Starts listening. Returns once the socket accepts connections.
    func start(_ target: ListenTarget) async throws {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in self.initialize(channel) }
        let channel: Channel
        switch target {
        case let .path(path, mode):
            try Self.prepare(path: path)
            do {
                channel = try await bootstrap.bind(unixDomainSocketPath: path).get()
            } catch {
                throw ServerError.bindFailed(path: path, reason: "\(error)")
            }
            guard chmod(path, mode_t(mode)) == 0 else {
                let reason = String(cString: strerror(errno))
                try? await channel.close()
                throw ServerError.bindFailed(path: path, reason: "chmod \(String(mode, radix: 8)): \(reason)")
            }
            var st = stat()
            if lstat(path, &st) == 0 { lock.withLock { boundPath = (path, UInt64(st.st_ino)) } }
        case let .activated(fd):
            do {
                channel = try await bootstrap.withBoundSocket(fd).get()
            } catch {
                throw ServerError.adoptFailed(fd: fd, reason: "\(error)")
            }
        }
        lock.withLock { serverChannel = channel }
    }

    /// Reads the peer's credentials, asks the ledger for a slot (`ConnectionLedger`: per-uid and total limits,
    /// admins' reserved slots), and installs the line decoder and the connection handler, or answers "overloaded"
    /// and closes.
    private func initialize(_ channel: Channel) -> EventLoopFuture<Void> {
        if state.phase == .draining {
            return channel.close()
        }
        let router = self.router, serving = self.state, logger = self.logger, ledger = self.state.ledger
        return PeerCredentials.of(channel).flatMapThrowing { [self] peer in
            let config = serving.config
            let isAdmin = serving.authorizer.role(of: peer) == .admin
            let ticket: ConnectionLedger.Ticket
            switch ledger.admit(uid: peer.uid, isAdmin: isAdmin, limits: ConnectionLedger.Limits(config)) {
            case let .failure(refusal):
                let error = refusal.error
                // Say why before closing, so the client shows a reason rather than a reset.
                serving.metrics.connectionRefused()
                logger.info("connection refused", metadata: ["peer_uid": "\(peer.uid)", "reason": "\(error.message)"])
                try channel.pipeline.syncOperations.addHandler(RefusingHandler(error: error))
                return
            case let .success(t):
                ticket = t
            }
            let count = serving.connectionOpened()
            serving.metrics.connectionsChanged(to: count)
            let id = ObjectIdentifier(channel)
            lock.withLock { connections[id] = channel }
            channel.closeFuture.whenComplete { [self] _ in
                ledger.release(ticket)
                lock.withLock { _ = connections.removeValue(forKey: id) }
                self.state.metrics.connectionsChanged(to: self.state.connectionClosed())
            }
            try channel.pipeline.syncOperations.addHandler(
                ByteToMessageHandler(LineFrameDecoder(maxLineBytes: config.requestLineBytes)))
            try channel.pipeline.syncOperations.addHandler(
                ConnectionHandler(router: router, state: serving, peer: peer, ledger: ledger, ticket: ticket,
                                  logger: logger))
        }
    }

    /// Stops accepting, lets every connection finish the requests it has sent, then closes them. Requests sent
    /// after this point are answered "shutting down". Waits at most `timeout` for the connections.
    func drain(timeout: Duration = .seconds(30)) async {
        state.phase = .draining
        let (listener, open) = lock.withLock { (serverChannel, Array(connections.values)) }
        try? await listener?.close()
        removeBoundSocket()
        for channel in open {
            channel.pipeline.fireUserInboundEventTriggered(DrainConnectionEvent())
        }
    }

    /// Waits until every connection has closed (after `drain` and the batcher's drain), closing stragglers after
    /// `timeout`.
    func waitForConnections(timeout: Duration) async {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if lock.withLock({ connections.isEmpty }) { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
        let open = lock.withLock { Array(connections.values) }
        if !open.isEmpty { logger.warning("closing connections that did not finish in time", metadata: ["count": "\(open.count)"]) }
        for channel in open { try? await channel.close() }
    }

    /// Removes the socket file this server bound, if it is still ours (same inode).
    private func removeBoundSocket() {
        guard let bound = lock.withLock({ boundPath }) else { return }
        var st = stat()
        if lstat(bound.path, &st) == 0, UInt64(st.st_ino) == bound.inode {
            unlink(bound.path)
        }
        lock.withLock { boundPath = nil }
    }

    /// Makes `path` free to bind: creates its folder, removes a stale socket, refuses a live one or a non-socket.
    package static func prepare(path: String) throws {
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw ServerError.cannotPrepare(path: path, reason: "longer than a Unix socket address allows (107 bytes)")
        }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty && !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o755])
            } catch {
                throw ServerError.cannotPrepare(path: path, reason: "cannot create \(directory): \(error.localizedDescription)")
            }
        }
        var st = stat()
        guard lstat(path, &st) == 0 else { return } // nothing there
        guard (st.st_mode & S_IFMT) == S_IFSOCK else { throw ServerError.notASocket(path: path) }
        if let client = try? UnixSocketClient(path: path, timeoutSeconds: 1) {
            client.close()
            throw ServerError.socketInUse(path: path)
        }
        // Nobody answers: a socket left behind by a daemon that died. Remove it.
        guard unlink(path) == 0 || errno == ENOENT else {
            throw ServerError.cannotPrepare(path: path, reason: "cannot remove the stale socket: \(String(cString: strerror(errno)))")
        }
    }
}

/// Answers a connection beyond a limit (`ConnectionLedger`) with one error line, then closes it.
final class RefusingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let error: RPCError

    init(error: RPCError) { self.error = error }

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 256)
        buffer.writeBytes(RPCResponse.encodeFailure(id: .null, error: error.wireObject))
        buffer.writeInteger(RPCFraming.newline)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {} // whatever it sends is ignored
}
