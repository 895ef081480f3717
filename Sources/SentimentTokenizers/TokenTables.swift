/// Token (UTF-8 bytes) -> id, looked up straight from a byte slice of the text, without allocating.
/// Keys are bytes, not `String`s, so canonically equivalent tokens stay distinct as they are in `tokenizers`.
struct TokenTable: Sendable {
    private var keyBytes: [UInt8] = []
    private var keyStarts: [Int32] = [0]
    private var ids: [Int32] = []
    private var slots: [Int32]
    private let mask: Int

    /// Entries in file order; a later duplicate key replaces the earlier id (as `tokenizers` does).
    init(_ entries: [(key: [UInt8], id: Int32)]) {
        var cap = 16
        while cap < entries.count * 2 { cap <<= 1 }
        mask = cap - 1
        slots = [Int32](repeating: -1, count: cap)
        keyBytes.reserveCapacity(entries.reduce(0) { $0 + $1.key.count })
        for e in entries { insert(e.key, e.id) }
    }

    var count: Int { ids.count }

    @inline(__always)
    private static func hash(_ p: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for c in p { h = (h ^ UInt64(c)) &* 0x0000_0100_0000_01B3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    private mutating func insert(_ key: [UInt8], _ id: Int32) {
        key.withUnsafeBufferPointer { p in
            var s = TokenTable.hash(p) & mask
            while true {
                let k = Int(slots[s])
                if k < 0 {
                    slots[s] = Int32(ids.count)
                    ids.append(id)
                    keyBytes.append(contentsOf: p)
                    keyStarts.append(Int32(keyBytes.count))
                    return
                }
                if equal(k, p) { ids[k] = id; return }
                s = (s + 1) & mask
            }
        }
    }

    @inline(__always)
    private func equal(_ k: Int, _ p: UnsafeBufferPointer<UInt8>) -> Bool {
        let a = Int(keyStarts[k]), b = Int(keyStarts[k + 1])
        guard b - a == p.count else { return false }
        return keyBytes.withUnsafeBufferPointer { kb in
            for i in 0..<p.count where kb[a + i] != p[i] { return false }
            return true
        }
    }

    @inline(__always)
    func id(_ p: UnsafeBufferPointer<UInt8>) -> Int32? {
        var s = TokenTable.hash(p) & mask
        while true {
            let k = Int(slots[s])
            if k < 0 { return nil }
            if equal(k, p) { return ids[k] }
            s = (s + 1) & mask
        }
    }

    func id(_ key: [UInt8]) -> Int32? { key.withUnsafeBufferPointer { id($0) } }

    /// Every (key, id) pair, for validation messages.
    var entries: [(key: [UInt8], id: Int32)] {
        (0..<ids.count).map { k in (Array(keyBytes[Int(keyStarts[k])..<Int(keyStarts[k + 1])]), ids[k]) }
    }

    /// Largest id, or -1 when empty.
    var maxId: Int32 { ids.max() ?? -1 }
}

/// BPE merge table: (left id, right id) -> (rank, merged id).
struct MergeTable: Sendable {
    private var keys: [UInt64]
    private var values: [UInt64]  // rank << 32 | merged id
    private let mask: Int
    private static let empty = UInt64.max

    /// Merges in rank order; a later duplicate pair takes the later rank (as `tokenizers` does).
    init(_ merges: [(left: Int32, right: Int32, merged: Int32)]) {
        var cap = 16
        while cap < merges.count * 2 { cap <<= 1 }
        mask = cap - 1
        keys = [UInt64](repeating: MergeTable.empty, count: cap)
        values = [UInt64](repeating: 0, count: cap)
        for (rank, m) in merges.enumerated() {
            let key = MergeTable.key(m.left, m.right)
            var s = MergeTable.slot(key) & mask
            while keys[s] != MergeTable.empty && keys[s] != key { s = (s + 1) & mask }
            keys[s] = key
            values[s] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: m.merged))
        }
    }

    @inline(__always) private static func key(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }
    @inline(__always) private static func slot(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 20)
    }

    @inline(__always)
    func lookup(_ a: Int32, _ b: Int32) -> (rank: Int32, merged: Int32)? {
        let key = MergeTable.key(a, b)
        var s = MergeTable.slot(key) & mask
        while true {
            let k = keys[s]
            if k == key {
                let v = values[s]
                return (Int32(truncatingIfNeeded: v >> 32), Int32(bitPattern: UInt32(truncatingIfNeeded: v)))
            }
            if k == MergeTable.empty { return nil }
            s = (s + 1) & mask
        }
    }
}
