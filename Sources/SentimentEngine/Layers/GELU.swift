/// x is (N, C) in place; bias (C) is added first when given: x = gelu(x + bias), exact-erf GELU.
package func biasGELUForward(_ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, rows n: Int, cols c: Int,
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

/// x and pre are (N, I): the training forward's GELU, pre = x + bias (saved for the backward pass) and
/// x = gelu(pre) in place, bias (I). The same function as biasGELUForward, evaluated by
/// geluAndDerivative's erf (whose exp stays in registers).
package func biasGELUForwardSaving(_ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, pre: UnsafeMutablePointer<Float>,
                                   rows n: Int, cols c: Int) {
    Parallel.forRanges(n, grain: max(1, 8_192 / max(c, 1))) { rows in
        for r in rows {
            let row = x + r * c, p = pre + r * c
            var j = 0
            while j + 8 <= c {
                let v = UnsafeRawPointer(row + j).loadUnaligned(as: V8.self) + UnsafeRawPointer(bias + j).loadUnaligned(as: V8.self)
                UnsafeMutableRawPointer(p + j).storeBytes(of: v, as: V8.self)
                UnsafeMutableRawPointer(row + j).storeBytes(of: geluAndDerivative(v).0, as: V8.self)
                j += 8
            }
            while j < c {
                let v = row[j] + bias[j]
                p[j] = v
                row[j] = geluAndDerivative(V8(repeating: v)).0[0]
                j += 1
            }
        }
    }
}

/// out, derivative and pre are (N, I): out = gelu(pre), the activation the backward pass needs as the
/// next Linear's input, recomputed from the saved pre-activation; derivative (optional) = gelu'(pre) from
/// the same erf/exp evaluation, for geluBackward(_:derivative:) after the GEMM that consumes `out`.
/// `derivative` may alias `pre` (each element is read before it is written).
package func geluRecompute(out: UnsafeMutablePointer<Float>, derivative: UnsafeMutablePointer<Float>? = nil,
                           pre: UnsafePointer<Float>, rows n: Int, cols c: Int) {
    let total = n * c
    Parallel.forRanges(total, grain: 16_384) { range in
        var j = range.lowerBound
        while j + 8 <= range.upperBound {
            let (g, dg) = geluAndDerivative(UnsafeRawPointer(pre + j).loadUnaligned(as: V8.self))
            UnsafeMutableRawPointer(out + j).storeBytes(of: g, as: V8.self)
            if let derivative { UnsafeMutableRawPointer(derivative + j).storeBytes(of: dg, as: V8.self) }
            j += 8
        }
        while j < range.upperBound {
            let (g, dg) = geluAndDerivative(V8(repeating: pre[j]))
            out[j] = g[0]
            derivative?[j] = dg[0]
            j += 1
        }
    }
}

/// d and pre are (N, I); d holds ∂loss/∂gelu(pre) and receives ∂loss/∂pre (in place):
/// gelu'(x) = Φ(x) + x φ(x) = 0.5 (1 + erf(x / √2)) + x exp(-x² / 2) / √(2π).
/// dbias (I), when given, accumulates Σ_rows ∂loss/∂pre (the bias of the Linear before the GELU).
package func geluBackward(_ d: UnsafeMutablePointer<Float>, pre: UnsafePointer<Float>, rows n: Int, cols c: Int,
                          dbias: UnsafeMutablePointer<Float>? = nil) {
    scaleRowsSummingColumns(d, by: pre, rows: n, cols: c, dbias: dbias) { geluAndDerivative($0).1 }
}

/// The same with gelu'(pre) already computed by geluRecompute(out:derivative:pre:): d *= derivative.
package func geluBackward(_ d: UnsafeMutablePointer<Float>, derivative: UnsafePointer<Float>, rows n: Int, cols c: Int,
                          dbias: UnsafeMutablePointer<Float>? = nil) {
    scaleRowsSummingColumns(d, by: derivative, rows: n, cols: c, dbias: dbias) { $0 }
}

/// d (N, C) *= f(src) element-wise, and dbias (C) += Σ_rows of the result, in one row-parallel pass.
@inline(__always)
private func scaleRowsSummingColumns(_ d: UnsafeMutablePointer<Float>, by src: UnsafePointer<Float>, rows n: Int,
                                     cols c: Int, dbias: UnsafeMutablePointer<Float>?, _ f: (V8) -> V8) {
    let grain = max(1, 16_384 / max(c, 1))
    let chunks = RowChunks.count(n, grain: grain)
    let partial = UnsafeMutablePointer<Float>.allocate(capacity: dbias == nil ? 1 : chunks * c)
    defer { partial.deallocate() }
    if dbias != nil { partial.initialize(repeating: 0, count: chunks * c) }
    RowChunks.run(n, grain: grain) { chunk, rows in
        let acc = partial + chunk * c
        for r in rows {
            let row = d + r * c, s = src + r * c
            var j = 0
            while j + 8 <= c {
                let v = UnsafeRawPointer(row + j).loadUnaligned(as: V8.self) * f(UnsafeRawPointer(s + j).loadUnaligned(as: V8.self))
                UnsafeMutableRawPointer(row + j).storeBytes(of: v, as: V8.self)
                if dbias != nil {
                    UnsafeMutableRawPointer(acc + j).storeBytes(of: UnsafeRawPointer(acc + j).loadUnaligned(as: V8.self) + v, as: V8.self)
                }
                j += 8
            }
            while j < c {
                let v = row[j] * f(V8(repeating: s[j]))[0]
                row[j] = v
                if dbias != nil { acc[j] += v }
                j += 1
            }
        }
    }
    if let dbias { for k in 0..<chunks { addRow(dbias, partial + k * c, c) } }
}

/// gelu(x) and gelu'(x) sharing one exp(-x²/2): the erf of Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7,
/// as simdErf) needs exactly the exp that the normal density φ(x) needs.
@inline(__always)
func geluAndDerivative(_ x: V8) -> (V8, V8) {
    let z = x * 0.707_106_781_186_547_5
    let zb = unsafeBitCast(z, to: SIMD8<UInt32>.self)
    let az = unsafeBitCast(zb & 0x7FFF_FFFF, to: V8.self)
    let y = erfPolynomial(az)
    let e = expOfNonPositive(-az * az)          // exp(-x²/2)
    let erfAbs = 1 - y * e
    let erf = unsafeBitCast(unsafeBitCast(erfAbs, to: SIMD8<UInt32>.self) | (zb & 0x8000_0000), to: V8.self)
    let cdf = 0.5 * (1 + erf)
    return (x * cdf, cdf + x * e * 0.398_942_280_401_432_7)
}

/// exp(a) for a <= 0 (as simdExp, whose clamp compiles to calls): the argument is clamped below at -87
/// with max(a, lo) = (a + lo + |a - lo|) / 2, all in registers.
@inline(__always)
func expOfNonPositive(_ a: V8) -> V8 {
    let lo = V8(repeating: -87)
    let diff = a - lo
    let absDiff = unsafeBitCast(unsafeBitCast(diff, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: V8.self)
    return expOfClamped(0.5 * (a + lo + absDiff))
}
