import Foundation

/// Where each sequence of a packed (padding-free) batch lives: tokens of sequence s are rows
/// offsets[s] ..< offsets[s+1] of every (T, ·) activation, T = offsets.last.
public struct PackedBatch: Sendable {
    public let offsets: [Int]
    public init(lengths: [Int]) {
        var o = [0]
        o.reserveCapacity(lengths.count + 1)
        for l in lengths { o.append(o[o.count - 1] + l) }
        offsets = o
    }
    public var count: Int { offsets.count - 1 }
    public var tokens: Int { offsets[offsets.count - 1] }
    public func length(_ s: Int) -> Int { offsets[s + 1] - offsets[s] }
    public var maxLength: Int { (0..<count).map(length).max() ?? 0 }
}

/// Multi-head self-attention over a packed batch; every token attends to every token of its own
/// sequence (no padding exists, so no mask is needed).
/// qkv is (T, 3C) = [q | k | v] per row, ctx is (T, C), C = heads * d.
/// probs, when given, receives each (sequence, head)'s softmax matrix (L, L) at
/// probsOffsets[s] + h * L * L — the backward pass needs them.
func attentionForward(ctx: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>, batch: PackedBatch,
                      heads: Int, headDim d: Int,
                      probs: UnsafeMutablePointer<Float>? = nil, probsOffsets: [Int]? = nil) {
    let c = heads * d
    let ld = 3 * c
    let scale = 1 / Float(d).squareRoot()
    let maxL = batch.maxLength
    let jobs = batch.count * heads
    // Long sequences first would balance better; jobs are already interleaved by head.
    Parallel.forRanges(jobs, grain: 1) { range in
        let scratch = probs == nil ? UnsafeMutablePointer<Float>.allocate(capacity: maxL * maxL) : nil
        defer { scratch?.deallocate() }
        for job in range {
            let s = job / heads, h = job % heads
            let l = batch.length(s)
            let o = batch.offsets[s]
            let q = qkv + o * ld + h * d
            let k = q + c
            let v = q + 2 * c
            let p: UnsafeMutablePointer<Float> = probs.map { $0 + probsOffsets![s] + h * l * l } ?? scratch!
            // p (L, L) = scale * q (L, d) · kᵀ
            BLAS.gemmSerial(transB: true, m: l, n: l, k: d, alpha: scale, a: q, lda: ld, b: k, ldb: ld, c: p, ldc: l)
            softmaxRows(p, rows: l, cols: l)
            // ctx (L, d) = p (L, L) · v (L, d)
            BLAS.gemmSerial(m: l, n: d, k: l, a: p, lda: l, b: v, ldb: ld, c: ctx + o * c + h * d, ldc: c)
        }
    }
}

/// Row-wise softmax in place, max-subtracted, SIMD exp.
func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols n: Int) {
    for r in 0..<rows {
        let row = x + r * n
        var mx = -Float.infinity
        for j in 0..<n { mx = max(mx, row[j]) }
        let m8 = V8(repeating: mx)
        var sum8 = V8.zero
        var j = 0
        while j + 8 <= n {
            let e = simdExp(UnsafeRawPointer(row + j).loadUnaligned(as: V8.self) - m8)
            UnsafeMutableRawPointer(row + j).storeBytes(of: e, as: V8.self)
            sum8 += e
            j += 8
        }
        var sum = sum8.sum()
        while j < n { let e = scalarExp(row[j] - mx); row[j] = e; sum += e; j += 1 }
        let inv = 1 / sum
        for j in 0..<n { row[j] *= inv }
    }
}
