import Foundation
import XCTest
@testable import SentimentEngine
@testable import SentimentTraining
import SentimentTestSupport

/// LoRA training's forward/backward against PyTorch + peft (Fixtures/lora, dropout off): loss, logits
/// and the gradient of every lora_A / lora_B and head tensor; the LoRA dropout against finite
/// differences; and the base's buffers never written and never given gradients or optimizer state.
final class LoRAGradientTests: XCTestCase {
    /// The fixture adapter over its base, ready to train: the base's buffers shared, the adapter's own head.
    static func trainable(_ family: String, loraDropout: Float = 0) throws -> (TrainableModel, BaseModel, LoRAAdapter) {
        let base = try BaseModel.load(folder: LoRAFixtures.base(family))
        let adapter = try AdapterFolder.load(LoRAFixtures.adapter(family), base: base.config)
        let weights = try SentimentModel.adapterWeights(adapter, base: base)
        return (TrainableModel(weights: weights, lora: adapter.lora, loraDropout: loraDropout), base, adapter)
    }

    func checkGradients(_ family: String) throws {
        let fx = try LoRAFixtures.fixture(family)
        let (model, _, _) = try Self.trainable(family)
        let reference = try LoRAFixtures.tensors(LoRAFixtures.folder(family).appendingPathComponent("grads.safetensors"))
        var rng = SeededRandom(seed: 1)
        let (loss, logits) = model.forwardBackward(fx.train_batch.input_ids, labels: fx.train_batch.labels, dropout: 0, rng: &rng)
        XCTAssertEqual(loss, fx.train_batch.loss, accuracy: fx.tolerance.loss_abs, "\(family) loss")
        for (i, row) in logits.enumerated() {
            assertClose(row, fx.train_batch.logits[i], tolerance: fx.tolerance.logits_abs, "\(family) train logits \(i)")
        }
        // Exactly the adapter's tensors are trainable: no base parameter has a gradient buffer.
        XCTAssertEqual(Set(model.parameters.map { "base_model.model." + $0.name }), Set(reference.keys))
        XCTAssertNil(model.embeddingGrads)
        XCTAssertTrue(model.layerGrads.allSatisfy { $0 == nil })
        var worst: Float = 0
        var worstName = ""
        for p in model.parameters {
            guard let ref = reference["base_model.model." + p.name] else { continue }
            XCTAssertEqual(p.shape, ref.shape, p.name)
            let scale = ref.values.map(abs).max() ?? 0
            XCTAssertGreaterThan(scale, 0, "\(p.name): the reference gradient is zero")
            let err = zip(p.grad.array, ref.values).map { abs($0 - $1) }.max()! / scale
            if err > worst { worst = err; worstName = p.name }
            XCTAssertLessThanOrEqual(err, fx.tolerance.grad_rel_to_tensor_max, "\(family) gradient of \(p.name)")
        }
        // Layer 0's adapters get their gradient through every frozen layer above.
        let layer0 = model.parameters.filter { $0.name.contains(".layer.0.") && $0.name.contains("lora_A") }
        XCTAssertFalse(layer0.isEmpty)
        print("LoRA \(family) gradient parity: loss \(loss) vs \(fx.train_batch.loss); worst gradient error "
              + "\(worst) of the tensor's max (\(worstName)); \(model.parameters.count) trainable tensors")
    }

    func testRobertaLoRAGradientsMatchPeft() throws { try checkGradients("roberta") }

    func testBertLoRAGradientsMatchPeft() throws { try checkGradients("bert") }

    /// With the LoRA dropout on (and everything else off), the analytic gradient of A and B matches
    /// central differences of the loss under the same masks (same key): the forward and backward
    /// passes drop the same elements, in the compact last layer too.
    func testLoRADropoutGradient_matchesFiniteDifferences() throws {
        for family in ["roberta", "bert"] {
            let fx = try LoRAFixtures.fixture(family)
            let (model, _, _) = try Self.trainable(family, loraDropout: 0.3)
            let seqs = fx.train_batch.input_ids, labels = fx.train_batch.labels
            func loss() -> Float {
                var rng = SeededRandom(seed: 5)
                model.zeroGrad()
                return model.forwardBackward(seqs, labels: labels, dropout: 0, rng: &rng).loss
            }
            let l0 = loss()
            var rngOff = SeededRandom(seed: 5)
            let (model0, _, _) = try Self.trainable(family)
            XCTAssertGreaterThan(abs(model0.forwardBackward(seqs, labels: labels, dropout: 0, rng: &rngOff).loss - l0), 1e-4,
                                 "\(family): the LoRA dropout changes the loss")
            _ = loss()
            let grads = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.grad.array) })
            var checked = 0
            for p in model.parameters where p.name.contains("lora_") && (p.name.contains(".layer.0.") || p.name.contains("query")) {
                let g = grads[p.name]!
                let i = g.indices.max { abs(g[$0]) < abs(g[$1]) }!
                let h: Float = 1e-2
                let saved = p.value[i]
                p.value[i] = saved + h
                let plus = loss()
                p.value[i] = saved - h
                let minus = loss()
                p.value[i] = saved
                let numeric = (plus - minus) / (2 * h)
                XCTAssertEqual(numeric, g[i], accuracy: max(2e-3, 0.03 * abs(g[i])), "\(family) \(p.name)[\(i)]")
                checked += 1
            }
            XCTAssertGreaterThanOrEqual(checked, 4)
        }
    }

    /// A few AdamW steps change the adapter and the head only: every base buffer keeps its bytes,
    /// and the optimizer holds moments for the trainable tensors alone.
    func testLoRASteps_neverWriteTheBaseAndKeepStateOnlyForTrainableTensors() throws {
        let fx = try LoRAFixtures.fixture("roberta")
        let (model, base, adapter) = try Self.trainable("roberta", loraDropout: 0.1)
        let before = base.weights.namedBuffers.map { ($0.name, $0.buffer.array) }
        let loraBefore = adapter.lora.namedTensors.map { $0.buffer.array }
        func evalLoss() -> Double {
            let logits = TransformerEncoder(weights: model.weights, lora: adapter.lora).logits(fx.train_batch.input_ids)
            return ClassificationMetrics(logits: logits, labels: fx.train_batch.labels, classCount: 3).loss ?? .nan
        }
        let initial = evalLoss()
        var adam = AdamW(learningRate: 3e-3)
        for step in 0..<10 {
            var rng = SeededRandom(seed: UInt64(step))
            model.zeroGrad()
            model.forwardBackward(fx.train_batch.input_ids, labels: fx.train_batch.labels, dropout: 0.1, rng: &rng)
            adam.step(model.parameters)
        }
        XCTAssertLessThan(evalLoss(), initial - 0.05, "training lowers the loss")
        for ((name, values), now) in zip(before, base.weights.namedBuffers) {
            XCTAssertEqual(values, now.buffer.array, "\(name) of the base was written")
        }
        XCTAssertEqual(Set(adam.state.keys), Set(model.parameters.map(\.name)))
        XCTAssertFalse(adam.state.keys.contains { $0.contains("embeddings") || $0.contains("LayerNorm") || $0.contains("qkv") })
        XCTAssertNotEqual(adapter.lora.namedTensors.map { $0.buffer.array }, loraBefore, "the adapter is trained in place")
        let trainable = model.parameters.reduce(0) { $0 + $1.count }
        XCTAssertEqual(trainable, adapter.lora.parameterCount + 32 * 32 + 32 + 3 * 32 + 3)
    }
}
