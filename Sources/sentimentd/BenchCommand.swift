import ArgumentParser
import Foundation
import SentimentML

/// `sentimentd bench`: inference (default) or training-step benchmarks at RoBERTa-base dimensions.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure inference latency/throughput (or a training step with --train) at RoBERTa-base dimensions.",
        discussion: """
        Random weights are made in process. Shapes follow shared/peers/bench_torch_infer.py so the numbers
        compare with PyTorch and ONNX Runtime run in the same sitting; see bench/README.md.
        """)

    @Flag(name: .long, help: "Fewer repetitions (a smoke run).")
    var quick = false

    @Option(name: .long, help: "Tweets, one per line, for the end-to-end tokenise+predict measurement.")
    var tweets: String?

    @Option(name: .long, help: "A folder with the RoBERTa tokenizer files (vocab.json, merges.txt) for --tweets.")
    var tokenizer: String?

    @Flag(name: .long, help: "Benchmark a full fine-tuning step (forward + backward + AdamW) instead of inference.")
    var train = false

    @Option(name: .long, help: "Sequence lengths for --train (comma-separated).")
    var lengths: String = "128,64"

    @Option(name: .long, help: "Batch size for --train.")
    var batchSize: Int = 16

    func run() throws {
        if train {
            try runTraining()
            return
        }
        var bench = InferenceBench()
        bench.quick = quick
        bench.tweetsFile = tweets.map { URL(fileURLWithPath: $0) }
        bench.tokenizerFolder = tokenizer.map { URL(fileURLWithPath: $0) }
        try bench.run()
    }

    /// RoBERTa-base, random weights, all 124.6M parameters trainable, dropout 0.1, clipping, AdamW:
    /// the same step as shared/peers/bench_train.py "full".
    func runTraining() throws {
        let ls = lengths.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !ls.isEmpty, ls.allSatisfy({ $0 >= 2 && $0 <= 512 }) else {
            throw ValidationError("--lengths must list sequence lengths between 2 and 512")
        }
        for l in ls {
            let steps = TrainableModel.benchmarkStep(batch: batchSize, length: l, steps: quick ? 1 : 3, warmup: 1)
            let sorted = steps.sorted { $0.total < $1.total }
            let m = sorted[sorted.count / 2]
            print(String(format: "train step b=%d L=%d: median %.2f s (fwd %.2f / bwd %.2f / clip+zero %.2f / AdamW %.2f) = %.2f seq/s",
                         batchSize, l, m.total, m.forward, m.backward, m.gradientUpkeep, m.optimizer, Double(batchSize) / m.total))
        }
        print(String(format: "peak RSS: %.0f MiB", BenchMeasure.peakRSSMiB()))
    }
}
