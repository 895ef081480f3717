import Foundation
import SentimentML

/// The inference benchmark of `sentimentd bench`: RoBERTa-base dimensions, random weights made in
/// process, shapes and padding as `shared/peers/bench_torch_infer.py` uses them.
struct InferenceBench {
    var quick = false
    var tweetsFile: URL?
    var tokenizerFolder: URL?
    var print: (String) -> Void = { Swift.print($0); fflush(stdout) }

    /// Ids like the peer's: <s> random… </s>, real lengths uniform in [L/2, L] when padded
    /// (we drop the padding: padding removal is the point; the peer computes bs × L).
    static func batch(_ bs: Int, _ l: Int, padded: Bool, rng: inout SeededRandom) -> [[Int32]] {
        (0..<bs).map { i in
            let n = padded && i > 0 ? l / 2 + Int(rng.next() % UInt64(l - l / 2 + 1)) : l
            var ids = (0..<n).map { _ in Int32(3 + Int(rng.next() % 50262)) }
            ids[0] = 0
            ids[n - 1] = 2
            return ids
        }
    }

    func run() throws {
        let config = ModelConfig.robertaBase
        let t0 = BenchClock.now()
        let weights = RandomInit.weights(config: config, seed: 0)
        let encoder = TransformerEncoder(weights: weights)
        print(String(format: "model: roberta-base dims, %.2fM params, random init in %.1fs; OpenBLAS threads %d, workers %d",
                     Double(weights.parameterCount) / 1e6, BenchClock.now() - t0, BLAS.threads, Parallel.workers))
        var rng = SeededRandom(seed: 7)
        for l in [16, 32, 64, 128] {
            let ids = Self.batch(1, l, padded: false, rng: &rng)
            let r = BenchMeasure.time(n: quick ? 5 : 30, warmup: quick ? 1 : 5) { _ = encoder.logits(ids) }
            print(String(format: "latency b=1 s=%4d: median %8.2f ms  min %8.2f ms  (other_cores=%.2f)",
                         l, r.median * 1e3, r.min * 1e3, r.otherCores))
        }
        for (bs, l) in [(8, 64), (8, 128), (32, 64), (32, 128)] {
            let ids = Self.batch(bs, l, padded: true, rng: &rng)
            let real = ids.reduce(0) { $0 + $1.count }
            let r = BenchMeasure.time(n: quick ? 2 : (bs * l <= 1024 ? 10 : 5), warmup: 1) { _ = encoder.logits(ids) }
            print(String(format: "throughput b=%2d s=%4d (padded, %d of %d tokens real): median %9.1f ms/batch = %7.2f seq/s  (best %7.2f seq/s, other_cores=%.2f)",
                         bs, l, real, bs * l, r.median * 1e3, Double(bs) / r.median, Double(bs) / r.min, r.otherCores))
        }
        try endToEnd(weights: weights)
        print(String(format: "peak RSS: %.0f MiB", BenchMeasure.peakRSSMiB()))
    }

    /// Tokenise + predict over real tweets, batch 32 in file order.
    func endToEnd(weights: EncoderWeights) throws {
        guard let tweetsFile, let tokenizerFolder,
              FileManager.default.fileExists(atPath: tweetsFile.path) else {
            print("end-to-end: skipped (no tweets file; pass --tweets and --tokenizer)")
            return
        }
        let text = try String(contentsOf: tweetsFile, encoding: .utf8)
        let tweets = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
        let tokenizer = try TokenizerLoader.load(folder: tokenizerFolder, config: weights.config)
        let model = SentimentModel(config: weights.config, folder: tokenizerFolder, tokenizer: tokenizer, weights: weights,
                                   options: ModelLoadOptions(maxLength: 128))
        let tk = BenchMeasure.time(n: quick ? 1 : 3, warmup: 1) { _ = tweets.map(model.encode) }
        let r = BenchMeasure.time(n: quick ? 1 : 2, warmup: quick ? 0 : 1) {
            var i = 0
            while i < tweets.count {
                _ = model.predict(Array(tweets[i..<min(i + 32, tweets.count)]))
                i += 32
            }
        }
        let tokens = tweets.map(model.encode).reduce(0) { $0 + $1.count }
        print(String(format: "end-to-end: %d tweets (%.1f tokens mean), tokenise %.1f ms, tokenise+predict b32: %.2f s = %.1f tweets/s (other_cores=%.2f)",
                     tweets.count, Double(tokens) / Double(tweets.count), tk.median * 1e3, r.median,
                     Double(tweets.count) / r.median, r.otherCores))
    }
}
