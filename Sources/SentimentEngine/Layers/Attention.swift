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

/// Where each (sequence, head)'s (L, L) probability matrix starts in a site-wide index: the dropout
/// mask of the attention probabilities is addressed by these (the matrices themselves are not stored).
func attentionProbabilityOffsets(_ batch: PackedBatch, heads: Int) -> [Int] {
    var o = [Int]()
    o.reserveCapacity(batch.count)
    var acc = 0
    for s in 0..<batch.count {
        o.append(acc)
        acc += heads * batch.length(s) * batch.length(s)
    }
    return o
}

/// attentionForward in train mode: the same, with dropout on the attention probabilities (as
/// transformers' eager attention: ctx = dropout(softmax(q kᵀ / √d)) · v). qkv is (T, 3C).
/// ctx is (T, C), or (B, C) with `firstQueryOnly`: then only the first token of each sequence queries
/// (row s of ctx; the classification heads read nothing else of the last layer) and only those rows of
/// the q part of qkv are read.
package func attentionForwardDropout(ctx: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>, batch: PackedBatch,
                                     heads: Int, headDim d: Int, dropout: DropoutMask, firstQueryOnly: Bool = false) {
    if !dropout.isActive && !firstQueryOnly {
        attentionForward(ctx: ctx, qkv: qkv, batch: batch, heads: heads, headDim: d)
        return
    }
    let (c, ld, scale, maxL, base) = attentionConstants(batch, heads: heads, headDim: d, dropout: dropout)
    Parallel.forRanges(batch.count * heads, grain: firstQueryOnly ? 16 : 1) { range in
        let p = UnsafeMutablePointer<Float>.allocate(capacity: maxL * maxL)
        defer { p.deallocate() }
        for job in range {
            let s = job / heads, h = job % heads
            let l = batch.length(s)
            let lq = firstQueryOnly ? 1 : l
            let q = qkv + batch.offsets[s] * ld + h * d
            BLAS.gemmSerial(transB: true, m: lq, n: l, k: d, alpha: scale, a: q, lda: ld, b: q + c, ldb: ld, c: p, ldc: l)
            softmaxRowsTraining(p, rows: lq, cols: l)
            if dropout.isActive {
                let index = base[s] + h * l * l
                for i in 0..<lq { dropoutApply(p + i * l, count: l, index: index + i * l, mask: dropout) }
            }
            let out = ctx + (firstQueryOnly ? s : batch.offsets[s]) * c + h * d
            BLAS.gemmSerial(m: lq, n: d, k: l, a: p, lda: l, b: q + 2 * c, ldb: ld, c: out, ldc: c)
        }
    }
}

/// What the training forward and the backward of one attention call both start from: the width C = heads · d,
/// the qkv row stride 3C, the score scale 1/√d, the longest sequence, and each sequence's offset into the
/// dropout stream of attention probabilities (empty without dropout).
private func attentionConstants(_ batch: PackedBatch, heads: Int, headDim d: Int, dropout: DropoutMask)
    -> (c: Int, ld: Int, scale: Float, maxL: Int, base: [Int]) {
    let c = heads * d
    return (c, 3 * c, 1 / Float(d).squareRoot(), batch.maxLength,
            dropout.isActive ? attentionProbabilityOffsets(batch, heads: heads) : [])
}

