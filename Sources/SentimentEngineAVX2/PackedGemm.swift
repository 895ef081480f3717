// C (m, n) = A (m, k) · Wᵀ + bias for a dense layer whose weight W (n, k) was re-laid once, at load, into
// panels of 16 output columns (see SentimentEngine's PackedWeights):
//
//     panels[p · k · 16 + kk · 16 + jj] = W[16p + jj, kk]      (zero where 16p + jj ≥ n)
//
// For a few rows of A (one sequence, a handful of short ones) this beats OpenBLAS, which re-packs W on every
// call: at 32 rows that packing costs about as much as the arithmetic. Here W streams from memory once per
// product, in the order the kernel reads it.
//
// This module is compiled for Haswell (AVX2 + FMA; Package.swift). Swift has no per-function target
// attribute, so the code that may use those instructions lives alone here and is reached only through
// SentimentEngine's `BLAS`, which checks the CPU first. Keep it to raw pointers and SIMD values: no arrays, no
// public generics, nothing the linker could share with the baseline modules (the one generic, `tile`, is
// private and specialised here for its two heights).
//
// Micro-kernels: 6 or 4 rows of A × one 16-column panel. Per k: two 8-wide loads of the panel, a broadcast of
// each row's A value (straight from A's rows, no packing), two FMAs per row into two accumulators per row.
// Six rows (twelve accumulators, fifteen of the sixteen YMM registers; read the assembly after a change: a
// spill in the inner loop costs more than it gains) keep more FMAs in flight than two FMA units with a
// 4-cycle latency need; four rows fill the remainder so that 32 rows run as 4 + 4 + 6 · 4 with no wasted row.
// At 32 rows the dense layers run at 110-145 GFLOP/s on 2 cores (`sentimentd bench --gemm`).

/// For i in 0..<m and the columns of `panelRange` (panel p holds columns 16p..<16p+16, cut at n):
/// C[i, j] = Σ_kk A[i, kk] · W[j, kk] (+ bias[j]), then GELU(C[i, j]) when `gelu` (the feed-forward up
/// projection: the activation is applied in registers instead of in a second pass over C). `lda` and `ldc`
/// are row strides in floats.
public func gemmPanels16AVX2(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                             panels: UnsafePointer<Float>, panelRange: Range<Int>,
                             bias: UnsafePointer<Float>?, gelu: Bool = false, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m <= 0 { return }
    // Rows go in tiles of 6 where they can and of 4 where 6 would leave rows over: 32 = 4 + 4 + 6 · 4.
    let fourRows = min(m, 4 * fourRowTiles(m))
    for p in panelRange {
        let b = panels + p * k * 16
        let j0 = p * 16
        let cols = min(16, n - j0)
        if cols <= 0 { continue }
        let bias = bias.map { $0 + j0 }
        var i = 0
        while i < fourRows {
            tile(Four.self, rows: min(4, fourRows - i), k: k, a: a + i * lda, lda: lda, b: b,
                 cols: cols, bias: bias, gelu: gelu, c: c + i * ldc + j0, ldc: ldc)
            i += 4
        }
        while i < m {
            tile(Six.self, rows: min(6, m - i), k: k, a: a + i * lda, lda: lda, b: b,
                 cols: cols, bias: bias, gelu: gelu, c: c + i * ldc + j0, ldc: ldc)
            i += 6
        }
    }
}

/// How many 4-row tiles m rows take (the rest go in 6-row tiles, the last of which may be short): none when
/// m is a multiple of 6 or one short of it, else as many as leave a multiple of 6 (at most as many as m fills).
@inline(__always)
private func fourRowTiles(_ m: Int) -> Int {
    switch m % 6 {
    case 1, 2: return m < 4 ? 1 : 2
    case 3, 4: return 1
    default: return 0
    }
}

/// A tile's height as a type, so that each height gets its own specialised copy of `tile` with the height a
/// constant (an Int argument left one copy with the height tested in the inner loop: read in the assembly).
private protocol TileHeight { static var rows: Int { get } }
private enum Six: TileHeight { static var rows: Int { 6 } }
private enum Four: TileHeight { static var rows: Int { 4 } }

/// `rows` (1...H.rows) rows of A against one panel. Per k: two 8-wide loads of the panel, H.rows broadcasts,
/// 2 · H.rows FMAs into as many accumulators. Eight accumulators (4 rows) are exactly as many FMAs as two FMA
/// units with a 4-cycle latency keep in flight, so any stall shows; twelve (6 rows) leave slack, and the panel
/// (48 KiB at k = 768, more than L1) is streamed once per six rows instead of per four. A tile short of H.rows
/// rows repeats its last row (its sums are computed and dropped).
@inline(__always)
private func tile<H: TileHeight>(_: H.Type, rows: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                 b: UnsafePointer<Float>, cols: Int, bias: UnsafePointer<Float>?, gelu: Bool,
                                 c: UnsafeMutablePointer<Float>, ldc: Int) {
    let r0 = a
    let r1 = a + min(1, rows - 1) * lda
    let r2 = a + min(2, rows - 1) * lda
    let r3 = a + min(3, rows - 1) * lda
    let r4 = a + min(4, rows - 1) * lda
    let r5 = a + min(5, rows - 1) * lda
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
    var c40 = SIMD8<Float>(), c41 = SIMD8<Float>(), c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
    var kk = 0
    while kk < k {
        let b0 = load(b + kk &* 16), b1 = load(b + (kk &* 16 &+ 8))
        var x = SIMD8<Float>(repeating: r0[kk])
        c00 = c00.addingProduct(x, b0); c01 = c01.addingProduct(x, b1)
        x = SIMD8<Float>(repeating: r1[kk])
        c10 = c10.addingProduct(x, b0); c11 = c11.addingProduct(x, b1)
        x = SIMD8<Float>(repeating: r2[kk])
        c20 = c20.addingProduct(x, b0); c21 = c21.addingProduct(x, b1)
        x = SIMD8<Float>(repeating: r3[kk])
        c30 = c30.addingProduct(x, b0); c31 = c31.addingProduct(x, b1)
        if H.rows > 4 {
            x = SIMD8<Float>(repeating: r4[kk])
            c40 = c40.addingProduct(x, b0); c41 = c41.addingProduct(x, b1)
            x = SIMD8<Float>(repeating: r5[kk])
            c50 = c50.addingProduct(x, b0); c51 = c51.addingProduct(x, b1)
        }
        kk &+= 1
    }
    store(c, cols: cols, bias: bias, gelu: gelu, c00, c01)
    if rows > 1 { store(c + ldc, cols: cols, bias: bias, gelu: gelu, c10, c11) }
    if rows > 2 { store(c + 2 * ldc, cols: cols, bias: bias, gelu: gelu, c20, c21) }
    if rows > 3 { store(c + 3 * ldc, cols: cols, bias: bias, gelu: gelu, c30, c31) }
    if rows > 4 { store(c + 4 * ldc, cols: cols, bias: bias, gelu: gelu, c40, c41) }
    if rows > 5 { store(c + 5 * ldc, cols: cols, bias: bias, gelu: gelu, c50, c51) }
}

