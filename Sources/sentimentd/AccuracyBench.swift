import ArgumentParser
import Foundation
import SentimentEngine
import SentimentService

extension BenchCommand {
    /// `bench --accuracy --model DIR`: the model in fp32 and in int8 over the labelled tweets and the built-in
    /// probe set (`PrecisionCheck`, what a version's int8 check runs), with the time each precision took.
    func runAccuracy() throws {
        guard let model else { throw ValidationError("--accuracy needs --model DIR (a model folder or a LoRA adapter folder)") }
        let folder = URL(fileURLWithPath: model).standardizedFileURL
        let loader = ModelLoader(modelsDirectory: folder.deletingLastPathComponent(),
                                 baseDirectories: [URL(fileURLWithPath: "vendor-models").standardizedFileURL])
        let fp32 = try loader.load(folder, options: ModelLoadOptions(packWeights: true))
        let int8: SentimentModel
        var scheme = Int8Scheme.standard
        if loraUnmerged {
            guard let lora = fp32.encoder.lora else { throw ValidationError("--lora-unmerged needs a LoRA adapter folder as --model") }
            int8 = SentimentModel(config: fp32.config, folder: fp32.folder, tokenizer: fp32.tokenizer, weights: fp32.encoder.weights,
                                  options: ModelLoadOptions(maxLength: fp32.maxLength, precision: .int8), lora: lora,
                                  quantized: QuantizedEncoderLayer.quantizeAll(fp32.encoder.weights.layers))
            print("int8: the base's dense layers quantized, the adapter's low-rank path beside them in fp32 (not merged)")
        } else if let int8Scheme {
            let parts = int8Scheme.split(separator: ":").compactMap { Int($0) }
            guard parts.count == 2, (1...127).contains(parts[0]), (1...255).contains(parts[1]) else {
                throw ValidationError("--int8-scheme takes WEIGHT_MAX:ACTIVATION_LEVELS, e.g. 127:255")
            }
            scheme = Int8Scheme(weightMax: parts[0], activationLevels: parts[1])
            if !scheme.isExactOnAVX2 && Int8KernelPath.active == .avx2 {
                throw ValidationError("the AVX2 path cannot sum \(scheme) exactly: set SENTIMENTD_INT8_KERNELS=portable")
            }
            let quantized = QuantizedEncoderLayer.quantizeAll(fp32.encoder.weights.layers, scheme: scheme)
            int8 = SentimentModel(config: fp32.config, folder: fp32.folder, tokenizer: fp32.tokenizer, weights: fp32.encoder.weights,
                                  options: ModelLoadOptions(maxLength: fp32.maxLength, precision: .int8),
                                  lora: fp32.encoder.lora, quantized: quantized)
        } else {
            int8 = try loader.load(folder, options: ModelLoadOptions(precision: .int8))
            if fp32.adapter != nil { print("int8: the adapter merged into the base's dense weights before quantizing (as served)") }
        }
        print("model \(folder.path): \(fp32.labels.joined(separator: "/")), int8 \(scheme) on \(Int8KernelPath.active.rawValue)")

        guard let textsFile = tweets, let labelsFile = labels else {
            throw ValidationError("--accuracy needs --tweets FILE (one text per line) and --labels FILE (one class index "
                + "per line, e.g. TweetEval's val_text.txt and val_labels.txt; bench/run-int8.sh passes them)")
        }
        let texts = try String(contentsOfFile: textsFile, encoding: .utf8).split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        let classes = try String(contentsOfFile: labelsFile, encoding: .utf8).split(separator: "\n").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard classes.count == texts.count, classes.allSatisfy({ $0 != nil && (0..<fp32.labels.count).contains($0!) }) else {
            throw ValidationError("\(labelsFile) must hold one class index (0..<\(fp32.labels.count)) per text of \(textsFile)")
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
