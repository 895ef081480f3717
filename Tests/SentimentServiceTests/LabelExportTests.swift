import Foundation
import SentimentCore
import SentimentProtocol
import SentimentStore
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Labels come out with the real daemon and the real sentimentctl: what `labels export` writes, `import` reads back
/// into exactly the same labels on another daemon, in every format and for both splits; the eval split is an
/// admin's to read; `labels list` filters; `labels rm` removes and says what it removed.
final class LabelExportTests: XCTestCase {
    /// Texts that break naive writers and readers; the daemon stores them normalised (NFC, trimmed, whitespace runs
    /// as one space), which is what comes out.
    static let trainItems: [(String, String)] = [
        ("plain text", "positive"),
        ("a, comma, or two", "negative"),
        ("she said \"hello\" and left", "neutral"),
        ("\"quoted from the start\", then more", "positive"),
        ("two\nlines and a\r\nCRLF", "negative"),
        ("tab\tseparated\twords", "neutral"),
        ("  leading and trailing spaces  ", "positive"),
        ("back\\slash and \\n that is not a newline", "negative"),
        ("Cafe\u{301} written decomposed, café composed", "neutral"),      // NFD -> NFC
        ("emoji 😀🎉 flag 🇫🇷 ZWJ 👩‍💻", "positive"),
        ("日本語のテキスト、カンマ付き", "neutral"),
        ("עברית ومعها العربية", "neutral"),
        ("control \u{1} char and DEL \u{7F}", "negative"),
        ("no-break\u{A0}space and thin\u{2009}space", "positive"),
        ("{\"text\": \"json inside\", \"label\": 2}", "neutral"),
        ("text,label", "negative"),
        ("12345", "positive"),
        ("=SUM(A1:A2)", "neutral"),
        ("ends with a backslash \\", "positive"),
    ] + (0..<40).map { ("filler train text number \($0)", ["negative", "neutral", "positive"][$0 % 3]) }

    static let evalItems: [(String, String)] = [
        ("eval, with \"quotes\"", "positive"),
        ("eval\nwith a line break", "negative"),
        ("eval ünïcödé ✓", "neutral"),
    ] + (0..<20).map { ("filler eval text \($0)", ["negative", "neutral", "positive"][$0 % 3]) }

    private func jsonl(_ items: [(String, String)], to path: String) throws {
        var writer = LabelFileWriter(format: .jsonl, labelNames: ["negative", "neutral", "positive"])
        var data = Data()
        for (text, label) in items { data += try writer.item(text: text, label: label) }
        try data.write(to: URL(fileURLWithPath: path))
        chmod(path, 0o644)
    }

    /// (text, label, split) of every label the daemon holds, by id.
    private func holdings(_ daemon: DaemonProcess) throws -> [String] {
        var out: [String] = []
        var after: Int64?
        repeat {
            let page = try daemon.client().call(LabelsListMethod.self, .init(limit: 17, afterID: after))
            out += page.labels.map { "\($0.split.rawValue)\t\($0.label)\t\($0.text)" }
            after = page.nextAfterID
        } while after != nil
        return out
    }

    private func ctl(_ daemon: DaemonProcess, _ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try runSentimentctl(args, socket: daemon.socketPath)
        XCTAssertEqual(r.status, 0, "sentimentctl \(args.joined(separator: " ")): \(r.err)", file: file, line: line)
        return r.out + r.err
    }

    private func startDaemon() throws -> DaemonProcess {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess()
        daemon.extraTables = ["training": ["enabled": "false"]]
        try daemon.writeConfig()
        try daemon.installModel(version: "v1")
        try daemon.start()
        return daemon
    }

