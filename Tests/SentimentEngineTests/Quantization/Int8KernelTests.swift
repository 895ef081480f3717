import Foundation
@testable import SentimentEngine
import XCTest

/// The int8 kernels (CInt8Kernels) on every path this CPU runs — portable C, AVX2, AVX-512 VNNI — against an
/// Int64 reference: every tile edge (rows mod 6, columns mod 16 and mod 64, depth mod 4), extreme bytes, and the
/// same bits from every path. On a CPU without a path its cases are skipped (and said so); this machine kind has
/// all three.
final class Int8KernelTests: XCTestCase {
    private var paths: [Int8KernelPath] { Int8KernelPath.supported }

    /// The byte ranges a path sums exactly: (largest activation, weight range).
    private func contracts(_ path: Int8KernelPath) -> [(activation: Int, weights: ClosedRange<Int>)] {
        switch path {
        case .avx2: return [(255, -63...63), (127, -128...127)]
        case .portable, .avx512vnni: return [(255, -128...127)]
        }
    }

    private struct Problem {
        var m: Int, n: Int, k: Int
        var q: [UInt8]          // m rows of stride ldq (zeros past k)
        var ldq: Int
        var scales: [Float], zeros: [Int32]
        var w: [Int8]           // n × k
        var wScales: [Float]
        var bias: [Float]?
    }

    private func problem(m: Int, n: Int, k: Int, activation: Int, weights: ClosedRange<Int>, biased: Bool,
                         _ rng: inout SeededRandom, fill: ((Int, Int) -> (UInt8, Int8))? = nil) -> Problem {
        let ldq = 4 * Int8Kernels.groups(k) + 4   // a stride wider than the row, to catch stride mistakes
        var q = [UInt8](repeating: 0, count: m * ldq)
        var w = [Int8](repeating: 0, count: n * k)
        for i in 0..<m { for kk in 0..<k { q[i * ldq + kk] = UInt8(Int(rng.next() % UInt64(activation + 1))) } }
        for j in 0..<n { for kk in 0..<k { w[j * k + kk] = Int8(weights.lowerBound + Int(rng.next() % UInt64(weights.count))) } }
        if let fill {
            for i in 0..<m { for kk in 0..<k { q[i * ldq + kk] = fill(i, kk).0 } }
            for j in 0..<n { for kk in 0..<k { w[j * k + kk] = fill(j, kk).1 } }
        }
        return Problem(m: m, n: n, k: k, q: q, ldq: ldq,
                       scales: (0..<m).map { _ in 1e-3 + rng.nextUniform() * 0.05 },
                       zeros: (0..<m).map { _ in Int32(rng.next() % UInt64(activation + 1)) },
                       w: w, wScales: (0..<n).map { _ in 1e-3 + rng.nextUniform() * 0.02 },
                       bias: biased ? (0..<n).map { _ in rng.nextUniform() - 0.5 } : nil)
    }

    /// C as the kernels define it, from an Int64 sum: (Float)(Σ q·w − zero·sum) · (aScale · wScale) + bias.
    private func reference(_ p: Problem) -> [Float] {
        var c = [Float](repeating: 0, count: p.m * p.n)
        for j in 0..<p.n {
            var wsum: Int64 = 0
            for kk in 0..<p.k { wsum += Int64(p.w[j * p.k + kk]) }
            for i in 0..<p.m {
                var acc: Int64 = 0
                for kk in 0..<p.k { acc += Int64(p.q[i * p.ldq + kk]) * Int64(p.w[j * p.k + kk]) }
                let exact = acc - Int64(p.zeros[i]) * wsum
                XCTAssertLessThanOrEqual(abs(exact), Int64(Int32.max), "the test's own values overflow int32")
                var v = Float(Int32(exact)) * (p.scales[i] * p.wScales[j])
                if let bias = p.bias { v = v + bias[j] }
                c[i * p.n + j] = v
            }
        }
        return c
    }

