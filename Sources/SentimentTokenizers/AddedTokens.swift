/// A token matched verbatim in the raw text before any other processing (`<s>`, `[CLS]`, `<mask>`, ...),
/// as `tokenizers`' AddedVocabulary does: `transformers` does not escape special-token strings that occur
/// literally in a text, so "a </s> b" yields the id of `</s>` in the middle of the sequence.
public struct AddedToken: Sendable, Equatable {
    public var content: String
    public var id: Int32
    /// Also swallow the whitespace to the left (right) of a match.
    public var lstrip: Bool
    public var rstrip: Bool
    public var special: Bool

    public init(content: String, id: Int32, lstrip: Bool = false, rstrip: Bool = false, special: Bool = true) {
        self.content = content
        self.id = id
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.special = special
    }
}

/// Splits a text into runs of ordinary text and added tokens: leftmost match first, the longest token
/// when several start at the same byte (aho-corasick LeftmostLongest, as in `tokenizers`).
struct AddedTokenSplitter: Sendable {
    enum Piece: Equatable {
        case text(Range<Int>)
        case token(Int32)
    }

    private struct Entry: Sendable {
        var bytes: [UInt8]
        var id: Int32
        var lstrip: Bool
        var rstrip: Bool
    }

    /// Per first byte, the tokens that start with it, longest first.
    private let byFirstByte: [[Entry]]
    let isEmpty: Bool

    init(_ tokens: [AddedToken]) {
        var table = [[Entry]](repeating: [], count: 256)
        for t in tokens where !t.content.isEmpty {
            let bytes = Array(t.content.utf8)
            table[Int(bytes[0])].append(Entry(bytes: bytes, id: t.id, lstrip: t.lstrip, rstrip: t.rstrip))
        }
        for i in 0..<256 { table[i].sort { $0.bytes.count > $1.bytes.count } }
        byFirstByte = table
        isEmpty = tokens.allSatisfy { $0.content.isEmpty }
    }

    /// `cls`, then the ids of `b` within `maxLength` (which counts the two specials; content is cut from the end,
    /// and a `maxLength` below 2 still yields the two specials), then `sep`: the frame both tokenizers share. Added
    /// tokens go in as their ids; `encodeText` appends the ids of one run of plain text and may stop at `limit`.
    @inline(__always)
    func encode(_ b: UnsafeBufferPointer<UInt8>, maxLength: Int, cls: Int32, sep: Int32,
                encodeText: (Range<Int>, inout [Int32], _ limit: Int) -> Void) -> [Int32] {
        let limit = 1 + max(0, maxLength - 2)
        var out: [Int32] = [cls]
        out.reserveCapacity(min(limit, b.count + 1) + 1)
        for piece in split(b) {
            if out.count >= limit { break }
            switch piece {
            case let .token(id): out.append(id)
            case let .text(range): encodeText(range, &out, limit)
            }
        }
        if out.count > limit { out.removeLast(out.count - limit) }
        out.append(sep)
        return out
    }

    func split(_ b: UnsafeBufferPointer<UInt8>) -> [Piece] {
        let n = b.count
        if isEmpty { return n == 0 ? [] : [.text(0..<n)] }
        var pieces: [Piece] = []
        var offset = 0  // end of the previous match (after its rstrip)
        var p = 0
        outer: while p < n {
            let candidates = byFirstByte[Int(b[p])]
            if candidates.isEmpty { p += 1; continue }
            for e in candidates where e.bytes.count <= n - p {
                var same = true
                for k in 1..<e.bytes.count where b[p + k] != e.bytes[k] { same = false; break }
                guard same else { continue }
                var start = p
                var stop = p + e.bytes.count
                if e.lstrip {
                    start = max(offset, AddedTokenSplitter.whitespaceStart(b, before: start))
                }
                if e.rstrip {
                    stop = AddedTokenSplitter.whitespaceEnd(b, from: stop)
                }
                if start > offset { pieces.append(.text(offset..<start)) }
                pieces.append(.token(e.id))
                offset = stop
                p = stop
                continue outer
            }
            p += 1
        }
        if offset < n { pieces.append(.text(offset..<n)) }
        return pieces
    }

    /// Start of the run of whitespace characters that ends at `end`.
    private static func whitespaceStart(_ b: UnsafeBufferPointer<UInt8>, before end: Int) -> Int {
        var i = end
        while i > 0 {
            var s = i - 1
            while s > 0 && b[s] & 0xC0 == 0x80 { s -= 1 }
            guard UnicodeClasses.isWhitespace(decodeScalar(b, s).value) else { break }
            i = s
        }
        return i
    }

    /// End of the run of whitespace characters that starts at `start`.
    private static func whitespaceEnd(_ b: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var i = start
        while i < b.count {
            let (v, len) = decodeScalar(b, i)
            guard UnicodeClasses.isWhitespace(v) else { break }
            i += len
        }
        return i
    }
}
