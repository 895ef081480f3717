import Foundation
import HTTPTypes
import Hummingbird
import SentimentProtocol
import SentimentService

/// Who a request is from and whether it may do what it asks.
///
/// Policy. On the Unix socket the caller is the peer (SO_PEERCRED), with the role the JSON-RPC socket would give
/// it; an `Authorization` header there is not needed and not looked at. On TCP the caller is the bearer token's:
/// without one, or with one that is not live (unknown, revoked), only `/v2/health/*` answers (401, with a
/// `WWW-Authenticate` challenge); a token whose role is too weak gets 403. Roles and their checks are the JSON-RPC
/// socket's (`Authorizer`), read from the configuration in force at each request.
struct HTTPAccess: Sendable {
    let state: ServingState
    let tokens: TokenAuthority

    /// The caller and its role when it holds `needed`; throws the 401 or 403 answer otherwise. `action` names what
    /// was asked in the error message.
    func require(_ needed: Role, for action: String, request: Request, context: HTTPRequestContext) throws -> (Caller, Role) {
        let caller: Caller
        switch context.transport {
        case let .unix(peer):
            caller = .peer(peer)
        case .tcp:
            guard let header = request.headers[.authorization] else {
                throw HTTPAPIError.unauthenticated("\(action) needs a bearer token on TCP (Authorization: Bearer <token>; "
                    + "an admin creates one with `sentimentctl tokens add --role \(needed)`)", tokenPresented: false)
            }
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                throw HTTPAPIError.unauthenticated("the Authorization header must be \"Bearer <token>\"", tokenPresented: true)
            }
            guard let grant = tokens.authenticate(parts[1].trimmingCharacters(in: .whitespaces)) else {
                throw HTTPAPIError.unauthenticated("the bearer token is not valid (unknown or revoked; see `sentimentctl "
                    + "tokens list`)", tokenPresented: true)
            }
            caller = .token(id: grant.id, name: grant.name, role: grant.role)
        }
        switch state.authorizer.authorize(caller, needs: needed, for: action) {
        case let .success(role): return (caller, role)
        case let .failure(error):
            context.logger.notice("refused an HTTP request the caller's role does not allow", metadata: [
                "action": "\(action)", "caller": "\(caller)", "needed_role": "\(needed)",
            ])
            throw HTTPAPIError(error)
        }
    }
}
