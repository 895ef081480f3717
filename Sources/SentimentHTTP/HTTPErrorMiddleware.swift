import Foundation
import HTTPTypes
import Hummingbird
import SentimentService

/// The outermost layer of every request: whatever a handler throws leaves as the protocol's JSON error object with
/// its status (never Hummingbird's empty bodies, never a stack trace), a path that exists but not for this method is
/// 405 with `Allow:`, and every answer is counted in `sentimentd_http_requests_total{route, code}`.
struct HTTPErrorMiddleware: RouterMiddleware {
    typealias Context = HTTPRequestContext

    let metrics: ServiceMetrics
    let routes: [(HTTPRequest.Method, String)]

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPAPIError {
            response = try error.response(from: request, context: context)
        } catch let error as HTTPError {
            response = try translate(error, request: request, context: context).response(from: request, context: context)
        } catch {
            context.logger.error("HTTP request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            let failure = HTTPAPIError(.internalServerError, "internal error: \(error)")
            response = try failure.response(from: request, context: context)
        }
        let route = context.endpointPath ?? (response.status == .methodNotAllowed ? "method_not_allowed" : "unmatched")
        metrics.httpRequestFinished(route: route, status: response.status.code,
                                    seconds: (ContinuousClock.now - started).seconds)
        return response
    }

    /// Hummingbird's own errors (no route, a body too large) in the API's words.
    func translate(_ error: HTTPError, request: Request, context: Context) -> HTTPAPIError {
        switch error.status {
        case .notFound:
            let path = request.uri.path
            let allowed = routes.filter { Self.matches(pattern: $0.1, path: path) }.map(\.0)
            if !allowed.isEmpty {
                var methods = allowed.map(\.rawValue)
                if allowed.contains(.get) { methods.append("HEAD") }
                let list = methods.joined(separator: ", ")
                return HTTPAPIError(.methodNotAllowed, "\(path) answers \(list), not \(request.method.rawValue)",
                                    headers: [.allow: list])
            }
            return HTTPAPIError(.notFound, "no route \(request.method.rawValue) \(path) (see /openapi.yaml)")
        case .contentTooLarge:
            return HTTPAPIError(.contentTooLarge, error.body ?? "the request body is too large")
        default:
            return HTTPAPIError(error.status, error.body ?? error.status.reasonPhrase)
        }
    }

    /// Whether `path` fits a route pattern: `{name}` matches one segment, `{name}:suffix` one ending in `:suffix`.
    static func matches(pattern: String, path: String) -> Bool {
        let want = pattern.split(separator: "/", omittingEmptySubsequences: false)
        let have = path.split(separator: "/", omittingEmptySubsequences: false)
        guard want.count == have.count else { return false }
        for (w, h) in zip(want, have) {
            if w.hasPrefix("{"), let close = w.firstIndex(of: "}") {
                let suffix = w[w.index(after: close)...]
                if h.count <= suffix.count || !h.hasSuffix(suffix) { return false }
            } else if w != h {
                return false
            }
        }
        return true
    }
}
