import Foundation
import XCTest
@testable import SentimentCheckpoint
@testable import SentimentEngine
@testable import SentimentTraining
import SentimentTestSupport

/// Dropout (counter-based masks, train mode) and the whole TrainableModel: gradients with dropout on
/// against finite differences of its own forward, freezing, and train mode at p = 0 equal to inference.
final class GradientModelTests: XCTestCase {
    static func tinyConfig(_ family: ModelFamily) -> ModelConfig {
        ModelConfig(family: family, vocabSize: 40, hiddenSize: 8, numLayers: 2, numHeads: 2, intermediateSize: 16,
                    maxPositionEmbeddings: 40, typeVocabSize: family == .bert ? 2 : 1, layerNormEps: 1e-5,
                    padTokenId: family == .bert ? 0 : 1, id2label: ["negative", "neutral", "positive"])
    }

    /// Mixed lengths, repeated ids, specials first and last as the tokenizers produce.
    static let sequences: [[Int32]] = [[2, 7, 9, 7, 30, 3], [2, 11, 3], [2, 5, 6, 8, 12, 14, 16, 22, 25, 3], [2, 3]]
    static let labels = [0, 2, 1, 2]

    // MARK: dropout

    func testDropoutKeepsOneMinusPAndScalesSurvivors() {
        let n = 1 << 20
        for p: Float in [0.1, 0.5] {
            let x = FloatBuffer([Float](repeating: 1, count: n))
            dropoutForward(x.pointer, rows: n / 1024, cols: 1024, mask: DropoutMask(p: p, key: 42))
            let kept = x.array.filter { $0 != 0 }
            // Binomial standard deviation ≤ 0.5 / √n ≈ 5e-4: 6 σ is 3e-3.
            XCTAssertEqual(Double(kept.count) / Double(n), Double(1 - p), accuracy: 3e-3, "keep rate at p=\(p)")
            XCTAssertTrue(kept.allSatisfy { abs($0 - 1 / (1 - p)) < 1e-6 }, "survivors are scaled by 1/(1-p)")
        }
    }

    func testDropoutMaskIsDeterministicPerKeyAndSite() {
        let rows = 37, cols = 53   // odd sizes: SIMD bodies and scalar tails
        func masked(_ m: DropoutMask) -> [Float] {
            let x = FloatBuffer([Float](repeating: 1, count: rows * cols))
            dropoutForward(x.pointer, rows: rows, cols: cols, mask: m)
            return x.array
        }
        let m = DropoutMask(p: 0.3, key: 7)
        XCTAssertEqual(masked(m.site(1)), masked(m.site(1)), "same key and site, same mask")
        // Element by element, the SIMD kernel agrees with the scalar definition.
        let a = masked(m.site(1))
        for i in 0..<(rows * cols) { XCTAssertEqual(a[i] != 0, m.site(1).keeps(i), "element \(i)") }
        let other = masked(m.site(2)), otherKey = masked(DropoutMask(p: 0.3, key: 8).site(1))
        let agree = zip(a, other).filter { ($0 != 0) == ($1 != 0) }.count
        let agreeKey = zip(a, otherKey).filter { ($0 != 0) == ($1 != 0) }.count
        // Independent masks agree on p² + (1-p)² = 58% of elements; identical ones on 100%.
        XCTAssertLessThan(agree, rows * cols * 7 / 10, "another site draws another mask")
        XCTAssertLessThan(agreeKey, rows * cols * 7 / 10, "another key draws another mask")
    }

    func testDropoutExtremesAndBias() {
        let x = FloatBuffer([1, 2, 3, 4, 5, 6, 7, 8, 9])
        dropoutForward(x.pointer, rows: 1, cols: 9, mask: DropoutMask(p: 1, key: 1))
        XCTAssertEqual(x.array, [Float](repeating: 0, count: 9), "p = 1 drops everything")
        XCTAssertFalse(DropoutMask(p: 0, key: 1).isActive, "p = 0 is off")
        // With a bias, the bias is added before the mask.
        let m = DropoutMask(p: 0.5, key: 3)
        let y = FloatBuffer([Float](repeating: 1, count: 9)), bias: [Float] = [1, 1, 1, 1, 1, 1, 1, 1, 1]
        dropoutForward(y.pointer, rows: 1, cols: 9, mask: m, bias: bias)
        for i in 0..<9 { XCTAssertEqual(y[i], m.keeps(i) ? 4 : 0) }
        // Backward: the same mask on the gradient.
        let g = FloatBuffer([Float](repeating: 1, count: 9))
        dropoutBackward(g.pointer, rows: 1, cols: 9, mask: m)
        for i in 0..<9 { XCTAssertEqual(g[i], m.keeps(i) ? 2 : 0) }
        // … or from a separate source, which stays as it was.
        let dy = FloatBuffer([Float](repeating: 3, count: 9)), dx = FloatBuffer(count: 9)
        dropoutBackward(dx.pointer, rows: 1, cols: 9, mask: m, dy: dy.pointer)
        for i in 0..<9 { XCTAssertEqual(dx[i], m.keeps(i) ? 6 : 0) }
        XCTAssertEqual(dy.array, [Float](repeating: 3, count: 9))
    }

