import Foundation
@testable import SentimentEngine
import XCTest

/// The SIMD replacements for libm and the library's lane-by-lane SIMD functions, against the scalar
/// functions they stand for.
final class VectorMathTests: XCTestCase {
    /// Normal inputs over the whole exponent range, deterministic.
    private func samples(_ count: Int, seed: UInt64, exponents: ClosedRange<Int>) -> [Float] {
        var rng = SeededRandom(seed: seed)
        let span = UInt64(exponents.count)
        return (0..<count).map { _ in
            let e = exponents.lowerBound + Int(rng.next() % span)
            let mantissa = 1 + Float(rng.next() % 1_000_000) / 1_000_000
            return mantissa * Float(sign: .plus, exponent: e, significand: 1)
        }
    }

    func testSqrt_isWithinOneUlpForNormalInputs_andExactAtZero() {
        let xs = samples(200_000, seed: 7, exponents: -126...127) + [1, 4, 2, 0.25, Float.leastNormalMagnitude, Float.greatestFiniteMagnitude]
        var worst: Float = 0
        var i = 0
        while i + 8 <= xs.count {
            let v = V8(xs[i..<i + 8])
            let r = simdSqrt(v)
            for lane in 0..<8 {
                let exact = v[lane].squareRoot()
                worst = max(worst, abs(r[lane] - exact) / exact.ulp)
            }
            i += 8
        }
        XCTAssertLessThanOrEqual(worst, 1, "simdSqrt is off by \(worst) ulps")
        XCTAssertEqual(simdSqrt(.zero), .zero)
        XCTAssertEqual(simdSqrt(V8(repeating: 16))[3], 4)
    }

    func testSqrt_ofSubnormals_staysTinyAndFinite() {
        // AdamW adds eps = 1e-8 to √v: a subnormal v must give a finite value far below eps.
        // Subnormals from ~1.4e-45 to just under 1.2e-38 (bit patterns: the literals would underflow).
        for x in [Float(bitPattern: 1), Float(bitPattern: 0x400), Float(bitPattern: 0x1_1000), Float(bitPattern: 0x7_0000),
                  Float.leastNormalMagnitude.nextDown] {
            let r = simdSqrt(V8(repeating: x))[0]
            XCTAssertTrue(r.isFinite && r >= 0 && r < 1.1e-19, "√\(x) gave \(r)")
        }
    }

    func testMaxAndMin_matchTheScalarFunctions() {
        let a = samples(4_096, seed: 1, exponents: -20...20).enumerated().map { $0.offset % 3 == 0 ? -$0.element : $0.element }
        let b = samples(4_096, seed: 2, exponents: -20...20).enumerated().map { $0.offset % 5 == 0 ? -$0.element : $0.element }
        var i = 0
        while i + 8 <= a.count {
            let va = V8(a[i..<i + 8]), vb = V8(b[i..<i + 8])
            let mx = simdMax(va, vb), mn = simdMin(va, vb)
            for lane in 0..<8 {
                XCTAssertEqual(mx[lane], Swift.max(va[lane], vb[lane]))
                XCTAssertEqual(mn[lane], Swift.min(va[lane], vb[lane]))
            }
            i += 8
        }
    }

    /// The largest error of `f` against `exact` over x = from, from + step, … < to, eight lanes at a time (lane j
    /// offset by j · laneStep); relative to |exact| when `relative`.
    private func worstError(from: Float, to: Float, step: Float, laneStep: Float, relative: Bool,
                            _ f: (V8) -> V8, exact: (Double) -> Double) -> Double {
        var worst: Double = 0
        var x = from
        while x < to {
            let v = V8((0..<8).map { x + Float($0) * laneStep })
            let r = f(v)
            for lane in 0..<8 {
                let want = exact(Double(v[lane]))
                let error = abs(Double(r[lane]) - want)
                worst = Swift.max(worst, relative ? error / abs(want) : error)
            }
            x += step
        }
        return worst
    }

    func testExp_matchesLibmInItsDomain_andUnderflowsAndOverflowsOutside() {
        let worst = worstError(from: -87, to: 88.2, step: 0.37, laneStep: 0.013, relative: true, simdExp) { Foundation.exp($0) }
        XCTAssertLessThan(worst, 4e-7, "relative error \(worst)")
        let outside = simdExp(V8(-1000, -88, -87.4, 0, 1, 88.8, 100, 1000))
        XCTAssertEqual(outside[0], 0)
        XCTAssertEqual(outside[2], 0)
        XCTAssertEqual(outside[3], 1)
        XCTAssertEqual(Double(outside[4]), M_E, accuracy: 1e-6)
        XCTAssertEqual(outside[5], .infinity)  // as expf, which overflows from 88.72
        XCTAssertEqual(outside[6], .infinity)
        XCTAssertEqual(outside[7], .infinity)
    }

    func testGELU_matchesTheExactErfForm() {
        let worst = worstError(from: -12, to: 12, step: 0.057, laneStep: 0.0071, relative: false, simdGELU) { d in
            d * 0.5 * (1 + erf(d / 2.0.squareRoot()))
        }
        XCTAssertLessThan(worst, 2e-6, "absolute error \(worst)")
    }

    func testAllFinite_findsANaNOrInfinityAtAnyPosition_andAcceptsEveryFiniteValue() {
        let finite: [Float] = [0, -0, 1, -1, .leastNonzeroMagnitude, -.leastNormalMagnitude, .greatestFiniteMagnitude,
                               -.greatestFiniteMagnitude, Float(bitPattern: 0x1_1000), 3.5]
        var values = (0..<203).map { finite[$0 % finite.count] }
        XCTAssertTrue(allFinite(values, count: values.count))
        for position in [0, 7, 8, 63, 64, 127, 190, 202] {
            for bad: Float in [.nan, .infinity, -.infinity, .signalingNaN] {
                let kept = values[position]
                values[position] = bad
                XCTAssertFalse(allFinite(values, count: values.count), "\(bad) at \(position) not found")
                values[position] = kept
            }
        }
        XCTAssertTrue(allFinite(values, count: 0))
    }
}