    /// The kernel's C with a row stride wider than n; checks nothing was written past column n.
    private func run(_ p: Problem, path: Int8KernelPath, gelu: Bool = false, file: StaticString = #filePath, line: UInt = #line) -> [Float] {
        let weights = QuantizedWeights(int8: p.w, rows: p.n, columns: p.k, scales: p.wScales, scheme: .standard)
        let ldc = p.n + 3
        let sentinel: Float = -777
        var c = [Float](repeating: sentinel, count: p.m * ldc)
        p.q.withUnsafeBufferPointer { q in
            p.scales.withUnsafeBufferPointer { s in
                p.zeros.withUnsafeBufferPointer { z in
                    (p.bias ?? []).withUnsafeBufferPointer { b in
                        c.withUnsafeMutableBufferPointer { cp in
                            QuantizedLinear.product(m: p.m, q: q.baseAddress!, ldq: p.ldq, scales: s.baseAddress!,
                                                    zeros: z.baseAddress!, weights: weights,
                                                    bias: p.bias == nil ? nil : b.baseAddress!, gelu: gelu,
                                                    c: cp.baseAddress!, ldc: ldc, path: path)
                        }
                    }
                }
            }
        }
        var out = [Float]()
        for i in 0..<p.m {
            out.append(contentsOf: c[(i * ldc)..<(i * ldc + p.n)])
            for j in p.n..<ldc where c[i * ldc + j] != sentinel {
                XCTFail("\(path): wrote past column n (row \(i), column \(j))", file: file, line: line)
            }
        }
        return out
    }

    private func assertBitwiseEqual(_ got: [Float], _ want: [Float], _ context: String, file: StaticString = #filePath, line: UInt = #line) {
        guard got.count == want.count else { return XCTFail("\(context): \(got.count) values, want \(want.count)", file: file, line: line) }
        if let bad = got.indices.first(where: { got[$0].bitPattern != want[$0].bitPattern }) {
            XCTFail("\(context): element \(bad) is \(got[bad]), want \(want[bad])", file: file, line: line)
        }
    }

    func testThisMachine_runsEveryPath() {
        // The brief's machine kind (AMD EPYC Zen 4) has AVX2 and AVX-512 VNNI: a run here must cover all three.
        // Elsewhere this only reports what is covered.
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        if flags.contains(" avx512_vnni") && flags.contains(" avx512bw") && flags.contains(" avx512vl") {
            XCTAssertEqual(paths, [.portable, .avx2, .avx512vnni])
        } else if flags.contains(" avx2") && flags.contains(" fma") {
            XCTAssertEqual(paths, [.portable, .avx2])
        }
        XCTAssertEqual(paths.first, .portable)
    }

