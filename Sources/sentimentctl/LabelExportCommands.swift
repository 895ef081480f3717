import ArgumentParser
import Foundation
import SentimentCore
import SentimentProtocol

extension LabelSplit: ExpressibleByArgument {}
extension LabelSource: ExpressibleByArgument {}

/// `--format` of `labels export`: the import formats, with the guide's file name as another name of json.
struct ExportFormat: ExpressibleByArgument {
    let format: LabelFileFormat

    init(_ format: LabelFileFormat) { self.format = format }

    init?(argument: String) {
        if argument == "custom_data.json" { format = .json; return }
        guard let f = LabelFileFormat(rawValue: argument) else { return nil }
        format = f
    }

    static var allValueStrings: [String] { ["jsonl", "json", "custom_data.json", "csv", "tweeteval"] }
}

/// `--since`: an ISO 8601 date ("2026-12-01"), date and time ("2026-12-01T08:00:00Z"), or a duration back from now
/// ("90m", "24h", "7d").
struct SinceArgument: ExpressibleByArgument {
    let date: Date

    init?(argument: String) {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let unit = argument.last, let factor = units[unit], let n = Double(argument.dropLast()), n >= 0, n.isFinite {
            date = Date().addingTimeInterval(-n * factor)
            return
        }
        let full = ISO8601DateFormatter()
        if let d = full.date(from: argument) { date = d; return }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        day.timeZone = .current
        if let d = day.date(from: argument) { date = d; return }
        return nil
    }
}

/// The filters `labels list` takes (export takes the split only: it writes a split, whole).
struct LabelFilterOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Only this split: train or eval (eval: admin).", valueName: "split"))
    var split: LabelSplit?

    @Option(name: .long, help: ArgumentHelp("Only this label (a name or a class index).", valueName: "label"))
    var label: String?

    @Option(name: .long, help: ArgumentHelp("Only labels last written by label (add) or by an import.", valueName: "add|import"))
    var source: LabelSource?

    @Option(name: .customLong("import"), help: ArgumentHelp("Only labels whose current value came from this import.", valueName: "id"))
    var importID: Int64?

    @Option(name: .long, help: ArgumentHelp("Only labels this uid wrote.", valueName: "uid"))
    var uid: UInt32?

    @Option(name: .long, help: ArgumentHelp("Only labels written since a date (2026-12-01, ISO 8601) or for a while (24h, 7d).", valueName: "when"))
    var since: SinceArgument?

    @Option(name: .long, help: ArgumentHelp("Only texts containing this (ASCII letters in any case).", valueName: "text"))
    var contains: String?

    func params(limit: Int?, afterID: Int64?) -> LabelsListMethod.Params {
        LabelsListMethod.Params(split: split, label: label.map { LabelValue(argument: $0) }, source: source,
                                importID: importID, uid: uid, since: since?.date, contains: contains, limit: limit,
                                afterID: afterID)
    }
}

// MARK: - labels list

struct LabelsListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List stored labels, oldest first, with filters (labels.list; labeller, the eval split: admin).",
        discussion: """
        TEXT is the stored form of a text: Unicode NFC, trimmed, every run of white space (line breaks and tabs \
        too) one space. A labeller sees the training split; the frozen evaluation split is an admin's. Page on \
        with --after-id (the last ID shown).
        """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var filter: LabelFilterOptions

    @Option(name: .long, help: ArgumentHelp("Show at most this many labels.", valueName: "n"))
    var limit: Int = 50

    @Option(name: .long, help: ArgumentHelp("Only ids above this one (the next page).", valueName: "id"))
    var afterID: Int64?

    func validate() throws {
        guard (1...LabelsListMethod.maxLimit).contains(limit) else {
            throw ValidationError("--limit must be 1...\(LabelsListMethod.maxLimit)")
        }
    }

    func run() throws {
        try output.show(LabelsListMethod.self, filter.params(limit: limit, afterID: afterID), via: connection) { r in
            guard !r.labels.isEmpty else {
                print("no labels match" + (r.splits == [.train] && filter.split == nil ? " (in the training split; the eval split is an admin's)" : ""))
                return
            }
            var table = TextTable(["ID", "SPLIT", "LABEL", "SOURCE", "UID", "WRITTEN", "TEXT"], rightAligned: [0, 4])
            for l in r.labels {
                let source = l.source == .import ? "import \(l.importID.map(String.init) ?? "?")" : "label"
                table.add([String(l.id), l.split.rawValue, l.label, source, String(l.uid), Show.time(l.updatedAt),
                           Show.text(l.text, limit: 70)])
            }
            print(table.render())
            if let next = r.nextAfterID {
                print("more: --after-id \(next)")
            }
        }
    }
}

