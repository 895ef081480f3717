import ArgumentParser
import Foundation
import SentimentProtocol
import SentimentCore

struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List fine-tuning runs, or show one (`runs show N`).",
        subcommands: [RunsListCommand.self, RunsShowCommand.self],
        defaultSubcommand: RunsListCommand.self
    )
}

struct RunsListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List fine-tuning runs, newest first (runs.list).",
        discussion: """
        STATUS is queued, running, published, rejected (by the promotion gate), failed or cancelled. The F1 \
        columns are macro-F1 on the frozen eval split of the model that was serving (champion) and of the run's \
        model (candidate); DECISION is the gate's.
        """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: ArgumentHelp("Show at most this many runs (default: the daemon's).", valueName: "n"))
    var limit: Int?

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        try output.show(RunsListMethod.self, .init(limit: limit), via: connection) { result in
            guard !result.runs.isEmpty else {
                print("no runs yet: one starts when enough new labels arrived, or with `sentimentctl train`")
                return
            }
            var table = TextTable(["ID", "STATUS", "TRIGGER", "STARTED", "DURATION", "METHOD", "EXAMPLES",
                                   "CHAMPION F1", "CANDIDATE F1", "DECISION"], rightAligned: [0, 6, 7, 8])
            for r in result.runs {
                table.add([String(r.id), r.status, r.trigger, Show.time(r.startedAt ?? r.createdAt),
                           Show.duration(from: r.startedAt, to: r.finishedAt), r.method, Show.count(r.trainExamples),
                           Show.score(r.championF1), Show.score(r.candidateF1), r.decision ?? "-"])
            }
            print(table.render())
        }
    }
}

struct RunsShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one run: hyper-parameters, data, per-epoch metrics, both confusion matrices and the gate's decision (runs.show).",
        discussion: """
        --plot FILE.svg also writes the run as one self-contained SVG picture: the training loss by step with the \
        eval loss of each epoch, the eval metrics by epoch with the champion's and the candidate's macro-F1, and \
        the confusion matrices of both evaluations (open it in any browser; no TensorBoard needed).
        """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: ArgumentHelp("The run id, as `sentimentctl runs` lists it.", valueName: "id"))
    var id: Int64

    @Option(name: .long, help: ArgumentHelp("Also write the run's curves and confusion matrices as an SVG picture.",
                                            valueName: "file.svg"), completion: .file(extensions: ["svg"]))
    var plot: String?

    func run() throws {
        let detail = try connection.call(RunsShowMethod.self, .init(id: id))
        if let plot {
            do {
                try AtomicFile.write(Data(RunPlot(detail: detail).render().utf8), to: URL(fileURLWithPath: plot),
                                     permissions: 0o666)
            } catch {
                throw CtlFailure.usage("\(error)")
            }
            printError("run \(id) drawn in \(plot)")
        }
        if output.json { try printJSON(detail); return }
        print(RunReport(detail).render())
    }
}

/// The human account of one run, shared by `runs show` and the end of `train --follow`.
struct RunReport {
    let detail: RunDetail
    init(_ detail: RunDetail) { self.detail = detail }

    func render() -> String {
        let r = detail.run
        var out: [String] = []
        var head = "run \(r.id): \(r.status) (\(r.trigger)"
        head += r.startedAt.map { ", started \(Show.time($0))" } ?? ", created \(Show.time(r.createdAt))"
        if r.startedAt != nil { head += ", \(r.finishedAt == nil ? "running for" : "took") \(Show.duration(from: r.startedAt, to: r.finishedAt))" }
        out.append(head + ")")
        var facts: [(String, String)] = []
        facts.append(("base version", r.baseVersion ?? "-"))
        facts.append(("candidate", r.candidateVersion ?? "-"))
        facts.append(("method", r.method))
        facts.append(("recipe", recipeText(detail.recipe)))
        facts.append(("data", dataText(r)))
        if let fingerprint = detail.dataFingerprint { facts.append(("data fingerprint", fingerprint)) }
        if let authors = detail.labelAuthors { facts.append(("labelled by", authorsText(authors))) }
        if let labels = detail.labels { facts.append(("labels", labels.joined(separator: ", "))) }
        if !r.isFinished, let progress = RunProgress.line(r, totalEpochs: detail.recipe.epochs) {
            facts.append(("progress", progress))
        }
        let width = facts.map(\.0.count).max() ?? 0
        out += facts.map { "  " + $0.0 + ":" + String(repeating: " ", count: width - $0.0.count + 1) + $0.1 }

        if !detail.epochs.isEmpty {
            out.append("")
            out.append(epochTable())
        }
        if detail.champion != nil || detail.candidate != nil {
            out.append("")
            out.append(comparisonTable())
            for (who, version, metrics) in [("champion", r.baseVersion, detail.champion),
                                            ("candidate", r.candidateVersion, detail.candidate)] {
                guard let text = confusionText(who: who, version: version, metrics) else { continue }
                out.append("")
                out.append(text)
            }
        }
        out.append("")
        out.append(decisionText())
        return out.joined(separator: "\n")
    }

