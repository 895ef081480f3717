import ArgumentParser
import Foundation
import SentimentEngine
import SentimentService
import SentimentCore

/// `sentimentd predict --model DIR "text" …`: classify texts in-process, no daemon needed.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify texts with a model folder, in this process (no daemon).",
        discussion: """
        Texts come from the arguments, or one per line on standard input when none are given (or "-").
        Prints each text's label and every label's probability; --json prints one JSON object per text:
        {"text": …, "label": …, "scores": {label: probability, …}}.
        """)

    @Option(name: .long, help: "A Hugging Face model folder (config.json, weights, tokenizer files). Default: $SENTIMENT_MODEL.")
    var model: String?

    @Flag(name: .long, help: "One JSON object per line instead of a table.")
    var json = false

    @Option(name: .long, help: "Longest token sequence (specials included); longer texts are truncated. Default: the model's limit, at most 512.")
    var maxLength: Int?

    @Option(name: .long, help: "Tweet normalisation (@name -> @user, http… -> http): auto (on for RoBERTa), on, off.")
    var normalize: NormalizeMode = .auto

    @Option(name: .long, help: "Texts per forward pass.")
    var batchSize: Int = 32

    @Option(name: .long, help: "Dense layers in fp32 or int8 (int8: quantized at load; see README \"int8 inference\").")
    var precision: Precision = .fp32

    @Option(name: .customLong("base-directory"),
            help: ArgumentHelp("Where a LoRA adapter's base is looked up (repeatable). Default: vendor-models and the adapter's parent folder.",
                               valueName: "dir"))
    var baseDirectories: [String] = []

    @Argument(help: "Texts to classify; none or \"-\" reads one text per line from standard input.")
    var texts: [String] = []

    enum NormalizeMode: String, ExpressibleByArgument, CaseIterable { case auto, on, off }

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if let m = maxLength, m < 2 { throw ValidationError("--max-length must be at least 2 (room for the special tokens)") }
    }

    func run() throws {
        guard let path = model ?? ProcessInfo.processInfo.environment["SENTIMENT_MODEL"], !path.isEmpty else {
            throw ValidationError("no model: pass --model DIR or set SENTIMENT_MODEL")
        }
        // Unpacked: a one-shot process would spend longer packing the weights (~0.2 s for RoBERTa-base) than the
        // few-row kernel saves, and batches of 32 texts run on OpenBLAS anyway.
        let options = ModelLoadOptions(normalizeTweets: normalize == .auto ? nil : normalize == .on, maxLength: maxLength,
                                       packWeights: false, precision: precision)
        let loaded: SentimentModel
        do {
            let folder = URL(fileURLWithPath: path).standardizedFileURL
            let bases = baseDirectories.isEmpty ? ["vendor-models"] : baseDirectories
            let loader = ModelLoader(modelsDirectory: folder.deletingLastPathComponent(),
                                     baseDirectories: bases.map { URL(fileURLWithPath: $0).standardizedFileURL })
            loaded = try loader.load(folder, options: options)
            // As the daemon does before it serves a version: a NaN or infinite weight anywhere refuses the folder.
            try loaded.requireFiniteWeights()
        } catch {
            throw CommandFailure("cannot load model: \(error)")
        }
        let inputs = (texts.isEmpty || texts == ["-"]) ? try readLines() : texts
        var start = 0
        while start < inputs.count {
            let chunk = Array(inputs[start..<min(start + batchSize, inputs.count)])
            for (i, (text, p)) in zip(chunk, loaded.predict(chunk)).enumerated() {
                // Non-finite probabilities are never printed as an answer.
                guard p.probabilities.allSatisfy(\.isFinite) else {
                    throw CommandFailure("text \(start + i + 1) (\"\(text.prefix(40))\"): the model gave a non-finite probability "
                        + "(\(p.probabilities)); no answer is printed for it or after it")
                }
                emit(text: text, prediction: p, labels: loaded.labels)
            }
            start += batchSize
        }
    }

    func emit(text: String, prediction p: Prediction, labels: [String]) {
        if json {
            var scores: [String: JSONValue] = [:]
            for (i, l) in labels.enumerated() { scores[l] = .number(Double(p.probabilities[i])) }
            let obj: JSONValue = .object(["text": .string(text), "label": .string(p.label), "scores": .object(scores)])
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: (try? enc.encode(obj)) ?? Data(), as: UTF8.self))
        } else {
            let scores = labels.enumerated().map { String(format: "%@=%.4f", $0.element, p.probabilities[$0.offset]) }
                .joined(separator: " ")
            print("\(p.label.padding(toLength: 9, withPad: " ", startingAt: 0)) \(scores)  \(text)")
        }
    }

    /// Standard input, one text per line. Invalid UTF-8 is an error naming the line, never replaced.
    func readLines() throws -> [String] {
        let data = FileHandle.standardInput.readDataToEndOfFile()
        var lines: [String] = []
        var number = 0
        for raw in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            var bytes = Array(raw)
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
            guard let line = String(validating: bytes, as: UTF8.self) else {
                throw CommandFailure("standard input line \(number) is not valid UTF-8")
            }
            lines.append(line)
        }
        if lines.last == "" { lines.removeLast() }
        return lines
    }
}

/// A failure with a message for the user; exit code 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
