import Foundation
import XCTest
@testable import SentimentEngine
import SentimentTestSupport

/// Every layer's fp32 backward against central finite differences of a Float64 reference of the
/// same function (the fp32 forward kernel is first checked against that reference, so both describe
/// one function). The loss is Σ R ⊙ out for a fixed random R, so ∂loss/∂out = R.
///
/// Tolerances: the reference differences use h = 1e-5 in Double on smooth functions, so their error is
/// ~h² · |f'''| ≈ 1e-10 plus rounding ~1e-16 / h ≈ 1e-11 — negligible. The fp32 kernels sum at most a
/// few hundred products in float (relative error ~ n · 6e-8 ≤ 2e-5), so gradients are compared within
/// 1e-4 of the tensor's largest magnitude (as the PyTorch parity), plus 1e-6 absolute for tensors that
/// are near zero.
final class GradientCheckTests: XCTestCase {
    // MARK: helpers

    struct Rand {
        var rng: SeededRandom
        init(_ seed: UInt64) { rng = SeededRandom(seed: seed) }
        mutating func floats(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in rng.nextNormal() * scale } }
    }

    /// Central differences of f at x, every coordinate.
    static func numericGradient(_ x: [Double], h: Double = 1e-5, _ f: ([Double]) -> Double) -> [Double] {
        var x = x
        var g = [Double](repeating: 0, count: x.count)
        for i in x.indices {
            let v = x[i]
            x[i] = v + h
            let up = f(x)
            x[i] = v - h
            let down = f(x)
            x[i] = v
            g[i] = (up - down) / (2 * h)
        }
        return g
    }

    static func dot(_ a: [Double], _ b: [Float]) -> Double {
        zip(a, b).reduce(0) { $0 + $1.0 * Double($1.1) }
    }

    func assertGradient(_ got: [Float], _ want: [Double], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, "\(what): size", file: file, line: line)
        let scale = want.map(abs).max() ?? 0
        var worst = 0.0
        var at = 0
        for i in 0..<min(got.count, want.count) where abs(Double(got[i]) - want[i]) > worst || got[i].isNaN {
            worst = got[i].isNaN ? .infinity : abs(Double(got[i]) - want[i])
            at = i
        }
        XCTAssertLessThanOrEqual(worst, 1e-4 * scale + 1e-6,
                                 "\(what): max |diff| \(worst) at \(at) (max |grad| \(scale))", file: file, line: line)
    }

    func assertForward(_ got: [Float], _ want: [Double], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        assertGradient(got, want, what + " (forward)", file: file, line: line)
    }

    static func buffer(_ v: [Float]) -> FloatBuffer { FloatBuffer(v) }
    static func d(_ v: [Float]) -> [Double] { v.map(Double.init) }

    // MARK: Float64 references

    /// out (N, OUT) = x (N, IN) · wᵀ + b
    static func refLinear(_ x: [Double], _ w: [Double], _ b: [Double], n: Int, inF: Int, outF: Int) -> [Double] {
        var out = [Double](repeating: 0, count: n * outF)
        for r in 0..<n {
            for o in 0..<outF {
                var s = b[o]
                for i in 0..<inF { s += x[r * inF + i] * w[o * inF + i] }
                out[r * outF + o] = s
            }
        }
        return out
    }

    static func refLayerNorm(_ x: [Double], _ w: [Double], _ b: [Double], n: Int, c: Int, eps: Double) -> [Double] {
        var out = [Double](repeating: 0, count: n * c)
        for r in 0..<n {
            let row = x[(r * c)..<((r + 1) * c)]
            let mu = row.reduce(0, +) / Double(c)
            let v = row.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(c)
            let rs = 1 / (v + eps).squareRoot()
            for j in 0..<c { out[r * c + j] = (x[r * c + j] - mu) * rs * w[j] + b[j] }
        }
        return out
    }

    static func refGELU(_ x: Double) -> Double { 0.5 * x * (1 + erf(x / 2.0.squareRoot())) }

    /// ctx (T, C) of attention over a packed batch; keep(s, h, i, j) multiplies P_ij after softmax
    /// (dropout with a fixed mask, 1 without).
    static func refAttention(_ qkv: [Double], lengths: [Int], heads: Int, d: Int,
                             keep: (Int, Int, Int, Int) -> Double = { _, _, _, _ in 1 }) -> [Double] {
        let c = heads * d, ld = 3 * c
        let t = lengths.reduce(0, +)
        var ctx = [Double](repeating: 0, count: t * c)
        var o = 0
        for (s, l) in lengths.enumerated() {
            for h in 0..<heads {
                for i in 0..<l {
                    var scores = [Double](repeating: 0, count: l)
                    for j in 0..<l {
                        var acc = 0.0
                        for e in 0..<d { acc += qkv[(o + i) * ld + h * d + e] * qkv[(o + j) * ld + c + h * d + e] }
                        scores[j] = acc / Double(d).squareRoot()
                    }
                    let mx = scores.max()!
                    let ex = scores.map { exp($0 - mx) }
                    let sum = ex.reduce(0, +)
                    for e in 0..<d {
                        var acc = 0.0
                        for j in 0..<l { acc += ex[j] / sum * keep(s, h, i, j) * qkv[(o + j) * ld + 2 * c + h * d + e] }
                        ctx[(o + i) * c + h * d + e] = acc
                    }
                }
            }
            o += l
        }
        return ctx
    }

    static func refCrossEntropy(_ logits: [Double], labels: [Int], k: Int, weights: [Float]?) -> Double {
        var num = 0.0, den = 0.0
        for (b, y) in labels.enumerated() {
            let z = Array(logits[(b * k)..<((b + 1) * k)])
            let mx = z.max()!
            let lse = mx + log(z.reduce(0) { $0 + exp($1 - mx) })
            let w = Double(weights?[y] ?? 1)
            num += w * (lse - z[y])
            den += w
        }
        return num / den
    }

    // MARK: Linear

    func testLinearBackwardMatchesFiniteDifferences() {
        var r = Rand(1)
        let n = 5, inF = 7, outF = 11
        let x = r.floats(n * inF), w = r.floats(outF * inF, scale: 0.3), b = r.floats(outF), rr = r.floats(n * outF)
        let layer = Linear(weight: Self.buffer(w), bias: Self.buffer(b), inFeatures: inF, outFeatures: outF)
        let out = FloatBuffer(count: n * outF)
        linearForward(out: out.pointer, inp: x, rows: n, layer: layer)
        assertForward(out.array, Self.refLinear(Self.d(x), Self.d(w), Self.d(b), n: n, inF: inF, outF: outF), "linear")

        let dx = FloatBuffer(count: n * inF), dw = FloatBuffer(count: outF * inF), db = FloatBuffer(count: outF)
        linearBackward(dinp: dx.pointer, dweight: dw.pointer, dbias: db.pointer, dout: rr, inp: x, rows: n, layer: layer)
        let loss = { (x: [Double], w: [Double], b: [Double]) in
            Self.dot(Self.refLinear(x, w, b, n: n, inF: inF, outF: outF), rr)
        }
        assertGradient(dx.array, Self.numericGradient(Self.d(x)) { loss($0, Self.d(w), Self.d(b)) }, "linear dx")
        assertGradient(dw.array, Self.numericGradient(Self.d(w)) { loss(Self.d(x), $0, Self.d(b)) }, "linear dW")
        assertGradient(db.array, Self.numericGradient(Self.d(b)) { loss(Self.d(x), Self.d(w), $0) }, "linear db")

        // Parameter gradients accumulate; the input gradient accumulates only on request.
        let dw1 = dw.array, db1 = db.array, dx1 = dx.array
        linearBackward(dinp: dx.pointer, dweight: dw.pointer, dbias: db.pointer, dout: rr, inp: x, rows: n, layer: layer,
                       accumulateInput: true)
        assertClose(dw.array, dw1.map { 2 * $0 }, tolerance: 1e-5, "dW accumulates")
        assertClose(db.array, db1.map { 2 * $0 }, tolerance: 1e-5, "db accumulates")
        assertClose(dx.array, dx1.map { 2 * $0 }, tolerance: 1e-5, "dx accumulates when asked")
        linearBackward(dinp: dx.pointer, dweight: nil, dbias: nil, dout: rr, inp: x, rows: n, layer: layer)
        assertClose(dx.array, dx1, tolerance: 1e-6, "dx is overwritten by default")
    }

    /// Big enough that BLAS.gemm splits the products over the workers (and the column sums over chunks).
    func testLinearBackwardSplitOverWorkersMatchesSerial() {
        var r = Rand(2)
        let n = 300, inF = 256, outF = 192
        let x = r.floats(n * inF), w = r.floats(outF * inF, scale: 0.1), rr = r.floats(n * outF)
        let layer = Linear(weight: Self.buffer(w), bias: FloatBuffer(count: outF), inFeatures: inF, outFeatures: outF)
        let dx = FloatBuffer(count: n * inF), dw = FloatBuffer(count: outF * inF), db = FloatBuffer(count: outF)
        linearBackward(dinp: dx.pointer, dweight: dw.pointer, dbias: db.pointer, dout: rr, inp: x, rows: n, layer: layer)
        // Reference in Double, straight from the definitions.
        var wantDW = [Double](repeating: 0, count: outF * inF), wantDB = [Double](repeating: 0, count: outF)
        var wantDX = [Double](repeating: 0, count: n * inF)
        for row in 0..<n {
            for o in 0..<outF {
                let g = Double(rr[row * outF + o])
                wantDB[o] += g
                for i in 0..<inF {
                    wantDW[o * inF + i] += g * Double(x[row * inF + i])
                    wantDX[row * inF + i] += g * Double(w[o * inF + i])
                }
            }
        }
        assertGradient(dw.array, wantDW, "large dW")
        assertGradient(db.array, wantDB, "large db")
        assertGradient(dx.array, wantDX, "large dx")
    }

    // MARK: LayerNorm

    func testLayerNormBackwardMatchesFiniteDifferences() {
        var r = Rand(3)
        let n = 6, c = 13
        let eps: Float = 1e-5
        let x = r.floats(n * c, scale: 2), w = r.floats(c), b = r.floats(c), rr = r.floats(n * c)
        let params = LayerNormParams(weight: Self.buffer(w), bias: Self.buffer(b), eps: eps)
        let out = FloatBuffer(count: n * c), sum = FloatBuffer(count: n * c)
        let mean = FloatBuffer(count: n), rstd = FloatBuffer(count: n)
        layerNormForward(out: out.pointer, inp: x, residual: nil, inpBias: nil, rows: n, params: params,
                         sum: sum.pointer, mean: mean.pointer, rstd: rstd.pointer)
        let ref = { (x: [Double], w: [Double], b: [Double]) in Self.refLayerNorm(x, w, b, n: n, c: c, eps: Double(eps)) }
        assertForward(out.array, ref(Self.d(x), Self.d(w), Self.d(b)), "layernorm")
        // The recomputed output is the forward's, bit for bit.
        let again = FloatBuffer(count: n * c)
        layerNormRecompute(out: again.pointer, sum: sum.pointer, mean: mean.pointer, rstd: rstd.pointer, rows: n, params: params)
        XCTAssertEqual(again.array, out.array, "layerNormRecompute equals the forward output")

        let dx = FloatBuffer(rr), dw = FloatBuffer(count: c), db = FloatBuffer(count: c)
        // In place: dinp aliases dout.
        layerNormBackward(dinp: dx.pointer, dout: dx.pointer, sum: sum.pointer, mean: mean.pointer, rstd: rstd.pointer,
                          rows: n, params: params, dweight: dw.pointer, dbias: db.pointer)
        let loss = { (x: [Double], w: [Double], b: [Double]) in Self.dot(ref(x, w, b), rr) }
        assertGradient(dx.array, Self.numericGradient(Self.d(x)) { loss($0, Self.d(w), Self.d(b)) }, "layernorm dx")
        assertGradient(dw.array, Self.numericGradient(Self.d(w)) { loss(Self.d(x), $0, Self.d(b)) }, "layernorm dw")
        assertGradient(db.array, Self.numericGradient(Self.d(b)) { loss(Self.d(x), Self.d(w), $0) }, "layernorm db")
    }

    /// Enough rows that the weight/bias gradients are summed over several per-thread chunks.
    func testLayerNormParameterGradientsOverManyRows() {
        var r = Rand(4)
        let n = 700, c = 48
        let x = r.floats(n * c), w = r.floats(c), b = r.floats(c), rr = r.floats(n * c)
        let params = LayerNormParams(weight: Self.buffer(w), bias: Self.buffer(b), eps: 1e-12)
        let out = FloatBuffer(count: n * c), sum = FloatBuffer(count: n * c)
        let mean = FloatBuffer(count: n), rstd = FloatBuffer(count: n)
        layerNormForward(out: out.pointer, inp: x, residual: nil, inpBias: nil, rows: n, params: params,
                         sum: sum.pointer, mean: mean.pointer, rstd: rstd.pointer)
        let dx = FloatBuffer(count: n * c), dw = FloatBuffer(count: c), db = FloatBuffer(count: c)
        layerNormBackward(dinp: dx.pointer, dout: rr, sum: sum.pointer, mean: mean.pointer, rstd: rstd.pointer,
                          rows: n, params: params, dweight: dw.pointer, dbias: db.pointer)
        var wantW = [Double](repeating: 0, count: c), wantB = [Double](repeating: 0, count: c)
        for row in 0..<n {
            let xs = Self.d(Array(x[(row * c)..<((row + 1) * c)]))
            let mu = xs.reduce(0, +) / Double(c)
            let rs = 1 / (xs.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(c) + 1e-12).squareRoot()
            for j in 0..<c {
                wantW[j] += Double(rr[row * c + j]) * (xs[j] - mu) * rs
                wantB[j] += Double(rr[row * c + j])
            }
        }
        assertGradient(dw.array, wantW, "layernorm dw, many rows")
        assertGradient(db.array, wantB, "layernorm db, many rows")
    }

    // MARK: GELU

    func testGELUBackwardMatchesFiniteDifferences() {
        var r = Rand(5)
        let n = 4, c = 21
        let x = r.floats(n * c, scale: 2.5), bias = r.floats(c, scale: 0.5), rr = r.floats(n * c)
        let buf = FloatBuffer(x), pre = FloatBuffer(count: n * c)
        biasGELUForward(buf.pointer, bias: bias, rows: n, cols: c, preActivation: pre.pointer)
        let ref = { (x: [Double], b: [Double]) in (0..<(n * c)).map { Self.refGELU(x[$0] + b[$0 % c]) } }
        assertForward(buf.array, ref(Self.d(x), Self.d(bias)), "gelu")
        // The training forward (saving pre) computes the same.
        let trainOut = FloatBuffer(x), trainPre = FloatBuffer(count: n * c)
        biasGELUForwardSaving(trainOut.pointer, bias: bias, pre: trainPre.pointer, rows: n, cols: c)
        XCTAssertEqual(trainPre.array, pre.array)
        assertClose(trainOut.array, buf.array, tolerance: 1e-6, "biasGELUForwardSaving equals biasGELUForward")
        let again = FloatBuffer(count: n * c), derivative = FloatBuffer(count: n * c)
        geluRecompute(out: again.pointer, derivative: derivative.pointer, pre: pre.pointer, rows: n, cols: c)
        assertClose(again.array, buf.array, tolerance: 1e-6, "geluRecompute equals the forward output")

        let loss = { (x: [Double], b: [Double]) in Self.dot(ref(x, b), rr) }
        let wantX = Self.numericGradient(Self.d(x)) { loss($0, Self.d(bias)) }
        let wantB = Self.numericGradient(Self.d(bias)) { loss(Self.d(x), $0) }
        // From the pre-activation, and from the derivative geluRecompute saved.
        let dpre = FloatBuffer(rr), dbias = FloatBuffer(count: c)
        geluBackward(dpre.pointer, pre: pre.pointer, rows: n, cols: c, dbias: dbias.pointer)
        assertGradient(dpre.array, wantX, "gelu dx")
        assertGradient(dbias.array, wantB, "gelu dbias")
        let dpre2 = FloatBuffer(rr), dbias2 = FloatBuffer(count: c)
        geluBackward(dpre2.pointer, derivative: derivative.pointer, rows: n, cols: c, dbias: dbias2.pointer)
        assertGradient(dpre2.array, wantX, "gelu dx (saved derivative)")
        assertGradient(dbias2.array, wantB, "gelu dbias (saved derivative)")
        // Far tails: the clamped exp gives Φ = 0 or 1 and no NaN.
        let tails = FloatBuffer([-30, -14, -9, 9, 14, 30, 0, 1e-20])
        let gt = FloatBuffer(count: 8), dt = FloatBuffer(count: 8)
        geluRecompute(out: gt.pointer, derivative: dt.pointer, pre: tails.pointer, rows: 1, cols: 8)
        assertClose(gt.array, [0, 0, 0, 9, 14, 30, 0, 5e-21], tolerance: 1e-6, "gelu tails")
        assertClose(dt.array, [0, 0, 0, 1, 1, 1, 0.5, 0.5], tolerance: 1e-6, "gelu' tails")
    }

    // MARK: attention

    /// The reference's dropout on attention probabilities: the scale where `mask` keeps probability (sequence s,
    /// head h, query i, key j), 0 where it drops it, 1 everywhere without dropout.
    static func attentionKeep(_ mask: DropoutMask, batch: PackedBatch, heads: Int) -> (Int, Int, Int, Int) -> Double {
        let base = attentionProbabilityOffsets(batch, heads: heads)
        return { s, h, i, j in
            guard mask.isActive else { return 1 }
            let l = batch.length(s)
            return mask.keeps(base[s] + h * l * l + i * l + j) ? Double(mask.scale) : 0
        }
    }

    func checkAttention(dropout p: Float) {
        var r = Rand(6)
        let lengths = [5, 1, 9, 3, 16]   // mixed lengths, one of 1, one of 16 (two SIMD widths)
        let heads = 2, d = 4, c = heads * d
        let t = lengths.reduce(0, +)
        let qkv = r.floats(t * 3 * c), rr = r.floats(t * c)
        let batch = PackedBatch(lengths: lengths)
        let mask = p > 0 ? DropoutMask(p: p, key: 99).site(3) : .off
        let keep = Self.attentionKeep(mask, batch: batch, heads: heads)
        let ctx = FloatBuffer(count: t * c)
        attentionForwardDropout(ctx: ctx.pointer, qkv: qkv, batch: batch, heads: heads, headDim: d, dropout: mask)
        let ref = { (q: [Double]) in Self.refAttention(q, lengths: lengths, heads: heads, d: d, keep: keep) }
        assertForward(ctx.array, ref(Self.d(qkv)), "attention p=\(p)")

        let dqkv = FloatBuffer(count: t * 3 * c)
        attentionBackward(dqkv: dqkv.pointer, dctx: rr, qkv: qkv, batch: batch, heads: heads, headDim: d, dropout: mask)
        assertGradient(dqkv.array, Self.numericGradient(Self.d(qkv)) { Self.dot(ref($0), rr) }, "attention dqkv p=\(p)")
        // The key part sums to zero over each sequence (why the key bias has no gradient).
        for s in 0..<lengths.count {
            for j in c..<(2 * c) {
                var acc: Float = 0
                for row in batch.offsets[s]..<batch.offsets[s + 1] { acc += dqkv[row * 3 * c + j] }
                XCTAssertEqual(acc, 0, accuracy: 1e-5, "Σ dk over sequence \(s), column \(j)")
            }
        }
    }

    /// The last layer's mode: only the first token of each sequence queries.
    func checkAttentionFirstQueries(dropout p: Float) {
        var r = Rand(16)
        let lengths = [5, 1, 9, 3, 16]
        let heads = 2, d = 4, c = heads * d, b = lengths.count
        let t = lengths.reduce(0, +)
        let qkv = r.floats(t * 3 * c), rr = r.floats(b * c)
        let batch = PackedBatch(lengths: lengths)
        let mask = p > 0 ? DropoutMask(p: p, key: 98).site(4) : .off
        let keep = Self.attentionKeep(mask, batch: batch, heads: heads)
        let ref = { (q: [Double]) -> [Double] in
            let full = Self.refAttention(q, lengths: lengths, heads: heads, d: d, keep: keep)
            return (0..<b).flatMap { s in full[(batch.offsets[s] * c)..<(batch.offsets[s] * c + c)] }
        }
        let ctx = FloatBuffer(count: b * c)
        attentionForwardDropout(ctx: ctx.pointer, qkv: qkv, batch: batch, heads: heads, headDim: d, dropout: mask,
                                firstQueryOnly: true)
        assertForward(ctx.array, ref(Self.d(qkv)), "first-query attention p=\(p)")
        let dqkv = FloatBuffer([Float](repeating: .nan, count: t * 3 * c))
        attentionBackward(dqkv: dqkv.pointer, dctx: rr, qkv: qkv, batch: batch, heads: heads, headDim: d, dropout: mask,
                          firstQueryOnly: true)
        let want = Self.numericGradient(Self.d(qkv)) { Self.dot(ref($0), rr) }
        // k and v of every row; q of the first rows (the other q rows are not written: still NaN).
        var got: [Float] = [], expected: [Double] = []
        for row in 0..<t {
            let first = batch.offsets.contains(row)
            for j in 0..<(3 * c) where j >= c || first {
                got.append(dqkv[row * 3 * c + j])
                expected.append(want[row * 3 * c + j])
            }
            if !first { XCTAssertTrue(dqkv[row * 3 * c].isNaN, "q row \(row) untouched") }
        }
        assertGradient(got, expected, "first-query attention dqkv p=\(p)")
    }

    func testFirstQueryAttentionMatchesFiniteDifferences() {
        checkAttentionFirstQueries(dropout: 0)
        checkAttentionFirstQueries(dropout: 0.3)
    }

    func testAttentionBackwardMatchesFiniteDifferences() { checkAttention(dropout: 0) }
    func testAttentionBackwardWithDropoutMatchesFiniteDifferences() { checkAttention(dropout: 0.3) }

    func testTrainingSoftmaxEqualsSoftmax() {
        var r = Rand(17)
        for n in [1, 7, 8, 13, 128] {
            let x = r.floats(3 * n, scale: 4)
            let a = FloatBuffer(x), b = FloatBuffer(x)
            softmaxRows(a.pointer, rows: 3, cols: n)
            softmaxRowsTraining(b.pointer, rows: 3, cols: n)
            assertClose(b.array, a.array, tolerance: 1e-6, "softmax of \(n) columns")
        }
    }

    // MARK: embeddings

    func testEmbeddingsBackwardMatchesFiniteDifferences() {
        var r = Rand(7)
        let v = 9, pMax = 14, c = 8, pad = 1
        // RoBERTa positions; id 5 repeats (its rows accumulate), the pad id appears once.
        let seqs: [[Int32]] = [[0, 5, 7, 5, 2], [0, 3, 1, 2], [0, 5, 2]]
        let ids = seqs.flatMap { $0 }
        let positions = seqs.flatMap { positionIds($0, family: .roberta, padTokenId: pad) }
        let t = ids.count
        let word = r.floats(v * c), pos = r.floats(pMax * c), type0 = r.floats(c), w = r.floats(c), b = r.floats(c)
        let rr = r.floats(t * c)
        let norm = LayerNormParams(weight: Self.buffer(w), bias: Self.buffer(b), eps: 1e-5)
        let params = EmbeddingParams(word: Self.buffer(word), position: Self.buffer(pos), tokenType: Self.buffer(type0),
                                     norm: norm, width: c)
        let out = FloatBuffer(count: t * c), sum = FloatBuffer(count: t * c)
        let mean = FloatBuffer(count: t), rstd = FloatBuffer(count: t)
        embeddingsForward(out: out.pointer, ids: ids, positions: positions, params: params,
                          sum: sum.pointer, mean: mean.pointer, rstd: rstd.pointer)
        func ref(_ word: [Double], _ pos: [Double], _ type0: [Double], _ w: [Double], _ b: [Double]) -> [Double] {
            var x = [Double](repeating: 0, count: t * c)
            for row in 0..<t {
                for j in 0..<c { x[row * c + j] = word[Int(ids[row]) * c + j] + pos[Int(positions[row]) * c + j] + type0[j] }
            }
            return Self.refLayerNorm(x, w, b, n: t, c: c, eps: 1e-5)
        }
        let D = Self.d
        assertForward(out.array, ref(D(word), D(pos), D(type0), D(w), D(b)), "embeddings")

        let grads = EmbeddingParams(word: FloatBuffer(count: v * c), position: FloatBuffer(count: pMax * c),
                                    tokenType: FloatBuffer(count: c),
                                    norm: LayerNormParams(weight: FloatBuffer(count: c), bias: FloatBuffer(count: c), eps: 1e-5),
                                    width: c)
        let dout = FloatBuffer(rr)
        embeddingsBackward(dout: dout.pointer, ids: ids, positions: positions, params: params, sum: sum.pointer,
                           mean: mean.pointer, rstd: rstd.pointer, grads: grads, wordPaddingIdx: pad, positionPaddingIdx: pad)
        var wantWord = Self.numericGradient(D(word)) { Self.dot(ref($0, D(pos), D(type0), D(w), D(b)), rr) }
        var wantPos = Self.numericGradient(D(pos)) { Self.dot(ref(D(word), $0, D(type0), D(w), D(b)), rr) }
        // nn.Embedding(padding_idx:) leaves the padding rows without gradient.
        for j in 0..<c { wantWord[pad * c + j] = 0; wantPos[pad * c + j] = 0 }
        XCTAssertGreaterThan(Self.numericGradient(D(word)) { Self.dot(ref($0, D(pos), D(type0), D(w), D(b)), rr) }[pad * c ..< pad * c + c].map(abs).max()!, 0,
                             "the pad token is really used, so zeroing its row is a real check")
        assertGradient(grads.word.array, wantWord, "word embeddings")
        assertGradient(grads.position.array, wantPos, "position embeddings")
        assertGradient(grads.tokenType.array, Self.numericGradient(D(type0)) { Self.dot(ref(D(word), D(pos), $0, D(w), D(b)), rr) },
                       "token type embeddings")
        assertGradient(grads.norm.weight.array, Self.numericGradient(D(w)) { Self.dot(ref(D(word), D(pos), D(type0), $0, D(b)), rr) },
                       "embeddings LayerNorm weight")
        assertGradient(grads.norm.bias.array, Self.numericGradient(D(b)) { Self.dot(ref(D(word), D(pos), D(type0), D(w), $0), rr) },
                       "embeddings LayerNorm bias")
    }

    // MARK: classification heads

    func checkHead(roberta: Bool, dropout p: Float) {
        var r = Rand(roberta ? 8 : 9)
        let b = 3, c = 6, k = 3
        let x = r.floats(b * c), dW = r.floats(c * c, scale: 0.5), dB = r.floats(c), oW = r.floats(k * c, scale: 0.5), oB = r.floats(k)
        let rr = r.floats(b * k)
        let head = ClassifierHeadLinears(dense: Linear(weight: Self.buffer(dW), bias: Self.buffer(dB), inFeatures: c, outFeatures: c),
                                         out: Linear(weight: Self.buffer(oW), bias: Self.buffer(oB), inFeatures: c, outFeatures: k),
                                         inputDropout: roberta)
        let grads = ClassifierHeadLinears(dense: Linear(weight: FloatBuffer(count: c * c), bias: FloatBuffer(count: c), inFeatures: c, outFeatures: c),
                                          out: Linear(weight: FloatBuffer(count: k * c), bias: FloatBuffer(count: k), inFeatures: c, outFeatures: k),
                                          inputDropout: roberta)
        let mask = p > 0 ? DropoutMask(p: p, key: 5) : .off
        let input = FloatBuffer(count: b * c), hidden = FloatBuffer(count: b * c), hiddenDropped = FloatBuffer(count: b * c)
        let acts = ClassifierHeadActivations(input: input.pointer, hidden: hidden.pointer, hiddenDropped: hiddenDropped.pointer)
        defer { withExtendedLifetime((input, hidden, hiddenDropped)) {} }
        let logits = FloatBuffer(count: b * k)
        classifierHeadForward(logits: logits.pointer, x: x, rows: b, head: head, dropout: mask, saved: acts)
        func keep(_ site: Int, _ i: Int) -> Double {
            guard mask.isActive else { return 1 }
            if site == 0 && !roberta { return 1 }
            let m = mask.site(site)
            return m.keeps(i) ? Double(m.scale) : 0
        }
        func ref(_ x: [Double], _ dW: [Double], _ dB: [Double], _ oW: [Double], _ oB: [Double]) -> [Double] {
            let f0 = x.indices.map { x[$0] * keep(0, $0) }
            let h = Self.refLinear(f0, dW, dB, n: b, inF: c, outF: c).map { tanh($0) }
            let hd = h.indices.map { h[$0] * keep(1, $0) }
            return Self.refLinear(hd, oW, oB, n: b, inF: c, outF: k)
        }
        let D = Self.d
        let what = "\(roberta ? "roberta" : "bert") head p=\(p)"
        assertForward(logits.array, ref(D(x), D(dW), D(dB), D(oW), D(oB)), what)
        let dx = FloatBuffer(count: b * c), scratch = FloatBuffer(count: b * c)
        classifierHeadBackward(dx: dx.pointer, dlogits: rr, rows: b, head: head, grads: grads, dropout: mask, saved: acts,
                               scratch: scratch.pointer)
        let loss = { (x: [Double], dW: [Double], dB: [Double], oW: [Double], oB: [Double]) in Self.dot(ref(x, dW, dB, oW, oB), rr) }
        assertGradient(dx.array, Self.numericGradient(D(x)) { loss($0, D(dW), D(dB), D(oW), D(oB)) }, what + " dx")
        assertGradient(grads.dense.weight.array, Self.numericGradient(D(dW)) { loss(D(x), $0, D(dB), D(oW), D(oB)) }, what + " dense W")
        assertGradient(grads.dense.bias.array, Self.numericGradient(D(dB)) { loss(D(x), D(dW), $0, D(oW), D(oB)) }, what + " dense b")
        assertGradient(grads.out.weight.array, Self.numericGradient(D(oW)) { loss(D(x), D(dW), D(dB), $0, D(oB)) }, what + " out W")
        assertGradient(grads.out.bias.array, Self.numericGradient(D(oB)) { loss(D(x), D(dW), D(dB), D(oW), $0) }, what + " out b")
    }

    func testRobertaHeadBackwardMatchesFiniteDifferences() { checkHead(roberta: true, dropout: 0) }
    func testBertHeadBackwardMatchesFiniteDifferences() { checkHead(roberta: false, dropout: 0) }
    func testRobertaHeadWithDropoutMatchesFiniteDifferences() { checkHead(roberta: true, dropout: 0.4) }
    func testBertHeadWithDropoutMatchesFiniteDifferences() { checkHead(roberta: false, dropout: 0.4) }

    // MARK: cross-entropy

    func testCrossEntropyBackwardMatchesFiniteDifferences() {
        var r = Rand(10)
        let b = 6, k = 4
        let logits = r.floats(b * k, scale: 3)
        let labels = [0, 3, 1, 1, 2, 3]
        for weights in [nil, [2, 0.5, 1, 0.25] as [Float]] {
            for scale: Float in [1, 0.25] {
                let probs = FloatBuffer(count: b * k), d = FloatBuffer(count: b * k)
                let loss = crossEntropyForward(probs: probs.pointer, logits: logits, labels: labels, classes: k, classWeights: weights)
                XCTAssertEqual(Double(loss), Self.refCrossEntropy(Self.d(logits), labels: labels, k: k, weights: weights), accuracy: 1e-6)
                crossEntropyBackward(dlogits: d.pointer, probs: probs.pointer, labels: labels, classes: k, classWeights: weights, scale: scale)
                let want = Self.numericGradient(Self.d(logits)) { Double(scale) * Self.refCrossEntropy($0, labels: labels, k: k, weights: weights) }
                assertGradient(d.array, want, "cross-entropy weights \(String(describing: weights)) scale \(scale)")
            }
        }
    }
}