    // MARK: model

    func testTrainModeWithoutDropoutEqualsInference() {
        for family in [ModelFamily.roberta, .bert] {
            let w = RandomInit.weights(config: Self.tinyConfig(family), std: 0.3, seed: 11)
            let eval = TransformerEncoder(weights: w).logits(Self.sequences)
            let model = TrainableModel(weights: w)
            var rng = SeededRandom(seed: 1)
            let (_, train) = model.forwardBackward(Self.sequences, labels: Self.labels, dropout: 0, rng: &rng)
            assertClose(train.flatMap { $0 }, eval.flatMap { $0 }, tolerance: 1e-5, "\(family) train mode p=0 vs inference")
            let (_, dropped) = model.forwardBackward(Self.sequences, labels: Self.labels, dropout: 0.3, rng: &rng)
            XCTAssertGreaterThan(zip(dropped.flatMap { $0 }, eval.flatMap { $0 }).map { abs($0 - $1) }.max()!, 1e-3,
                                 "\(family): dropout changes the logits")
            // The same seed replays the same masks.
            var a = SeededRandom(seed: 5), b = SeededRandom(seed: 5)
            let r1 = model.forwardBackward(Self.sequences, labels: Self.labels, dropout: 0.3, rng: &a).logits
            let r2 = model.forwardBackward(Self.sequences, labels: Self.labels, dropout: 0.3, rng: &b).logits
            XCTAssertEqual(r1, r2, "\(family): same seed, same dropout")
        }
    }

    /// Directional derivatives of the whole model's loss, dropout on (every site: embeddings, attention
    /// probabilities, both residual branches, the head), against central differences of its own fp32
    /// forward pass with the same masks (the same rng seed). One random unit direction per tensor.
    /// Tolerance: the fp32 loss is accurate to ~1e-6 (Double sums over ~100 terms of fp32 logits), so
    /// with h = 1e-2 the difference quotient carries ~1e-4 of rounding and ~h²·|f'''| ≈ 1e-5 of
    /// truncation; we allow 3e-4 + 1e-2·|g·v|. A wrong mask in the backward pass changes a tensor's
    /// gradient by the order of the gradient itself.
    func checkModelGradients(_ family: ModelFamily, dropout: Float) {
        let model = TrainableModel(weights: RandomInit.weights(config: Self.tinyConfig(family), std: 0.3, seed: 12))
        func loss() -> Double {
            var rng = SeededRandom(seed: 99)
            model.zeroGrad()
            return Double(model.forwardBackward(Self.sequences, labels: Self.labels, classWeights: [1, 2, 0.5],
                                                dropout: dropout, rng: &rng).loss)
        }
        _ = loss()
        let grads = model.parameters.map { $0.grad.array }
        var dirRng = SeededRandom(seed: 4)
        let h: Float = 1e-2
        var checked = 0
        for (pi, p) in model.parameters.enumerated() {
            var v = (0..<p.count).map { _ in dirRng.nextNormal() }
            // The padding rows of the embeddings have no gradient by definition (nn.Embedding(padding_idx:)):
            // keep the direction off them.
            if p.name.hasSuffix("word_embeddings.weight") || (family == .roberta && p.name.hasSuffix("position_embeddings.weight")) {
                let c = model.config.hiddenSize, pad = model.config.padTokenId
                for j in 0..<c { v[pad * c + j] = 0 }
            }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            v = v.map { $0 / norm }
            let original = p.value.array
            for i in 0..<p.count { p.value[i] = original[i] + h * v[i] }
            let up = loss()
            for i in 0..<p.count { p.value[i] = original[i] - h * v[i] }
            let down = loss()
            for i in 0..<p.count { p.value[i] = original[i] }
            let numeric = (up - down) / Double(2 * h)
            let analytic = zip(grads[pi], v).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(analytic, numeric, accuracy: 3e-4 + 1e-2 * abs(analytic),
                           "\(family) p=\(dropout): \(p.name) directional derivative")
            checked += 1
        }
        XCTAssertEqual(checked, model.parameters.count)
    }

    func testRobertaGradientsWithDropoutMatchFiniteDifferences() { checkModelGradients(.roberta, dropout: 0.2) }
    func testBertGradientsWithDropoutMatchFiniteDifferences() { checkModelGradients(.bert, dropout: 0.2) }
    func testRobertaGradientsWithoutDropoutMatchFiniteDifferences() { checkModelGradients(.roberta, dropout: 0) }

