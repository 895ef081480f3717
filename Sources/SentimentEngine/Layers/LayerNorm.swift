/// LayerNorm over the last dimension, as nn.LayerNorm(C, eps): weight (C), bias (C).
public struct LayerNormParams: @unchecked Sendable {
    public let weight: FloatBuffer
    public let bias: FloatBuffer
    public let eps: Float
    public var width: Int { weight.count }

    package init(weight: FloatBuffer, bias: FloatBuffer, eps: Float) {
        self.weight = weight
        self.bias = bias
        self.eps = eps
    }
}

/// out is (N, C); inp and residual are (N, C). out = LN(inp + residual [+ inpBias]).
/// `inpBias` (C) lets the preceding Linear skip its own bias pass. `sum`, when given, receives
/// inp + residual (+ bias) and `mean`/`rstd` (N) the statistics — the backward pass needs them.
/// `out` may alias `residual` or `inp`.
package func layerNormForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
                              residual: UnsafePointer<Float>?, inpBias: UnsafePointer<Float>?,
                              rows n: Int, params: LayerNormParams,
                              sum: UnsafeMutablePointer<Float>? = nil,
                              mean: UnsafeMutablePointer<Float>? = nil, rstd: UnsafeMutablePointer<Float>? = nil) {
    let c = params.width
    let w = params.weight.pointer, b = params.bias.pointer
    let eps = params.eps
    Parallel.forRanges(n, grain: max(1, 16_384 / max(c, 1))) { rows in
        // Row scratch so `out` may alias an input.
        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: c)
        defer { tmp.deallocate() }
        let c8 = c & ~7
        for r in rows {
            let x = inp + r * c
            let res = residual.map { $0 + r * c }
            // Pass 1: tmp = x (+ residual) (+ bias), and its sum.
            var acc8 = V8.zero
            var j = 0
            while j < c8 {
                var v = V8(loadFrom: x + j)
                if let res { v += V8(loadFrom: res + j) }
                if let inpBias { v += V8(loadFrom: inpBias + j) }
                v.store(to: tmp + j)
                acc8 += v
                j += 8
            }
            var acc = acc8.sum()
            while j < c {
                var v = x[j]
                if let res { v += res[j] }
                if let inpBias { v += inpBias[j] }
                tmp[j] = v
                acc += v
                j += 1
            }
            let mu = acc / Float(c)
            // Pass 2: variance about the mean (two-pass: no cancellation).
            let mu8 = V8(repeating: mu)
            var var8 = V8.zero
            j = 0
            while j < c8 { let d = V8(loadFrom: tmp + j) - mu8; var8 += d * d; j += 8 }
            var varAcc = var8.sum()
            while j < c { let d = tmp[j] - mu; varAcc += d * d; j += 1 }
            let rs = 1 / (varAcc / Float(c) + eps).squareRoot()
            if let sum { (sum + r * c).update(from: tmp, count: c) }
            mean?[r] = mu
            rstd?[r] = rs
            // Pass 3: normalise, scale, shift.
            let o = out + r * c
            let rs8 = V8(repeating: rs)
            j = 0
            while j < c8 {
                let v = (V8(loadFrom: tmp + j) - mu8) * rs8 * V8(loadFrom: w + j) + V8(loadFrom: b + j)
                v.store(to: o + j)
                j += 8
            }
            while j < c { o[j] = (tmp[j] - mu) * rs * w[j] + b[j]; j += 1 }
        }
    }
}

/// out is (N, C): LayerNorm's output recomputed from what the forward pass saved, sum (N, C) and
/// mean/rstd (N), with the forward's own arithmetic (bit-identical), so the backward pass need not keep it.
package func layerNormRecompute(out: UnsafeMutablePointer<Float>, sum: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                                rstd: UnsafePointer<Float>, rows n: Int, params: LayerNormParams) {
    let c = params.width
    let w = params.weight.pointer, b = params.bias.pointer
    Parallel.forRanges(n, grain: max(1, 16_384 / max(c, 1))) { rows in
        for r in rows {
            let x = sum + r * c, o = out + r * c
            let mu = mean[r], rs = rstd[r]
            for j in 0..<c { o[j] = (x[j] - mu) * rs * w[j] + b[j] }
        }
    }
}

/// dout and dinp are (N, C); sum (N, C), mean and rstd (N) are what layerNormForward saved.
/// dinp = ∂loss/∂(LayerNorm input) (it may alias dout); dweight and dbias (C) accumulate (+=).
/// With x̂ = (x - mean) * rstd and g = dout * weight: dx = rstd * (g - mean(g) - x̂ * mean(g * x̂)).
package func layerNormBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, sum: UnsafePointer<Float>,
                               mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows n: Int, params: LayerNormParams,
                               dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?) {
    let c = params.width
    let w = params.weight.pointer
    let grain = max(1, 16_384 / max(c, 1))
    let chunks = RowChunks.count(n, grain: grain)
    // Per-chunk partial sums of dout * x̂ and dout, merged at the end.
    let partial = UnsafeMutablePointer<Float>.allocate(capacity: chunks * 2 * c)
    defer { partial.deallocate() }
    partial.initialize(repeating: 0, count: chunks * 2 * c)
    let invC = 1 / Float(c)
    RowChunks.run(n, grain: grain) { chunk, rows in
        let pw = partial + chunk * 2 * c, pb = pw + c
        for r in rows {
            let x = sum + r * c, dy = dout + r * c, dx = dinp + r * c
            let mu = mean[r], rs = rstd[r]
            let mu8 = V8(repeating: mu), rs8 = V8(repeating: rs)
            var sumG8 = V8.zero, sumGX8 = V8.zero
            var j = 0
            while j + 8 <= c {
                let d = V8(loadFrom: dy + j)
                let xh = (V8(loadFrom: x + j) - mu8) * rs8
                let g = d * V8(loadFrom: w + j)
                sumG8 += g
                sumGX8 += g * xh
                (V8(loadFrom: pw + j) + d * xh).store(to: pw + j)
                (V8(loadFrom: pb + j) + d).store(to: pb + j)
                j += 8
            }
            var sumG = sumG8.sum(), sumGX = sumGX8.sum()
            while j < c {
                let xh = (x[j] - mu) * rs
                let g = dy[j] * w[j]
                sumG += g
                sumGX += g * xh
                pw[j] += dy[j] * xh
                pb[j] += dy[j]
                j += 1
            }
            let mg = sumG * invC, mgx = sumGX * invC
            let mg8 = V8(repeating: mg), mgx8 = V8(repeating: mgx)
            j = 0
            while j + 8 <= c {
                let xh = (V8(loadFrom: x + j) - mu8) * rs8
                (rs8 * (V8(loadFrom: dy + j) * V8(loadFrom: w + j) - mg8 - xh * mgx8)).store(to: dx + j)
                j += 8
            }
            while j < c {
                let xh = (x[j] - mu) * rs
                dx[j] = rs * (dy[j] * w[j] - mg - xh * mgx)
                j += 1
            }
        }
    }
    for k in 0..<chunks {
        if let dweight { addRow(dweight, partial + k * 2 * c, c) }
        if let dbias { addRow(dbias, partial + k * 2 * c + c, c) }
    }
}