/// dqkv is (T, 3C) (written, not accumulated), dctx is (T, C), qkv is (T, 3C) as the forward saw it.
/// Each (sequence, head)'s probabilities are recomputed (one (L, L) GEMM) rather than stored:
/// P = softmax(s q kᵀ), P̃ = dropout(P), ctx = P̃ v, s = 1/√d. Then
/// dv = P̃ᵀ dctx, dP = dropout'(dctx vᵀ), dS = P ⊙ (dP - rowsum(P ⊙ dP)), dq = s dS k, dk = s dSᵀ q.
/// With `firstQueryOnly` (see attentionForwardDropout) dctx is (B, C) and only the first-token rows of
/// the q part of dqkv are written (the k and v parts are written for every row).
package func attentionBackward(dqkv: UnsafeMutablePointer<Float>, dctx: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
                               batch: PackedBatch, heads: Int, headDim d: Int, dropout: DropoutMask = .off,
                               firstQueryOnly: Bool = false) {
    let (c, ld, scale, maxL, base) = attentionConstants(batch, heads: heads, headDim: d, dropout: dropout)
    Parallel.forRanges(batch.count * heads, grain: firstQueryOnly ? 16 : 1) { range in
        let p = UnsafeMutablePointer<Float>.allocate(capacity: maxL * maxL)
        let dp = UnsafeMutablePointer<Float>.allocate(capacity: maxL * maxL)
        defer { p.deallocate(); dp.deallocate() }
        for job in range {
            let s = job / heads, h = job % heads
            let l = batch.length(s)
            let lq = firstQueryOnly ? 1 : l
            let row0 = batch.offsets[s]
            let q = qkv + row0 * ld + h * d, k = q + c, v = q + 2 * c
            let dq = dqkv + row0 * ld + h * d, dk = dq + c, dv = dq + 2 * c
            let dc = dctx + (firstQueryOnly ? s : row0) * c + h * d
            BLAS.gemmSerial(transB: true, m: lq, n: l, k: d, alpha: scale, a: q, lda: ld, b: k, ldb: ld, c: p, ldc: l)
            softmaxRowsTraining(p, rows: lq, cols: l)
            // dv (L, d) = P̃ᵀ · dctx
            var pTilde = UnsafePointer(p)
            if dropout.isActive {
                let index = base[s] + h * l * l
                for i in 0..<lq { dropoutApply(dp + i * l, count: l, index: index + i * l, mask: dropout, source: p + i * l) }
                pTilde = UnsafePointer(dp)
            }
            BLAS.gemmSerial(transA: true, m: l, n: d, k: lq, a: pTilde, lda: l, b: dc, ldb: c, c: dv, ldc: ld)
            // dP̃ (Lq, L) = dctx · vᵀ, then through the dropout mask
            BLAS.gemmSerial(transB: true, m: lq, n: l, k: d, a: dc, lda: c, b: v, ldb: ld, c: dp, ldc: l)
            if dropout.isActive {
                let index = base[s] + h * l * l
                for i in 0..<lq { dropoutApply(dp + i * l, count: l, index: index + i * l, mask: dropout) }
            }
            softmaxBackwardRows(dp, probs: p, rows: lq, cols: l)
            // dq = s dS · k, dk = s dSᵀ · q
            BLAS.gemmSerial(m: lq, n: d, k: l, alpha: scale, a: dp, lda: l, b: k, ldb: ld, c: dq, ldc: ld)
            BLAS.gemmSerial(transA: true, m: l, n: d, k: lq, alpha: scale, a: dp, lda: l, b: q, ldb: ld, c: dk, ldc: ld)
        }
    }
}

/// x is (N, C): row-wise softmax in place as softmaxRows, for the training kernels: SIMD max and
/// normalisation, and an exp of (x - max) <= 0 that stays in registers.
func softmaxRowsTraining(_ x: UnsafeMutablePointer<Float>, rows: Int, cols n: Int) {
    for r in 0..<rows {
        let row = x + r * n
        var j = 0
        var mx8 = V8(repeating: -.infinity)
        while j + 8 <= n { mx8 = simdMax(mx8, V8(loadFrom: row + j)); j += 8 }
        var mx = mx8.max()
        while j < n { mx = max(mx, row[j]); j += 1 }
        let m8 = V8(repeating: mx)
        var sum8 = V8.zero
        j = 0
        while j + 8 <= n {
            let e = expOfNonPositive(V8(loadFrom: row + j) - m8)
            e.store(to: row + j)
            sum8 += e
            j += 8
        }
        var sum = sum8.sum()
        while j < n { let e = expOfNonPositive(V8(repeating: row[j] - mx))[0]; row[j] = e; sum += e; j += 1 }
        let inv = 1 / sum
        let inv8 = V8(repeating: inv)
        j = 0
        while j + 8 <= n { (V8(loadFrom: row + j) * inv8).store(to: row + j); j += 8 }
        while j < n { row[j] *= inv; j += 1 }
    }
}

/// d and probs are (N, C): d holds ∂loss/∂softmax and receives ∂loss/∂scores (in place):
/// dS = P ⊙ (dP - Σ_j P_j dP_j) per row.
func softmaxBackwardRows(_ d: UnsafeMutablePointer<Float>, probs: UnsafePointer<Float>, rows: Int, cols n: Int) {
    for r in 0..<rows {
        let g = d + r * n, p = probs + r * n
        var dot8 = V8.zero
        var j = 0
        while j + 8 <= n {
            dot8 += UnsafeRawPointer(g + j).loadUnaligned(as: V8.self) * UnsafeRawPointer(p + j).loadUnaligned(as: V8.self)
            j += 8
        }
        var dot = dot8.sum()
        while j < n { dot += g[j] * p[j]; j += 1 }
        for j in 0..<n { g[j] = p[j] * (g[j] - dot) }
    }
}
