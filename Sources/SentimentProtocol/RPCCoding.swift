import Foundation
import SentimentCore

/// The wire's JSON values are SentimentCore's `JSONValue`; the protocol's coders (ISO 8601 dates) convert them.
extension JSONValue {
    /// Decodes a typed value from this JSON value.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let data = try RPCCoding.encoder().encode(self)
        return try RPCCoding.decoder().decode(T.self, from: data)
    }

    /// The JSON value of an encodable Swift value.
    public init<T: Encodable>(encoding value: T) throws {
        let data = try RPCCoding.encoder().encode(value)
        self = try RPCCoding.decoder().decode(JSONValue.self, from: data)
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
