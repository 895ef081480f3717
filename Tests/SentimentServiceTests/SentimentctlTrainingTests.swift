import Foundation
import SentimentProtocol
import XCTest
import SentimentCore

/// The labelling and training commands of the real sentimentctl against the real daemon: every import format,
/// bad lines, stats, train --follow, runs, runs show, compare.
final class SentimentctlTrainingTests: XCTestCase {
    private func ctl(_ daemon: DaemonProcess, _ args: [String], stdin: String? = nil) throws -> (status: Int32, out: String, err: String) {
        try runSentimentctl(args, socket: daemon.socketPath, stdin: stdin)
    }

    private func makeDaemon() throws -> DaemonProcess {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess()
        daemon.extraTables = ["training": ["enabled": "false", "min_eval_labels": "10", "epochs": "4",
                                           "learning_rate": "0.001", "max_length": "24", "gate_tolerance": "0.0"]]
        try daemon.writeConfig()
        try daemon.installModel(version: "v1")
        try daemon.start()
        return daemon
    }

    private func stats(_ daemon: DaemonProcess) throws -> LabelsStatsMethod.Result {
        try daemon.client().call(LabelsStatsMethod.self, NoParams())
    }

    func testImport_everyFormat_thenTrainFollowRunsAndCompare() throws {
        let daemon = try makeDaemon()
        let dir = daemon.directory.url
        let items = DaemonTrainingTests.examples(count: 480, tag: "x")
        func name(_ i: LabelItem) -> String { if case let .name(n) = i.label { return n }; return "" }
        let ids = ["negative": 0, "neutral": 1, "positive": 2]

        // JSONL (names), JSON array (ids), CSV with quoting, TweetEval pair.
        let jsonl = items[0..<120].map { i -> String in
            let o = try! JSONSerialization.data(withJSONObject: ["text": i.text, "label": name(i)])
            return String(decoding: o, as: UTF8.self)
        }.joined(separator: "\n") + "\n"
        try jsonl.write(to: dir.appendingPathComponent("a.jsonl"), atomically: true, encoding: .utf8)
        let array = items[120..<240].map { ["text": $0.text, "label": ids[name($0)]!] as [String: Any] }
        try JSONSerialization.data(withJSONObject: array, options: [.prettyPrinted]).write(to: dir.appendingPathComponent("custom_data.json"))
        let csv = "id,text,label\n" + items[240..<360].enumerated().map { k, i in
            "\(k),\"\(i.text.replacingOccurrences(of: "\"", with: "\"\""))\",\(name(i))"
        }.joined(separator: "\r\n") + "\r\n"
        try csv.write(to: dir.appendingPathComponent("b.csv"), atomically: true, encoding: .utf8)
        try (items[360..<480].map(\.text).joined(separator: "\n") + "\n")
            .write(to: dir.appendingPathComponent("x_text.txt"), atomically: true, encoding: .utf8)
        try (items[360..<480].map { "\(ids[name($0)]!)" }.joined(separator: "\n") + "\n")
            .write(to: dir.appendingPathComponent("x_labels.txt"), atomically: true, encoding: .utf8)

        var total = 0
        for file in ["a.jsonl", "custom_data.json", "b.csv", "x_text.txt"] {
            let r = try ctl(daemon, ["import", dir.appendingPathComponent(file).path, "--json", "--chunk", "50"])
            XCTAssertEqual(r.status, 0, "\(file): \(r.err)")
            let result = try RPCCoding.decoder().decode(LabelsImportCommitMethod.Result.self, from: Data(r.out.utf8))
            XCTAssertEqual(result.summary.added, 120, file)
            total += 120
            XCTAssertEqual(try stats(daemon).total, total, file)
        }
        // The same file again changes nothing.
        let again = try ctl(daemon, ["import", dir.appendingPathComponent("a.jsonl").path, "--json"])
        XCTAssertEqual(try RPCCoding.decoder().decode(LabelsImportCommitMethod.Result.self, from: Data(again.out.utf8)).summary.unchanged, 120)

        // A malformed line: reported with its line number, nothing sent (exit 2); --skip-invalid applies the rest.
        try "{\"text\": \"fresh one\", \"label\": \"positive\"}\n{\"text\": oops}\n{\"text\": \"fresh two\", \"label\": \"sideways\"}\n"
            .write(to: dir.appendingPathComponent("bad.jsonl"), atomically: true, encoding: .utf8)
        let bad = try ctl(daemon, ["import", dir.appendingPathComponent("bad.jsonl").path])
        XCTAssertEqual(bad.status, 2, bad.err)
        XCTAssertTrue(bad.err.contains("2"), bad.err)
        XCTAssertEqual(try stats(daemon).total, total)
        let skipped = try ctl(daemon, ["import", dir.appendingPathComponent("bad.jsonl").path, "--skip-invalid", "--json"])
        XCTAssertEqual(skipped.status, 0, skipped.err)
        let s = try RPCCoding.decoder().decode(LabelsImportCommitMethod.Result.self, from: Data(skipped.out.utf8)).summary
        XCTAssertEqual(s.added, 1)
        XCTAssertEqual(Set(s.rejected.map(\.line)), [2, 3], "\(s.rejected)")
        total += 1

        // label and labels stats.
        let one = try ctl(daemon, ["label", "what a lovely morning", "--as", "positive"])
        XCTAssertEqual(one.status, 0, one.err)
        total += 1
        let st = try ctl(daemon, ["labels", "stats", "--json"])
        XCTAssertEqual(st.status, 0, st.err)
        XCTAssertEqual(try RPCCoding.decoder().decode(LabelsStatsMethod.Result.self, from: Data(st.out.utf8)).total, total)
        let human = try ctl(daemon, ["labels", "stats"])
        XCTAssertTrue(human.out.contains("positive") && human.out.contains("neutral"), human.out)

        // train --follow: exits 0 when the candidate is published.
        let train = try ctl(daemon, ["train", "--follow", "--epochs", "4"])
        XCTAssertEqual(train.status, 0, "out:\n\(train.out)\nerr:\n\(train.err)\n\(daemon.stderr.suffix(2000))")
        XCTAssertTrue(train.out.lowercased().contains("published"), train.out)
        let runs = try ctl(daemon, ["runs", "--json"])
        let list = try RPCCoding.decoder().decode(RunsListMethod.Result.self, from: Data(runs.out.utf8))
        XCTAssertEqual(list.runs.count, 1)
        let run = try XCTUnwrap(list.runs.first)
        XCTAssertEqual(run.status, "published")
        let show = try ctl(daemon, ["runs", "show", "\(run.id)"])
        XCTAssertEqual(show.status, 0, show.err)
        XCTAssertTrue(show.out.contains("macro") || show.out.contains("F1"), show.out)
        let version = try XCTUnwrap(run.candidateVersion)
        let deadline = Date().addingTimeInterval(30)
        while try daemon.client().call(StatusMethod.self, NoParams()).activeModel != version && Date() < deadline { usleep(50_000) }

        // compare: defaults to the previous active version against the active one.
        let cmp = try ctl(daemon, ["compare", "--json", "i love this phone so much #c1", "worst car ever, sorry #c2"])
        XCTAssertEqual(cmp.status, 0, cmp.err)
        XCTAssertTrue(cmp.out.contains(version) && cmp.out.contains("v1"), cmp.out)
        XCTAssertEqual(try daemon.stop(), 0)
    }
}
