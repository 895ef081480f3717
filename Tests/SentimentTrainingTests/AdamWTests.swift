import Foundation
import XCTest
@testable import SentimentCheckpoint
@testable import SentimentEngine
@testable import SentimentTraining
import SentimentTestSupport

/// AdamW, the schedule and clipping against their definitions (torch.optim.AdamW,
/// get_linear_schedule_with_warmup, clip_grad_norm_) computed here in Double, and the optimizer
/// state's round trip for resumable checkpoints. The PyTorch trajectory itself is TrainingParityTests.
final class AdamWTests: XCTestCase {
    static func parameter(_ name: String, _ values: [Float], decays: Bool) -> TrainableParameter {
        TrainableParameter(name: name, shape: [values.count], value: FloatBuffer(values),
                           grad: FloatBuffer(count: values.count), decays: decays)
    }

    /// torch.optim.AdamW's single-tensor step, in Double.
    struct Reference {
        var p: [Double], m: [Double], v: [Double]
        init(_ p: [Float]) { self.p = p.map(Double.init); m = [Double](repeating: 0, count: p.count); v = m }
        mutating func step(_ g: [Float], t: Int, lr: Double, b1: Double, b2: Double, eps: Double, wd: Double) {
            let bc1 = 1 - pow(b1, Double(t)), bc2 = 1 - pow(b2, Double(t))
            for i in p.indices {
                let gi = Double(g[i])
                p[i] *= 1 - lr * wd
                m[i] += (1 - b1) * (gi - m[i])
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                p[i] -= lr / bc1 * m[i] / (v[i].squareRoot() / bc2.squareRoot() + eps)
            }
        }
    }

    func testStepsMatchTheTorchDefinition() {
        var rng = SeededRandom(seed: 1)
        let n = 1_003   // SIMD body and tail
        let decayed = Self.parameter("w", (0..<n).map { _ in rng.nextNormal() }, decays: true)
        let plain = Self.parameter("b", (0..<n).map { _ in rng.nextNormal() }, decays: false)
        var refW = Reference(decayed.value.array), refB = Reference(plain.value.array)
        var adam = AdamW(learningRate: 1e-3, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1)
        let schedule = LinearWarmupSchedule(peak: 1e-3, warmupSteps: 3, totalSteps: 12)
        for step in 0..<12 {
            // Gradients of mixed scale, some exactly zero (rows no token touched).
            for p in [decayed, plain] {
                for i in 0..<n { p.grad[i] = i % 7 == 0 ? 0 : rng.nextNormal() * (i % 3 == 0 ? 1e-3 : 1) }
            }
            let lr = schedule.learningRate(atStep: step)
            refW.step(decayed.grad.array, t: step + 1, lr: Double(lr), b1: 0.9, b2: 0.98, eps: 1e-6, wd: 0.1)
            refB.step(plain.grad.array, t: step + 1, lr: Double(lr), b1: 0.9, b2: 0.98, eps: 1e-6, wd: 0)
            adam.step([decayed, plain], learningRate: lr)
        }
        XCTAssertEqual(adam.stepCount, 12)
        // Each step moves a parameter by at most ~lr; fp32 rounding of p (|p| ≤ 4) is ~2.4e-7 per step.
        assertClose(decayed.value.array, refW.p.map(Float.init), tolerance: 3e-6, "decayed parameter")
        assertClose(plain.value.array, refB.p.map(Float.init), tolerance: 3e-6, "undecayed parameter")
        assertClose(adam.state["w"]!.m.array, refW.m.map(Float.init), tolerance: 1e-6, "first moment")
        assertClose(adam.state["w"]!.v.array, refW.v.map(Float.init), tolerance: 1e-6, "second moment")
    }

    func testZeroGradientOnlyDecays() {
        let p = Self.parameter("emb", [1, -2, 3, 0.5, 1, 1, 1, 1, 1], decays: true)
        var adam = AdamW(learningRate: 0.1, weightDecay: 0.5)
        adam.step([p], learningRate: 0.1)
        assertClose(p.value.array, [1, -2, 3, 0.5, 1, 1, 1, 1, 1].map { $0 * 0.95 }, tolerance: 1e-7, "decay only")
        XCTAssertEqual(adam.state["emb"]!.m.array.map(abs).max(), 0)
    }

