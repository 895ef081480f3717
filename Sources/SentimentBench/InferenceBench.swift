import Foundation
import SentimentCheckpoint
import SentimentTokenizers
import SentimentEngine

/// The inference benchmark of `sentimentd bench`: RoBERTa-base dimensions, random weights made in
/// process, shapes and padding as `shared/peers/bench_torch_infer.py` uses them.
public struct InferenceBench {
    public var quick = false
    /// Only the batch-1 latencies (bench/run-latency.sh alternates them with ONNX Runtime's).
    public var latencyOnly = false
    /// fp32: OpenBLAS + the AVX2 kernel over packed weights; int8: the quantized dense layers.
    public var precision: Precision = .fp32
    public var tweetsFile: URL?
    public var tokenizerFolder: URL?
    var print: (String) -> Void = { Swift.print($0); fflush(stdout) }

    public init() {}

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

    public func run() throws {
        let config = ModelConfig.robertaBase
        let t0 = BenchClock.now()
        // int8: each layer quantized as it is made and its fp32 matrices dropped, as an int8 load does, so the
        // peak RSS is the int8 model's.
        var quantizedLayers: [QuantizedEncoderLayer] = []
        var quantizing = 0.0
        let weights = RandomInit.weights(config: config, seed: 0) { layer in
            guard precision == .int8 else { return layer }
            let t = BenchClock.now()
            quantizedLayers.append(QuantizedEncoderLayer(layer))
            quantizing += BenchClock.now() - t
            return layer.droppingDenseWeights()
        }
        let initSeconds = BenchClock.now() - t0 - quantizing
        // Packed as the daemon loads the fp32 models it serves.
        let t1 = BenchClock.now()
        let packed = precision == .fp32 ? PackedEncoderLayer.packAll(weights.layers) : nil
        let quantized = precision == .int8 ? quantizedLayers : nil
        let preparing = precision == .int8 ? quantizing : BenchClock.now() - t1
        let encoder = TransformerEncoder(weights: weights, packed: packed, quantized: quantized)
        print(String(format: "model: roberta-base dims, %.2fM params, random init in %.1fs; OpenBLAS threads %d, workers %d",
                     Double(weights.parameterCount + (precision == .int8 ? Self.denseBytes(config) / 4 : 0)) / 1e6, initSeconds, BLAS.threads, Parallel.workers))
        if let quantized {
            let fp32 = Self.denseBytes(config)
            let int8 = quantized.reduce(0) { $0 + $1.byteCount }
            print(String(format: "dense layers: int8 (%@), %@ kernels, quantized in %.2f s: %.0f MiB = %.3fx their fp32 %.0f MiB%@",
                         Int8Scheme.standard.description, Int8KernelPath.active.rawValue, preparing, Double(int8) / 1_048_576,
                         Double(int8) / Double(fp32), Double(fp32) / 1_048_576,
                         Int8KernelPath.selection.note.map { " (\($0))" } ?? ""))
        } else {
            print(packed == nil ? "dense layers: OpenBLAS only (no AVX2 kernels on this CPU, or SENTIMENTD_KERNELS=openblas)"
                  : String(format: "dense layers: AVX2 kernel over packed weights up to %d rows, OpenBLAS above (packed in %.2f s, %.0f MiB)",
                           BLAS.packedRowsLimit, preparing, Self.packedMiB(packed!)))
        }
        var rng = SeededRandom(seed: 7)
        for l in [16, 32, 64, 128] {
            let ids = Self.batch(1, l, padded: false, rng: &rng)
            let r = BenchMeasure.time(n: quick ? 5 : 30, warmup: quick ? 1 : 5) { _ = encoder.logits(ids) }
            print(String(format: "latency b=1 s=%4d: median %8.2f ms  min %8.2f ms  (other_cores=%.2f)",
                         l, r.median * 1e3, r.min * 1e3, r.otherCores))
        }
        if latencyOnly { return }
        for (bs, l) in [(8, 64), (8, 128), (32, 64), (32, 128)] {
            let ids = Self.batch(bs, l, padded: true, rng: &rng)
            let real = ids.reduce(0) { $0 + $1.count }
            let r = BenchMeasure.time(n: quick ? 2 : (bs * l <= 1024 ? 10 : 5), warmup: 1) { _ = encoder.logits(ids) }
            print(String(format: "throughput b=%2d s=%4d (padded, %d of %d tokens real): median %9.1f ms/batch = %7.2f seq/s  (best %7.2f seq/s, other_cores=%.2f)",
                         bs, l, real, bs * l, r.median * 1e3, Double(bs) / r.median, Double(bs) / r.min, r.otherCores))
        }
        try endToEnd(weights: weights, packed: packed, quantized: quantized)
        print(String(format: "peak RSS: %.0f MiB", BenchMeasure.peakRSSMiB()))
    }

    /// fp32 bytes of the encoder blocks' dense weights (what int8 replaces).
    static func denseBytes(_ config: ModelConfig) -> Int {
        let c = config.hiddenSize, i = config.intermediateSize
        return config.numLayers * 4 * (3 * c * c + c * c + 2 * c * i)
    }

