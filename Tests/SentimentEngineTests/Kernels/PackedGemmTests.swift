import Foundation
@testable import SentimentEngine
import XCTest
import SentimentTestSupport

/// The few-row AVX2 kernel over packed weights (SentimentEngineAVX2, reached through `BLAS.linear`) against a
/// Float64 reference, on every edge its tiles have: rows not a multiple of 4, columns not a multiple of 16,
/// any k, strided A and C, with and without bias, one worker and two.
final class PackedGemmTests: XCTestCase {
    private func requireKernels() throws {
        // This machine kind has AVX2 + FMA; a CPU without them serves from OpenBLAS, which the rest of the
        // suite covers.
        guard BLAS.avx2Kernels else { throw XCTSkip("the AVX2 kernels do not run on this CPU") }
    }

    private func values(_ count: Int, _ rng: inout SeededRandom) -> [Float] {
        (0..<count).map { _ in rng.nextUniform() * 2 - 1 }
    }

    /// `BLAS.linear` over Swift arrays: C (rows of stride `ldc`) = A (rows of stride `lda`) · Wᵀ (+ bias), GELU'd
    /// when asked.
    private func linear(m: Int, n: Int, k: Int, _ a: [Float], lda: Int, _ w: [Float], packed: PackedWeights?,
                        bias: [Float]?, gelu: Bool = false, into c: inout [Float], ldc: Int) {
        a.withUnsafeBufferPointer { ap in
            w.withUnsafeBufferPointer { wp in
                (bias ?? []).withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        BLAS.linear(m: m, n: n, k: k, a: ap.baseAddress!, lda: lda, w: wp.baseAddress!, packed: packed,
                                    bias: bias == nil ? nil : bp.baseAddress!, gelu: gelu, c: cp.baseAddress!, ldc: ldc)
                    }
                }
            }
        }
    }

    func testPackedLayout_isSixteenColumnPanelsKMajor_withZeroPadding() {
        let (n, k) = (19, 5)
        let w = (0..<(n * k)).map { Float($0 + 1) }
        let packed = w.withUnsafeBufferPointer { PackedWeights($0.baseAddress!, rows: n, columns: k) }
        XCTAssertEqual(packed.panelCount, 2)
        XCTAssertEqual(packed.count, 2 * 16 * k)
        for p in 0..<2 {
            for kk in 0..<k {
                for jj in 0..<16 {
                    let j = p * 16 + jj
                    XCTAssertEqual(packed.pointer[p * k * 16 + kk * 16 + jj], j < n ? w[j * k + kk] : 0, "panel \(p) k \(kk) column \(jj)")
                }
            }
        }
    }

    func testLinear_onPackedWeights_matchesFloat64Reference_onEveryEdge() throws {
        try requireKernels()
        var rng = SeededRandom(seed: 11)
        var checked = 0
        for m in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 17, 32, 33, 128] {
            for (n, k) in [(1, 8), (3, 7), (15, 16), (16, 1), (17, 33), (40, 64), (96, 32), (130, 100)] {
                for biased in [false, true] {
                    let (lda, ldc) = (k + 3, n + 5)
                    let a = values(m * lda, &rng), w = values(n * k, &rng), bias = values(n, &rng)
                    let sentinel: Float = -777
                    var c = [Float](repeating: sentinel, count: m * ldc)
                    let packed = w.withUnsafeBufferPointer { PackedWeights($0.baseAddress!, rows: n, columns: k) }
                    linear(m: m, n: n, k: k, a, lda: lda, w, packed: packed, bias: biased ? bias : nil, into: &c, ldc: ldc)
                    for i in 0..<m {
                        for j in 0..<ldc {
                            let got = c[i * ldc + j]
                            guard j < n else {
                                XCTAssertEqual(got, sentinel, "m \(m) n \(n) k \(k): wrote past column n (row \(i), column \(j))")
                                continue
                            }
                            var exact = biased ? Double(bias[j]) : 0
                            var magnitude = abs(exact)
                            for kk in 0..<k {
                                let p = Double(a[i * lda + kk]) * Double(w[j * k + kk])
                                exact += p
                                magnitude += abs(p)
                            }
                            // fp32 sums of k products: a few ulps of the sum of magnitudes.
                            XCTAssertEqual(Double(got), exact, accuracy: 4e-7 * Double(k + 1) * max(magnitude, 1e-3),
                                           "m \(m) n \(n) k \(k) bias \(biased): C[\(i), \(j)]")
                        }
                    }
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 17 * 8 * 2)
    }

    /// `gelu: true` (the feed-forward up projection): the kernel's in-register GELU and the OpenBLAS path's
    /// separate pass both give x·½·(1 + erf(x/√2)) of the biased sums (Float64 reference), on every tile edge
    /// and on inputs wide enough to reach erf's tails; and nothing is written past column n.
    func testLinear_withGELU_matchesFloat64Reference_onBothPaths() throws {
        try requireKernels()
        var rng = SeededRandom(seed: 13)
        var checked = 0
        for usePacked in [true, false] {
            for m in [1, 3, 4, 6, 33] {
                for (n, k) in [(5, 9), (16, 16), (37, 70)] {
                    // Scaled so the sums spread over about [-6, 6]: GELU's saturated tails and its curved middle.
                    let a = values(m * k, &rng).map { $0 * 1.5 }, w = values(n * k, &rng).map { $0 * 6 / Float(k).squareRoot() }
                    let bias = values(n, &rng)
                    let packed = w.withUnsafeBufferPointer { PackedWeights($0.baseAddress!, rows: n, columns: k) }
                    var c = [Float](repeating: -777, count: m * n + 3)
                    linear(m: m, n: n, k: k, a, lda: k, w, packed: usePacked ? packed : nil, bias: bias, gelu: true,
                           into: &c, ldc: n)
                    XCTAssertEqual(Array(c.suffix(3)), [-777, -777, -777], "wrote past the output")
                    for i in 0..<m {
                        for j in 0..<n {
                            var x = Double(bias[j])
                            for kk in 0..<k { x += Double(a[i * k + kk]) * Double(w[j * k + kk]) }
                            let exact = x * 0.5 * (1 + erf(x / 2.0.squareRoot()))
                            // fp32 sums (a few ulps of |x|) through GELU (slope ≤ 1.13), plus erf's 1.5e-7·|x|.
                            XCTAssertEqual(Double(c[i * n + j]), exact, accuracy: 2e-5 * max(abs(x), 1),
                                           "packed \(usePacked) m \(m) n \(n) k \(k): C[\(i), \(j)], x \(x)")
                        }
                    }
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 2 * 5 * 3)
    }

    /// Rows above `packedRowsLimit` go to OpenBLAS even when packed weights are given; both paths agree.
    func testLinear_aboveTheRowLimit_usesOpenBLAS_andAgrees() throws {
        try requireKernels()
        var rng = SeededRandom(seed: 12)
        let (n, k) = (48, 40)
        let w = values(n * k, &rng), bias = values(n, &rng)
        let packed = w.withUnsafeBufferPointer { PackedWeights($0.baseAddress!, rows: n, columns: k) }
        for m in [BLAS.packedRowsLimit, BLAS.packedRowsLimit + 1, 300] {
            let a = values(m * k, &rng)
            var viaPacked = [Float](repeating: 0, count: m * n), viaBLAS = viaPacked
            linear(m: m, n: n, k: k, a, lda: k, w, packed: packed, bias: bias, into: &viaPacked, ldc: n)
            linear(m: m, n: n, k: k, a, lda: k, w, packed: nil, bias: bias, into: &viaBLAS, ldc: n)
            let worst = zip(viaPacked, viaBLAS).map { abs($0 - $1) }.max()!
            if m > BLAS.packedRowsLimit {
                XCTAssertEqual(viaPacked, viaBLAS, "m \(m): above the limit both calls must be the same OpenBLAS call")
            } else {
                XCTAssertLessThan(worst, 1e-5, "m \(m)")
            }
        }
    }

    func testCPUFlags_needEveryHaswellFeature() {
        let haswell = "fpu vme sse sse2 ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand abm bmi1 avx2 bmi2"
        let info = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: \(haswell)\nbugs\t\t: sysret_ss_attrs\n\nprocessor\t: 1\n"
        XCTAssertTrue(BLAS.cpuHasAVX2Kernels(cpuinfo: info))
        for missing in ["fma", "avx2", "bmi2", "movbe", "f16c", "abm"] {
            let without = haswell.split(separator: " ").filter { $0 != missing }.joined(separator: " ")
            XCTAssertFalse(BLAS.cpuHasAVX2Kernels(cpuinfo: "flags\t\t: \(without)\n"), "accepted a CPU without \(missing)")
        }
        XCTAssertFalse(BLAS.cpuHasAVX2Kernels(cpuinfo: ""))
        XCTAssertFalse(BLAS.cpuHasAVX2Kernels(cpuinfo: "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\n"))
    }

    /// Models loaded for inference carry the packed copies (unless told not to); a base's copies are made
    /// once and shared by every model over it.
    func testModels_packTheirWeightsOnce_andSharedBasesShareThem() throws {
        try requireKernels()
        let folder = ModelFixtures.folder("tiny-roberta")
        let packedModel = try SentimentModel.load(folder: folder)
        let plain = try SentimentModel.load(folder: folder, options: ModelLoadOptions(packWeights: false))
        XCTAssertEqual(packedModel.encoder.packed?.count, packedModel.config.numLayers)
        XCTAssertNil(plain.encoder.packed)
        let texts = ["so happy with this", "meh", "worst day ever, really the worst"]
        for (x, y) in zip(packedModel.predict(texts), plain.predict(texts)) {
            XCTAssertEqual(x.label, y.label)
            for (p, q) in zip(x.probabilities, y.probabilities) { XCTAssertEqual(p, q, accuracy: 1e-6) }
        }
        let base = try BaseModel.load(folder: folder)
        let one = try base.classifier(), two = try base.classifier()
        XCTAssertTrue(one.encoder.packed![0].qkv === two.encoder.packed![0].qkv, "two models over one base packed twice")
    }
}