    /// Freezing the embeddings and the first layer leaves their tensors out of `parameters`, and the
    /// gradients of the rest are those of the unfrozen model.
    func testFreezingKeepsTheOtherGradients() {
        for family in [ModelFamily.roberta, .bert] {
            let cfg = Self.tinyConfig(family)
            let full = TrainableModel(weights: RandomInit.weights(config: cfg, std: 0.3, seed: 13))
            let frozen = TrainableModel(weights: RandomInit.weights(config: cfg, std: 0.3, seed: 13),
                                        freezeEmbeddings: true, freezeLayers: 1)
            var r1 = SeededRandom(seed: 2), r2 = SeededRandom(seed: 2)
            full.forwardBackward(Self.sequences, labels: Self.labels, dropout: 0.1, rng: &r1)
            frozen.forwardBackward(Self.sequences, labels: Self.labels, dropout: 0.1, rng: &r2)
            let names = Set(frozen.parameters.map(\.name))
            XCTAssertFalse(names.contains { $0.contains("embeddings") || $0.contains("layer.0.") }, "\(family): frozen tensors excluded")
            XCTAssertTrue(names.contains { $0.contains("layer.1.") } && names.contains { $0.hasPrefix("classifier") })
            let reference = Dictionary(uniqueKeysWithValues: full.parameters.map { ($0.name, $0.grad.array) })
            for p in frozen.parameters {
                assertClose(p.grad.array, reference[p.name]!, tolerance: 1e-6, "\(family) frozen model: \(p.name)")
            }
            // Only the head trains.
            let headOnly = TrainableModel(weights: RandomInit.weights(config: cfg, std: 0.3, seed: 13),
                                          freezeEmbeddings: true, freezeLayers: cfg.numLayers)
            var r3 = SeededRandom(seed: 2)
            headOnly.forwardBackward(Self.sequences, labels: Self.labels, dropout: 0.1, rng: &r3)
            XCTAssertEqual(headOnly.parameters.count, 4)
            for p in headOnly.parameters {
                assertClose(p.grad.array, reference[p.name]!, tolerance: 1e-6, "\(family) head only: \(p.name)")
            }
        }
    }

    /// The hook behind `sentimentd bench --train` runs whole steps and reports each part.
    func testBenchmarkStepReportsEveryPart() {
        let timings = TrainableModel.benchmarkStep(config: Self.tinyConfig(.bert), batch: 3, length: 7, steps: 2, warmup: 1,
                                                   maxGradNorm: 1)
        XCTAssertEqual(timings.count, 2)
        for t in timings {
            XCTAssertGreaterThan(t.forward, 0)
            XCTAssertGreaterThan(t.backward, 0)
            XCTAssertGreaterThan(t.optimizer, 0)
            XCTAssertEqual(t.total, t.forward + t.backward + t.gradientUpkeep + t.optimizer, accuracy: 1e-12)
            XCTAssertTrue(t.kernels.isEmpty, "kernels are timed only with profile")
        }
        // With profile, each step carries its own time per kernel kind, within the step's forward + backward.
        let profiled = TrainableModel.benchmarkStep(config: Self.tinyConfig(.bert), batch: 3, length: 7, minLength: 3,
                                                    steps: 2, warmup: 1, profile: true)
        for t in profiled {
            XCTAssertGreaterThan(t.kernels["linearForward qkv"] ?? 0, 0, "\(t.kernels)")
            XCTAssertGreaterThan(t.kernels["attentionBackward"] ?? 0, 0, "\(t.kernels)")
            XCTAssertLessThanOrEqual(t.kernels.values.reduce(0, +), t.forward + t.backward + 1e-6)
        }
    }

    /// A batch longer than any before grows the buffers; a shorter one after it reuses them.
    func testWorkspaceGrowsAndIsReused() {
        let cfg = Self.tinyConfig(.roberta)
        let model = TrainableModel(weights: RandomInit.weights(config: cfg, std: 0.3, seed: 14))
        let fresh = TrainableModel(weights: RandomInit.weights(config: cfg, std: 0.3, seed: 14))
        var rng = SeededRandom(seed: 1)
        let long = (0..<40).map { i in (0..<(3 + i % 30)).map { Int32(2 + ($0 * 7 + i) % 37) } }
        model.forwardBackward([[2, 3]], labels: [1], dropout: 0, rng: &rng)
        model.forwardBackward(long, labels: long.indices.map { $0 % 3 }, dropout: 0, rng: &rng)
        model.zeroGrad()
        model.forwardBackward(Self.sequences, labels: Self.labels, dropout: 0, rng: &rng)
        fresh.forwardBackward(Self.sequences, labels: Self.labels, dropout: 0, rng: &rng)
        for (a, b) in zip(model.parameters, fresh.parameters) {
            assertClose(a.grad.array, b.grad.array, tolerance: 1e-6, "reused buffers: \(a.name)")
        }
    }
}
