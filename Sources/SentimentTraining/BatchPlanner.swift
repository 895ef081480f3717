import SentimentEngine

/// The order in which a training epoch visits its examples: length-bucketed, shuffled batches.
///
/// Per epoch: shuffle all example indices; cut the shuffled list into windows of `windowBatches ×
/// batchSize` examples; inside each window sort by token length (stable) and cut it into batches of
/// `batchSize`; finally shuffle the list of batches. Batches then hold texts of similar length (little
/// work is wasted on length differences — the core is padding-free, but attention and the batch's
/// longest sequence still set the cost), yet which texts meet in a batch and the batch order change
/// every epoch. Only the very last batch of the epoch can be short.
///
/// Everything is a pure function of (seed, epoch): the shuffles use `SeededRandom` and a Fisher–Yates
/// written here (not the standard library's `shuffle`, whose algorithm may change between releases).
public enum BatchPlanner {
    public static func epochBatches(lengths: [Int], batchSize: Int, windowBatches: Int, seed: UInt64, epoch: Int) -> [[Int]] {
        precondition(batchSize >= 1 && windowBatches >= 1)
        var rng = SeededRandom(seed: derivedSeed(seed, stream: .epochOrder, index: UInt64(epoch)))
        var order = Array(0..<lengths.count)
        fisherYates(&order, &rng)
        let window = windowBatches * batchSize
        var batches: [[Int]] = []
        batches.reserveCapacity((lengths.count + batchSize - 1) / batchSize)
        var start = 0
        while start < order.count {
            let chunk = order[start..<min(order.count, start + window)]
            // Stable sort by length: ties keep their shuffled order.
            let sorted = chunk.enumerated().sorted { a, b in
                lengths[a.element] != lengths[b.element] ? lengths[a.element] < lengths[b.element] : a.offset < b.offset
            }.map(\.element)
            var i = 0
            while i < sorted.count {
                batches.append(Array(sorted[i..<min(sorted.count, i + batchSize)]))
                i += batchSize
            }
            start += window
        }
        fisherYates(&batches, &rng)
        return batches
    }

    static func fisherYates<T>(_ a: inout [T], _ rng: inout SeededRandom) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = Int(uniform(UInt64(i + 1), &rng))
            if i != j { a.swapAt(i, j) }
        }
    }

    /// Uniform in 0..<n without modulo bias (Lemire's multiply-shift with rejection).
    static func uniform(_ n: UInt64, _ rng: inout SeededRandom) -> UInt64 {
        var m = rng.next().multipliedFullWidth(by: n)
        if m.low < n {
            let threshold = (0 &- n) % n
            while m.low < threshold { m = rng.next().multipliedFullWidth(by: n) }
        }
        return m.high
    }
}

/// Independent random streams of a run, all derived from its seed, so that any point of a run can be
/// reproduced from (seed, counter) alone — which is what makes a resumed run identical to an
/// uninterrupted one.
public enum RandomStream: UInt64, Sendable {
    case epochOrder = 1
    case dropout = 2
    case headInit = 3
}

/// A seed for item `index` of `stream`: SplitMix64 finalisers over the run seed, the stream and the index.
public func derivedSeed(_ seed: UInt64, stream: RandomStream, index: UInt64) -> UInt64 {
    var a = SeededRandom(seed: seed ^ (stream.rawValue &* 0xD6E8_FEB8_6659_FD93))
    var b = SeededRandom(seed: a.next() ^ index)
    return b.next()
}
