/// SIMD transcendental functions. Swift does not vectorise calls to `expf`/`erff`, so the hot
/// kernels (softmax, GELU) use these polynomial forms, accurate to a few float ulps.
public typealias V8 = SIMD8<Float>

/// exp(x) lane-wise, within a few float ulps for -87.3 ≤ x ≤ 88.37 (its uses, softmax and erf, pass x ≤ 0);
/// 0 below -87.3 (expf gives subnormals down to -103.9) and +inf above 88.37 (expf overflows at 88.72).
@inline(__always)
func simdExp(_ x: V8) -> V8 {
    // exp(x) = 2^n * exp(r), n = round(x / ln2), r = x - n ln2 in [-ln2/2, ln2/2]; degree-6 polynomial of exp(r).
    // Rounding and the float->int conversion use the 1.5 * 2^23 trick: generic SIMD rounding and
    // conversions are not vectorised by the compiler.
    let lo = V8(repeating: -87.3), hi = V8(repeating: 88.7)
    let clamped = simdMin(simdMax(x, lo), hi)
    let result = expOfClamped(clamped)
    // Inputs below the clamp underflow to 0 like expf.
    let keep = unsafeBitCast(x .>= lo, to: SIMD8<UInt32>.self) // all-ones lanes where kept
    return unsafeBitCast(unsafeBitCast(result, to: SIMD8<UInt32>.self) & keep, to: V8.self)
}

/// exp(x) for x already clamped into [-87.3, 88.7]: exp(x) = 2^n * exp(r), n = round(x / ln2), r = x - n ln2 in
/// [-ln2/2, ln2/2], a degree-6 polynomial of exp(r). Rounding and the float->int conversion use the 1.5 * 2^23
/// trick. simdExp and GELU's expOfNonPositive differ only in how they clamp. The same lines stand in
/// SentimentEngineAVX2/PackedGemm.swift (exp8): that module is compiled for Haswell and SentimentEngine may call it only
/// after checking the CPU, so it cannot share this function; keep the two identical.
@inline(__always)
func expOfClamped(_ clamped: V8) -> V8 {
    let magic = V8(repeating: 12_582_912) // 1.5 * 2^23
    let shifted = clamped * 1.442_695_04 + magic
    let n = shifted - magic
    var r = clamped - n * 0.693_145_75 // ln2 hi
    r = r - n * 1.428_606_8e-6         // ln2 lo
    var p = V8(repeating: 1.987_569_1e-4)
    p = p * r + 1.398_199_9e-3
    p = p * r + 8.333_452e-3
    p = p * r + 4.166_579_6e-2
    p = p * r + 1.666_666_5e-1
    p = p * r + 0.5
    p = p * r * r + r + 1
    // The low mantissa bits of `shifted` hold n; (n + 127) << 23 is 2^n (higher bits shift out).
    let bits = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &+ 127) &<< 23
    return p * unsafeBitCast(bits, to: V8.self)
}

/// `b` in the lanes where `takeB` is set, `a` elsewhere, by bit masks (the library's generic SIMD functions such as
/// pointwiseMax/pointwiseMin and replacing(with:where:) compile to a loop over the lanes).
@inline(__always)
func simdSelect(_ takeB: SIMDMask<SIMD8<Int32>>, _ b: V8, else a: V8) -> V8 {
    let mask = unsafeBitCast(takeB, to: SIMD8<UInt32>.self)
    let ua = unsafeBitCast(a, to: SIMD8<UInt32>.self), ub = unsafeBitCast(b, to: SIMD8<UInt32>.self)
    return unsafeBitCast((ub & mask) | (ua & ~mask), to: V8.self)
}

/// max(a, b) lane-wise. NaN lanes of `b` are not taken.
@inline(__always)
func simdMax(_ a: V8, _ b: V8) -> V8 { simdSelect(b .> a, b, else: a) }

