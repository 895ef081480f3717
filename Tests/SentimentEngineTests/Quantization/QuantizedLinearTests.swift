import Foundation
@testable import SentimentEngine
import XCTest

/// Quantization of weights (per output channel) and of activations (per row), and the whole int8 dense layer
/// against fp32 within the error its rounding allows, the same bits on every path and worker count.
final class QuantizedLinearTests: XCTestCase {
    private var paths: [Int8KernelPath] { Int8KernelPath.supported }

    private struct Rows {
        var q: [UInt8], scales: [Float], zeros: [Int32]
    }

    private func quantizeRows(_ x: [Float], rows: Int, k: Int, levels: Int = 255, path: Int8KernelPath) -> (Rows, ldq: Int) {
        let ldq = 4 * Int8Kernels.groups(k)
        var out = Rows(q: [UInt8](repeating: 0xAA, count: rows * ldq), scales: [Float](repeating: 0, count: rows),
                       zeros: [Int32](repeating: -1, count: rows))
        x.withUnsafeBufferPointer { xp in
            out.q.withUnsafeMutableBufferPointer { q in
                out.scales.withUnsafeMutableBufferPointer { s in
                    out.zeros.withUnsafeMutableBufferPointer { z in
                        Int8Kernels.quantizeRows(path: path, xp.baseAddress!, ldx: k, rows: rows, k: k, levels: levels,
                                                 into: q.baseAddress!, ldq: ldq, scales: s.baseAddress!, zeros: z.baseAddress!)
                    }
                }
            }
        }
        return (out, ldq)
    }

    func testActivationRows_roundTripWithinHalfAStep_zeroIsExact_andEveryPathGivesTheSameBytes() {
        var rng = SeededRandom(seed: 3)
        for k in [1, 2, 3, 4, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100, 768] {
            let rows = 6
            var x = (0..<(rows * k)).map { _ in (rng.nextUniform() - 0.3) * 4 }
            for kk in 0..<k {
                x[kk] = 0                                         // an all-zero row
                x[k + kk] = -abs(x[k + kk]) - 0.1                 // negative only: the zero point is the top
                x[2 * k + kk] = abs(x[2 * k + kk]) + 0.1          // positive only: the zero point is 0
            }
            if k > 3 { x[3 * k + 1] = 0; x[3 * k + 2] = 1e4 }     // one outlier: every other value near zero
            let (portable, ldq) = quantizeRows(x, rows: rows, k: k, path: .portable)
            for i in 0..<rows {
                let s = portable.scales[i], z = portable.zeros[i]
                XCTAssertTrue((0...255).contains(z), "k \(k) row \(i): zero point \(z)")
                for kk in 0..<k {
                    let v = x[i * k + kk]
                    let back = Float(Int32(portable.q[i * ldq + kk]) - z) * s
                    if v == 0 { XCTAssertEqual(back, 0, "k \(k) row \(i): 0 must come back as 0") }
                    XCTAssertLessThanOrEqual(abs(back - v), s * 0.5001 + 1e-7, "k \(k) row \(i) column \(kk): \(v) came back as \(back)")
                }
                for kk in k..<ldq { XCTAssertEqual(portable.q[i * ldq + kk], 0, "k \(k): padding byte not zero") }
            }
            XCTAssertEqual(portable.scales[0], 1, "an all-zero row")
            XCTAssertEqual(portable.zeros[1], 255, "a negative row's zero point")
            XCTAssertEqual(portable.zeros[2], 0, "a positive row's zero point")
            for path in paths.dropFirst() {
                let (other, _) = quantizeRows(x, rows: rows, k: k, path: path)
                XCTAssertEqual(other.q, portable.q, "\(path) k \(k): bytes")
                XCTAssertEqual(other.scales, portable.scales, "\(path) k \(k): scales")
                XCTAssertEqual(other.zeros, portable.zeros, "\(path) k \(k): zero points")
            }
        }
    }

    func testWeights_perOutputChannel_symmetric_inTheSchemesRange_withZeroPadding() {
        var rng = SeededRandom(seed: 4)
        let (n, k) = (19, 37)
        var w = (0..<(n * k)).map { _ in rng.nextNormal() * 0.05 }
        for kk in 0..<k { w[3 * k + kk] = 0 }                 // an all-zero channel
        w[5 * k + 7] = 2                                       // a channel with an outlier
        let q = w.withUnsafeBufferPointer { QuantizedWeights($0.baseAddress!, rows: n, columns: k, scheme: .standard) }
        XCTAssertEqual(q.panelCount, 2)
        for j in 0..<n {
            let row = w[(j * k)..<((j + 1) * k)]
            let amax = row.map(abs).max()!
            XCTAssertEqual(q.scale(j), amax > 0 ? amax / 63 : 1, "column \(j) scale")
            var sum: Int32 = 0
            var reachesTheEdge = false
            for kk in 0..<k {
                let v = q.value(j, kk)
                XCTAssertTrue((-63...63).contains(v), "W[\(j), \(kk)] = \(v)")
                XCTAssertLessThanOrEqual(abs(Float(v) * q.scale(j) - w[j * k + kk]), q.scale(j) * 0.5001, "W[\(j), \(kk)]")
                reachesTheEdge = reachesTheEdge || abs(v) == 63
                sum += Int32(v)
            }
            XCTAssertEqual(q.sum(j), sum, "column \(j) sum")
            XCTAssertTrue(amax == 0 || reachesTheEdge, "column \(j): the largest weight maps to ±63")
        }
        for j in n..<32 {
            XCTAssertEqual(q.scale(j), 0)
            XCTAssertEqual(q.sum(j), 0)
            for kk in 0..<k { XCTAssertEqual(q.value(j, kk), 0, "padding column \(j)") }
        }
        // The padding depth bytes (k = 37 → 40) are zero too.
        for j in 0..<32 { for kk in k..<40 { XCTAssertEqual(q.value(j, kk), 0, "padding depth \(kk) of column \(j)") } }
    }

