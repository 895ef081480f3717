import Foundation

/// RoBERTa's tokenizer: byte-level BPE with GPT-2 pre-tokenisation, exactly as `RobertaTokenizer`
/// (the `tokenizers`-backed class of transformers 5, and `RobertaTokenizerFast` before it).
///
/// Pipeline for `encode`: added tokens (`<s>`, `</s>`, `<mask>`, ...) are cut out of the raw text; each
/// remaining run gets a leading space when `addPrefixSpace` and it does not start with one; the run is split
/// by the GPT-2 regex; each piece's UTF-8 bytes become byte symbols (GPT-2's byte-to-unicode alphabet) and
/// are merged by rank; the ids go between `<s>` and `</s>`.
public struct ByteLevelBPE: ByteTokenizer {
    public let padTokenId: Int32
    public let clsTokenId: Int32
    public let sepTokenId: Int32
    public let vocabularySize: Int
    public let addPrefixSpace: Bool
    /// Ids of the added/special tokens the text is scanned for.
    public let addedTokens: [AddedToken]

    private let vocab: TokenTable
    private let merges: MergeTable
    /// Id of the one-byte symbol of each byte value.
    private let byteIds: [Int32]
    private let splitter: AddedTokenSplitter
    private let cache = BPECache()

    /// - Parameters:
    ///   - vocab: token (in the byte-to-unicode alphabet, UTF-8) and id, in file order.
    ///   - merges: merge pairs resolved to ids, in rank order.
    ///   - byteIds: the id of each of the 256 byte symbols (`ByteLevelBPE.byteSymbol`).
    init(vocab: TokenTable, merges: [(left: Int32, right: Int32, merged: Int32)], byteIds: [Int32],
         addedTokens: [AddedToken], addPrefixSpace: Bool, clsTokenId: Int32, sepTokenId: Int32,
         padTokenId: Int32, vocabularySize: Int) {
        precondition(byteIds.count == 256)
        self.vocab = vocab
        self.merges = MergeTable(merges)
        self.byteIds = byteIds
        self.addedTokens = addedTokens
        self.splitter = AddedTokenSplitter(addedTokens)
        self.addPrefixSpace = addPrefixSpace
        self.clsTokenId = clsTokenId
        self.sepTokenId = sepTokenId
        self.padTokenId = padTokenId
        self.vocabularySize = vocabularySize
    }

    /// Id of a token string (in the byte-to-unicode alphabet: "Ġworld"), if the vocabulary has it.
    public func id(of token: String) -> Int32? { vocab.id(Array(token.utf8)) }