/// min(a, b) lane-wise. NaN lanes of `b` are not taken.
@inline(__always)
func simdMin(_ a: V8, _ b: V8) -> V8 { simdSelect(b .< a, b, else: a) }

/// √x lane-wise for finite x ≥ 0: within 1 float ulp for normal x, 0 for 0; a subnormal x (< 1.2e-38)
/// gets an inexact value below 1.1e-19 (AdamW, the user, adds eps = 1e-8 to it). SIMD8's squareRoot()
/// compiles to eight libm sqrtf calls; this is the bit-level 1/√x estimate, three Newton steps, and one
/// correction of x · (1/√x) in √ space.
@inlinable @inline(__always)
package func simdSqrt(_ x: V8) -> V8 {
    let bits = unsafeBitCast(x, to: SIMD8<UInt32>.self)
    var y = unsafeBitCast(0x5F37_5A86 &- (bits &>> 1), to: V8.self)
    let half = x * 0.5
    y = y * (1.5 - half * y * y)
    y = y * (1.5 - half * y * y)
    y = y * (1.5 - half * y * y)
    let s = x * y
    return s + (x - s * s) * (y * 0.5)
}

@inline(__always)
func scalarExp(_ x: Float) -> Float {
    simdExp(V8(repeating: x))[0]
}

/// Abramowitz & Stegun 7.1.26 for a ≥ 0: erf(a) = 1 - erfPolynomial(a) · exp(-a²), |error| < 1.5e-7. simdErf
/// and GELU's fused pass share it; SentimentEngineAVX2/PackedGemm.swift (erf8) writes the same lines, as it cannot call
/// into SentimentEngine (see expOfClamped).
@inline(__always)
func erfPolynomial(_ a: V8) -> V8 {
    let t = 1 / (1 + 0.327_591_1 * a)
    var y = V8(repeating: 1.061_405_429)
    y = y * t - 1.453_152_027
    y = y * t + 1.421_413_741
    y = y * t - 0.284_496_736
    y = y * t + 0.254_829_592
    return y * t
}

/// erf(x) by Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, good for exact-erf GELU.
@inline(__always)
func simdErf(_ x: V8) -> V8 {
    let xb = unsafeBitCast(x, to: SIMD8<UInt32>.self)
    let ax = unsafeBitCast(xb & 0x7FFF_FFFF, to: V8.self)
    let e = 1 - erfPolynomial(ax) * simdExp(-ax * ax)
    // Copy the sign of x onto e (|e| <= 1).
    return unsafeBitCast(unsafeBitCast(e, to: SIMD8<UInt32>.self) | (xb & 0x8000_0000), to: V8.self)
}

/// GELU with the exact erf form used by `transformers` ("gelu"): x * 0.5 * (1 + erf(x / sqrt 2)).
@inline(__always)
func simdGELU(_ x: V8) -> V8 {
    x * 0.5 * (1 + simdErf(x * 0.707_106_781_186_547_5))
}

extension SIMD8 where Scalar == Float {
    /// Eight floats from `p` (no alignment needed).
    @inlinable @inline(__always)
    package init(loadFrom p: UnsafePointer<Float>) {
        self = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inlinable @inline(__always)
    package func store(to p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: self, as: SIMD8<Float>.self)
    }
}

/// Every value of p[0..<count] is finite: the exponent bits of none are all ones.
func allFinite(_ p: UnsafePointer<Float>, count n: Int) -> Bool {
    let exponent = SIMD8<UInt32>(repeating: 0x7F80_0000)
    var i = 0
    while i + 64 <= n {
        var bad = SIMD8<UInt32>.zero
        for k in stride(from: 0, to: 64, by: 8) {
            let v = UnsafeRawPointer(p + i + k).loadUnaligned(as: SIMD8<UInt32>.self)
            bad |= unsafeBitCast((v & exponent) .== exponent, to: SIMD8<UInt32>.self)
        }
        if bad != .zero { return false }
        i += 64
    }
    while i < n {
        if !p[i].isFinite { return false }
        i += 1
    }
    return true
}
