import Foundation
import SentimentEngine
import SentimentService

/// `sentimentd bench --accuracy --model DIR`: the model in fp32 and in int8 over the labelled tweets and the built-in
/// probe set (`PrecisionCheck`, what a version's int8 check runs), with the time each precision took.
public struct AccuracyBench {
    /// A model folder or a LoRA adapter folder (its base looked up beside it and in vendor-models/).
    public var modelFolder: URL
    /// One text per line, and one class index per line for each of them.
    public var tweetsFile: String
    public var labelsFile: String
    /// Another int8 scheme than `Int8Scheme.standard` (the experiment that chose it, bench/README.md).
    public var scheme: Int8Scheme?
    /// An adapter's low-rank path beside the quantized base in fp32 instead of merged before quantizing (the
    /// measurement behind merging, bench/README.md).
    public var loraUnmerged = false
    public var quick = false

    public init(modelFolder: URL, tweetsFile: String, labelsFile: String) {
        self.modelFolder = modelFolder
        self.tweetsFile = tweetsFile
        self.labelsFile = labelsFile
    }

    public func run() throws {
        let folder = modelFolder.standardizedFileURL
        let loader = ModelLoader(modelsDirectory: folder.deletingLastPathComponent(),
                                 baseDirectories: [URL(fileURLWithPath: "vendor-models").standardizedFileURL])
        let fp32 = try loader.load(folder, options: ModelLoadOptions(packWeights: true))
        let int8: SentimentModel
        var scheme = Int8Scheme.standard
        if loraUnmerged {
            guard let lora = fp32.encoder.lora else { throw AccuracyBenchError.notAnAdapter(folder: folder.path) }
            int8 = SentimentModel(config: fp32.config, folder: fp32.folder, tokenizer: fp32.tokenizer, weights: fp32.encoder.weights,
                                  options: ModelLoadOptions(maxLength: fp32.maxLength, precision: .int8), lora: lora,
                                  quantized: QuantizedEncoderLayer.quantizeAll(fp32.encoder.weights.layers))
            print("int8: the base's dense layers quantized, the adapter's low-rank path beside them in fp32 (not merged)")
        } else if let other = self.scheme {
            scheme = other
            let quantized = QuantizedEncoderLayer.quantizeAll(fp32.encoder.weights.layers, scheme: scheme)
            int8 = SentimentModel(config: fp32.config, folder: fp32.folder, tokenizer: fp32.tokenizer, weights: fp32.encoder.weights,
                                  options: ModelLoadOptions(maxLength: fp32.maxLength, precision: .int8),
                                  lora: fp32.encoder.lora, quantized: quantized)
        } else {
            int8 = try loader.load(folder, options: ModelLoadOptions(precision: .int8))
            if fp32.adapter != nil { print("int8: the adapter merged into the base's dense weights before quantizing (as served)") }
        }
        print("model \(folder.path): \(fp32.labels.joined(separator: "/")), int8 \(scheme) on \(Int8KernelPath.active.rawValue)")

        let textsFile = tweetsFile
        let texts = try String(contentsOfFile: textsFile, encoding: .utf8).split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        let classes = try String(contentsOfFile: labelsFile, encoding: .utf8).split(separator: "\n").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard classes.count == texts.count, classes.allSatisfy({ $0 != nil && (0..<fp32.labels.count).contains($0!) }) else {
            throw AccuracyBenchError.labelsDoNotMatch(labels: labelsFile, texts: textsFile, classes: fp32.labels.count)
        }
        for (name, set, known) in [("labelled tweets", texts, classes), ("probe set", ProbeTexts.all, [Int?](repeating: nil, count: ProbeTexts.all.count))] {
            let c = try PrecisionCheck.compare(fp32: fp32, int8: int8, texts: set, labels: known)
            print(String(format: "%@: %d texts, agreement %.2f %%, max probability difference %.3f", name, c.texts, 100 * c.agreement,
                         c.maxProbabilityDifference))
            if let f = c.fp32, let q = c.int8 {
                for (precision, m) in [("fp32", f), ("int8", q)] {
                    print(String(format: "  %@: accuracy %.4f  macro-F1 %.4f  macro-recall %.4f", precision, m.accuracy, m.macroF1, m.macroRecall))
                }
                print(String(format: "  macro-F1 drop %.2f points, macro-recall drop %.2f points", 100 * (f.macroF1 - q.macroF1),
                             100 * (f.macroRecall - q.macroRecall)))
            }
        }
        for (precision, m) in [("fp32", fp32), ("int8", int8)] {
            let encoded = texts.map(m.encode)
            let r = BenchMeasure.time(n: quick ? 1 : 3, warmup: 1) {
                var i = 0
                while i < encoded.count {
                    _ = m.predict(encoded: Array(encoded[i..<min(i + 32, encoded.count)]))
                    i += 32
                }
            }
            print(String(format: "%@: %d texts in batches of 32: %.2f s = %.1f texts/s (other_cores=%.2f)", precision, encoded.count,
                         r.median, Double(encoded.count) / r.median, r.otherCores))
        }
        print(String(format: "peak RSS: %.0f MiB", BenchMeasure.peakRSSMiB()))
    }
}

/// What stops `bench --accuracy` once its options are understood.
public enum AccuracyBenchError: Error, CustomStringConvertible {
    case notAnAdapter(folder: String)
    case labelsDoNotMatch(labels: String, texts: String, classes: Int)

    public var description: String {
        switch self {
        case let .notAnAdapter(folder): return "--lora-unmerged needs a LoRA adapter folder as --model; \(folder) is a full model"
        case let .labelsDoNotMatch(labels, texts, classes):
            return "\(labels) must hold one class index (0..<\(classes)) per text of \(texts)"
        }
    }
}
