import Foundation
import SentimentCore
import SentimentTraining
import XCTest

/// `sentimentd finetune` and `sentimentctl import` read label files through one reader (SentimentCore's
/// `LabelFile`): each format gives the same texts, labels and lines through the function each command calls, and a
/// `.json` file holding JSON Lines fails the same way in both real binaries, saying to use `--format jsonl`.
final class LabelFileReadersTests: XCTestCase {
    private let labels = LabelSet(["negative", "neutral", "positive"])

    /// What sentimentctl import sends (labels resolved the way the daemon's label set would for these names).
    private func importRead(_ path: String) throws -> [TrainingExample] {
        let file = try LabelFile.read(path: path)
        XCTAssertEqual(file.problems, [], path)
        return file.items.map { item in
            let label: Int
            switch item.label {
            case let .index(i): label = i
            case let .name(name): label = labels.index(of: name) ?? -1
            }
            return TrainingExample(text: item.text, label: label, line: item.line ?? 0)
        }
    }

    func testEveryFormat_readsIdenticallyThroughImportAndFinetune() throws {
        let dir = try TemporaryDirectory(prefix: "readers")
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
        let dir = try TemporaryDirectory(prefix: "readers")
        let path = dir.path("lines.json")
        try Data("{\"text\": \"good\", \"label\": 2}\n{\"text\": \"bad\", \"label\": 0}\n".utf8).write(to: URL(fileURLWithPath: path))
        let expected = LabelFileError.jsonLinesInJSONFile(path: path).description
        XCTAssertTrue(expected.contains("--format jsonl"), expected)

        // The function each command calls.
        XCTAssertThrowsError(try LabelFile.read(path: path)) { XCTAssertEqual("\($0)", expected) }
        XCTAssertThrowsError(try TrainingDataLoader.load(URL(fileURLWithPath: path), labels: labels)) {
            XCTAssertEqual("\($0)", expected)
        }

        // The real commands: the import fails before it connects, finetune before it trains; neither writes anything.
        let ctl = try runSentimentctl(["import", path], socket: dir.path("no-daemon.sock"))
        XCTAssertEqual(ctl.status, 2, ctl.err)
        XCTAssertTrue(ctl.err.contains(expected), ctl.err)
        let out = dir.path("out")
        let finetune = try runExecutable("sentimentd", ["finetune", "--base", base.path, "--train", path, "--val", path,
                                                         "--out", out, "--epochs", "1"])
        XCTAssertNotEqual(finetune.status, 0, finetune.err)
        XCTAssertTrue(finetune.err.contains(expected), finetune.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing is written")
    }
}
