import Foundation

/// The BertNormalizer switches (`tokenizers` names; transformers' `do_lower_case`, `strip_accents`,
/// `tokenize_chinese_chars`).
public struct BertNormalization: Sendable, Equatable {
    public var cleanText: Bool
    public var handleChineseChars: Bool
    /// nil follows `lowercase`, as in BERT.
    public var stripAccents: Bool?
    public var lowercase: Bool

    public init(cleanText: Bool = true, handleChineseChars: Bool = true, stripAccents: Bool? = nil,
                lowercase: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
        self.stripAccents = stripAccents
        self.lowercase = lowercase
    }

    var stripsAccents: Bool { stripAccents ?? lowercase }
}

/// BERT's tokenizer exactly as `BertTokenizer` of transformers 5 (`BertTokenizerFast` before): added tokens
/// (`[CLS]`, `[SEP]`, `[MASK]`, ...) are cut out of the raw text; each remaining run is normalised
/// (control characters removed, whitespace made a space, CJK characters surrounded by spaces, NFD with
/// non-spacing marks removed, lower-cased), split on whitespace and around every punctuation character,
/// and each word becomes the longest vocabulary prefixes with `##` continuations — or a single `[UNK]` when
/// any part is missing or the word is longer than 100 characters. The ids go between `[CLS]` and `[SEP]`.
public struct WordPiece: ByteTokenizer {
    public let padTokenId: Int32
    public let clsTokenId: Int32
    public let sepTokenId: Int32
    public let unkTokenId: Int32
    public let vocabularySize: Int
    public let normalization: BertNormalization
    public let addedTokens: [AddedToken]
    public let maxInputCharsPerWord: Int

    private let vocab: TokenTable
    private let continuingPrefix: [UInt8]
    private let splitter: AddedTokenSplitter

    init(vocab: TokenTable, normalization: BertNormalization, addedTokens: [AddedToken],
         clsTokenId: Int32, sepTokenId: Int32, padTokenId: Int32, unkTokenId: Int32,
         continuingSubwordPrefix: String = "##", maxInputCharsPerWord: Int = 100, vocabularySize: Int) {
        self.vocab = vocab
        self.normalization = normalization
        self.addedTokens = addedTokens
        self.splitter = AddedTokenSplitter(addedTokens)
        self.clsTokenId = clsTokenId
        self.sepTokenId = sepTokenId
        self.padTokenId = padTokenId
        self.unkTokenId = unkTokenId
        self.continuingPrefix = Array(continuingSubwordPrefix.utf8)
        self.maxInputCharsPerWord = maxInputCharsPerWord
        self.vocabularySize = vocabularySize
    }

    public func id(of token: String) -> Int32? { vocab.id(Array(token.utf8)) }

    /// `maxLength` counts `[CLS]` and `[SEP]` (see `AddedTokenSplitter.encode`).
    public func encode(bytes b: UnsafeBufferPointer<UInt8>, maxLength: Int) -> [Int32] {
        var normalized: [UInt8] = []
        var scratch: [UInt8] = []
        return splitter.encode(b, maxLength: maxLength, cls: clsTokenId, sep: sepTokenId) { range, out, limit in
            normalized.removeAll(keepingCapacity: true)
            normalize(UnsafeBufferPointer(rebasing: b[range]), into: &normalized)
            normalized.withUnsafeBufferPointer { nb in
                forEachWord(nb) { word in
                    if out.count >= limit { return false }
                    wordPiece(UnsafeBufferPointer(rebasing: nb[word]), into: &out, scratch: &scratch)
                    return true
                }
            }
        }
    }

    // MARK: Normaliser

    @inline(__always)
    private static func asciiLower(_ c: UInt8) -> UInt8 { c &- 0x41 < 26 ? c | 0x20 : c }

    /// BertNormalizer over one run of text: clean_text, handle_chinese_chars, strip_accents, lowercase,
    /// in that order, each over the whole run. NFD only ever reorders marks between two ASCII characters,
    /// so it runs over each maximal non-ASCII stretch.
    func normalize(_ b: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        let opts = normalization
        let lower = opts.lowercase
        var pending: [UInt32] = []
        var i = 0
        while i < b.count {
            let c0 = b[i]
            // ASCII letters, digits, punctuation and the space: the common case.
            if c0 >= 0x20 && c0 < 0x7F {
                if !pending.isEmpty { flush(&pending, into: &out) }
                out.append(lower ? WordPiece.asciiLower(c0) : c0)
                i += 1
                continue
            }
            var (v, len) = decodeScalar(b, i)
            i += len
            if opts.cleanText {
                if UnicodeClasses.bertRemoved(v) { continue }
                if UnicodeClasses.isWhitespace(v) { v = 0x20 }
            }
            if v < 0x80 {
                if !pending.isEmpty { flush(&pending, into: &out) }
                out.append(lower ? WordPiece.asciiLower(UInt8(v)) : UInt8(v))
            } else if opts.handleChineseChars && UnicodeClasses.isCJK(v) {
                if !pending.isEmpty { flush(&pending, into: &out) }
                out.append(0x20)
                pending.append(v)
                flush(&pending, into: &out)
                out.append(0x20)
            } else {
                pending.append(v)
            }
        }
        if !pending.isEmpty { flush(&pending, into: &out) }
    }

