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

    func run() throws {
        var bench = InferenceBench()
        bench.quick = quick
        bench.tweetsFile = tweets.map { URL(fileURLWithPath: $0) }
        bench.tokenizerFolder = tokenizer.map { URL(fileURLWithPath: $0) }
        try bench.run()
    }
}
