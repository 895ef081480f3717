import ArgumentParser
import Foundation
import SentimentProtocol
import SentimentCore

extension LabelFileFormat: ExpressibleByArgument {}
extension LabelSplitChoice: ExpressibleByArgument {}

/// `--split` of label and import.
struct SplitOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Where new texts go: auto (admins: by a hash of the text; labellers: the training split), train, or eval "
            + "(admin only).", valueName: "split"))
    var split: LabelSplitChoice?
}

extension LabelValue {
    /// A label as typed on the command line: digits are a class index, anything else a label name.
    init(argument: String) {
        let trimmed = argument.trimmingCharacters(in: .whitespaces)
        self = Int(trimmed).map { .index($0) } ?? .name(trimmed)
    }
}

// MARK: - label

struct LabelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label",
        abstract: "Label one text (labels.add).",
        discussion: """
        The label is a name the active model knows (negative, neutral, positive, ...) or a class index (0, 1, 2). \
        A text labelled before gets the new label (the change is recorded). Needs the labeller role. An admin's \
        new text is assigned once, by a hash of its normalised text, to the training split or to the frozen \
        evaluation split; a labeller's goes to the training split, and a labeller may not relabel a text of the \
        evaluation split (unless the daemon's configuration trusts labellers).
        """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: ArgumentHelp("The text.", valueName: "text"))
    var text: String

    @Option(name: .customLong("as"), help: ArgumentHelp("Its label: a name or a class index.", valueName: "label"))
    var label: String

    @OptionGroup var split: SplitOption

    func validate() throws {
        guard !label.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--as needs a label") }
    }

    func run() throws {
        let value = LabelValue(argument: label)
        try output.show(LabelsAddMethod.self, .init(items: [LabelItem(text: text, label: value)], split: split.split),
                        via: connection) { result in
            let split = result.evalSplit > 0 ? "frozen eval split" : "train split"
            let shown = "\"\(Show.text(text))\""
            if result.added > 0 {
                print("added: \(shown) as \(Show.label(value)) (\(split))")
            } else if result.updated > 0 {
                print("updated: \(shown) is now \(Show.label(value)) (\(split))")
            } else if result.unchanged > 0 {
                print("unchanged: \(shown) already had the label \(Show.label(value))")
            } else {
                // Not expected without skip_invalid (a bad item is an error), but say what the daemon answered.
                let reasons = result.rejected.map(\.reason).joined(separator: "; ")
                throw CtlFailure.broken("the daemon applied nothing and gave no error" + (reasons.isEmpty ? "" : ": \(reasons)"))
            }
        }
    }
}

// MARK: - import