    private func recipeText(_ recipe: RunRecipe) -> String {
        var parts: [String] = []
        if let v = recipe.epochs { parts.append("epochs \(v)") }
        if let v = recipe.batchSize { parts.append("batch size \(v)") }
        if let v = recipe.learningRate { parts.append("learning rate \(Show.learningRate(v))") }
        if let v = recipe.maxLength { parts.append("max length \(v)") }
        if let v = recipe.warmupRatio { parts.append("warmup \(String(format: "%g", v))") }
        if let v = recipe.weightDecay { parts.append("weight decay \(String(format: "%g", v))") }
        if let v = recipe.replayRatio { parts.append("replay ratio \(String(format: "%g", v))") }
        if let v = recipe.seed { parts.append("seed \(v)") }
        return parts.isEmpty ? "the configured [training] recipe" : parts.joined(separator: ", ")
    }

    /// "uid 0 (root): 300, uid 1000 (alice): 20" — the training examples of each uid.
    private func authorsText(_ authors: [LabelAuthorship]) -> String {
        guard !authors.isEmpty else { return "-" }
        return authors.map { "uid \($0.uid)" + (Show.userName($0.uid).map { " (\($0))" } ?? "") + ": \($0.examples)" }
            .joined(separator: ", ")
    }

    private func dataText(_ r: RunSummary) -> String {
        var text = "\(Show.count(r.trainExamples)) training examples"
        if r.newExamples != nil || r.replayExamples != nil {
            text += " (\(Show.count(r.newExamples)) new, \(Show.count(r.replayExamples)) replayed)"
        }
        text += ", \(Show.count(r.evalExamples)) eval examples"
        return text
    }

    private var labelNames: [String] {
        if let labels = detail.labels { return labels }
        let count = detail.candidate?.f1.count ?? detail.champion?.f1.count ?? detail.epochs.last?.metrics?.f1.count ?? 0
        return (0..<count).map { "class \($0)" }
    }

    private func epochTable() -> String {
        let names = labelNames
        var table = TextTable(["EPOCH", "TRAIN LOSS", "EVAL LOSS", "ACCURACY", "MACRO F1"] + names.map { "F1 \($0)" },
                              rightAligned: Set(0..<(5 + names.count)))
        for e in detail.epochs {
            let m = e.metrics
            var row = [String(e.epoch), Show.score(e.trainLoss), Show.score(m?.loss), Show.score(m?.accuracy), Show.score(m?.macroF1)]
            row += names.indices.map { i in Show.score(m.flatMap { i < $0.f1.count ? $0.f1[i] : nil }) }
            table.add(row)
        }
        return table.render()
    }

    private func comparisonTable() -> String {
        let champion = detail.champion, candidate = detail.candidate
        // Each evaluated in the precision it serves in (models.precision, the version's int8 check).
        func header(_ name: String, _ m: EvalMetrics?) -> String { m?.precision.map { "\(name) (\($0))" } ?? name }
        var table = TextTable(["ON THE EVAL SPLIT", header("CHAMPION", champion), header("CANDIDATE", candidate), "CHANGE"],
                              rightAligned: [1, 2, 3])
        func row(_ name: String, _ pick: (EvalMetrics) -> Double?) {
            let a = champion.flatMap(pick), b = candidate.flatMap(pick)
            table.add([name, Show.score(a), Show.score(b), Show.change(a.flatMap { a in b.map { $0 - a } })])
        }
        row("macro F1") { $0.macroF1 }
        row("accuracy") { $0.accuracy }
        row("macro recall") { $0.macroRecall }
        row("macro precision") { $0.macroPrecision }
        for (i, name) in labelNames.enumerated() {
            row("F1 \(name)") { i < $0.f1.count ? $0.f1[i] : nil }
        }
        row("loss") { $0.loss }
        let examples = [champion?.examples, candidate?.examples].compactMap { $0 }
        var text = table.render()
        if let n = examples.first { text += "\n(\(n) eval examples)" }
        return text
    }