    private func forward(_ a: [Float], m: Int, weights: QuantizedWeights, bias: [Float]?, gelu: Bool, path: Int8KernelPath) -> [Float] {
        var c = [Float](repeating: .nan, count: m * weights.rows)
        a.withUnsafeBufferPointer { ap in
            (bias ?? []).withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    QuantizedLinear.forward(m: m, a: ap.baseAddress!, lda: weights.columns, weights: weights,
                                            bias: bias == nil ? nil : bp.baseAddress!, gelu: gelu, c: cp.baseAddress!,
                                            ldc: weights.rows, path: path)
                }
            }
        }
        return c
    }

    /// Each output within the bound its rounding allows: per product |a|·sw/2 + |w|·sa/2 + sa·sw/4 (each
    /// factor off by at most half a step), plus fp32 rounding; and the same bits from every path, split over
    /// the workers or not.
    func testDenseLayer_withinTheRoundingBound_ofFloat64_andTheSameBitsOnEveryPathAndWorkerCount() {
        var rng = SeededRandom(seed: 8)
        for (m, n, k) in [(1, 48, 64), (7, 100, 33), (32, 768, 384), (200, 96, 1536)] {
            let a = (0..<(m * k)).map { i in i % 97 == 0 ? 6 : rng.nextNormal() }   // LayerNorm-like, with outliers
            let w = (0..<(n * k)).map { _ in rng.nextNormal() * 0.04 }
            let bias = (0..<n).map { _ in rng.nextUniform() - 0.5 }
            let weights = w.withUnsafeBufferPointer { QuantizedWeights($0.baseAddress!, rows: n, columns: k) }
            let got = forward(a, m: m, weights: weights, bias: bias, gelu: false, path: .portable)
            for i in 0..<m {
                let row = a[(i * k)..<((i + 1) * k)]
                let lo = min(0, row.min()!), hi = max(0, row.max()!)
                let sa = Double(hi - lo) / 255
                for j in 0..<n {
                    let sw = Double(weights.scale(j))
                    var exact = Double(bias[j]), bound = 0.0, magnitude = abs(Double(bias[j]))
                    for kk in 0..<k {
                        let x = Double(a[i * k + kk]), y = Double(w[j * k + kk])
                        exact += x * y
                        magnitude += abs(x * y)
                        bound += abs(x) * sw / 2 + abs(y) * sa / 2 + sa * sw / 4
                    }
                    XCTAssertEqual(Double(got[i * n + j]), exact, accuracy: bound + 1e-6 * magnitude + 1e-6,
                                   "m \(m) n \(n) k \(k): C[\(i), \(j)]")
                }
            }
            for path in paths {
                for gelu in [false, true] {
                    let reference = path == .portable && !gelu ? got : forward(a, m: m, weights: weights, bias: bias, gelu: gelu, path: .portable)
                    let split = forward(a, m: m, weights: weights, bias: bias, gelu: gelu, path: path)
                    let serial = Parallel.serially { forward(a, m: m, weights: weights, bias: bias, gelu: gelu, path: path) }
                    XCTAssertEqual(split.map(\.bitPattern), reference.map(\.bitPattern), "\(path) gelu \(gelu) m \(m) n \(n) k \(k)")
                    XCTAssertEqual(serial.map(\.bitPattern), reference.map(\.bitPattern), "\(path) serially, gelu \(gelu) m \(m)")
                }
            }
        }
    }

    func testPathSelection_takesOnlyWhatTheCPURuns() {
        let all: [Int8KernelPath] = [.portable, .avx2, .avx512vnni]
        XCTAssertEqual(Int8KernelPath.select(requested: nil, supported: all).path, .avx512vnni)
        XCTAssertEqual(Int8KernelPath.select(requested: "auto", supported: [.portable, .avx2]).path, .avx2)
        let avx2 = Int8KernelPath.select(requested: "avx2", supported: all)
        XCTAssertEqual(avx2.path, .avx2)
        XCTAssertNil(avx2.note)
        let missing = Int8KernelPath.select(requested: "avx512vnni", supported: [.portable, .avx2])
        XCTAssertEqual(missing.path, .avx2)
        XCTAssertEqual(missing.note, "SENTIMENTD_INT8_KERNELS=avx512vnni: this CPU has no avx512vnni (it runs portable, avx2); using avx2")
        let typo = Int8KernelPath.select(requested: "vnni", supported: all)
        XCTAssertEqual(typo.path, .avx512vnni)
        XCTAssertEqual(typo.note, "SENTIMENTD_INT8_KERNELS=vnni is not one of auto, portable, avx2, avx512vnni; using avx512vnni")
    }
}