struct ImportCommand: ParsableCommand {
    /// Problems shown before "and N more".
    static let shownProblems = 20
    /// Upper bound of one chunk's request line: half the daemon's default request_line_bytes (the daemon does
    /// not say its own), so that a chunk of long texts is split before the daemon would discard it.
    static let maxChunkBytes = RPCFraming.defaultMaxLineBytes / 2

    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a file of labelled texts (JSONL, JSON, CSV or a TweetEval pair).",
        discussion: """
        Formats (from the file name unless --format is given):
          jsonl      *.jsonl: one {"text": ..., "label": ...} object per line;
                     blank lines are skipped
          json       *.json: the guide's custom_data.json, a JSON array of
                     {"text": ..., "label": ...} objects
          csv        *.csv: a header row naming the columns text and label (any
                     case, any order, other columns ignored); RFC 4180 quoting,
                     so a text may hold commas, "" for a quote, and line breaks
          tweeteval  X_text.txt + X_labels.txt (name either): one text per line,
                     and its class index on the same line of the labels file
        A label is a name (positive) or a class index (2). Files must be UTF-8 (a \
        byte order mark is fine). Problems are reported by line: for JSON the line \
        where the object starts, for CSV the line where the record starts.

        The file is read here and sent in chunks (labels.import.begin, .chunk, .commit); the daemon never opens \
        it, and nothing is applied before the commit, so an import is all or nothing.

        Bad lines: a line that cannot be parsed (not JSON, a missing field, a CSV record with the wrong number \
        of fields, a TweetEval label that is not an integer) is listed with its line number and nothing is sent \
        (exit 2). With --skip-invalid the other lines are imported and the bad ones are recorded with the \
        import as rejected. The daemon checks the rest (unknown labels, empty or too long texts) the same way: \
        without --skip-invalid one bad item rejects the whole import (exit 1, every problem listed); with it \
        the bad items are skipped and listed in the summary.

        A text given different labels within the file is reported as a conflict; the last label wins. Ctrl-C \
        stops after the current chunk and aborts the import (nothing is applied).

        Needs the labeller role. A labeller's new texts go to the training split and its lines whose text is in \
        the frozen evaluation split are rejected like bad lines; an admin's new texts are split by hash, or all \
        go where --split says. The daemon limits an import's items and bytes (labels.max_import_items, \
        max_import_bytes), the imports one uid may have open, and abandons an import idle for longer than \
        labels.import_idle_timeout_seconds.
        """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: ArgumentHelp("The label file (for TweetEval either file of the pair).", valueName: "file"),
              completion: .file())
    var file: String

    @Option(name: .long, help: ArgumentHelp("The file format, when its name does not say.", valueName: "format"))
    var format: LabelFileFormat?

    @Flag(name: .long, help: "Import the valid lines and report the others, instead of importing nothing.")
    var skipInvalid = false

    @OptionGroup var split: SplitOption

    @Option(name: .long, help: ArgumentHelp("Items per request (at most the daemon's max_chunk_items, the default).",
                                            valueName: "n"))
    var chunk: Int?

    func validate() throws {
        if let chunk, chunk < 1 { throw ValidationError("--chunk must be at least 1") }
    }

    func run() throws {
        let parsed: LabelFile
        do {
            parsed = try LabelFile.read(path: file, format: format)
        } catch let error as LabelFileError {
            throw CtlFailure.labelFile(error)
        }
        let name = parsed.paths.map { ($0 as NSString).lastPathComponent }.joined(separator: " + ")
        if !parsed.problems.isEmpty && !skipInvalid {
            if output.json {
                try printJSON(LocalProblems(file: parsed.paths, problems: parsed.problems, count: parsed.problems.count, sent: false))
            } else {
                printProblems(parsed.problems, total: parsed.problems.count, heading: "\(name): \(parsed.problems.count) line(s) cannot be imported:")
            }
            throw CtlFailure.usage("nothing was sent to the daemon: fix the line(s) above, or pass --skip-invalid to import the other \(parsed.items.count)")
        }
        guard !parsed.items.isEmpty else {
            let why = parsed.problems.isEmpty ? "it holds no labelled items" : "none of its \(parsed.problems.count) item line(s) can be parsed"
            throw CtlFailure.usage("nothing to import from \(name): \(why)")
        }

        let client = try connection.connect()
        defer { client.close() }
        let interrupt = InterruptRequest(message: "stopping after the current chunk; the import will be aborted")
        defer { interrupt.cancel() }
        let progress = StatusLine()
        var importID: Int64?
        do {
            let source = parsed.paths.map { URL(fileURLWithPath: $0).standardizedFileURL.path }.joined(separator: " + ")
            let begun = try client.call(LabelsImportBeginMethod.self, .init(source: source, format: parsed.format,
                                                                            skipInvalid: skipInvalid ? true : nil,
                                                                            split: split.split))
            importID = begun.importID
            let perChunk = max(1, min(chunk ?? begun.maxChunkItems, begun.maxChunkItems))
            let chunks = LabelImportChunk.plan(items: parsed.items, problems: skipInvalid ? parsed.problems : [],
                                               maxItems: perChunk,
                                               maxBytes: begun.maxRequestBytes.map { max(4096, $0 - 4096) } ?? Self.maxChunkBytes)
            var sent = 0
            for piece in chunks {
                if interrupt.requested { throw Interrupted() }
                progress.draw("importing \(name): \(sent)/\(parsed.items.count) items (\(sent * 100 / parsed.items.count)%)")
                _ = try client.call(LabelsImportChunkMethod.self, .init(importID: begun.importID, items: piece.items,
                                                                        problems: piece.problems.isEmpty ? nil : piece.problems))
                sent += piece.items.count
            }
            if interrupt.requested { throw Interrupted() }
            progress.draw("importing \(name): \(sent)/\(parsed.items.count) items sent; committing", force: true)
            let committed = try client.call(LabelsImportCommitMethod.self, .init(importID: begun.importID))
            importID = nil
            progress.clear()
            if output.json { try printJSON(committed); return }
            printSummary(committed, name: name, sent: sent)
        } catch {
            progress.clear()
            let failure = error is Interrupted ? nil : CtlFailure.from(error)
            guard var failure else {
                if let id = importID { abort(id, client: client) }
                printError("sentimentctl: interrupted")
                throw ExitCode(130)
            }
            if case var .daemon(rpc) = failure, rpc.knownCode == .labelsRejected, let problems = rpc.data?.problems,
               !problems.isEmpty {
                // Every item the daemon named (it names at most 100), instead of the five its message holds.
                printProblems(problems, total: problems.count, limit: .max, heading: "\(name): the daemon rejected these items:")
                let listed = problems.count >= 100 ? "the first \(problems.count) problems are listed above"
                                                   : "\(problems.count) problem(s) listed above"
                rpc.message = "the import was rejected and nothing was applied: \(listed); fix them, "
                    + "or pass --skip-invalid to import the rest"
                failure = .daemon(rpc)
            }
            if let id = importID { abort(id, client: client) }
            throw failure
        }
    }

    private struct Interrupted: Error {}

    /// Best effort, on a fresh connection if this one broke: an uncommitted import is never applied, and aborting
    /// lets the daemon drop what it staged at once. Says what happened either way.
    private func abort(_ id: Int64, client: UnixSocketClient) {
        func attempt(_ client: UnixSocketClient) throws -> LabelsImportAbortMethod.Result {
            try client.call(LabelsImportAbortMethod.self, .init(importID: id))
        }
        do {
            let result: LabelsImportAbortMethod.Result
            do {
                result = try attempt(client)
            } catch is ClientConnectionError {
                let fresh = try connection.connect()
                defer { fresh.close() }
                result = try attempt(fresh)
            }
            printError(result.aborted ? "import \(id) aborted: nothing of it was applied"
                                      : "import \(id) was no longer open: nothing of it was applied")
        } catch {
            printError("could not abort import \(id) (\(CtlFailure.from(error).message)); "
                + "an uncommitted import is never applied, `sentimentctl labels stats` shows what the daemon holds")
        }
    }

    private func printProblems(_ problems: [LabelProblem], total: Int, limit: Int = shownProblems, heading: String) {
        var lines = [heading]
        for p in problems.prefix(limit) { lines.append("  line \(p.line): \(p.reason)") }
        if total > min(limit, problems.count) { lines.append("  ... and \(total - min(limit, problems.count)) more") }
        printError(lines.joined(separator: "\n"))
    }

    private func printSummary(_ committed: LabelsImportCommitMethod.Result, name: String, sent: Int) {
        let s = committed.summary
        var out = ["imported \(name) (import \(committed.importID)): \(sent) item(s) sent"]
        let counts = [("added", s.added), ("updated", s.updated), ("unchanged", s.unchanged),
                      ("rejected", s.rejectedCount), ("to the eval split", s.evalSplit)]
        let numberWidth = counts.map { String($0.1).count }.max() ?? 1
        for (what, n) in counts {
            let number = String(n)
            out.append("  " + String(repeating: " ", count: numberWidth - number.count) + number + "  " + what)
        }
        if !s.conflicts.isEmpty {
            out.append("conflicts: \(s.conflicts.count) text(s) got different labels in this file; the last label was kept")
            var conflicts = TextTable(["  LINES", "LABELS", "TEXT"])
            for c in s.conflicts {
                conflicts.add(["  " + c.lines.map(String.init).joined(separator: ","), c.labels.joined(separator: " -> "),
                               Show.text(c.text)])
            }
            out.append(conflicts.render())
        }
        if s.rejectedCount > 0 {
            out.append("rejected: \(s.rejectedCount) line(s) were not applied")
            for p in s.rejected { out.append("  line \(p.line): \(p.reason)") }
            if s.rejectedCount > s.rejected.count { out.append("  ... and \(s.rejectedCount - s.rejected.count) more") }
        }
        print(out.joined(separator: "\n"))
    }

    /// What `--json` prints when the file has lines that cannot be parsed and nothing was sent.
    struct LocalProblems: Encodable {
        var file: [String]
        var problems: [LabelProblem]
        var count: Int
        var sent: Bool
    }
}