    func testProduct_matchesInt64Reference_onEveryTileEdge_onEveryPath() {
        var checked = 0
        for path in paths {
            for contract in contracts(path) {
                var rng = SeededRandom(seed: 21)
                for m in [1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 17] {
                    for (n, k) in [(1, 1), (3, 2), (16, 3), (15, 4), (17, 5), (31, 7), (33, 8), (48, 9), (63, 12),
                                   (64, 13), (65, 16), (80, 31), (100, 33), (130, 64), (200, 67)] {
                        let p = problem(m: m, n: n, k: k, activation: contract.activation, weights: contract.weights,
                                        biased: (m + n) % 2 == 0, &rng)
                        assertBitwiseEqual(run(p, path: path), reference(p),
                                           "\(path) activations ≤ \(contract.activation) weights \(contract.weights) m \(m) n \(n) k \(k)")
                        checked += 1
                    }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 12 * 15)
    }

    /// All-maximum rows at a deep k: the largest sums a dense layer can produce (3072 · 255 · 128 ≈ 1e8), rows of
    /// 0 and 255 against columns of the extreme weights, and alternating signs.
    func testProduct_extremeValues_onEveryPath() {
        for path in paths {
            for contract in contracts(path) {
                let lo = Int8(contract.weights.lowerBound), hi = Int8(contract.weights.upperBound)
                let top = UInt8(contract.activation)
                var rng = SeededRandom(seed: 5)
                let fills: [(String, (Int, Int) -> (UInt8, Int8))] = [
                    ("max activations × min weights", { _, _ in (top, lo) }),
                    ("max activations × max weights", { _, _ in (top, hi) }),
                    ("rows of 0 and max × columns of min and max", { i, kk in (i % 2 == 0 ? 0 : top, kk % 2 == 0 ? lo : hi) }),
                    ("alternating extremes", { i, kk in ((i + kk) % 2 == 0 ? top : 0, (i + kk) % 3 == 0 ? lo : hi) }),
                ]
                for (name, fill) in fills {
                    for (m, n, k) in [(7, 33, 3072), (6, 64, 4096), (1, 16, 1), (13, 65, 771)] {
                        var p = problem(m: m, n: n, k: k, activation: contract.activation, weights: contract.weights,
                                        biased: true, &rng, fill: fill)
                        p.zeros = (0..<m).map { $0 % 2 == 0 ? 0 : Int32(contract.activation) }
                        assertBitwiseEqual(run(p, path: path), reference(p), "\(path) \(name) m \(m) n \(n) k \(k)")
                    }
                }
            }
        }
    }

    /// Why the scheme keeps weights to ±63: AVX2's vpmaddubsw adds two u8·s8 products in a saturating int16, so
    /// 255 · 127 · 2 comes out as 32,767. (Nothing quantized by `Int8Scheme.standard` gets there.)
    func testAVX2_saturatesOutsideItsContract_andTheSchemeStaysInside() throws {
        XCTAssertTrue(Int8Scheme.standard.isExactOnAVX2)
        XCTAssertFalse(Int8Scheme(weightMax: 127, activationLevels: 255).isExactOnAVX2)
        XCTAssertTrue(Int8Scheme(weightMax: 127, activationLevels: 127).isExactOnAVX2)
        guard paths.contains(.avx2) else { throw XCTSkip("no AVX2 on this CPU") }
        var rng = SeededRandom(seed: 1)
        var p = problem(m: 1, n: 16, k: 4, activation: 255, weights: -128...127, biased: false, &rng, fill: { _, _ in (255, 127) })
        p.zeros = [0]
        let exact = reference(p), avx2 = run(p, path: .avx2)
        XCTAssertEqual(Double(exact[0]) / Double(p.scales[0] * p.wScales[0]), 4 * 255 * 127, accuracy: 1)
        XCTAssertEqual(Double(avx2[0]) / Double(p.scales[0] * p.wScales[0]), 2 * 32_767, accuracy: 1, "vpmaddubsw no longer saturates?")
    }

    func testGELU_epilogue_isTheSameBitsOnEveryPath_andCloseToExactGELU() {
        var rng = SeededRandom(seed: 9)
        for (m, n, k) in [(5, 37, 70), (13, 64, 9), (1, 200, 33)] {
            var p = problem(m: m, n: n, k: k, activation: 255, weights: -63...63, biased: true, &rng)
            // Scales that spread the outputs over about [-8, 8]: GELU's tails and its curved middle.
            p.scales = p.scales.map { $0 * 8 / Float(k).squareRoot() }
            let plain = run(p, path: .portable)
            let portable = run(p, path: .portable, gelu: true)
            for (x, y) in zip(plain, portable) {
                let exact = Double(x) * 0.5 * (1 + erf(Double(x) / 2.0.squareRoot()))
                XCTAssertEqual(Double(y), exact, accuracy: 2e-6 * max(1, abs(Double(x))), "GELU(\(x))")
            }
            XCTAssertGreaterThan(plain.map(abs).max()!, 3, "the outputs do not reach GELU's tails")
            for path in paths.dropFirst() {
                assertBitwiseEqual(run(p, path: path, gelu: true), portable, "\(path) GELU m \(m) n \(n) k \(k)")
            }
        }
    }
}
