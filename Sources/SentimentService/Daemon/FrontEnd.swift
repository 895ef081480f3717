import Foundation
import Logging
import NIOCore

/// A way in beside the JSON-RPC socket that serves the same state (the HTTP front end of `SentimentHTTP`). The
/// daemon builds it once serving is wired, starts it after the JSON-RPC socket listens, and drains it with the
/// socket on shutdown. The seam keeps SentimentService free of the HTTP stack.
public protocol FrontEnd: Sendable {
    /// Starts listening; returns once every listener accepts connections.
    func start() async throws
    /// Stops accepting; requests in progress finish, idle connections close.
    func drain() async
    /// Waits until every connection has closed, closing stragglers after `timeout`.
    func waitForConnections(timeout: Duration) async
}

/// What a front end is built from.
public struct FrontEndContext: Sendable {
    package let state: ServingState
    let router: Router
    package let tokens: TokenAuthority
    /// Activated sockets meant for this front end (`FileDescriptorName=http`, or a Unix socket bound to
    /// `server.http_socket`).
    package let activated: [ActivatedSocket]
    package let eventLoopGroup: any EventLoopGroup
    package let logger: Logger
}

public typealias FrontEndFactory = @Sendable (FrontEndContext) throws -> (any FrontEnd)?
