/// x is (N, C) in place; bias (C) is added first when given: x = gelu(x + bias), exact-erf GELU.
func biasGELUForward(_ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, rows n: Int, cols c: Int,
                     preActivation: UnsafeMutablePointer<Float>? = nil) {
    Parallel.forRanges(n, grain: max(1, 8_192 / max(c, 1))) { rows in
        for r in rows {
            let row = x + r * c
            let pre = preActivation.map { $0 + r * c }
            var j = 0
            while j + 8 <= c {
                var v = UnsafeRawPointer(row + j).loadUnaligned(as: V8.self)
                if let bias { v += UnsafeRawPointer(bias + j).loadUnaligned(as: V8.self) }
                if let pre { UnsafeMutableRawPointer(pre + j).storeBytes(of: v, as: V8.self) }
                UnsafeMutableRawPointer(row + j).storeBytes(of: simdGELU(v), as: V8.self)
                j += 8
            }
            while j < c {
                var v = row[j]
                if let bias { v += bias[j] }
                pre?[j] = v
                row[j] = simdGELU(V8(repeating: v))[0]
                j += 1
            }
        }
    }
}

/// out and pre are (N, I): out = gelu(pre), recomputing the activation the backward pass needs as the
/// next Linear's input from the saved pre-activation.
func geluRecompute(out: UnsafeMutablePointer<Float>, pre: UnsafePointer<Float>, rows n: Int, cols c: Int) {
    let total = n * c
    Parallel.forRanges(total, grain: 16_384) { range in
        var j = range.lowerBound
        while j + 8 <= range.upperBound {
            let v = UnsafeRawPointer(pre + j).loadUnaligned(as: V8.self)
            UnsafeMutableRawPointer(out + j).storeBytes(of: simdGELU(v), as: V8.self)
            j += 8
        }
        while j < range.upperBound { out[j] = simdGELU(V8(repeating: pre[j]))[0]; j += 1 }
    }
}

/// d and pre are (N, I); d holds ∂loss/∂gelu(pre) and receives ∂loss/∂pre (in place):
/// gelu'(x) = Φ(x) + x φ(x) = 0.5 (1 + erf(x / √2)) + x exp(-x² / 2) / √(2π).
/// dbias (I), when given, accumulates Σ_rows ∂loss/∂pre (the bias of the Linear before the GELU).
func geluBackward(_ d: UnsafeMutablePointer<Float>, pre: UnsafePointer<Float>, rows n: Int, cols c: Int,
                  dbias: UnsafeMutablePointer<Float>? = nil) {
    let total = n * c
    Parallel.forRanges(total, grain: 16_384) { range in
        var j = range.lowerBound
        while j + 8 <= range.upperBound {
            let x = UnsafeRawPointer(pre + j).loadUnaligned(as: V8.self)
            let g = UnsafeRawPointer(d + j).loadUnaligned(as: V8.self)
            UnsafeMutableRawPointer(d + j).storeBytes(of: g * simdGELUDerivative(x), as: V8.self)
            j += 8
        }
        while j < range.upperBound { d[j] *= simdGELUDerivative(V8(repeating: pre[j]))[0]; j += 1 }
    }
    if let dbias { addColumnSums(into: dbias, src: d, rows: n, cols: c, ld: c) }
}

@inline(__always)
func simdGELUDerivative(_ x: V8) -> V8 {
    let cdf = 0.5 * (1 + simdErf(x * 0.707_106_781_186_547_5))
    let pdf = simdExp(-0.5 * x * x) * 0.398_942_280_401_432_7
    return cdf + x * pdf
}