    static func packedMiB(_ layers: [PackedEncoderLayer]) -> Double {
        Double(layers.reduce(0) { $0 + $1.qkv.count + $1.attnOut.count + $1.ffnUp.count + $1.ffnDown.count }) * 4 / 1_048_576
    }

    /// `bench --gemm`: the four dense layers of RoBERTa-base at a range of row counts, OpenBLAS against the
    /// AVX2 kernel over packed weights. Each repetition walks the 12 layers' own weights, so they stream from
    /// memory as in a forward pass.
    public func runGemm() {
        let config = ModelConfig.robertaBase
        let weights = RandomInit.weights(config: config, seed: 0)
        guard let packed = PackedEncoderLayer.packAll(weights.layers) else {
            print("gemm: the AVX2 kernel does not run here (no AVX2/FMA, or SENTIMENTD_KERNELS=openblas)")
            return
        }
        let quantized = QuantizedEncoderLayer.quantizeAll(weights.layers)
        print("gemm: C = A·Wᵀ + bias over the 12 layers' weights, 2·m·n·k flops (or int8 ops) each; workers \(Parallel.workers); "
              + "int8 on \(Int8KernelPath.active.rawValue), activations quantized per call")
        var rng = SeededRandom(seed: 3)
        for m in [8, 16, 32, 64, 128, 256, 512] {
            for (name, pick, pickPacked, pickInt8) in [
                ("qkv      ", { (l: EncoderLayerParams) in l.qkv }, { (p: PackedEncoderLayer) in p.qkv }, { (q: QuantizedEncoderLayer) in q.qkv }),
                ("attn out ", { (l: EncoderLayerParams) in l.attnOut }, { (p: PackedEncoderLayer) in p.attnOut }, { (q: QuantizedEncoderLayer) in q.attnOut }),
                ("ffn up   ", { (l: EncoderLayerParams) in l.ffnUp }, { (p: PackedEncoderLayer) in p.ffnUp }, { (q: QuantizedEncoderLayer) in q.ffnUp }),
                ("ffn down ", { (l: EncoderLayerParams) in l.ffnDown }, { (p: PackedEncoderLayer) in p.ffnDown }, { (q: QuantizedEncoderLayer) in q.ffnDown }),
            ] {
                let first = pick(weights.layers[0])
                let (n, k) = (first.outFeatures, first.inFeatures)
                let a = FloatBuffer((0..<(m * k)).map { _ in rng.nextUniform() - 0.5 })
                let c = FloatBuffer(count: m * n)
                func pass(_ usePacked: Bool) {
                    for (li, layer) in weights.layers.enumerated() {
                        let l = pick(layer)
                        BLAS.linear(m: m, n: n, k: k, a: a.pointer, lda: k, w: l.weight.pointer,
                                    packed: usePacked ? pickPacked(packed[li]) : nil, bias: l.bias.pointer,
                                    c: c.pointer, ldc: n)
                    }
                }
                func int8Pass() {
                    for (li, layer) in weights.layers.enumerated() {
                        QuantizedLinear.forward(m: m, a: a.pointer, lda: k, weights: pickInt8(quantized[li]),
                                                bias: pick(layer).bias.pointer, c: c.pointer, ldc: n)
                    }
                }
                let reps = quick ? 3 : 10
                let blas = BenchMeasure.time(n: reps, warmup: 1) { pass(false) }
                let kernel = BenchMeasure.time(n: reps, warmup: 1) { pass(true) }
                let int8 = BenchMeasure.time(n: reps, warmup: 1) { int8Pass() }
                let layers = Double(weights.layers.count)
                let gflop = 2 * Double(m * n * k) * layers / 1e9
                print(String(format: "gemm m=%4d %@ n=%4d k=%4d: OpenBLAS %7.3f ms (%5.1f GFLOP/s)  packed %7.3f ms (%5.1f GFLOP/s)  int8 %7.3f ms (%6.1f GOP/s)  int8/best fp32 %.2f%@",
                             m, name, n, k, blas.min * 1e3 / layers, gflop / blas.min, kernel.min * 1e3 / layers, gflop / kernel.min,
                             int8.min * 1e3 / layers, gflop / int8.min, int8.min / min(blas.min, m <= BLAS.packedRowsLimit ? kernel.min : blas.min),
                             m <= BLAS.packedRowsLimit ? "" : "  (packed fp32 above the limit: OpenBLAS is used)"))
            }
        }
    }

    /// Tokenise + predict over real tweets, batch 32 in file order.
    func endToEnd(weights: EncoderWeights, packed: [PackedEncoderLayer]?, quantized: [QuantizedEncoderLayer]?) throws {
        guard let tweetsFile, let tokenizerFolder,
              FileManager.default.fileExists(atPath: tweetsFile.path) else {
            print("end-to-end: skipped (no tweets file; pass --tweets and --tokenizer)")
            return
        }
        let text = try String(contentsOf: tweetsFile, encoding: .utf8)
        let tweets = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
        let tokenizer = try TokenizerLoader.load(folder: tokenizerFolder, config: weights.config)
        let model = SentimentModel(config: weights.config, folder: tokenizerFolder, tokenizer: tokenizer, weights: weights,
                                   options: ModelLoadOptions(maxLength: 128, precision: precision), packed: packed,
                                   quantized: quantized)
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