// MARK: - labels stats

struct LabelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "labels",
        abstract: "Inspect, list, export and remove the labelled data the daemon holds; grow the evaluation split (admin).",
        subcommands: [LabelsStatsCommand.self, LabelsListCommand.self, LabelsExportCommand.self, LabelsRemoveCommand.self,
                      LabelsDrawEvalCommand.self],
        defaultSubcommand: LabelsStatsCommand.self
    )
}

struct LabelsStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Labels per class and split, and how many are new since the last run (labels.stats).",
        discussion: """
        TRAIN and EVAL count the labels in the training split and in the frozen evaluation split (never trained \
        on). NEW counts those that arrived or changed since the last completed run; a scheduled run starts once \
        NEW TRAIN reaches the daemon's min_new_labels (and its `every` interval has passed).
        """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try output.show(LabelsStatsMethod.self, NoParams(), via: connection) { s in
            var table = TextTable(["LABEL", "TRAIN", "EVAL", "TOTAL", "NEW TRAIN", "NEW EVAL"], rightAligned: [1, 2, 3, 4, 5])
            for l in s.labels {
                table.add([l.label, String(l.train), String(l.eval), String(l.train + l.eval), String(l.newTrain), String(l.newEval)])
            }
            table.add(["total", String(s.train), String(s.eval), String(s.total), String(s.newTrain),
                       String(s.labels.reduce(0) { $0 + $1.newEval })])
            var out = [table.render()]
            let since = s.sinceRun.map { "since run \($0)" } ?? "(no run has completed yet)"
            var schedule = "\(s.newTrain) new training label(s) \(since); the schedule needs \(s.minNewLabels)"
            schedule += s.newTrain >= s.minNewLabels ? " (enough for the next scheduled run)"
                                                      : " (\(s.minNewLabels - s.newTrain) more)"
            out.append(schedule)
            out.append("eval split: \(Show.percent(s.evalFraction)) of new texts, assigned by a hash of the text")
            print(out.joined(separator: "\n"))
        }
    }
}

