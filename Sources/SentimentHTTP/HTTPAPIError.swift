import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SentimentOpenInference
import SentimentProtocol

/// Every failure of the HTTP API, answered as the protocol's error object `{"error": "<message>"}` with the status
/// that tells a client (and a load balancer) what to do: 400 the request is wrong, 401 it needs (another) token,
/// 403 the caller's role is too weak, 404 no such route or model, 405 the route has no such method, 413 too large,
/// 429 this client holds too many connections, 503 the daemon cannot take it now (full queue, no model, draining).
struct HTTPAPIError: Error, HTTPResponseError {
    var status: HTTPResponse.Status
    var message: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        if status == .serviceUnavailable || status == .tooManyRequests, fields[.retryAfter] == nil {
            fields[.retryAfter] = "1"
        }
        let body = ErrorBody(message).encoded
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The status of an error the JSON-RPC side answers (the same handlers serve both).
    init(_ error: RPCError) {
        let status: HTTPResponse.Status
        switch error {
        case .parseError, .invalidRequest, .invalidParams, .methodNotFound, .labelsRejected, .nothingToTrain:
            status = .badRequest
        case .textTooLong, .tooManyTexts, .requestTooLarge: status = .contentTooLarge
        case .unauthorised: status = .forbidden
        case .modelNotFound, .notFound: status = .notFound
        case .noModelLoaded, .overloaded, .shuttingDown, .trainingBusy: status = .serviceUnavailable
        case .versionKept: status = .conflict
        case .activationFailed, .configRejected, .internalError, .storeFailed, .nonFiniteOutput:
            status = .internalServerError
        }
        self.init(status, error.message)
    }

    init(_ error: InferenceProtocolError) {
        self.init(.badRequest, error.description)
    }

    static func unauthenticated(_ message: String, tokenPresented: Bool) -> HTTPAPIError {
        let challenge = tokenPresented ? #"Bearer realm="sentimentd", error="invalid_token""# : #"Bearer realm="sentimentd""#
        return HTTPAPIError(.unauthorized, message, headers: [.wwwAuthenticate: challenge])
    }
}
