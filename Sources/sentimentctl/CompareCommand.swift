import ArgumentParser
import Foundation
import SentimentProtocol

struct CompareCommand: ParsableCommand {
    static let batchSize = 64

    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Classify the same texts with two model versions, side by side (the guide's test_model).",
        discussion: """
        Both versions must be loaded by the daemon (`sentimentctl models`). By default B is the active version \
        and A the one that was active before it (the most recently activated other version) — after a run \
        published a new model, that compares the new model with the old one.

        Per text: each version's label and its confidence (the probability of that label), and CHANGE, how much \
        more (or less) probability B gives its label than A gave that same label; "*" marks texts the two \
        label differently. The summary gives the agreement rate and the mean CHANGE.

        Texts come from the arguments, or one per line from --file, or from standard input with "-".
        """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .customLong("a"), help: ArgumentHelp("Version A (default: the version active before B).", valueName: "version"))
    var versionA: String?

    @Option(name: .customLong("b"), help: ArgumentHelp("Version B (default: the active version).", valueName: "version"))
    var versionB: String?

    @Option(name: .long, help: ArgumentHelp("Read texts from this file, one per line (\"-\" for standard input).",
                                            valueName: "file"), completion: .file())
    var file: String?

    @Argument(help: ArgumentHelp("Texts to classify, or \"-\" to read them from standard input.", valueName: "text"))
    var texts: [String] = []

    func validate() throws {
        if file != nil && !texts.isEmpty { throw ValidationError("give texts as arguments or with --file, not both") }
        if file == nil && texts.isEmpty {
            throw ValidationError("nothing to compare: give texts, --file FILE, or - for standard input")
        }
        if let versionA, versionA == versionB { throw ValidationError("--a and --b name the same version") }
    }

    func run() throws {
        let inputs = try readInputs()
        guard !inputs.isEmpty else { throw CtlFailure.usage("the input has no non-empty lines") }
        let client = try connection.connect()
        defer { client.close() }
        do {
            let (a, b) = try versions(client)
            let resultsA = try predict(inputs, model: a, client: client)
            let resultsB = try predict(inputs, model: b, client: client)
            let report = CompareReport(texts: inputs, a: resultsA, b: resultsB)
            if output.json { try printJSON(report); return }
            print(report.render())
        } catch {
            throw CtlFailure.from(error)
        }
    }

    /// A and B, with the defaults filled in from status and models.list.
    private func versions(_ client: UnixSocketClient) throws -> (String, String) {
        var b = versionB
        if b == nil {
            let status = try client.call(StatusMethod.self, NoParams())
            guard let active = status.activeModel else {
                throw CtlFailure.usage("no model is active, so there is no default for B: give --b VERSION (see `sentimentctl models`)")
            }
            b = active
        }
        guard let b else { preconditionFailure() }
        if let a = versionA {
            guard a != b else { throw CtlFailure.usage("A and B are both \(b) (the active version): give another --a or a --b") }
            return (a, b)
        }
        let models = try client.call(ModelsListMethod.self, NoParams())
        let previous = models.models
            .filter { $0.version != b && $0.lastActivatedAt != nil }
            .max { $0.lastActivatedAt! < $1.lastActivatedAt! }
        guard let previous else {
            throw CtlFailure.usage("no version other than \(b) has ever been active, so there is no default for A: "
                + "give --a VERSION (see `sentimentctl models`)")
        }
        return (previous.version, b)
    }

    private func predict(_ texts: [String], model: String, client: UnixSocketClient) throws -> PredictMethod.Result {
        var merged: PredictMethod.Result?
        var start = 0
        while start < texts.count {
            let chunk = Array(texts[start..<min(start + Self.batchSize, texts.count)])
            let result = try client.call(PredictMethod.self, .init(texts: chunk, model: model))
            guard result.predictions.count == chunk.count else {
                throw CtlFailure.broken("the daemon answered \(result.predictions.count) predictions for \(chunk.count) texts")
            }
            if merged == nil { merged = result } else { merged!.predictions += result.predictions }
            start += chunk.count
        }
        return merged!
    }

    private func readInputs() throws -> [String] { try readTextInputs(file: file, texts: texts) }
}

/// Both versions' answers for the same texts; what `compare --json` prints.
struct CompareReport: Encodable {
    struct Side: Encodable {
        var label: String
        var confidence: Float
        var probabilities: [Float]
    }

    struct Row: Encodable {
        var text: String
        var a: Side
        var b: Side
        var agree: Bool
        /// P_B(B's label) - P_A(B's label); nil when A does not know B's label.
        var confidenceChange: Float?

        enum CodingKeys: String, CodingKey {
            case text, a, b, agree
            case confidenceChange = "confidence_change"
        }
    }

    var a: String
    var b: String
    var labelsA: [String]
    var labelsB: [String]
    var rows: [Row]
    var agreement: Double
    var meanConfidenceChange: Double?

    enum CodingKeys: String, CodingKey {
        case a, b
        case labelsA = "labels_a"
        case labelsB = "labels_b"
        case rows, agreement
        case meanConfidenceChange = "mean_confidence_change"
    }

    init(texts: [String], a resultA: PredictMethod.Result, b resultB: PredictMethod.Result) {
        a = resultA.model
        b = resultB.model
        labelsA = resultA.labels
        labelsB = resultB.labels
        rows = zip(texts, zip(resultA.predictions, resultB.predictions)).map { text, pair in
            let (pa, pb) = pair
            func side(_ p: PredictMethod.Prediction) -> Side {
                Side(label: p.label, confidence: p.labelIndex < p.probabilities.count ? p.probabilities[p.labelIndex] : 0,
                     probabilities: p.probabilities)
            }
            let sa = side(pa), sb = side(pb)
            var change: Float?
            if let i = resultA.labels.firstIndex(of: pb.label), i < pa.probabilities.count {
                change = sb.confidence - pa.probabilities[i]
            }
            return Row(text: text, a: sa, b: sb, agree: pa.label == pb.label, confidenceChange: change)
        }
        agreement = rows.isEmpty ? 0 : Double(rows.filter(\.agree).count) / Double(rows.count)
        let changes = rows.compactMap(\.confidenceChange).map(Double.init)
        meanConfidenceChange = changes.isEmpty ? nil : changes.reduce(0, +) / Double(changes.count)
    }

    func render() -> String {
        var table = TextTable(["", "A LABEL", "A CONF", "B LABEL", "B CONF", "CHANGE", "TEXT"], rightAligned: [2, 4, 5])
        for r in rows {
            table.add([r.agree ? "" : "*", r.a.label, Show.score(Double(r.a.confidence)), r.b.label,
                       Show.score(Double(r.b.confidence)), Show.change(r.confidenceChange.map(Double.init)), Show.text(r.text)])
        }
        var out = ["A = \(a), B = \(b)"]
        if labelsA != labelsB {
            out.append("note: the versions name their labels differently (A: \(labelsA.joined(separator: ", ")); "
                + "B: \(labelsB.joined(separator: ", "))); CHANGE is shown where A has B's label")
        }
        out.append(table.render())
        let agreeing = rows.filter(\.agree).count
        var summary = "agreement: \(Show.percent(agreement)) (\(agreeing) of \(rows.count) texts)"
        if let mean = meanConfidenceChange {
            let up = rows.filter { ($0.confidenceChange ?? 0) > 0 }.count
            let down = rows.filter { ($0.confidenceChange ?? 0) < 0 }.count
            summary += "; mean confidence change of B's label: \(Show.change(mean)) (B more confident on \(up), less on \(down))"
        }
        out.append(summary)
        return out.joined(separator: "\n")
    }
}