    /// `maxLength` counts `<s>` and `</s>` (see `AddedTokenSplitter.encode`).
    public func encode(bytes b: UnsafeBufferPointer<UInt8>, maxLength: Int) -> [Int32] {
        var scratch: [UInt8] = []
        return splitter.encode(b, maxLength: maxLength, cls: clsTokenId, sep: sepTokenId) { range, out, limit in
            if addPrefixSpace && b[range.lowerBound] != 0x20 {
                scratch.removeAll(keepingCapacity: true)
                scratch.append(0x20)
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: b[range]))
                scratch.withUnsafeBufferPointer { s in encodeRun(s, 0..<s.count, into: &out, limit: limit) }
            } else {
                encodeRun(b, range, into: &out, limit: limit)
            }
        }
    }

    /// Pre-tokenises `b[range]` with the GPT-2 regex and appends the BPE ids of every piece.
    private func encodeRun(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into out: inout [Int32], limit: Int) {
        GPT2PreTokenizer.forEachPiece(b, range) { piece in
            if out.count >= limit { return false }
            bpe(UnsafeBufferPointer(rebasing: b[piece]), into: &out)
            return true
        }
    }

    /// Longest piece whose result is cached; longer ones (pathological inputs) are merged every time.
    private static let maxCachedPieceBytes = 64

    private func bpe(_ piece: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        if piece.count == 1 { out.append(byteIds[Int(piece[0])]); return }
        let cacheable = piece.count <= ByteLevelBPE.maxCachedPieceBytes
        if cacheable && cache.lookup(piece, into: &out) { return }
        let start = out.count
        if piece.count <= ByteLevelBPE.maxCachedPieceBytes {
            mergeShort(piece, into: &out)
        } else {
            out.append(contentsOf: merge(piece))
        }
        if cacheable { cache.insert(piece, out[start...]) }
    }

    /// The same merges as `merge` for short pieces, without a heap: repeatedly merge the adjacent pair with
    /// the lowest rank, leftmost on ties, which is the order in which `tokenizers`' queue pops them.
    private func mergeShort(_ piece: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        let n = piece.count
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 3 * n) { buf in
            let ids = buf.baseAddress!, rank = ids + n, merged = ids + 2 * n
            for i in 0..<n { ids[i] = byteIds[Int(piece[i])] }
            @inline(__always) func pair(_ i: Int) {
                if let m = merges.lookup(ids[i], ids[i + 1]) { rank[i] = m.rank; merged[i] = m.merged } else { rank[i] = .max }
            }
            for i in 0..<(n - 1) { pair(i) }
            var count = n
            while count > 1 {
                var best = 0
                for i in 1..<(count - 1) where rank[i] < rank[best] { best = i }
                if rank[best] == .max { break }
                ids[best] = merged[best]
                // Drop symbol best+1 and its pair entry.
                for i in (best + 1)..<(count - 1) { ids[i] = ids[i + 1] }
                for i in (best + 1)..<max(best + 1, count - 2) { rank[i] = rank[i + 1]; merged[i] = merged[i + 1] }
                count -= 1
                if best > 0 { pair(best - 1) }
                if best < count - 1 { pair(best) }
            }
            for i in 0..<count { out.append(ids[i]) }
        }
    }

    /// `tokenizers`' Word::merge_all: repeatedly merge the pair with the lowest rank (leftmost on ties),
    /// with a priority queue and a linked list of symbols, so a 10,000-byte piece stays O(n log n).
    func merge(_ piece: UnsafeBufferPointer<UInt8>) -> [Int32] {
        let n = piece.count
        var ids = [Int32](repeating: 0, count: n)
        var prev = [Int32](repeating: -1, count: n)
        var next = [Int32](repeating: -1, count: n)
        var alive = [Bool](repeating: true, count: n)
        for i in 0..<n {
            ids[i] = byteIds[Int(piece[i])]
            prev[i] = Int32(i - 1)
            next[i] = i + 1 < n ? Int32(i + 1) : -1
        }
        var heap = MergeHeap()
        for i in 0..<(n - 1) {
            if let m = merges.lookup(ids[i], ids[i + 1]) {
                heap.push(.init(rank: m.rank, pos: Int32(i), merged: m.merged))
            }
        }
        while let top = heap.pop() {
            let pos = Int(top.pos)
            guard alive[pos], next[pos] >= 0 else { continue }
            let right = Int(next[pos])
            // Skip entries made stale by an earlier merge.
            guard let m = merges.lookup(ids[pos], ids[right]), m.merged == top.merged else { continue }
            ids[pos] = top.merged
            alive[right] = false
            next[pos] = next[right]
            if next[right] >= 0 { prev[Int(next[right])] = Int32(pos) }
            if prev[pos] >= 0 {
                let p = Int(prev[pos])
                if let m2 = merges.lookup(ids[p], ids[pos]) {
                    heap.push(.init(rank: m2.rank, pos: Int32(p), merged: m2.merged))
                }
            }
            if next[pos] >= 0 {
                if let m2 = merges.lookup(ids[pos], ids[Int(next[pos])]) {
                    heap.push(.init(rank: m2.rank, pos: Int32(pos), merged: m2.merged))
                }
            }
        }
        var result: [Int32] = []
        var i = 0
        while i >= 0 && i < n {
            result.append(ids[i])
            i = Int(next[i])
        }
        return result
    }

    // MARK: Byte-to-unicode

    /// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes map to themselves, the other 68 bytes to
    /// U+0100 onwards, so that every byte is a visible character in vocab.json ("Ġ" is the space).
    public static let byteToScalar: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var extra: UInt32 = 0
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = UInt32(b)
            } else {
                table[b] = 256 + extra
                extra += 1
            }
        }
        return table
    }()

    /// UTF-8 of the vocabulary symbol of one byte.
    static func byteSymbol(_ byte: UInt8) -> [UInt8] {
        var out: [UInt8] = []
        appendUTF8(byteToScalar[Int(byte)], to: &out)
        return out
    }
}

