import Foundation
import Logging
import SentimentProtocol

/// Who is calling, for the handlers.
public struct CallContext: Sendable {
    public var peer: PeerCredentials
    public var logger: Logger
}

/// The answer of one request, still typed: the connection encodes it on its own event loop, so encoding never
/// runs on the batcher's thread.
public typealias RouterReply = Result<any Encodable & Sendable, RPCError>

/// Method name -> handler. The standard methods are registered by `StandardMethods`; later ones (labels.*, train,
/// runs) register the same way.
public final class Router: @unchecked Sendable {
    struct Handler {
        let changesState: Bool
        let call: (RPCRequest, CallContext, @escaping @Sendable (RouterReply) -> Void) -> Void
    }

    private var handlers: [String: Handler] = [:]
    private let admin: @Sendable () -> AdminPolicy

    /// `admin` is read on every state-changing call, so a reload that changes `admin_group` applies at once.
    public init(admin: @escaping @Sendable () -> AdminPolicy) {
        self.admin = admin
    }

    /// Registers a method whose handler answers through a callback (predict: the batcher calls back).
    /// Register everything before serving starts; the table is not locked.
    public func register<M: RPCMethod>(
        _ method: M.Type,
        _ body: @escaping (M.Params, CallContext, @escaping @Sendable (Result<M.Result, RPCError>) -> Void) -> Void
    ) {
        handlers[M.name] = Handler(changesState: M.changesState) { request, context, reply in
            let params: M.Params
            do {
                params = try request.decodeParams(M.Params.self)
            } catch let error as RPCError {
                reply(.failure(error))
                return
            } catch {
                reply(.failure(.invalidParams("\(error)")))
                return
            }
            body(params, context) { result in
                reply(result.map { $0 as any Encodable & Sendable })
            }
        }
    }

    /// Registers a method whose handler is async (registry calls, reload). A thrown `RPCError` is answered as is;
    /// anything else becomes an internal error with its description.
    public func registerAsync<M: RPCMethod>(
        _ method: M.Type, _ body: @escaping @Sendable (M.Params, CallContext) async throws -> M.Result
    ) {
        register(method) { params, context, reply in
            Task {
                do {
                    reply(.success(try await body(params, context)))
                } catch let error as RPCError {
                    reply(.failure(error))
                } catch {
                    reply(.failure(.internalError("\(error)")))
                }
            }
        }
    }

    public var methodNames: [String] { handlers.keys.sorted() }

    public func isKnown(_ method: String) -> Bool { handlers[method] != nil }

    /// Dispatches one request: unknown method, refused caller and bad params are answered here.
    public func handle(_ request: RPCRequest, context: CallContext, reply: @escaping @Sendable (RouterReply) -> Void) {
        guard let handler = handlers[request.method] else {
            reply(.failure(.methodNotFound(request.method)))
            return
        }
        if handler.changesState {
            let policy = admin()
            guard policy.allows(context.peer) else {
                context.logger.notice("refused a state-changing call", metadata: [
                    "method": "\(request.method)", "peer_uid": "\(context.peer.uid)", "peer_pid": "\(context.peer.pid)",
                ])
                reply(.failure(.unauthorised(method: request.method, uid: context.peer.uid,
                                             daemonUID: policy.daemonUID, adminGroup: policy.adminGroup)))
                return
            }
        }
        handler.call(request, context, reply)
    }
}
