import Foundation
import SentimentCore

/// A small strict JSON reader for untrusted checkpoint headers.
///
/// Why not JSONDecoder: a header must be read exactly as the file says — numbers as their digits (no
/// rounding through Double: an offset of 2^64-1 must not become 1.8e19), duplicate keys refused (two
/// readers must never disagree about which entry wins), nesting depth bounded, keys kept in file order.
package enum StrictJSON {
    indirect enum Value {
        case object([(key: String, value: Value)])
        case array([Value])
        case string(String)
        /// The number's text as written: `-?digits(.digits)?([eE][+-]?digits)?`.
        case number(String)
        case bool(Bool)
        case null

        /// The number as an exact non-negative integer, or nil (fraction, exponent, sign, overflow).
        var unsignedValue: UInt64? {
            if case let .number(text) = self { return UInt64(text) }
            return nil
        }
        var integerValue: Int? {
            if case let .number(text) = self { return Int(text) }
            return nil
        }

        var kind: String {
            switch self {
            case .object: return "an object"
            case .array: return "an array"
            case .string: return "a string"
            case .number: return "a number"
            case .bool: return "a boolean"
            case .null: return "null"
            }
        }
    }

    struct ParseError: Error {
        var offset: Int
        var reason: String
        /// Set when the duplicate is a key of the top-level object.
        var duplicateKey: String?
        var description: String { "\(reason) at byte \(offset)" }
    }

    static let maxDepth = 32

    /// Parses one JSON document; only whitespace may follow it. The bytes must be valid UTF-8
    /// (checked by the caller), so strings are sliced without re-validation.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws -> Value {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.pos != bytes.count { throw parser.error("unexpected data after the JSON value") }
        return value
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var pos = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        func error(_ reason: String) -> ParseError { ParseError(offset: pos, reason: reason) }

        var atEnd: Bool { pos >= bytes.count }
        func peek() -> UInt8? { pos < bytes.count ? bytes[pos] : nil }

        mutating func skipWhitespace() {
            while let c = peek(), c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { pos += 1 }
        }

        mutating func expect(_ c: UInt8) throws {
            guard peek() == c else { throw error("expected '\(Character(Unicode.Scalar(c)))'") }
            pos += 1
        }

        mutating func parseValue(depth: Int) throws -> Value {
            guard depth <= StrictJSON.maxDepth else { throw error("nesting deeper than \(StrictJSON.maxDepth)") }
            guard let c = peek() else { throw error("unexpected end of header") }
            switch c {
            case UInt8(ascii: "{"): return try parseObject(depth: depth)
            case UInt8(ascii: "["): return try parseArray(depth: depth)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
            default: throw error("unexpected character")
            }
        }

        mutating func literal(_ word: String) throws {
            for b in word.utf8 {
                guard peek() == b else { throw error("invalid literal") }
                pos += 1
            }
        }

        mutating func parseObject(depth: Int) throws -> Value {
            pos += 1
            var members: [(key: String, value: Value)] = []
            var seen = Set<[UInt8]>()   // by bytes: two spellings of one canonical string are still two keys
            skipWhitespace()
            if peek() == UInt8(ascii: "}") { pos += 1; return .object(members) }
            while true {
                skipWhitespace()
                let keyStart = pos
                guard peek() == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let key = try parseString()
                if !seen.insert(Array(key.utf8)).inserted {
                    var e = ParseError(offset: keyStart, reason: "duplicate key '\(key)'")
                    if depth == 0 { e.duplicateKey = key }
                    throw e
                }
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                members.append((key, try parseValue(depth: depth + 1)))
                skipWhitespace()
                if peek() == UInt8(ascii: ",") { pos += 1; continue }
                try expect(UInt8(ascii: "}"))
                return .object(members)
            }
        }

        mutating func parseArray(depth: Int) throws -> Value {
            pos += 1
            var items: [Value] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "]") { pos += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                if peek() == UInt8(ascii: ",") { pos += 1; continue }
                try expect(UInt8(ascii: "]"))
                return .array(items)
            }
        }

        mutating func parseNumber() throws -> String {
            let start = pos
            if peek() == UInt8(ascii: "-") { pos += 1 }
            guard let first = peek(), isDigit(first) else { throw error("invalid number") }
            if first == UInt8(ascii: "0") {
                pos += 1
            } else {
                while let c = peek(), isDigit(c) { pos += 1 }
            }
            if peek() == UInt8(ascii: ".") {
                pos += 1
                guard let c = peek(), isDigit(c) else { throw error("invalid number") }
                while let c = peek(), isDigit(c) { pos += 1 }
            }
            if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
                pos += 1
                if let s = peek(), s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { pos += 1 }
                guard let c = peek(), isDigit(c) else { throw error("invalid number") }
                while let c = peek(), isDigit(c) { pos += 1 }
            }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        }

        func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

        mutating func parseString() throws -> String {
            pos += 1   // opening quote
            var out = [UInt8]()
            while true {
                guard let c = peek() else { throw error("unterminated string") }
                switch c {
                case UInt8(ascii: "\""):
                    pos += 1
                    return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    pos += 1
                    guard let e = peek() else { throw error("unterminated escape") }
                    pos += 1
                    if let byte = JSONEscape.byte(for: e) {
                        out.append(byte)
                        continue
                    }
                    switch e {
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard peek() == UInt8(ascii: "\\") else { throw error("lone surrogate in \\u escape") }
                            pos += 1
                            guard peek() == UInt8(ascii: "u") else { throw error("lone surrogate in \\u escape") }
                            pos += 1
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw error("lone surrogate in \\u escape") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            throw error("lone surrogate in \\u escape")
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                        out.append(contentsOf: Array(String(Character(u)).utf8))
                    default:
                        throw error("invalid escape")
                    }
                default:
                    guard c >= 0x20 else { throw error("control character in string") }
                    out.append(c)
                    pos += 1
                }
            }
        }

        mutating func hex4() throws -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let c = peek() else { throw error("truncated \\u escape") }
                let d: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw error("invalid \\u escape")
                }
                v = v << 4 | d
                pos += 1
            }
            return v
        }
    }

    /// JSON text for a string (SentimentCore's `JSONText.quoted`, shared with the label-file writer).
    package static func quoted(_ s: String) -> String { JSONText.quoted(s) }
}

/// The one-character escapes of JSON strings (`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`), for the two parsers
/// that read strings byte by byte (StrictJSON for checkpoint headers, RawJSON for tokenizer files). `\u` is each
/// parser's own: they report surrogate errors in their own words. Inlinable: RawJSON (SentimentTokenizers) calls it
/// once per escape in a 1 MB vocabulary.
package enum JSONEscape {
    /// The byte an escape letter stands for, or nil (`u`, or not an escape).
    @inlinable @inline(__always)
    package static func byte(for letter: UInt8) -> UInt8? {
        switch letter {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): return letter
        case UInt8(ascii: "b"): return 0x08
        case UInt8(ascii: "f"): return 0x0C
        case UInt8(ascii: "n"): return 0x0A
        case UInt8(ascii: "r"): return 0x0D
        case UInt8(ascii: "t"): return 0x09
        default: return nil
        }
    }
}
