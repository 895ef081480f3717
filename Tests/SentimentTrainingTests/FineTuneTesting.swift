import Foundation
import XCTest
@testable import SentimentTraining
import SentimentTestSupport

/// What the fine-tuning tests share: a small recipe, a job over the synthetic data, and the completed outcome.
protocol FineTuneTesting {}

extension FineTuneTesting {
    /// Batches of 8, 64-token inputs, a short warm-up and a checkpoint every 3 steps.
    func smallRecipe(epochs: Int, lr: Float) -> TrainingRecipe {
        var r = TrainingRecipe()
        r.epochs = epochs
        r.batchSize = 8
        r.learningRate = lr
        r.warmupRatio = 0.1
        r.maxLength = 64
        r.checkpointEvery = 3
        return r
    }

    func job(_ dir: TemporaryDirectory, base: URL, out: String = "out", recipe: TrainingRecipe, train: Int = 64,
             val: Int = 24) -> FineTuneJob {
        var job = FineTuneJob(baseFolder: base, outputFolder: dir.url.appendingPathComponent(out),
                              train: .examples(SyntheticData.examples(train), source: "synthetic train"),
                              validation: .examples(SyntheticData.examples(val, offset: 1000), source: "synthetic val"),
                              recipe: recipe)
        job.workDirectory = dir.url.appendingPathComponent("work-\(out)")
        return job
    }

    func completed(_ outcome: FineTuneJob.Outcome, file: StaticString = #filePath, line: UInt = #line)
        -> (URL, TrainingInfo, TrainingResult)? {
        guard case let .completed(output, info, result) = outcome else {
            XCTFail("the run did not complete: \(outcome)", file: file, line: line)
            return nil
        }
        return (output, info, result)
    }
}
