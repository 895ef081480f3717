import Foundation

/// Any JSON value, as read from or written to the wire.
///
/// The envelope of a request is read into this type first, so that a line that is not JSON (parse error)
/// and a line that is JSON but not a request (invalid request) get different, precise answers; the
/// `params` member is then decoded into the method's own `Params` type.
public enum RPCValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([RPCValue])
    case object([String: RPCValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let i = try? c.decode(Int64.self) { self = .int(i); return }
        if let d = try? c.decode(Double.self) { self = .double(d); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let a = try? c.decode([RPCValue].self) { self = .array(a); return }
        if let o = try? c.decode([String: RPCValue].self) { self = .object(o); return }
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value")
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case let .bool(b): try c.encode(b)
        case let .int(i): try c.encode(i)
        case let .double(d): try c.encode(d)
        case let .string(s): try c.encode(s)
        case let .array(a): try c.encode(a)
        case let .object(o): try c.encode(o)
        }
    }

    /// The JSON type name, for error messages ("params must be an object, not an array").
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Decodes a typed value from this JSON value.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let data = try RPCCoding.encoder().encode(self)
        return try RPCCoding.decoder().decode(T.self, from: data)
    }

    /// The JSON value of an encodable Swift value.
    public init<T: Encodable>(encoding value: T) throws {
        let data = try RPCCoding.encoder().encode(value)
        self = try RPCCoding.decoder().decode(RPCValue.self, from: data)
    }
}

/// A readable one-line account of why `params` (or a result) did not decode: the path of the member and
/// what was wrong with it, e.g. `texts[2]: expected a string, found a number`.
public func describeDecodingError(_ error: Error) -> String {
    guard let error = error as? DecodingError else { return "\(error)" }
    func path(_ keys: [CodingKey]) -> String {
        var out = ""
        for key in keys {
            if let i = key.intValue { out += "[\(i)]" } else { out += out.isEmpty ? key.stringValue : "." + key.stringValue }
        }
        return out
    }
    switch error {
    case let .typeMismatch(type, ctx):
        let at = path(ctx.codingPath)
        return "\(at.isEmpty ? "value" : at): expected \(typeDescription(type))"
    case let .valueNotFound(type, ctx):
        let at = path(ctx.codingPath)
        return "\(at.isEmpty ? "value" : at): expected \(typeDescription(type)), found null"
    case let .keyNotFound(key, ctx):
        let at = path(ctx.codingPath + [key])
        return "\(at): required member is missing"
    case let .dataCorrupted(ctx):
        let at = path(ctx.codingPath)
        return "\(at.isEmpty ? "" : at + ": ")\(ctx.debugDescription)"
    @unknown default:
        return "\(error)"
    }
}

private func typeDescription(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: return "a string"
    case is Bool.Type: return "a boolean"
    case is Int.Type, is Int64.Type, is Int32.Type, is UInt32.Type, is UInt64.Type: return "an integer"
    case is Double.Type, is Float.Type: return "a number"
    default:
        let name = "\(type)"
        if name.hasPrefix("Array<") { return "an array" }
        if name.hasPrefix("Dictionary<") { return "an object" }
        return name
    }
}

/// The JSON coders of the protocol: dates as ISO 8601 strings (UTC), everything else as Foundation does.
public enum RPCCoding {
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.withoutEscapingSlashes]
        return e
    }

    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}
