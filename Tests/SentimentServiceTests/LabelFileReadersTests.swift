import Foundation
import SentimentCore
import SentimentTraining
@testable import SentimentService
import XCTest

/// `sentimentd finetune` and `sentimentctl import` read label files through one reader (SentimentCore's
/// `LabelFile`): each format gives the same texts, labels and lines through the function each command calls, and a
/// `.json` file holding JSON Lines fails the same way in both real binaries: the reader's message (which names the
/// setting), then each command's `--format jsonl`.
final class LabelFileReadersTests: XCTestCase {
    private let labels = LabelSet(["negative", "neutral", "positive"])

    /// What sentimentctl import sends, with each label resolved as the daemon resolves it (`LabelService.resolve`).
    private func importRead(_ path: String) throws -> [TrainingExample] {
        let file = try LabelFile.read(path: path)
        XCTAssertEqual(file.problems, [], path)
        return file.items.map { item in
            var label = -1
            if case let .name(name) = LabelService.resolve(item.label, names: labels.names) {
                label = labels.names.firstIndex(of: name) ?? -1
            }
            return TrainingExample(text: item.text, label: label, line: item.line ?? 0)
        }
    }

    /// One label resolver: every spelling names the same class (or none) for the daemon (`sentimentctl label` and
    /// `import`, `labels.list`) and for `sentimentd finetune`'s data files, whatever the label set.
    func testEverySpelling_resolvesTheSameForTheDaemonAndForFinetune() {
        let sets = [["negative", "neutral", "positive"], ["bad", "ok", "good"], ["LABEL_0", "LABEL_1"], ["positive", "negative", "neutral"]]
        let spellings: [LabelValue] = [
            .name("negative"), .name(" Good "), .name("2"), .name("1"), .name("LABEL_1"), .name("label_0"), .name("Neutral"),
            .name("7"), .name("-1"), .name("happy"), .name(""), .index(0), .index(2), .index(5), .index(-1),
        ]
        for names in sets {
            let set = LabelSet(names)
            for value in spellings {
                let finetune = set.index(of: value).map { names[$0] }
                switch LabelService.resolve(value, names: names) {
                case let .name(name): XCTAssertEqual(name, finetune, "\(names) \(value)")
                case let .problem(reason):
                    XCTAssertNil(finetune, "\(names) \(value): the daemon refuses it (\(reason)), finetune takes it")
                    XCTAssertEqual(reason, set.problem(value))
                }
            }
        }
        XCTAssertEqual(LabelSet(["bad", "ok", "good"]).index(of: .name("Negative")), 0, "a three-class set takes TweetEval's names")
        XCTAssertEqual(LabelSet(["positive", "negative", "neutral"]).index(of: .name("negative")), 1, "its own names win")
        XCTAssertEqual(LabelSet(["bad", "good"]).problem(.name("neutral")), "unknown label \"neutral\" (known: bad, good, or their indexes 0...1)")
    }

    func testEveryFormat_readsIdenticallyThroughImportAndFinetune() throws {
        let dir = try TemporaryDirectory("readers")
        func write(_ name: String, _ text: String) throws -> String {
            try Data(text.utf8).write(to: dir.url.appendingPathComponent(name))
            return dir.path(name)
        }
        let texts = ["I hate Mondays", "Café \"au lait\", yes!", "It is 3pm "]
        let files = [
            try write("a.jsonl", "\u{FEFF}{\"text\": \"I hate Mondays\", \"label\": \"negative\"}\r\n\n"
                + "{\"text\": \"Café \\\"au lait\\\", yes!\", \"label\": 2}\n{\"label\": \"neutral\", \"text\": \"It is 3pm \"}\n"),
            try write("custom_data.json", "[\n {\"text\": \"I hate Mondays\", \"label\": 0},\n {\"text\": "
                + "\"Café \\\"au lait\\\", yes!\",\n  \"label\": \"positive\"},\n {\"text\": \"It is 3pm \", \"label\": 1}\n]\n"),
            try write("d.csv", "label,text\r\nnegative,I hate Mondays\r\n2,\"Café \"\"au lait\"\", yes!\"\r\n\r\n1,It is 3pm \r\n"),
            try write("t_text.txt", "I hate Mondays\r\nCafé \"au lait\", yes!\nIt is 3pm \n"),
            try write("t_labels.txt", "0\n2\n1\n"),
        ]
        for path in files {
            let imported = try importRead(path)
            let trained = try TrainingDataLoader.load(URL(fileURLWithPath: path), labels: labels)
            XCTAssertEqual(imported, trained, path)
            XCTAssertEqual(trained.map(\.text), texts, path)
            XCTAssertEqual(trained.map(\.label), [0, 2, 1], path)
        }
    }

    func testJSONLinesInAJSONFile_failsTheSameWayInBothBinaries() throws {
        let base = try TestPaths.requireTinyRoberta()
        let dir = try TemporaryDirectory("readers")
        let path = dir.path("lines.json")
        try Data("{\"text\": \"good\", \"label\": 2}\n{\"text\": \"bad\", \"label\": 0}\n".utf8).write(to: URL(fileURLWithPath: path))
        let expected = LabelFileError.jsonLinesInJSONFile(path: path).description
        XCTAssertTrue(expected.contains("read it as jsonl"), expected)

        // The function each command calls.
        XCTAssertThrowsError(try LabelFile.read(path: path)) { XCTAssertEqual("\($0)", expected) }
        XCTAssertThrowsError(try TrainingDataLoader.load(URL(fileURLWithPath: path), labels: labels)) {
            XCTAssertEqual("\($0)", expected)
        }

        // The real commands: the import fails before it connects, finetune before it trains; neither writes anything.
        let ctl = try runSentimentctl(["import", path], socket: dir.path("no-daemon.sock"))
        XCTAssertEqual(ctl.status, 2, ctl.err)
        XCTAssertTrue(ctl.err.contains(expected), ctl.err)
        XCTAssertTrue(ctl.err.contains("use --format jsonl"), "each command says its flag: \(ctl.err)")
        let out = dir.path("out")
        let finetune = try runExecutable("sentimentd", ["finetune", "--base", base.path, "--train", path, "--val", path,
                                                         "--out", out, "--epochs", "1"])
        XCTAssertNotEqual(finetune.status, 0, finetune.err)
        XCTAssertTrue(finetune.err.contains(expected), finetune.err)
        XCTAssertTrue(finetune.err.contains("use --format jsonl"), "each command says its flag: \(finetune.err)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing is written")
    }
}
