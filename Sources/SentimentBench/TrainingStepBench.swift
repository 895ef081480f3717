import Foundation
import SentimentCheckpoint
import SentimentTraining

/// `sentimentd bench --train`: a full fine-tuning step at a model's dimensions, random weights, every parameter
/// trainable, dropout 0.1, clipping, AdamW: the same step as shared/peers/bench_train.py "full" (RoBERTa-base).
public struct TrainingStepBench {
    public var config: ModelConfig
    public var batchSize: Int
    /// Sequence lengths, each measured on its own (2...512).
    public var lengths: [Int]
    /// Ragged batches, lengths uniform in [L/2, L] (real batches; no padding is computed).
    public var ragged = false
    /// Also print where a step's time goes, per kernel kind.
    public var profile = false
    public var quick = false

    public init(config: ModelConfig, batchSize: Int, lengths: [Int]) {
        self.config = config
        self.batchSize = batchSize
        self.lengths = lengths
    }

    public func run() {
        for l in lengths {
            let measured = quick ? 1 : (profile ? 10 : 3)
            let steps = TrainableModel.benchmarkStep(config: config, batch: batchSize, length: l, minLength: ragged ? l / 2 : nil,
                                                     steps: measured, warmup: 1, profile: profile)
            let sorted = steps.sorted { $0.total < $1.total }
            let m = sorted[sorted.count / 2]
            print(String(format: "train step b=%d L=%d: median %.2f s (fwd %.2f / bwd %.2f / clip+zero %.2f / AdamW %.2f) = %.2f seq/s",
                         batchSize, l, m.total, m.forward, m.backward, m.gradientUpkeep, m.optimizer, Double(batchSize) / m.total))
            if profile {
                let kernels = steps.reduce(into: [String: Double]()) { sum, step in sum.merge(step.kernels, uniquingKeysWith: +) }
                for (name, seconds) in kernels.sorted(by: { $0.value > $1.value }) {
                    print("  " + name.padding(toLength: 28, withPad: " ", startingAt: 0)
                          + String(format: " %7.1f ms/step", seconds * 1000 / Double(measured)))
                }
            }
        }
        print(String(format: "peak RSS: %.0f MiB", BenchMeasure.peakRSSMiB()))
    }
}
