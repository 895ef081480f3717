import ArgumentParser
import Foundation
import SentimentBench
import SentimentCheckpoint
import SentimentEngine

/// `--precision fp32|int8` (bench, predict, train-worker).
extension Precision: ExpressibleByArgument {}

/// `sentimentd bench`: inference (default) or training-step benchmarks at RoBERTa-base dimensions. The options are
/// read and checked here; the benchmarks themselves are SentimentBench's (ARCHITECTURE.md).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure inference latency/throughput (or a training step with --train, or serving through the socket with --serving) at RoBERTa-base dimensions.",
        discussion: """
        Random weights are made in process. Shapes follow shared/peers/bench_torch_infer.py so the numbers
        compare with PyTorch and ONNX Runtime run in the same sitting; see bench/README.md.

        --serving starts the real daemon (this executable, `serve`) on a temporary folder and measures cold start
        to READY=1, throughput and latency of closed-loop clients sending single tweets through the socket, the
        same model in process, and latency during hot reloads under load.
        """)

    @Flag(name: .long, help: "Fewer repetitions (a smoke run).")
    var quick = false

    @Option(name: .long, help: ArgumentHelp("Tweets, one per line, for the end-to-end tokenise+predict measurement (--serving: the requests; --accuracy: the texts). Needed by --serving and --accuracy; without it the plain benchmark skips the tweets.", valueName: "file"))
    var tweets: String?

    @Option(name: .long, help: ArgumentHelp("A folder with the RoBERTa tokenizer files (vocab.json, merges.txt) for --tweets. Needed by --serving without --model.", valueName: "dir"))
    var tokenizer: String?

    @Flag(name: .long, help: "Benchmark the daemon through its socket: cold start, load at --clients, hot reloads.")
    var serving = false

    @Option(name: .long, help: ArgumentHelp("--serving: serve this model folder instead of a random RoBERTa-base one.", valueName: "dir"))
    var model: String?

    @Option(name: .long, help: "--serving: concurrent clients per load measurement (comma-separated).")
    var clients: String = "1,8,32"

    @Option(name: .long, help: "--serving: seconds measured per load (after --warmup) and per in-process measurement.")
    var seconds: Double = 10

    @Option(name: .long, help: "--serving: seconds of load before each measurement starts.")
    var warmup: Double = 1

    @Option(name: .long, help: "--serving: daemon starts timed (spawn to READY=1), SIGTERM between them.")
    var coldStarts: Int = 3

    @Option(name: .long, help: "--serving: hot reloads under load (0 skips them).")
    var reloads: Int = 5

    @Option(name: .long, help: "--serving: clients running during the hot reloads.")
    var reloadClients: Int = 8

    @Option(name: .long, help: "--serving: seconds between the starts of two reloads (at least one steady second between windows).")
    var reloadEvery: Double = 5

    @Option(name: .long, help: "--serving: encoder layers of the random model (12 is RoBERTa-base; fewer for a quick run).")
    var layers: Int = 12

    @Option(name: .long, help: "--serving: the daemon's models.settle_ms.")
    var settleMs: Int = 200

    @Option(name: .long, help: "--serving: the daemon's models.load_priority (idle or low).")
    var loadPriority: String = "idle"

    @Option(name: .long, help: ArgumentHelp("--serving with --precision int8: the daemon's models.int8_min_agreement (default: the configuration's 0.98 for --model, 0.5 for the random-weight model, whose near-tied logits int8 rounding flips).", valueName: "share"))
    var int8MinAgreement: Double?

    @Option(name: .long, help: ArgumentHelp("--serving: also write the results as JSON to this file.", valueName: "file"))
    var json: String?

    @Flag(name: .long, help: "--serving: keep the temporary folder (model, config, daemon log) and print its path.")
    var keep = false

    /// Internal: --serving runs its in-process reference in a fresh child process, which writes its result here.
    @Option(name: .long, help: .hidden)
    var servingReference: String?

    @Flag(name: .long, help: "Benchmark a full fine-tuning step (forward + backward + AdamW) instead of inference.")
    var train = false

    @Option(name: .long, help: "Sequence lengths for --train (comma-separated).")
    var lengths: String = "128,64"

    @Option(name: .long, help: "Batch size for --train.")
    var batchSize: Int = 16

    @Option(name: .long, help: "--train: model dimensions, roberta-base or minilm (all-MiniLM-L6-v2).")
    var trainDims: String = "roberta-base"

    @Flag(name: .long, help: "--train: ragged batches, lengths uniform in [L/2, L] (real batches; no padding is computed).")
    var ragged = false

    @Flag(name: .long, help: "--train: also print where a step's time goes, per kernel kind.")
    var profile = false

    @Flag(name: .long, help: "Time RoBERTa-base's dense layers alone at 8 to 512 rows: OpenBLAS against the AVX2 kernel over packed weights.")
    var gemm = false

    @Flag(name: .long, help: "Only the batch-1 latencies (bench/run-latency.sh alternates them with ONNX Runtime's).")
    var latencyOnly = false

    @Option(name: .long, help: "Dense layers in fp32 or int8 (inference; --serving: the daemon's models.precision).")
    var precision: Precision = .fp32

    @Flag(name: .long, help: "Measure the int8 multiply units' peak (the kernels' own instructions on registers only), per core and on every worker.")
    var int8Peak = false

    @Flag(name: .long, help: "int8 against fp32 on a real model (--model): agreement, macro-F1 and macro-recall on --tweets with --labels, agreement on the built-in probe set, and the time of each.")
    var accuracy = false

    @Option(name: .long, help: ArgumentHelp("--accuracy: labels of --tweets, one class index per line (needed by --accuracy).", valueName: "file"))
    var labels: String?

    /// Internal (the experiment that chose `Int8Scheme.standard`, bench/README.md): --accuracy with another
    /// scheme, "WEIGHT_MAX:ACTIVATION_LEVELS", e.g. 127:255.
    @Option(name: .long, help: .hidden)
    var int8Scheme: String?

    /// Internal (the measurement behind merging LoRA adapters before quantizing, bench/README.md): --accuracy with
    /// the base's dense layers quantized and the adapter's low-rank path beside them in fp32, instead.
    @Flag(name: .long, help: .hidden)
    var loraUnmerged = false

    func run() throws {
        if train {
            try runTraining()
            return
        }
        if serving || servingReference != nil {
            try runServing()
            return
        }
        var bench = InferenceBench()
        bench.quick = quick
        bench.latencyOnly = latencyOnly
        bench.precision = precision
        if int8Peak {
            bench.runInt8Peak()
            return
        }
        if accuracy {
            do {
                try accuracyBench().run()
            } catch let error as AccuracyBenchError {
                throw ValidationError(error.description)
            }
            return
        }
        if gemm {
            bench.runGemm()
            return
        }
        bench.tweetsFile = tweets.map { URL(fileURLWithPath: $0) }
        bench.tokenizerFolder = tokenizer.map { URL(fileURLWithPath: $0) }
        try bench.run()
    }

    func runServing() throws {
        let counts = clients.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 != nil }) else {
            throw ValidationError("--clients must list client counts, e.g. 1,8,32")
        }
        // The data is the caller's: nothing outside the working folder is assumed (bench/run-serving.sh passes the
        // shared data's tweets and tokenizer).
        guard let tweets else {
            throw ValidationError("--serving needs --tweets FILE: the texts the clients send, one per line "
                + "(e.g. TweetEval's val_text.txt; bench/run-serving.sh passes it)")
        }
        guard let tokenizer = tokenizer ?? model else {
            throw ValidationError("--serving needs --tokenizer DIR (RoBERTa's vocab.json and merges.txt) for its random "
                + "RoBERTa-base model, or --model DIR to serve a model folder instead")
        }
        var bench = ServingBench(
            modelFolder: model.map { URL(fileURLWithPath: $0) },
            tokenizerFolder: URL(fileURLWithPath: tokenizer),
            tweetsFile: URL(fileURLWithPath: tweets))
        bench.clients = counts.compactMap { $0 }
        bench.seconds = seconds
        bench.warmup = warmup
        bench.coldStarts = coldStarts
        bench.reloads = reloads
        bench.reloadClients = reloadClients
        bench.reloadEvery = reloadEvery
        bench.layers = layers
        bench.settleMs = settleMs
        bench.loadPriority = loadPriority
        bench.precision = precision
        bench.int8MinAgreement = int8MinAgreement
        bench.jsonFile = json.map { URL(fileURLWithPath: $0) }
        bench.keep = keep
        do {
            if let servingReference {
                try bench.runReference(output: URL(fileURLWithPath: servingReference))
            } else {
                try bench.run()
            }
        } catch let error as ServingBenchError {
            FileHandle.standardError.write(Data("sentimentd bench --serving: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    /// A full fine-tuning step (`TrainingStepBench`) at the dimensions and lengths asked for.
    func runTraining() throws {
        let ls = lengths.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !ls.isEmpty, ls.allSatisfy({ $0 >= 2 && $0 <= 512 }) else {
            throw ValidationError("--lengths must list sequence lengths between 2 and 512")
        }
        let config: ModelConfig
        switch trainDims {
        case "roberta-base": config = .robertaBase
        case "minilm": config = .miniLML6
        default: throw ValidationError("--train-dims must be roberta-base or minilm")
        }
        var bench = TrainingStepBench(config: config, batchSize: batchSize, lengths: ls)
        bench.ragged = ragged
        bench.profile = profile
        bench.quick = quick
        bench.run()
    }

    /// `--accuracy`: int8 against fp32 on a real model (`AccuracyBench`).
    func accuracyBench() throws -> AccuracyBench {
        guard let model else { throw ValidationError("--accuracy needs --model DIR (a model folder or a LoRA adapter folder)") }
        guard let tweets, let labels else {
            throw ValidationError("--accuracy needs --tweets FILE (one text per line) and --labels FILE (one class index "
                + "per line, e.g. TweetEval's val_text.txt and val_labels.txt; bench/run-int8.sh passes them)")
        }
        var bench = AccuracyBench(modelFolder: URL(fileURLWithPath: model), tweetsFile: tweets, labelsFile: labels)
        bench.loraUnmerged = loraUnmerged
        bench.quick = quick
        if let int8Scheme {
            let parts = int8Scheme.split(separator: ":").compactMap { Int($0) }
            guard parts.count == 2, (1...127).contains(parts[0]), (1...255).contains(parts[1]) else {
                throw ValidationError("--int8-scheme takes WEIGHT_MAX:ACTIVATION_LEVELS, e.g. 127:255")
            }
            let scheme = Int8Scheme(weightMax: parts[0], activationLevels: parts[1])
            if !scheme.isExactOnAVX2 && Int8KernelPath.active == .avx2 {
                throw ValidationError("the AVX2 path cannot sum \(scheme) exactly: set SENTIMENTD_INT8_KERNELS=portable")
            }
            bench.scheme = scheme
        }
        return bench
    }
}
