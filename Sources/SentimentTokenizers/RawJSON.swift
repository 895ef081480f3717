import SentimentCheckpoint

/// A JSON value whose strings stay UTF-8 bytes and whose objects keep their key order and duplicates.
///
/// Tokenizer vocabularies must not go through Swift `String` keys: `String` equality is canonical
/// equivalence, so `"é"` (U+00E9) and `"e\u{301}"` would collapse into one entry of a `[String: Int]`,
/// while `tokenizers` keeps them as two tokens with two ids.
enum RawJSON {
    case null
    case bool(Bool)
    case number(Double)
    case string([UInt8])
    case array([RawJSON])
    case object([(key: [UInt8], value: RawJSON)])

    /// The last value stored under `key` (serde_json, which `tokenizers` uses, lets a later duplicate win).
    subscript(key: String) -> RawJSON? {
        guard case let .object(members) = self else { return nil }
        let k = Array(key.utf8)
        for m in members.reversed() where m.key == k { return m.value }
        return nil
    }

    var stringValue: String? {
        if case let .string(b) = self { return String(decoding: b, as: UTF8.self) }
        return nil
    }
    var boolValue: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }
    var isNull: Bool {
        if case .null = self { return true }
        return false
    }
    /// A non-negative integer that fits an `Int32` token id, as serde's `as_u64` would accept it.
    var tokenId: Int? {
        if case let .number(d) = self, d >= 0, d == d.rounded(.towardZero), d < 2_147_483_648 { return Int(d) }
        return nil
    }
}

struct RawJSONError: Error, CustomStringConvertible {
    var offset: Int
    var reason: String
    var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

extension RawJSON {
    static func parse(_ bytes: [UInt8]) throws -> RawJSON {
        try bytes.withUnsafeBufferPointer { buf in
            var p = RawJSONParser(b: buf)
            p.skipSpace()
            let v = try p.value(depth: 0)
            p.skipSpace()
            guard p.i == buf.count else { throw RawJSONError(offset: p.i, reason: "trailing characters") }
            return v
        }
    }
}

private struct RawJSONParser {
    let b: UnsafeBufferPointer<UInt8>
    var i = 0

    init(b: UnsafeBufferPointer<UInt8>) { self.b = b }

    mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    func fail(_ reason: String) -> RawJSONError { RawJSONError(offset: i, reason: reason) }

    mutating func value(depth: Int) throws -> RawJSON {
        guard depth < 128 else { throw fail("nesting deeper than 128 levels") }
        guard i < b.count else { throw fail("unexpected end of input") }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            var members: [(key: [UInt8], value: RawJSON)] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try string()
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipSpace()
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard i < b.count else { throw fail("unterminated object") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [RawJSON] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard i < b.count else { throw fail("unterminated array") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default:
            return .number(try number())
        }
    }

    mutating func literal(_ word: String) throws {
        let w = Array(word.utf8)
        guard i + w.count <= b.count else { throw fail("unexpected end of input") }
        for k in 0..<w.count where b[i + k] != w[k] { throw fail("invalid literal") }
        i += w.count
    }

    mutating func number() throws -> Double {
        let start = i
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        var digits = 0
        while i < b.count, (0x30...0x39).contains(b[i]) { i += 1; digits += 1 }
        guard digits > 0 else { i = start; throw fail("expected a value") }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            while i < b.count, (0x30...0x39).contains(b[i]) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            while i < b.count, (0x30...0x39).contains(b[i]) { i += 1 }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
        guard let d = Double(text) else { i = start; throw fail("invalid number \(text)") }
        return d
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= b.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw fail("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    /// Reads a string starting at the opening quote; the raw bytes must be valid UTF-8.
    mutating func string() throws -> [UInt8] {
        i += 1
        var out: [UInt8] = []
        var runStart = i
        while true {
            guard i < b.count else { throw fail("unterminated string") }
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: b[runStart..<i]))
                i += 1
                break
            }
            if c < 0x20 { throw fail("control character in string") }
            if c == UInt8(ascii: "\\") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: b[runStart..<i]))
                i += 1
                guard i < b.count else { throw fail("unterminated escape") }
                let e = b[i]
                i += 1
                if let byte = JSONEscape.byte(for: e) {
                    out.append(byte)
                    runStart = i
                    continue
                }
                switch e {
                case UInt8(ascii: "u"):
                    var v = try hex4()
                    if (0xD800...0xDBFF).contains(v) {
                        guard i + 2 <= b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else {
                            throw fail("lone leading surrogate in \\u escape")
                        }
                        i += 2
                        let lo = try hex4()
                        guard (0xDC00...0xDFFF).contains(lo) else { throw fail("invalid trailing surrogate") }
                        v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(v) {
                        throw fail("lone trailing surrogate in \\u escape")
                    }
                    out.append(contentsOf: Array(String(Unicode.Scalar(v)!).utf8))
                default: throw fail("invalid escape")
                }
                runStart = i
                continue
            }
            if c >= 0x80 {
                guard let n = UTF8Validation.sequenceLength(b, at: i) else { throw fail("invalid UTF-8") }
                i += n
                continue
            }
            i += 1
        }
        return out
    }
}
