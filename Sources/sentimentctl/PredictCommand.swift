import ArgumentParser
import Foundation
import SentimentProtocol

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify texts.",
        discussion: """
        Texts come from the arguments, or one per line from --file, or from standard input when the only
        argument is "-". Empty lines are skipped. Large inputs are sent in requests of --batch-size texts.
        """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: ArgumentHelp("Read texts from this file, one per line (\"-\" for standard input).",
                                            valueName: "file"), completion: .file())
    var file: String?

    @Option(name: .long, help: ArgumentHelp("Ask this loaded version instead of the active one.", valueName: "version"))
    var model: String?

    @Option(name: .long, help: ArgumentHelp("Texts per request.", valueName: "n"))
    var batchSize: Int = 64

    @Argument(help: ArgumentHelp("Texts to classify, or \"-\" to read them from standard input.", valueName: "text"))
    var texts: [String] = []

    func validate() throws {
        if file != nil && !texts.isEmpty {
            throw ValidationError("give texts as arguments or with --file, not both")
        }
        if file == nil && texts.isEmpty {
            throw ValidationError("nothing to classify: give texts, --file FILE, or - for standard input")
        }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() throws {
        let inputs = try readInputs()
        guard !inputs.isEmpty else { throw CtlFailure.usage("the input has no non-empty lines") }
        let client = try connection.connect()
        defer { client.close() }
        var merged: PredictMethod.Result?
        var start = 0
        while start < inputs.count {
            let chunk = Array(inputs[start..<min(start + batchSize, inputs.count)])
            let result = try client.checkedCall(PredictMethod.self, .init(texts: chunk, model: model))
            if output.json {
                if merged == nil { merged = result } else { merged!.predictions += result.predictions }
            } else {
                printTable(result, texts: chunk, header: start == 0)
            }
            start += chunk.count
        }
        if output.json, let merged { try printJSON(merged) }
    }

    private func readInputs() throws -> [String] { try readTextInputs(file: file, texts: texts) }

    private func printTable(_ result: PredictMethod.Result, texts: [String], header: Bool) {
        let labelWidth = max(5, result.labels.map(\.count).max() ?? 5)
        let columns = result.labels.map { String($0.prefix(8)) }
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        var out = ""
        if header {
            out += pad("LABEL", labelWidth) + "  " + columns.map { pad($0.uppercased(), 8) }.joined(separator: " ") + " TEXT\n"
        }
        for (p, text) in zip(result.predictions, texts) {
            let probs = p.probabilities.map { pad(String(format: "%.4f", $0), 8) }.joined(separator: " ")
            let shown = text.replacingOccurrences(of: "\t", with: " ")
            out += pad(p.label, labelWidth) + "  " + probs + " " + shown + (p.truncated ? " [truncated]" : "") + "\n"
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}
