/// Turns text into the token ids a model was trained on, with its special tokens, truncated to `maxLength`.
/// Implementations are immutable after loading and safe to share between threads.
public protocol Tokenizer: Sendable {
    /// Ids of `text` with the model's special tokens (`<s> … </s>` or `[CLS] … [SEP]`), at most `maxLength` ids;
    /// truncation drops content tokens from the end and keeps the closing special token (a `maxLength` below 2
    /// still yields the two special tokens). Special-token strings in the text ("</s>", "[SEP]") become their
    /// ids, as in `transformers`.
    func encode(_ text: String, maxLength: Int) -> [Int32]
    var padTokenId: Int32 { get }
    /// Number of ids the vocabulary defines (including added special tokens).
    var vocabularySize: Int { get }
}

extension Tokenizer {
    /// Encodes raw bytes that must be UTF-8. Invalid UTF-8 (stray continuation bytes, overlong forms,
    /// surrogates, truncated sequences, values above U+10FFFF) is rejected with the byte offset of the
    /// first bad sequence; it is never replaced by U+FFFD, so a corrupted input cannot silently change
    /// the prediction.
    public func encode(utf8 bytes: [UInt8], maxLength: Int) throws -> [Int32] {
        if let bad = UTF8Validation.firstError(bytes) {
            throw TokenizerError.invalidUTF8(offset: bad.offset, reason: bad.reason)
        }
        return encode(String(decoding: bytes, as: UTF8.self), maxLength: maxLength)
    }
}

/// A tokenizer that works on a text's UTF-8 bytes (ByteLevelBPE, WordPiece): it is given the String's own storage,
/// never a copy. The String entry point is written once, here, for both; the work they share below it is
/// `AddedTokenSplitter.encode`.
public protocol ByteTokenizer: Tokenizer {
    /// `encode(_:maxLength:)` of the text whose UTF-8 bytes `bytes` are (valid UTF-8, as a String's are).
    func encode(bytes: UnsafeBufferPointer<UInt8>, maxLength: Int) -> [Int32]
}

extension ByteTokenizer {
    public func encode(_ text: String, maxLength: Int) -> [Int32] {
        var text = text
        return text.withUTF8 { encode(bytes: $0, maxLength: maxLength) }
    }
}

/// Strict UTF-8 well-formedness (Unicode Table 3-7), the same rules as Rust's `str::from_utf8`.
enum UTF8Validation {
    /// Length of the well-formed sequence that starts at `i`, or nil.
    @inline(__always)
    static func sequenceLength<C: RandomAccessCollection>(_ b: C, at i: C.Index) -> Int?
    where C.Element == UInt8, C.Index == Int {
        let c0 = b[i]
        if c0 < 0x80 { return 1 }
        let n = b.endIndex - i
        func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool { k < n && (lo...hi).contains(b[i + k]) }
        switch c0 {
        case 0xC2...0xDF: return cont(1) ? 2 : nil
        case 0xE0: return cont(1, 0xA0) && cont(2) ? 3 : nil
        case 0xE1...0xEC, 0xEE...0xEF: return cont(1) && cont(2) ? 3 : nil
        case 0xED: return cont(1, 0x80, 0x9F) && cont(2) ? 3 : nil
        case 0xF0: return cont(1, 0x90) && cont(2) && cont(3) ? 4 : nil
        case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? 4 : nil
        case 0xF4: return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : nil
        default: return nil
        }
    }

    static func firstError(_ bytes: [UInt8]) -> (offset: Int, reason: String)? {
        var i = 0
        let n = bytes.count
        while i < n {
            // ASCII fast path, 8 bytes at a time.
            while i + 8 <= n {
                let w = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i, as: UInt64.self) }
                if w & 0x8080_8080_8080_8080 != 0 { break }
                i += 8
            }
            guard i < n else { break }
            if let len = sequenceLength(bytes, at: i) { i += len; continue }
            return (i, reason(bytes, at: i))
        }
        return nil
    }

    private static func reason(_ b: [UInt8], at i: Int) -> String {
        let c0 = b[i]
        let hex = "0x" + String(c0, radix: 16, uppercase: true)
        switch c0 {
        case 0x80...0xBF: return "unexpected continuation byte \(hex)"
        case 0xC0, 0xC1: return "overlong encoding (lead byte \(hex))"
        case 0xF5...0xFF: return "invalid lead byte \(hex)"
        default: break
        }
        let need = c0 >= 0xF0 ? 4 : (c0 >= 0xE0 ? 3 : 2)
        for k in 1..<need {
            guard i + k < b.count else { return "truncated \(need)-byte sequence at end of input" }
            guard (0x80...0xBF).contains(b[i + k]) else { return "truncated \(need)-byte sequence (lead byte \(hex))" }
        }
        switch c0 {
        case 0xE0, 0xF0: return "overlong encoding (lead byte \(hex))"
        case 0xED: return "encoded surrogate code point (UTF-16 half)"
        default: return "code point above U+10FFFF"
        }
    }
}