/// GPT-2's pre-tokenisation regex, as `tokenizers`' ByteLevel pre-tokenizer runs it (Oniguruma):
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// implemented directly over Unicode scalars. Each alternative is tried at the current position in order;
/// the character classes are `UnicodeClasses.gpt2`.
enum GPT2PreTokenizer {
    /// Calls `body` with the byte range of each piece, in order, until it returns false.
    static func forEachPiece(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>,
                             _ body: (Range<Int>) -> Bool) {
        let end = range.upperBound
        var i = range.lowerBound
        while i < end {
            let (c0, len0) = decodeScalar(b, i)
            // 's|'t|'re|'ve|'m|'ll|'d  (lower case only)
            if c0 == 0x27, i + 1 < end {
                let c1 = b[i + 1]
                var n = 0
                switch c1 {
                case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"): n = 2
                case UInt8(ascii: "r"), UInt8(ascii: "v"):
                    if i + 2 < end && b[i + 2] == UInt8(ascii: "e") { n = 3 }
                case UInt8(ascii: "l"):
                    if i + 2 < end && b[i + 2] == UInt8(ascii: "l") { n = 3 }
                default: break
                }
                if n > 0 {
                    if !body(i..<(i + n)) { return }
                    i += n
                    continue
                }
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
            var j = i
            var cls = UnicodeClasses.gpt2(c0)
            if c0 == 0x20 && i + 1 < end {
                let (c1, _) = decodeScalar(b, i + 1)
                let k = UnicodeClasses.gpt2(c1)
                if k != .whitespace { cls = k; j = i + 1 }
            }
            if cls != .whitespace {
                var k = j
                while k < end {
                    let (c, len) = decodeScalar(b, k)
                    if UnicodeClasses.gpt2(c) != cls { break }
                    k += len
                }
                if !body(i..<k) { return }
                i = k
                continue
            }
            // `\s+(?!\S)` then `\s+`: a whitespace run followed by a non-space gives up its last character,
            // which then starts the next piece (as " word" when it is a space).
            var k = i + len0
            var lastStart = i
            while k < end {
                let (c, len) = decodeScalar(b, k)
                if UnicodeClasses.gpt2(c) != .whitespace { break }
                lastStart = k
                k += len
            }
            let stop = (k < end && lastStart > i) ? lastStart : k
            if !body(i..<stop) { return }
            i = stop
        }
    }
}

/// A binary min-heap of pending merges ordered by (rank, position), as `tokenizers`' Merge ordering.
private struct MergeHeap {
    struct Item {
        var rank: Int32
        var pos: Int32
        var merged: Int32
        @inline(__always) func less(_ o: Item) -> Bool { rank != o.rank ? rank < o.rank : pos < o.pos }
    }
    private var items: [Item] = []

    mutating func push(_ x: Item) {
        items.append(x)
        var c = items.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            guard items[c].less(items[p]) else { break }
            items.swapAt(c, p)
            c = p
        }
    }

    mutating func pop() -> Item? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var p = 0
            let n = items.count
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < n && items[l].less(items[m]) { m = l }
                if r < n && items[r].less(items[m]) { m = r }
                if m == p { break }
                items.swapAt(p, m)
                p = m
            }
        }
        return top
    }
}

/// Piece bytes -> BPE ids, shared by every thread that uses one tokenizer: an open-addressing table over
/// flat arrays, looked up straight from the text's bytes. When full it starts over (the working set of a
/// tweet stream is a few ten thousand pieces).
final class BPECache: @unchecked Sendable {
    private let lock = NSLock()
    private static let slotCount = 1 << 17
    private static let maxEntries = 1 << 16
    private var slots = [Int32](repeating: -1, count: BPECache.slotCount)
    private var hashes: [UInt32] = []
    private var keyEnds: [Int32] = [0]
    private var keyBytes: [UInt8] = []
    private var valueEnds: [Int32] = [0]
    private var values: [Int32] = []

    @inline(__always)
    private static func hash(_ p: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var h: UInt32 = 0x811C_9DC5
        for c in p { h = (h ^ UInt32(c)) &* 0x0100_0193 }
        return h
    }

    /// Appends the cached ids of `piece` to `out`; false when absent.
    func lookup(_ piece: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) -> Bool {
        let h = BPECache.hash(piece)
        lock.lock()
        defer { lock.unlock() }
        var s = Int(h) & (BPECache.slotCount - 1)
        while true {
            let e = Int(slots[s])
            if e < 0 { return false }
            if hashes[e] == h && keyMatches(e, piece) {
                out.append(contentsOf: values[Int(valueEnds[e])..<Int(valueEnds[e + 1])])
                return true
            }
            s = (s + 1) & (BPECache.slotCount - 1)
        }
    }

    func insert(_ piece: UnsafeBufferPointer<UInt8>, _ ids: ArraySlice<Int32>) {
        let h = BPECache.hash(piece)
        lock.lock()
        defer { lock.unlock() }
        if hashes.count >= BPECache.maxEntries {
            for i in slots.indices { slots[i] = -1 }
            hashes.removeAll(keepingCapacity: true)
            keyEnds.removeAll(keepingCapacity: true); keyEnds.append(0)
            keyBytes.removeAll(keepingCapacity: true)
            valueEnds.removeAll(keepingCapacity: true); valueEnds.append(0)
            values.removeAll(keepingCapacity: true)
        }
        var s = Int(h) & (BPECache.slotCount - 1)
        while slots[s] >= 0 {
            let e = Int(slots[s])
            if hashes[e] == h && keyMatches(e, piece) { return }  // another thread got there first
            s = (s + 1) & (BPECache.slotCount - 1)
        }
        slots[s] = Int32(hashes.count)
        hashes.append(h)
        keyBytes.append(contentsOf: piece)
        keyEnds.append(Int32(keyBytes.count))
        values.append(contentsOf: ids)
        valueEnds.append(Int32(values.count))
    }

    @inline(__always)
    private func keyMatches(_ e: Int, _ p: UnsafeBufferPointer<UInt8>) -> Bool {
        let a = Int(keyEnds[e]), b = Int(keyEnds[e + 1])
        guard b - a == p.count else { return false }
        for i in 0..<p.count where keyBytes[a + i] != p[i] { return false }
        return true
    }
}
