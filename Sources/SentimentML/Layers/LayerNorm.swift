/// LayerNorm over the last dimension, as nn.LayerNorm(C, eps): weight (C), bias (C).
public struct LayerNormParams: @unchecked Sendable {
    public let weight: FloatBuffer
    public let bias: FloatBuffer
    public let eps: Float
    public var width: Int { weight.count }
}

/// out is (N, C); inp and residual are (N, C). out = LN(inp + residual [+ inpBias]).
/// `inpBias` (C) lets the preceding Linear skip its own bias pass. `sum`, when given, receives
/// inp + residual (+ bias) and `mean`/`rstd` (N) the statistics — the backward pass needs them.
/// `out` may alias `residual` or `inp`.
func layerNormForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
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
        for r in rows {
            let x = inp + r * c
            var acc: Double = 0
            if let residual {
                let res = residual + r * c
                if let inpBias {
                    for j in 0..<c { let v = x[j] + res[j] + inpBias[j]; tmp[j] = v; acc += Double(v) }
                } else {
                    for j in 0..<c { let v = x[j] + res[j]; tmp[j] = v; acc += Double(v) }
                }
            } else if let inpBias {
                for j in 0..<c { let v = x[j] + inpBias[j]; tmp[j] = v; acc += Double(v) }
            } else {
                for j in 0..<c { let v = x[j]; tmp[j] = v; acc += Double(v) }
            }
            let mu = Float(acc / Double(c))
            var varAcc: Float = 0
            for j in 0..<c { let d = tmp[j] - mu; varAcc += d * d }
            let rs = 1 / (varAcc / Float(c) + eps).squareRoot()
            if let sum { (sum + r * c).update(from: tmp, count: c) }
            mean?[r] = mu
            rstd?[r] = rs
            let o = out + r * c
            for j in 0..<c { o[j] = (tmp[j] - mu) * rs * w[j] + b[j] }
        }
    }
}