    /// One evaluation's confusion matrix on the eval split: rows are the true labels, columns the predicted ones.
    private func confusionText(who: String, version: String?, _ metrics: EvalMetrics?) -> String? {
        guard let metrics else { return nil }
        let heading = "confusion matrix of the \(who)\(version.map { " \($0)" } ?? "") on the eval split "
            + "(rows: true label, columns: predicted)"
        guard let matrix = metrics.confusion else { return heading + ": not recorded for this run" }
        let names = labelNames
        func name(_ i: Int) -> String { i < names.count ? names[i] : "class \(i)" }
        var table = TextTable(["  TRUE"] + matrix.indices.map(name) + ["TOTAL"],
                              rightAligned: Set(1...(matrix.count + 1)))
        for (i, row) in matrix.enumerated() {
            table.add(["  " + name(i)] + row.map(String.init) + [String(row.reduce(0, +))])
        }
        return heading + "\n" + table.render()
    }

    /// The gate's numbers: each reference, the difference and its bounds, and the rule they were held to.
    private func gateText(_ gate: GateReport) -> String {
        var table = TextTable(["GATE: COMPARED WITH", "VERSION", "ITS F1", "CANDIDATE F1", "DIFFERENCE",
                               "\(Show.percent(gate.confidence)) BOUNDS", "TEXTS DIFFER"],
                              rightAligned: [2, 3, 4, 6])
        for c in gate.comparisons {
            table.add([c.role, c.version, Show.score(c.referenceF1), Show.score(c.candidateF1), Show.change(c.difference),
                       "[\(Show.change(c.lowerBound)), \(Show.change(c.upperBound))]", String(c.discordant)])
        }
        return table.render() + "\n" + "rule: publish only if every lower bound >= -\(Show.score(gate.tolerance)) "
            + "(tolerance), on \(gate.examples) eval texts (at least \(gate.minExamples)); paired bootstrap of "
            + "\(gate.resamples) resamples, seed \(gate.seed); split \(gate.splitFingerprint.prefix(16))"
    }

    private func decisionText() -> String {
        let r = detail.run
        var lines: [String] = []
        let tolerance = detail.gateTolerance
        if let gate = detail.gate {
            lines.append(gateText(gate))
        } else if let champion = r.championF1 ?? detail.champion?.macroF1, let candidate = r.candidateF1 ?? detail.candidate?.macroF1 {
            var gate = "gate: candidate macro-F1 \(Show.score(candidate)) vs champion \(Show.score(champion))"
            if let tolerance {
                let bar = champion - tolerance
                gate += "; it must be at least \(Show.score(bar)) (champion - tolerance \(Show.score(tolerance)))"
            }
            lines.append(gate)
        } else if let tolerance {
            lines.append("gate tolerance: \(Show.score(tolerance)) of macro-F1")
        }
        switch (r.decision, r.isFinished) {
        case let (decision?, _):
            var text = "decision: \(decision)"
            if decision == "published", let version = r.candidateVersion { text += " as \(version)" }
            lines.append(text)
        case (nil, true): lines.append("decision: none (the run ended \(r.status) before the gate)")
        case (nil, false): lines.append("decision: pending (the run is \(r.status))")
        }
        if let reason = r.reason, !reason.isEmpty { lines.append("reason: \(reason)") }
        return lines.joined(separator: "\n")
    }
}

/// The one-line progress of a running run.
enum RunProgress {
    static func line(_ r: RunSummary, totalEpochs: Int?) -> String? {
        var parts: [String] = []
        if let step = r.step {
            if let total = r.totalSteps, total > 0 {
                parts.append("step \(step)/\(total) (\(step * 100 / total)%)")
            } else {
                parts.append("step \(step)")
            }
        }
        if let epoch = r.epoch { parts.append("epoch \(epoch)" + (totalEpochs.map { "/\($0)" } ?? "")) }
        if let loss = r.loss { parts.append("loss \(String(format: "%.4f", loss))") }
        if let lr = r.learningRate { parts.append("lr \(Show.learningRate(lr))") }
        if let rate = r.examplesPerSecond { parts.append(String(format: "%.1f ex/s", rate)) }
        if let eta = r.etaSeconds { parts.append("ETA \(formatDuration(eta))") }
        return parts.isEmpty ? nil : parts.joined(separator: "  ")
    }
}
