import Hummingbird
import Logging
import SentimentService

/// How a connection reached the daemon, which decides how its requests are authorised: on the Unix socket by the
/// peer's kernel credentials (as the JSON-RPC socket), on TCP by a bearer token per request.
enum HTTPTransport: Sendable, Equatable, CustomStringConvertible {
    case unix(PeerCredentials)
    case tcp(remote: String)

    var description: String {
        switch self {
        case let .unix(peer): return "uid \(peer.uid)"
        case let .tcp(remote): return remote
        }
    }
}

/// What a request context is built from: the logger and the connection's transport.
struct HTTPContextSource: RequestContextSource {
    let logger: Logger
    let transport: HTTPTransport
}

/// Hummingbird's per-request context, carrying the transport the request arrived on.
struct HTTPRequestContext: RequestContext {
    typealias Source = HTTPContextSource

    var coreContext: CoreRequestContextStorage
    let transport: HTTPTransport

    init(source: Source) {
        coreContext = .init(source: source)
        transport = source.transport
    }
}
