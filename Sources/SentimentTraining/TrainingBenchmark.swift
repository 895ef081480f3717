import SentimentCore
import SentimentCheckpoint
import SentimentEngine

/// One timed fine-tuning step (for `sentimentd bench --train`), seconds.
public struct TrainingStepTiming: Sendable {
    public var forward: Double
    public var backward: Double
    /// zeroGrad (+ clipGradientNorm when asked).
    public var gradientUpkeep: Double
    /// The AdamW update.
    public var optimizer: Double
    /// With `profile`: wall time of each kernel kind in this step's forward and backward (TrainableModel.profileOps).
    public var kernels: [String: Double] = [:]
    public var total: Double { forward + backward + gradientUpkeep + optimizer }
}

extension TrainableModel {
    /// Times full training steps (zeroGrad, forward + backward with dropout, AdamW; gradient clipping
    /// only with `maxGradNorm`, since the PyTorch peer's step does not clip) at `config`'s dimensions with
    /// random weights (RandomInit) on `batch` random sequences of exactly `length` tokens, every
    /// parameter trained unless frozen. With `minLength`, sequence lengths are uniform in
    /// [minLength, length] instead (real batches are ragged; the packed step computes no padding).
    /// Runs `warmup` untimed steps first (they allocate the buffers and the optimizer state). Returns
    /// one timing per measured step (with `profile`, each with its time per kernel kind); read peak RSS after
    /// it returns.
    public static func benchmarkStep(config: ModelConfig = .robertaBase, batch: Int = 16, length: Int = 128,
                                     minLength: Int? = nil,
                                     steps: Int = 3, warmup: Int = 1, dropout: Float = 0.1, maxGradNorm: Float? = nil,
                                     freezeEmbeddings: Bool = false, freezeLayers: Int = 0,
                                     seed: UInt64 = 42, profile: Bool = false) -> [TrainingStepTiming] {
        let model = TrainableModel(weights: RandomInit.weights(config: config, seed: seed),
                                   freezeEmbeddings: freezeEmbeddings, freezeLayers: freezeLayers)
        var rng = SeededRandom(seed: seed &+ 1)
        let first = 3, span = max(1, config.vocabSize - first)
        let low = min(max(2, minLength ?? length), length)
        let sequences = (0..<batch).map { _ in
            let n = low + Int(rng.next() % UInt64(length - low + 1))
            return (0..<n).map { _ in Int32(first + Int(rng.next() % UInt64(span))) }
        }
        let labels = (0..<batch).map { _ in Int(rng.next() % UInt64(max(1, config.numLabels))) }
        var adam = AdamW(learningRate: 2e-5)
        var out: [TrainingStepTiming] = []
        for i in 0..<(warmup + steps) {
            model.profileOps = profile && i >= warmup
            let kernelsBefore = model.opSeconds
            let t0 = monotonicSeconds()
            model.zeroGrad()
            let t1 = monotonicSeconds()
            model.forwardBackward(sequences, labels: labels, dropout: dropout, rng: &rng)
            let t2 = monotonicSeconds()
            if let maxGradNorm { clipGradientNorm(model.parameters, maxNorm: maxGradNorm) }
            let t3 = monotonicSeconds()
            adam.step(model.parameters, learningRate: 2e-5)
            let t4 = monotonicSeconds()
            if i >= warmup {
                // forwardBackward's own split of t1..<t2.
                out.append(TrainingStepTiming(forward: model.lastTimings.forward, backward: model.lastTimings.backward,
                                              gradientUpkeep: (t1 - t0) + (t3 - t2), optimizer: t4 - t3,
                                              kernels: model.opSeconds.merging(kernelsBefore) { now, before in now - before }))
            }
        }
        return out
    }
}
