import Foundation
import SentimentCore

/// Framing: one JSON-RPC 2.0 object per line (UTF-8, terminated by `\n`; a `\r` before it is ignored).
/// Requests on one connection are answered in the order they were sent.
public enum RPCFraming {
    public static let newline: UInt8 = 0x0A
    /// The default limit of one request line, in bytes, without the newline.
    public static let defaultMaxLineBytes = 1 << 20
}

/// A JSON-RPC request id: a string, an integer or null. A request without an id is a notification and
/// gets no response.
public enum RPCID: Sendable, Hashable, Codable, CustomStringConvertible {
    case int(Int64)
    case string(String)
    case null

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let i = try? c.decode(Int64.self) { self = .int(i); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "id must be a string, an integer or null")
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case let .int(i): try c.encode(i)
        case let .string(s): try c.encode(s)
        case .null: try c.encodeNil()
        }
    }

    public var description: String {
        switch self {
        case let .int(i): return String(i)
        case let .string(s): return "\"\(s)\""
        case .null: return "null"
        }
    }
}

/// A request as it arrived: method name and untyped params. `id == nil` means a notification.
public struct RPCRequest: Sendable, Equatable {
    public var id: RPCID?
    public var method: String
    public var params: JSONValue?

    public init(id: RPCID?, method: String, params: JSONValue? = nil) {
        self.id = id
        self.method = method
        self.params = params
    }

    public var isNotification: Bool { id == nil }

    /// Parses one request line. Throws an `RPCError` with code -32700 (not JSON) or -32600 (JSON, but not a
    /// JSON-RPC 2.0 request object); in the latter case `id` is recovered when the line has a valid one so
    /// the error can be matched to the request.
    public static func parse(line: Data) -> Result<RPCRequest, RPCFailure> {
        let value: JSONValue
        do {
            value = try RPCCoding.decoder().decode(JSONValue.self, from: line)
        } catch {
            return .failure(RPCFailure(id: .null, error: .parseError("the request line is not valid JSON")))
        }
        guard case let .object(members) = value else {
            if case .array = value {
                return .failure(RPCFailure(id: .null, error: .invalidRequest(
                    "batch requests (JSON arrays) are not supported: send one request object per line")))
            }
            return .failure(RPCFailure(id: .null, error: .invalidRequest(
                "a request must be a JSON object, not \(value.typeName)")))
        }
        var id: RPCID?
        if let rawID = members["id"] {
            switch rawID {
            case let .int(i): id = .int(i)
            case let .string(s): id = .string(s)
            case .null: id = .null
            default:
                return .failure(RPCFailure(id: .null, error: .invalidRequest(
                    "\"id\" must be a string, an integer or null, not \(rawID.typeName)")))
            }
        }
        let replyID = id ?? .null
        guard members["jsonrpc"] == .string("2.0") else {
            return .failure(RPCFailure(id: replyID, error: .invalidRequest("\"jsonrpc\" must be \"2.0\"")))
        }
        guard case let .string(method)? = members["method"] else {
            let found = members["method"].map { "not \($0.typeName)" } ?? "it is missing"
            return .failure(RPCFailure(id: replyID, error: .invalidRequest("\"method\" must be a string; \(found)")))
        }
        let params = members["params"]
        if let params {
            switch params {
            case .object, .array: break
            default:
                return .failure(RPCFailure(id: replyID, error: .invalidRequest(
                    "\"params\" must be an object or an array, not \(params.typeName)")))
            }
        }
        for key in members.keys where !["jsonrpc", "id", "method", "params"].contains(key) {
            return .failure(RPCFailure(id: replyID, error: .invalidRequest("unknown member \"\(key)\" in the request")))
        }
        return .success(RPCRequest(id: id, method: method, params: params))
    }

    /// Decodes `params` as the method's parameter type. Absent params decode as an empty object.
    public func decodeParams<P: Decodable>(_ type: P.Type) throws -> P {
        let value = params ?? .object([:])
        do {
            return try value.decode(P.self)
        } catch {
            throw RPCError.invalidParams("\(method): \(describeDecodingError(error))")
        }
    }