@inline(__always)
private func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// Writes one row's 16 sums (the first `cols` of them), plus the bias when given, through GELU when asked.
@inline(__always)
private func store(_ dst: UnsafeMutablePointer<Float>, cols: Int, bias: UnsafePointer<Float>?, gelu: Bool,
                   _ lo: SIMD8<Float>, _ hi: SIMD8<Float>) {
    var lo = lo, hi = hi
    if cols == 16 {
        if let bias { lo += load(bias); hi += load(bias + 8) }
        if gelu { lo = gelu8(lo); hi = gelu8(hi) }
        UnsafeMutableRawPointer(dst).storeBytes(of: lo, as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(dst + 8).storeBytes(of: hi, as: SIMD8<Float>.self)
    } else {
        for jj in 0..<cols {
            if let bias { if jj < 8 { lo[jj] += bias[jj] } else { hi[jj - 8] += bias[jj] } }
        }
        if gelu { lo = gelu8(lo); hi = gelu8(hi) }
        for jj in 0..<cols { dst[jj] = jj < 8 ? lo[jj] : hi[jj - 8] }
    }
}

// Exact-erf GELU, x · ½ · (1 + erf(x/√2)), the same polynomials as SentimentEngine's simdGELU (VectorMath.swift:
// Abramowitz & Stegun 7.1.26 for erf, |error| < 1.5e-7, over a degree-6 exp), written out again here because
// this module must not share code with the baseline ones; compiled with FMA, so results differ from
// simdGELU's in the last bits only.

@inline(__always)
private func gelu8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    x * 0.5 * (1 + erf8(x * 0.707_106_781_186_547_5))
}

@inline(__always)
private func erf8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let xb = unsafeBitCast(x, to: SIMD8<UInt32>.self)
    let ax = unsafeBitCast(xb & 0x7FFF_FFFF, to: SIMD8<Float>.self)
    let t = 1 / (1 + 0.327_591_1 * ax)
    var y = SIMD8<Float>(repeating: 1.061_405_429)
    y = y * t - 1.453_152_027
    y = y * t + 1.421_413_741
    y = y * t - 0.284_496_736
    y = y * t + 0.254_829_592
    y = y * t
    let e = 1 - y * exp8(-ax * ax)
    return unsafeBitCast(unsafeBitCast(e, to: SIMD8<UInt32>.self) | (xb & 0x8000_0000), to: SIMD8<Float>.self)
}

/// exp(x) for x ≤ 0 (erf's use): 0 below -87.3. The range reduction and polynomial are SentimentEngine's
/// `expOfClamped` (VectorMath.swift) line for line, and erf8's polynomial is its `erfPolynomial`: this module is
/// compiled for Haswell and SentimentEngine calls it only after checking the CPU, so the two modules cannot share one
/// function (see the note above gelu8); keep the constants identical.
@inline(__always)
private func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let lo = SIMD8<Float>(repeating: -87.3)
    let below = x .< lo
    let clampedBits = (unsafeBitCast(x, to: SIMD8<UInt32>.self) & ~unsafeBitCast(below, to: SIMD8<UInt32>.self))
        | (unsafeBitCast(lo, to: SIMD8<UInt32>.self) & unsafeBitCast(below, to: SIMD8<UInt32>.self))
    let clamped = unsafeBitCast(clampedBits, to: SIMD8<Float>.self)
    let magic = SIMD8<Float>(repeating: 12_582_912) // 1.5 * 2^23
    let shifted = clamped * 1.442_695_04 + magic
    let n = shifted - magic
    var r = clamped - n * 0.693_145_75
    r = r - n * 1.428_606_8e-6
    var p = SIMD8<Float>(repeating: 1.987_569_1e-4)
    p = p * r + 1.398_199_9e-3
    p = p * r + 8.333_452e-3
    p = p * r + 4.166_579_6e-2
    p = p * r + 1.666_666_5e-1
    p = p * r + 0.5
    p = p * r * r + r + 1
    let bits = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &+ 127) &<< 23
    let result = p * unsafeBitCast(bits, to: SIMD8<Float>.self)
    let keep = ~unsafeBitCast(below, to: SIMD8<UInt32>.self)
    return unsafeBitCast(unsafeBitCast(result, to: SIMD8<UInt32>.self) & keep, to: SIMD8<Float>.self)
}