// MARK: - labels draw-eval

struct LabelsDrawEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "draw-eval",
        abstract: "Move N training texts into the frozen evaluation split (labels.eval.draw, admin).",
        discussion: """
        The texts are a seeded uniform sample of the training labels no published model has learned (newer than \
        the last published run's data, never relabelled), written by any uid or only by those --from-uid names. \
        Refused while a run is in progress. The gate judges candidates on the grown split from the next run on.
        """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: ArgumentHelp("How many texts to move.", valueName: "n"))
    var count: Int

    @Option(name: .long, help: ArgumentHelp("Seed of the sample.", valueName: "n"))
    var seed: UInt64?

    @Option(name: .customLong("from-uid"), help: ArgumentHelp(
        "Draw only labels this uid wrote (repeat for several), e.g. to leave labellers' labels out.", valueName: "uid"))
    var fromUIDs: [UInt32] = []

    func validate() throws {
        if count < 1 { throw ValidationError("n must be at least 1") }
    }

    func run() throws {
        let r = try connection.call(LabelsDrawEvalMethod.self,
                                    .init(count: count, seed: seed, fromUIDs: fromUIDs.isEmpty ? nil : fromUIDs))
        if output.json { try printJSON(r); return }
        print("moved \(r.drawn) of \(r.available) unused training text(s) into the evaluation split; it now holds \(r.evalTotal)")
    }
}
