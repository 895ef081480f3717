/// The preprocessing of the cardiffnlp Twitter models' model card, reproduced exactly:
///
///     def preprocess(text):
///         new_text = []
///         for t in text.split(" "):
///             t = '@user' if t.startswith('@') and len(t) > 1 else t
///             t = 'http' if t.startswith('http') else t
///             new_text.append(t)
///         return " ".join(new_text)
///
/// The text is split on the space character U+0020 only (not on tabs, newlines or other whitespace), empty
/// fields between consecutive spaces are kept, and the fields are joined with single spaces again — so the
/// spacing is preserved and a mention or link glued to a newline is not a field of its own ("hi\n@bob"
/// stays as it is). `len(t) > 1` counts Unicode scalars, so "@" alone stays "@". A field that starts with
/// "http" becomes "http" whatever follows (also "https://…" and "httpfoo").
public enum TweetNormalizer {
    public static func normalize(_ text: String) -> String {
        var text = text
        return text.withUTF8 { b -> String in
            // Nothing to do for texts with no '@' and no "http": return the input unchanged.
            var needs = false
            for i in 0..<b.count where b[i] == UInt8(ascii: "@") || b[i] == UInt8(ascii: "h") {
                if b[i] == UInt8(ascii: "@") || (i + 4 <= b.count && isHTTP(b, i)) { needs = true; break }
            }
            if !needs { return String(decoding: b, as: UTF8.self) }
            var out: [UInt8] = []
            out.reserveCapacity(b.count)
            var start = 0
            while start <= b.count {
                var end = start
                while end < b.count && b[end] != 0x20 { end += 1 }
                let field = UnsafeBufferPointer(rebasing: b[start..<end])
                if field.count >= 2 && field[0] == UInt8(ascii: "@") {
                    // "@" is one byte, so any further byte means a second scalar.
                    out.append(contentsOf: Array("@user".utf8))
                } else if field.count >= 4 && isHTTP(field, 0) {
                    out.append(contentsOf: Array("http".utf8))
                } else {
                    out.append(contentsOf: field)
                }
                if end < b.count { out.append(0x20) }
                start = end + 1
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    @inline(__always)
    private static func isHTTP(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool {
        b[i] == UInt8(ascii: "h") && b[i + 1] == UInt8(ascii: "t") && b[i + 2] == UInt8(ascii: "t")
            && b[i + 3] == UInt8(ascii: "p")
    }
}

/// A tokenizer that applies `TweetNormalizer` before encoding: what the cardiffnlp Twitter models expect.
public struct TweetNormalizingTokenizer: Tokenizer {
    public let base: any Tokenizer

    public init(_ base: any Tokenizer) { self.base = base }

    public func encode(_ text: String, maxLength: Int) -> [Int32] {
        base.encode(TweetNormalizer.normalize(text), maxLength: maxLength)
    }
    public var padTokenId: Int32 { base.padTokenId }
    public var vocabularySize: Int { base.vocabularySize }
}