    func testExportThenImport_givesBackTheSameLabels_inEveryFormatAndSplit() throws {
        let source = try startDaemon()
        let input = source.directory.path("in.jsonl"), evalInput = source.directory.path("in-eval.jsonl")
        try jsonl(Self.trainItems, to: input)
        try jsonl(Self.evalItems, to: evalInput)
        _ = try ctl(source, ["import", input, "--split", "train"])
        _ = try ctl(source, ["import", evalInput, "--split", "eval"])
        let held = try holdings(source)
        XCTAssertEqual(held.count, Self.trainItems.count + Self.evalItems.count)
        // What is stored (and so exported) is the normalised text.
        XCTAssertEqual(Set(held), Set(Self.trainItems.map { "train\t\($0.1)\t\(LabelText.normalise($0.0))" }
                                        + Self.evalItems.map { "eval\t\($0.1)\t\(LabelText.normalise($0.0))" }))

        for (format, ext) in [("jsonl", ".jsonl"), ("custom_data.json", ".json"), ("csv", ".csv"), ("tweeteval", "_text.txt")] {
            let target = try startDaemon()
            var exported: [String: Data] = [:]
            for split in ["train", "eval"] {
                let file = source.directory.path("\(format)-\(split)\(ext)")
                let said = try ctl(source, ["labels", "export", file, "--split", split, "--format", format])
                let count = split == "train" ? Self.trainItems.count : Self.evalItems.count
                XCTAssertTrue(said.contains("exported \(count) label(s) of the \(split) split"), said)
                exported[split] = try Data(contentsOf: URL(fileURLWithPath: file))
                if format == "tweeteval" {
                    exported[split]! += try Data(contentsOf: URL(fileURLWithPath: source.directory.path("\(format)-\(split)_labels.txt")))
                }
                _ = try ctl(target, ["import", file, "--split", split]
                            + (format == "custom_data.json" ? ["--format", "json"] : []))
            }
            XCTAssertEqual(try holdings(target), held, "\(format): the imported labels differ")
            // And out again: the same bytes.
            for split in ["train", "eval"] {
                let file = target.directory.path("again-\(split)\(ext)")
                _ = try ctl(target, ["labels", "export", file, "--split", split, "--format", format])
                var again = try Data(contentsOf: URL(fileURLWithPath: file))
                if format == "tweeteval" {
                    again += try Data(contentsOf: URL(fileURLWithPath: target.directory.path("again-\(split)_labels.txt")))
                }
                XCTAssertEqual(again, exported[split], "\(format) \(split): a second export differs from the first")
            }
            XCTAssertEqual(try target.stop(), 0)
        }
        // Standard output is jsonl; no temporary file is left next to the exports.
        let stdout = try runSentimentctl(["labels", "export", "--split", "eval"], socket: source.socketPath)
        XCTAssertEqual(stdout.status, 0, stdout.err)
        XCTAssertEqual(stdout.out.split(separator: "\n").count, Self.evalItems.count)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: source.directory.url.path).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
        XCTAssertEqual(try source.stop(), 0)
    }

    func testExport_refusesWhatAFormatCannotCarry_andWritesNothing() throws {
        let daemon = try startDaemon()
        let file = daemon.directory.path("x.csv")
        let unknown = try runSentimentctl(["labels", "export", daemon.directory.path("x.txt")], socket: daemon.socketPath)
        XCTAssertEqual(unknown.status, 2, unknown.err)
        XCTAssertTrue(unknown.err.contains("cannot tell the format") && unknown.err.contains("use --format jsonl|json|csv|tweeteval"),
                      unknown.err)
        let pairless = try runSentimentctl(["labels", "export", "--format", "tweeteval", file], socket: daemon.socketPath)
        XCTAssertEqual(pairless.status, 2, pairless.err)
        XCTAssertTrue(pairless.err.contains("X_text.txt or X_labels.txt"), pairless.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: file))
        XCTAssertEqual(try daemon.stop(), 0)
    }

    func testEvalSplit_isAnAdminsToRead_andListFilters() throws {
        let daemon = try DaemonProcess.withRoles()
        let input = daemon.directory.path("in.jsonl"), evalInput = daemon.directory.path("in-eval.jsonl")
        try jsonl(Self.trainItems, to: input)
        try jsonl(Self.evalItems, to: evalInput)
        _ = try ctl(daemon, ["import", input, "--split", "train"])
        _ = try ctl(daemon, ["import", evalInput, "--split", "eval"])
        let out = daemon.directory.url.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        chmod(out.path, 0o777)

        let labeller = try OtherUser.member(of: OtherUser.labellerGroup)
        let refused = try labeller.sentimentctl(["labels", "export", out.appendingPathComponent("eval.jsonl").path, "--split", "eval"],
                                                daemon: daemon)
        XCTAssertEqual(refused.status, 4, "a labeller exported the eval split: \(refused)")
        XCTAssertTrue(refused.err.contains("needs the admin role"), refused.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("eval.jsonl").path))
        let train = try labeller.sentimentctl(["labels", "export", out.appendingPathComponent("train.csv").path], daemon: daemon)
        XCTAssertEqual(train.status, 0, train.err)
        let file = try LabelFile.read(path: out.appendingPathComponent("train.csv").path)
        XCTAssertEqual(file.items.count, Self.trainItems.count)
        let listed = try labeller.sentimentctl(["labels", "list", "--json", "--limit", "1000"], daemon: daemon)
        XCTAssertEqual(listed.status, 0, listed.err)
        let page = try RPCCoding.decoder().decode(LabelsListMethod.Result.self, from: Data(listed.out.utf8))
        XCTAssertEqual(page.splits, [.train])
        XCTAssertEqual(page.labels.count, Self.trainItems.count, "a labeller's listing showed the eval split")
        let reader = try OtherUser.nobody.sentimentctl(["labels", "list"], daemon: daemon)
        XCTAssertEqual(reader.status, 4, "a reader listed labels: \(reader)")

        // Filters, as root (admin).
        let positives = try ctl(daemon, ["labels", "list", "--split", "eval", "--label", "2", "--limit", "100"])
        XCTAssertEqual(positives.split(separator: "\n").count, 1 + Self.evalItems.filter { $0.1 == "positive" }.count, positives)
        let comma = try ctl(daemon, ["labels", "list", "--contains", "COMMA"])
        XCTAssertTrue(comma.contains("a, comma, or two"), comma)
        XCTAssertFalse(comma.contains("filler"), comma)
        let paged = try ctl(daemon, ["labels", "list", "--limit", "5"])
        XCTAssertTrue(paged.contains("more: --after-id"), paged)
        let none = try ctl(daemon, ["labels", "list", "--since", "2h", "--uid", "4242"])
        XCTAssertTrue(none.contains("no labels match"), none)
        XCTAssertEqual(try daemon.stop(), 0)
    }

    func testRemove_byIdTextAndImport_isAnAdminsAndSaysWhatItRemoved() throws {
        let daemon = try DaemonProcess.withRoles()
        let input = daemon.directory.path("in.jsonl")
        try jsonl(Self.trainItems, to: input)
        _ = try ctl(daemon, ["import", input, "--split", "train"])
        let evalInput = daemon.directory.path("in-eval.jsonl")
        try jsonl(Self.evalItems, to: evalInput)
        let imported = try runSentimentctl(["import", evalInput, "--split", "eval", "--json"], socket: daemon.socketPath)
        XCTAssertEqual(imported.status, 0, imported.err)
        let importID = try RPCCoding.decoder().decode(LabelsImportCommitMethod.Result.self, from: Data(imported.out.utf8)).importID
        let before = try holdings(daemon)
        let first = try daemon.client().call(LabelsListMethod.self, .init(limit: 2)).labels

        let labeller = try OtherUser.member(of: OtherUser.labellerGroup)
        let refused = try labeller.sentimentctl(["labels", "rm", String(first[0].id)], daemon: daemon)
        XCTAssertEqual(refused.status, 4, "\(refused)")
        XCTAssertEqual(try holdings(daemon), before)

        let dry = try ctl(daemon, ["labels", "rm", String(first[0].id), "--import", String(importID), "--dry-run"])
        XCTAssertTrue(dry.contains("would remove \(1 + Self.evalItems.count) label(s): 1 train, \(Self.evalItems.count) eval"), dry)
        XCTAssertEqual(try holdings(daemon), before)

        let removed = try ctl(daemon, ["labels", "rm", String(first[0].id), String(first[1].id),
                                       "--text", "  TAB\tseparated words ", "--text", "tab separated words", "--text", "nothing like it"])
        XCTAssertTrue(removed.contains("removed 3 label(s): 3 train, 0 eval"), removed)
        XCTAssertTrue(removed.contains("no label for the text \"  TAB separated words \""), removed)
        XCTAssertTrue(removed.contains("no label for the text \"nothing like it\""), removed)
        let after = try holdings(daemon)
        XCTAssertEqual(after.count, before.count - 3)
        XCTAssertFalse(after.contains { $0.hasSuffix("\ttab separated words") })

        let byImport = try ctl(daemon, ["labels", "rm", "--import", String(importID)])
        XCTAssertTrue(byImport.contains("removed \(Self.evalItems.count) label(s): 0 train, \(Self.evalItems.count) eval"), byImport)
        XCTAssertEqual(try daemon.client().call(LabelsStatsMethod.self, NoParams()).eval, 0)

        let nothing = try runSentimentctl(["labels", "rm", "999999"], socket: daemon.socketPath)
        XCTAssertEqual(nothing.status, 1, "\(nothing)")
        XCTAssertTrue(nothing.err.contains("no label matched"), nothing.err)
        XCTAssertEqual(try daemon.stop(), 0)

        let records = try LabelStore(path: URL(fileURLWithPath: daemon.directory.path("state.sqlite"))).removals()
        XCTAssertEqual(records.count, 3 + Self.evalItems.count)
        XCTAssertTrue(records.allSatisfy { $0.removedBy == 0 })
    }
}