    /// The line to send (without the newline).
    public func encodedLine() throws -> Data {
        var members: [String: JSONValue] = ["jsonrpc": .string("2.0"), "method": .string(method)]
        if let id {
            switch id {
            case let .int(i): members["id"] = .int(i)
            case let .string(s): members["id"] = .string(s)
            case .null: members["id"] = .null
            }
        }
        if let params { members["params"] = params }
        return try RPCCoding.encoder().encode(JSONValue.object(members))
    }
}

/// An error answer together with the id it answers.
public struct RPCFailure: Error, Sendable, Equatable {
    public var id: RPCID
    public var error: RPCError
    public init(id: RPCID, error: RPCError) {
        self.id = id
        self.error = error
    }
}

/// A response as sent on the wire.
public enum RPCResponse: Sendable, Equatable {
    case success(id: RPCID, result: JSONValue)
    case failure(id: RPCID, error: RPCErrorObject)

    public var id: RPCID {
        switch self {
        case let .success(id, _), let .failure(id, _): return id
        }
    }

    private struct SuccessWire<R: Encodable>: Encodable {
        let jsonrpc = "2.0"
        let id: RPCID
        let result: R
    }

    private struct FailureWire: Encodable {
        let jsonrpc = "2.0"
        let id: RPCID
        let error: RPCErrorObject
    }

    /// Encodes a success line directly from a typed result (no detour through `JSONValue`).
    public static func encodeSuccess<R: Encodable>(id: RPCID, result: R) throws -> Data {
        try RPCCoding.encoder().encode(SuccessWire(id: id, result: result))
    }

    public static func encodeFailure(id: RPCID, error: RPCErrorObject) -> Data {
        // An RPCErrorObject holds only strings, integers and plain JSON: encoding cannot fail.
        (try? RPCCoding.encoder().encode(FailureWire(id: id, error: error))) ?? Data(
            #"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error"}}"#.utf8)
    }

    public func encodedLine() throws -> Data {
        switch self {
        case let .success(id, result): return try Self.encodeSuccess(id: id, result: result)
        case let .failure(id, error): return Self.encodeFailure(id: id, error: error)
        }
    }

    /// Parses one response line (client side).
    public static func parse(line: Data) throws -> RPCResponse {
        let value: JSONValue
        do {
            value = try RPCCoding.decoder().decode(JSONValue.self, from: line)
        } catch {
            throw RPCClientError.malformedResponse("the daemon sent a line that is not JSON")
        }
        guard case let .object(members) = value, members["jsonrpc"] == .string("2.0") else {
            throw RPCClientError.malformedResponse("the daemon sent something that is not a JSON-RPC 2.0 response")
        }
        let id: RPCID
        switch members["id"] {
        case let .int(i)?: id = .int(i)
        case let .string(s)?: id = .string(s)
        case .null?, nil: id = .null
        default: throw RPCClientError.malformedResponse("the response id is neither a string, an integer nor null")
        }
        if let errorValue = members["error"] {
            guard let object = try? errorValue.decode(RPCErrorObject.self) else {
                throw RPCClientError.malformedResponse("the response's \"error\" member is not a JSON-RPC error object")
            }
            return .failure(id: id, error: object)
        }
        guard let result = members["result"] else {
            throw RPCClientError.malformedResponse("the response has neither \"result\" nor \"error\"")
        }
        return .success(id: id, result: result)
    }
}

/// Errors of the client side of the protocol: the daemon answered something that is not a response.
public enum RPCClientError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformedResponse(String)
    case unexpectedResult(method: String, reason: String)

    public var description: String {
        switch self {
        case let .malformedResponse(reason): return reason
        case let .unexpectedResult(method, reason): return "the result of \(method) is not what this client understands: \(reason)"
        }
    }
}