// MARK: - labels export

struct LabelsExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a split's labels to a file that `sentimentctl import` and `sentimentd finetune` read (labeller; eval: admin).",
        discussion: """
        Formats (from the file name unless --format is given; standard output is jsonl):
          jsonl             {"text": ..., "label": "positive"} per line
          json              the guide's custom_data.json: one JSON array of
          (custom_data.json)  {"text": ..., "label": 2}, labels as class indexes
                            of the daemon's labels.names (what a Hugging Face
                            Trainer reads)
          csv               a text,label header, texts quoted (RFC 4180)
          tweeteval         X_text.txt + X_labels.txt (name either one), class
                            indexes
        Texts are written as the daemon stores them (NFC, trimmed, white space runs as one space), so importing \
        the file gives back exactly the same labels: `import FILE --split train` (or eval) on another daemon \
        holds the same texts, labels and splits. What a format cannot carry is refused, naming the item: a line \
        break in a TweetEval text (stored texts never hold one), a label outside labels.names as a class index \
        (json, tweeteval), a label name of digits in CSV.

        The file is written under a temporary name and renamed when complete; a TweetEval pair is two such files \
        (the labels file first). Labels written while an export runs may or may not be in it (it reads page by \
        page).
        """
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("The file to write (\"-\" or absent: standard output).", valueName: "file"),
              completion: .file())
    var file: String?

    @Option(name: .long, help: ArgumentHelp("The split to export: train (default) or eval (admin).", valueName: "split"))
    var split: LabelSplit = .train

    @Option(name: .long, help: ArgumentHelp("jsonl, json (custom_data.json), csv or tweeteval.", valueName: "format"))
    var format: ExportFormat?

    func run() throws {
        let toStdout = file == nil || file == "-"
        let chosen: LabelFileFormat
        if let format {
            chosen = format.format
        } else if toStdout {
            chosen = .jsonl
        } else if let detected = LabelFileFormat.detect(path: file!) {
            chosen = detected
        } else {
            throw CtlFailure.labelFile(.unknownFormat(path: file!))
        }
        if chosen == .tweeteval && (toStdout || LabelFile.tweetEvalPair(for: file!) == nil) {
            throw CtlFailure.usage("tweeteval writes a pair of files: name one of them, X_text.txt or X_labels.txt")
        }
        let client = try connection.connect()
        defer { client.close() }
        func page(after: Int64?) throws -> LabelsListMethod.Result {
            try client.checkedCall(LabelsListMethod.self, .init(split: split, afterID: after))
        }
        // The first page before anything is written: it brings the label names (class indexes of json, tweeteval)
        // and any refusal (an eval export by a non-admin) while no file exists yet.
        var current = try page(after: nil)
        var writer = LabelFileWriter(format: chosen, labelNames: current.labelNames)
        let progress = StatusLine()
        var count = 0
        /// Every label of the split, page by page.
        func eachLabel(_ body: (StoredLabel) throws -> Void) throws {
            while true {
                for label in current.labels { try body(label) }
                count += current.labels.count
                progress.draw("exporting the \(split.rawValue) split: \(count) labels")
                guard let next = current.nextAfterID else { return }
                current = try page(after: next)
            }
        }
        try CtlFailure.writingFile(progress) {
            if toStdout {
                let out = FileHandle.standardOutput
                out.write(writer.header)
                try eachLabel { out.write(try writer.item(text: $0.text, label: $0.label)) }
                out.write(writer.footer)
            } else if chosen == .tweeteval {
                let pair = LabelFile.tweetEvalPair(for: file!)!
                try AtomicFile.write(to: URL(fileURLWithPath: pair.text), permissions: 0o666) { texts in
                    try AtomicFile.write(to: URL(fileURLWithPath: pair.labels), permissions: 0o666) { labels in
                        try eachLabel { item in
                            let lines = try writer.tweetEvalItem(text: item.text, label: item.label)
                            try texts.write(lines.text)
                            try labels.write(lines.label)
                        }
                    }
                }
            } else {
                try AtomicFile.write(to: URL(fileURLWithPath: file!), permissions: 0o666) { sink in
                    try sink.write(writer.header)
                    try eachLabel { try sink.write(try writer.item(text: $0.text, label: $0.label)) }
                    try sink.write(writer.footer)
                }
            }
        }
        if !toStdout {
            let names = chosen == .tweeteval ? LabelFile.tweetEvalPair(for: file!).map { "\($0.text) + \($0.labels)" } ?? file!
                                             : file!
            printError("exported \(count) label(s) of the \(split.rawValue) split to \(names) "
                + "(\(chosen == .json ? "json, custom_data.json" : chosen.rawValue))")
        }
    }
}