    func testStateRoundTripResumesExactly() throws {
        func run(split: Bool) throws -> [Float] {
            var rng = SeededRandom(seed: 3)
            let p = Self.parameter("p", (0..<50).map { _ in rng.nextNormal() }, decays: true)
            var adam = AdamW(learningRate: 1e-2)
            for step in 0..<6 {
                for i in 0..<50 { p.grad[i] = rng.nextNormal() }
                if split && step == 3 {
                    // Checkpoint and resume in a fresh optimizer.
                    let saved = Dictionary(uniqueKeysWithValues: adam.stateTensors(for: [p]).map { ($0.name, $0.tensor) })
                    XCTAssertEqual(Set(saved.keys), ["p.exp_avg", "p.exp_avg_sq"])
                    var resumed = AdamW(learningRate: 1e-2)
                    try resumed.restore(tensors: saved, stepCount: adam.stepCount, for: [p])
                    adam = resumed
                }
                adam.step([p])
            }
            return p.value.array
        }
        XCTAssertEqual(try run(split: true), try run(split: false))
    }

    func testRestoreRejectsMissingAndMisshapenState() {
        let p = Self.parameter("p", [1, 2, 3], decays: true)
        var adam = AdamW(learningRate: 1e-3)
        XCTAssertThrowsError(try adam.restore(tensors: ["p.exp_avg": Tensor(shape: [3], values: [0, 0, 0])], stepCount: 2, for: [p])) {
            XCTAssertEqual($0 as? AdamWStateError, .missingTensor(name: "p.exp_avg_sq"))
        }
        XCTAssertThrowsError(try adam.restore(tensors: ["p.exp_avg": Tensor(shape: [2], values: [0, 0]),
                                                        "p.exp_avg_sq": Tensor(shape: [3], values: [0, 0, 0])], stepCount: 2, for: [p])) {
            XCTAssertEqual($0 as? AdamWStateError, .shapeMismatch(name: "p.exp_avg", expected: 3, found: 2))
        }
        XCTAssertThrowsError(try adam.restore(tensors: [:], stepCount: -1, for: [p]))
        XCTAssertNoThrow(try adam.restore(tensors: [:], stepCount: 0, for: [p]), "step 0 needs no moments")
    }

    func testLinearWarmupSchedule() {
        let s = LinearWarmupSchedule(peak: 2e-5, warmupSteps: 4, totalSteps: 20)
        XCTAssertEqual(s.learningRate(atStep: 0), 0)
        XCTAssertEqual(s.learningRate(atStep: 2), 1e-5, accuracy: 1e-12)
        XCTAssertEqual(s.learningRate(atStep: 4), 2e-5, accuracy: 1e-12)
        XCTAssertEqual(s.learningRate(atStep: 12), 1e-5, accuracy: 1e-12)
        XCTAssertEqual(s.learningRate(atStep: 20), 0)
        XCTAssertEqual(s.learningRate(atStep: 25), 0, "never negative")
        XCTAssertEqual(LinearWarmupSchedule(peak: 1, warmupSteps: 0, totalSteps: 10).learningRate(atStep: 0), 1, "no warm-up")
    }

    func testClipGradientNorm() {
        let a = Self.parameter("a", [0, 0, 0], decays: true), b = Self.parameter("b", [0, 0], decays: false)
        a.grad[0] = 3; a.grad[1] = 0; a.grad[2] = 4; b.grad[0] = 12; b.grad[1] = 0   // norm 13
        XCTAssertEqual(clipGradientNorm([a, b], maxNorm: 100), 13, "below the limit")
        XCTAssertEqual(a.grad.array + b.grad.array, [3, 0, 4, 12, 0], "untouched below the limit")
        XCTAssertEqual(clipGradientNorm([a, b], maxNorm: 1), 13)
        let coef = Float(1 / (13 + 1e-6))
        assertClose(a.grad.array + b.grad.array, [3, 0, 4, 12, 0].map { $0 * coef }, tolerance: 1e-7, "scaled to the limit")
        // A long gradient: the norm is summed in Double over parallel chunks.
        var rng = SeededRandom(seed: 9)
        let big = Self.parameter("big", [Float](repeating: 0, count: 300_001), decays: true)
        var want = 0.0
        for i in 0..<big.count { let g = rng.nextNormal(); big.grad[i] = g; want += Double(g) * Double(g) }
        XCTAssertEqual(Double(clipGradientNorm([big], maxNorm: 1e9)), want.squareRoot(), accuracy: 1e-6 * want.squareRoot())
        big.grad[17] = .nan
        XCTAssertTrue(clipGradientNorm([big], maxNorm: 1).isNaN, "a NaN gradient shows in the norm")
    }
}