    /// strip_accents (NFD, then drop non-spacing marks) and lowercase for a stretch of non-ASCII scalars.
    private func flush(_ pending: inout [UInt32], into out: inout [UInt8]) {
        let lower = normalization.lowercase
        if normalization.stripsAccents {
            // `tokenizers`' NFD knows the characters of Unicode 8.0: a newer one is neither decomposed nor
            // reordered with its neighbours, so it splits the run (U+11938 stays whole there).
            var view = String.UnicodeScalarView()
            func decompose() {
                if view.isEmpty { return }
                for s in String(view).decomposedStringWithCanonicalMapping.unicodeScalars
                where !UnicodeClasses.isBertNonspacingMark(s.value) {
                    appendLowered(s, lower, &out)
                }
                view.removeAll(keepingCapacity: true)
            }
            for v in pending {
                let s = Unicode.Scalar(v)!
                if UnicodeClasses.isNewerThanBertTables(s) {
                    decompose()
                    appendLowered(s, lower, &out)
                } else {
                    view.append(s)
                }
            }
            decompose()
        } else {
            for v in pending { appendLowered(Unicode.Scalar(v)!, lower, &out) }
        }
        pending.removeAll(keepingCapacity: true)
    }

    @inline(__always)
    private func appendLowered(_ s: Unicode.Scalar, _ lower: Bool, _ out: inout [UInt8]) {
        if !lower { appendUTF8(s.value, to: &out); return }
        if s.isASCII { out.append(WordPiece.asciiLower(UInt8(s.value))); return }
        // Rust's char::to_lowercase: the full, context-free mapping (İ -> i̇, Σ -> σ).
        for l in s.properties.lowercaseMapping.unicodeScalars { appendUTF8(l.value, to: &out) }
    }

    // MARK: Pre-tokeniser

    /// BertPreTokenizer: whitespace separates words and is dropped; each punctuation character is a word.
    private func forEachWord(_ b: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Bool) {
        var start = -1
        var i = 0
        while i < b.count {
            let (v, len) = decodeScalar(b, i)
            if UnicodeClasses.isWhitespace(v) {
                if start >= 0 { if !body(start..<i) { return }; start = -1 }
            } else if UnicodeClasses.isBertPunctuation(v) {
                if start >= 0 { if !body(start..<i) { return }; start = -1 }
                if !body(i..<(i + len)) { return }
            } else if start < 0 {
                start = i
            }
            i += len
        }
        if start >= 0 { _ = body(start..<b.count) }
    }

    // MARK: WordPiece model

    /// Greedy longest-match-first over the word's characters; any unmatched part makes the word `[UNK]`.
    private func wordPiece(_ w: UnsafeBufferPointer<UInt8>, into out: inout [Int32], scratch: inout [UInt8]) {
        var chars = 0
        for c in w where c & 0xC0 != 0x80 { chars += 1 }
        if chars > maxInputCharsPerWord { out.append(unkTokenId); return }
        let mark = out.count
        var start = 0
        while start < w.count {
            var end = w.count
            var found: Int32? = nil
            while start < end {
                if start == 0 {
                    found = vocab.id(UnsafeBufferPointer(rebasing: w[0..<end]))
                } else {
                    scratch.removeAll(keepingCapacity: true)
                    scratch.append(contentsOf: continuingPrefix)
                    scratch.append(contentsOf: UnsafeBufferPointer(rebasing: w[start..<end]))
                    found = scratch.withUnsafeBufferPointer { vocab.id($0) }
                }
                if found != nil { break }
                end -= 1
                while end > start && w[end] & 0xC0 == 0x80 { end -= 1 }
            }
            guard let id = found else {
                out.removeLast(out.count - mark)
                out.append(unkTokenId)
                return
            }
            out.append(id)
            start = end
        }
    }
}