// MARK: - labels rm

struct LabelsRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove labels by id, by text or by import (labels.remove, admin).",
        discussion: """
        Each removed label is recorded by the daemon (text, label, split, who wrote it, who removed it). A text \
        is matched in its stored form (NFC, trimmed, white space runs as one space). Refused while a training \
        run is in progress. --dry-run lists what would go.
        """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: ArgumentHelp("Label ids, as `labels list` shows them.", valueName: "id"))
    var ids: [Int64] = []

    @Option(name: .customLong("text"), help: ArgumentHelp("A text whose label to remove (repeat for several).", valueName: "text"))
    var texts: [String] = []

    @Option(name: .customLong("import"), help: ArgumentHelp("Every label whose current value came from this import.", valueName: "id"))
    var importID: Int64?

    @Flag(name: .long, help: "Show what would be removed; remove nothing.")
    var dryRun = false

    func validate() throws {
        if ids.isEmpty && texts.isEmpty && importID == nil {
            throw ValidationError("name the labels to remove: ids, --text TEXT or --import ID")
        }
    }

    func run() throws {
        let r = try connection.call(LabelsRemoveMethod.self,
                                    .init(ids: ids.isEmpty ? nil : ids, texts: texts.isEmpty ? nil : texts,
                                          importID: importID, dryRun: dryRun ? true : nil))
        if output.json {
            try printJSON(r)
        } else {
            var lines = ["\(r.dryRun ? "would remove" : "removed") \(r.removed) label(s): \(r.train) train, \(r.eval) eval"]
            if !r.labels.isEmpty {
                var table = TextTable(["  ID", "SPLIT", "LABEL", "TEXT"], rightAligned: [0])
                for l in r.labels { table.add(["  \(l.id)", l.split.rawValue, l.label, Show.text(l.text, limit: 70)]) }
                lines.append(table.render())
                if r.removed > r.labels.count { lines.append("  ... and \(r.removed - r.labels.count) more") }
            }
            if !r.notFoundIDs.isEmpty { lines.append("no label has id " + r.notFoundIDs.map(String.init).joined(separator: ", ")) }
            for t in r.notFoundTexts { lines.append("no label for the text \"\(Show.text(t))\"") }
            print(lines.joined(separator: "\n"))
        }
        if r.removed == 0 {
            throw CtlFailure.daemon(RPCError.notFound("no label matched; nothing was removed").wireObject)
        }
    }
}
