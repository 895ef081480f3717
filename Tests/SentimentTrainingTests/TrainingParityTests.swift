import Foundation
import XCTest
@testable import SentimentCheckpoint
@testable import SentimentEngine
@testable import SentimentTraining
import SentimentTestSupport

/// The Swift backward pass and optimizer against PyTorch on the tiny fixtures
/// (tools/fixtures_models.py, training/tiny-<family>/): one batch's loss, logits gradient and every
/// parameter gradient (plain and class-weighted), then the 10-step AdamW trajectory of the HF Trainer
/// recipe (warm-up, linear decay, clipping). Hyper-parameters and tolerances come from training.json.
final class TrainingParityTests: XCTestCase {
    struct Fixture: Decodable {
        struct Batch: Decodable {
            let labels: [Int]
            let input_ids: [[Int32]]
            let attention_mask: [[Int32]]
        }
        struct OneBatch: Decodable {
            let batch: Int
            let loss: Float
            let logits: [[Float]]
            let logits_grad: [[Float]]
            let class_weights: [Float]
            let weighted_loss: Float
            let weighted_logits_grad: [[Float]]
        }
        struct Adam: Decodable {
            let lr: Float
            let betas: [Float]
            let eps: Float
            let weight_decay: Float
            let no_decay: [String]
            let warmup_steps: Int
            let total_steps: Int
            let max_grad_norm: Float
            let batch_order: [Int]
        }
        struct Step: Decodable {
            let step: Int
            let batch: Int
            let lr: Float
            let loss: Float
            let grad_norm: Float
        }
        struct Tolerance: Decodable {
            let loss_abs: Float
            let grad_rel_to_tensor_max: Float
            let trajectory_loss_abs: Float
            let zero_gradient_params_grad_abs: Float
            let final_params_abs: Float
            let final_params_exclude: [String]
        }
        let family: String
        let batches: [Batch]
        let one_batch: OneBatch
        let adamw: Adam
        let steps: [Step]
        let final_losses: [Float]
        let zero_gradient_params: [String]
        let tolerance: Tolerance

        /// Each padded row without its padding (the packed batches have none).
        func sequences(_ b: Int) -> [[Int32]] {
            zip(batches[b].input_ids, batches[b].attention_mask).map { ids, mask in
                zip(ids, mask).filter { $0.1 != 0 }.map { $0.0 }
            }
        }
    }

    static func folder(_ family: String) -> URL {
        ModelFixtures.root.appendingPathComponent("training/tiny-\(family)")
    }

    static func fixture(_ family: String) throws -> Fixture {
        let data = try Data(contentsOf: folder(family).appendingPathComponent("training.json"))
        return try JSONDecoder().decode(Fixture.self, from: data)
    }

    /// The tiny model's weights with the training config (dropout 0).
    static func model(_ family: String) throws -> TrainableModel {
        let config = try ModelConfig.load(from: folder(family).appendingPathComponent("config.json"))
        let archive = try CheckpointFiles.open(ModelFixtures.folder("tiny-\(family)").appendingPathComponent("model.safetensors"))
        return TrainableModel(weights: try WeightMap.load(archive, config: config, requireHead: true))
    }

    static func tensors(_ family: String, _ file: String) throws -> [String: Tensor] {
        let archive = try CheckpointFiles.open(folder(family).appendingPathComponent(file))
        var out: [String: Tensor] = [:]
        for name in archive.tensorNames { out[name] = try archive.tensor(name) }
        return out
    }

    /// Gradients under Hugging Face names, the fused qkv split into query/key/value.
    static func gradientsByHFName(_ model: TrainableModel) -> [String: [Float]] {
        var out: [String: [Float]] = [:]
        for p in model.parameters {
            out[p.name] = p.grad.array
            if p.name.contains("attention.self.qkv.") {
                let third = p.count / 3
                for (j, part) in ["query", "key", "value"].enumerated() {
                    out[p.name.replacingOccurrences(of: "qkv", with: part)] = Array(p.grad.array[(j * third)..<((j + 1) * third)])
                }
            }
        }
        return out
    }

