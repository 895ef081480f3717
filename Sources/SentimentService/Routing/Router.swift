import Foundation
import Logging
import SentimentProtocol

/// Who is calling, for the handlers: the caller, the role it was found to hold for this request, and the uid its
/// writes are recorded under.
package struct CallContext: Sendable {
    package var caller: Caller
    package var role: Role
    /// The peer's uid (the daemon's own for a token caller): what labels, imports and runs record.
    package var uid: UInt32
    package var logger: Logger

    package init(caller: Caller, role: Role, uid: UInt32, logger: Logger) {
        self.caller = caller
        self.role = role
        self.uid = uid
        self.logger = logger
    }
}

/// The answer of one request, still typed: the connection encodes it on its own event loop, so encoding never
/// runs on the batcher's thread.
typealias RouterReply = Result<any Encodable & Sendable, RPCError>

/// Method name -> handler. The standard methods are registered by `StandardMethods`; later ones (labels.*, train,
/// runs) register the same way.
final class Router: @unchecked Sendable {
    struct Handler {
        let requiredRole: Role
        let call: (RPCRequest, CallContext, @escaping @Sendable (RouterReply) -> Void) -> Void
    }

    private var handlers: [String: Handler] = [:]
    private let authorizer: @Sendable () -> Authorizer

    /// `authorizer` is read on every request, so a reload that changes a role's group applies at once.
    init(authorizer: @escaping @Sendable () -> Authorizer) {
        self.authorizer = authorizer
    }

    /// Registers a method whose handler answers through a callback (predict: the batcher calls back).
    /// Register everything before serving starts; the table is not locked.
    func register<M: RPCMethod>(
        _ method: M.Type,
        _ body: @escaping (M.Params, CallContext, @escaping @Sendable (Result<M.Result, RPCError>) -> Void) -> Void
    ) {
        handlers[M.name] = Handler(requiredRole: M.requiredRole) { request, context, reply in
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
    func registerAsync<M: RPCMethod>(
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

    var methodNames: [String] { handlers.keys.sorted() }

    func isKnown(_ method: String) -> Bool { handlers[method] != nil }

    /// Dispatches one request: unknown method, refused caller and bad params are answered here.
    func handle(_ request: RPCRequest, caller: Caller, logger: Logger,
                reply: @escaping @Sendable (RouterReply) -> Void) {
        guard let handler = handlers[request.method] else {
            reply(.failure(.methodNotFound(request.method)))
            return
        }
        let policy = authorizer()
        switch policy.authorize(caller, needs: handler.requiredRole, for: request.method) {
        case let .failure(error):
            logger.notice("refused a request the caller's role does not allow", metadata: [
                "method": "\(request.method)", "caller": "\(caller)", "needed_role": "\(handler.requiredRole)",
            ])
            reply(.failure(error))
        case let .success(role):
            let context = CallContext(caller: caller, role: role, uid: caller.recordedUID(daemonUID: policy.daemonUID),
                                      logger: logger)
            handler.call(request, context, reply)
        }
    }
}