    /// Every reference gradient within tolerance × its tensor's largest magnitude (zero-gradient
    /// parameters: absolute). Returns the worst relative error seen.
    @discardableResult
    func compareGradients(_ model: TrainableModel, _ reference: [String: Tensor], _ fx: Fixture, _ what: String) -> Float {
        let ours = Self.gradientsByHFName(model)
        var worst: Float = 0
        for (name, ref) in reference.sorted(by: { $0.key < $1.key }) {
            guard let g = ours[name] else { XCTFail("\(what): no gradient for \(name)"); continue }
            XCTAssertEqual(g.count, ref.count, "\(what): \(name) size")
            if fx.zero_gradient_params.contains(name) {
                assertClose(g, ref.values, tolerance: fx.tolerance.zero_gradient_params_grad_abs, "\(what): \(name)")
                continue
            }
            let scale = ref.values.map(abs).max() ?? 0
            XCTAssertGreaterThan(scale, 0, "\(what): reference gradient of \(name) is zero")
            var maxDiff: Float = 0
            for i in 0..<min(g.count, ref.count) { maxDiff = max(maxDiff, abs(g[i] - ref.values[i])) }
            let rel = maxDiff / scale
            worst = max(worst, rel)
            XCTAssertLessThanOrEqual(rel, fx.tolerance.grad_rel_to_tensor_max,
                                     "\(what): \(name) max |diff| \(maxDiff) vs max |ref| \(scale)")
        }
        return worst
    }

    func checkOneBatch(_ family: String) throws {
        let fx = try Self.fixture(family)
        let model = try Self.model(family)
        let ob = fx.one_batch
        let labels = fx.batches[ob.batch].labels
        var rng = SeededRandom(seed: 1)
        let (loss, logits) = model.forwardBackward(fx.sequences(ob.batch), labels: labels, dropout: 0, rng: &rng)
        XCTAssertEqual(loss, ob.loss, accuracy: fx.tolerance.loss_abs, "\(family) loss")
        assertClose(logits.flatMap { $0 }, ob.logits.flatMap { $0 }, tolerance: fx.tolerance.loss_abs, "\(family) logits")
        let reference = try Self.tensors(family, "grads.safetensors")
        // Every trainable parameter has a reference and the other way round (qkv appears split).
        XCTAssertEqual(Set(Self.gradientsByHFName(model).keys.filter { !$0.contains(".qkv.") }), Set(reference.keys))
        let worst = compareGradients(model, reference, fx, "\(family) gradients")
        print("\(family): loss \(loss) vs \(ob.loss); worst gradient error \(worst) of the tensor's max")

        // Class weights: a fresh accumulation.
        model.zeroGrad()
        XCTAssertEqual(model.parameters.map { $0.grad.array.map(abs).max() ?? 0 }.max(), 0, "zeroGrad clears every gradient")
        let (wloss, _) = model.forwardBackward(fx.sequences(ob.batch), labels: labels, classWeights: ob.class_weights,
                                               dropout: 0, rng: &rng)
        XCTAssertEqual(wloss, ob.weighted_loss, accuracy: fx.tolerance.loss_abs, "\(family) weighted loss")
        let wworst = compareGradients(model, try Self.tensors(family, "grads_weighted.safetensors"), fx, "\(family) weighted gradients")
        print("\(family): weighted loss \(wloss) vs \(ob.weighted_loss); worst gradient error \(wworst)")
    }

    func testRobertaOneBatchGradientsMatchPyTorch() throws { try checkOneBatch("roberta") }
    func testBertOneBatchGradientsMatchPyTorch() throws { try checkOneBatch("bert") }

    func testCrossEntropyLogitGradientsMatchPyTorch() throws {
        for family in ["roberta", "bert"] {
            let fx = try Self.fixture(family)
            let ob = fx.one_batch
            let labels = fx.batches[ob.batch].labels
            let b = labels.count, k = ob.logits[0].count
            let logits = ob.logits.flatMap { $0 }
            let probs = UnsafeMutablePointer<Float>.allocate(capacity: b * k)
            let d = UnsafeMutablePointer<Float>.allocate(capacity: b * k)
            defer { probs.deallocate(); d.deallocate() }
            for (weights, refLoss, refGrad) in [(nil, ob.loss, ob.logits_grad), (ob.class_weights, ob.weighted_loss, ob.weighted_logits_grad)] {
                let loss = crossEntropyForward(probs: probs, logits: logits, labels: labels, classes: k, classWeights: weights)
                XCTAssertEqual(loss, refLoss, accuracy: 1e-6, "\(family) loss, weights \(String(describing: weights))")
                crossEntropyBackward(dlogits: d, probs: probs, labels: labels, classes: k, classWeights: weights, scale: 1)
                assertClose(Array(UnsafeBufferPointer(start: d, count: b * k)), refGrad.flatMap { $0 }, tolerance: 1e-7,
                            "\(family) dlogits, weights \(String(describing: weights))")
            }
        }
    }

    /// Splitting a batch in two with lossScale 1/2 accumulates (nearly) the gradient of the whole
    /// batch — exactly when both halves have the same size, as here.
    func testGradientAccumulationEqualsWholeBatch() throws {
        let fx = try Self.fixture("roberta")
        let seqs = fx.sequences(0), labels = fx.batches[0].labels
        var rng = SeededRandom(seed: 3)
        let whole = try Self.model("roberta")
        whole.forwardBackward(seqs, labels: labels, dropout: 0, rng: &rng)
        let split = try Self.model("roberta")
        split.forwardBackward(Array(seqs[0..<4]), labels: Array(labels[0..<4]), dropout: 0, lossScale: 0.5, rng: &rng)
        split.forwardBackward(Array(seqs[4...]), labels: Array(labels[4...]), dropout: 0, lossScale: 0.5, rng: &rng)
        for (a, b) in zip(whole.parameters, split.parameters) {
            let scale = a.grad.array.map(abs).max() ?? 0
            assertClose(b.grad.array, a.grad.array, tolerance: max(1e-9, 1e-5 * scale), "accumulated \(a.name)")
        }
    }

    func checkTrajectory(_ family: String) throws {
        let fx = try Self.fixture(family)
        let model = try Self.model(family)
        let h = fx.adamw
        XCTAssertEqual(h.batch_order.count, h.total_steps)
        // The no-decay set is the HF Trainer's (qkv bias stands for the three biases).
        let noDecay = Set(model.parameters.filter { !$0.decays }.flatMap { p -> [String] in
            p.name.contains(".qkv.") ? ["query", "key", "value"].map { p.name.replacingOccurrences(of: "qkv", with: $0) } : [p.name]
        })
        XCTAssertEqual(noDecay, Set(h.no_decay), "\(family) no-decay parameters")

        var adam = AdamW(learningRate: h.lr, beta1: h.betas[0], beta2: h.betas[1], eps: h.eps, weightDecay: h.weight_decay)
        let schedule = LinearWarmupSchedule(peak: h.lr, warmupSteps: h.warmup_steps, totalSteps: h.total_steps)
        var rng = SeededRandom(seed: 7)
        var worstLoss: Float = 0
        for (i, ref) in fx.steps.enumerated() {
            XCTAssertEqual(ref.batch, h.batch_order[i])
            model.zeroGrad()
            let (loss, _) = model.forwardBackward(fx.sequences(ref.batch), labels: fx.batches[ref.batch].labels,
                                                  dropout: 0, rng: &rng)
            let norm = clipGradientNorm(model.parameters, maxNorm: h.max_grad_norm)
            let lr = schedule.learningRate(atStep: i)
            XCTAssertEqual(lr, ref.lr, accuracy: 1e-9, "\(family) lr of step \(ref.step)")
            adam.step(model.parameters, learningRate: lr)
            worstLoss = max(worstLoss, abs(loss - ref.loss))
            XCTAssertEqual(loss, ref.loss, accuracy: fx.tolerance.trajectory_loss_abs, "\(family) loss of step \(ref.step)")
            XCTAssertEqual(norm, ref.grad_norm, accuracy: 1e-4 * ref.grad_norm, "\(family) gradient norm of step \(ref.step)")
        }
        XCTAssertEqual(adam.stepCount, h.total_steps)
        // The final parameters (key biases excepted: torch moves them on rounding noise).
        let final = try Self.tensors(family, "final.safetensors")
        let ours = Dictionary(uniqueKeysWithValues: WeightMap.stateDict(model.weights).map { ($0.name, $0.tensor) })
        var worstParam: Float = 0
        for (name, ref) in final where !fx.tolerance.final_params_exclude.contains(name) {
            guard let t = ours[name] else { XCTFail("\(family): no parameter \(name)"); continue }
            XCTAssertEqual(t.shape, ref.shape, name)
            var d: Float = 0
            for i in 0..<min(t.count, ref.count) { d = max(d, abs(t.values[i] - ref.values[i])) }
            worstParam = max(worstParam, d)
            XCTAssertLessThanOrEqual(d, fx.tolerance.final_params_abs, "\(family) final \(name)")
        }
        // The losses of every batch with the final parameters.
        for (b, refLoss) in fx.final_losses.enumerated() {
            let logits = TransformerEncoder(weights: model.weights).logits(fx.sequences(b))
            let probs = UnsafeMutablePointer<Float>.allocate(capacity: logits.count * logits[0].count)
            defer { probs.deallocate() }
            let loss = crossEntropyForward(probs: probs, logits: logits.flatMap { $0 }, labels: fx.batches[b].labels,
                                           classes: logits[0].count, classWeights: nil)
            XCTAssertEqual(loss, refLoss, accuracy: fx.tolerance.trajectory_loss_abs, "\(family) final loss of batch \(b)")
        }
        print("\(family): 10-step trajectory worst loss error \(worstLoss), worst final parameter error \(worstParam)")
    }

    func testRobertaAdamWTrajectoryMatchesPyTorch() throws { try checkTrajectory("roberta") }
    func testBertAdamWTrajectoryMatchesPyTorch() throws { try checkTrajectory("bert") }
}
