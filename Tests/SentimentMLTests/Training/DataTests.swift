import Foundation
import XCTest
@testable import SentimentML

/// A fresh temporary directory per test, removed afterwards.
final class TemporaryDirectory {
    let url: URL
    init(_ name: String = "trainer") {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("sentimentd-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }

    @discardableResult
    func write(_ name: String, _ content: String) -> URL {
        let u = url.appendingPathComponent(name)
        try! Data(content.utf8).write(to: u)
        return u
    }
    @discardableResult
    func write(_ name: String, bytes: [UInt8]) -> URL {
        let u = url.appendingPathComponent(name)
        try! Data(bytes).write(to: u)
        return u
    }
}

final class TrainingDataTests: XCTestCase {
    let labels = LabelSet(["negative", "neutral", "positive"])

    /// The three examples every format below spells.
    let expected = [
        TrainingExample(text: "I hate Mondays", label: 0),
        TrainingExample(text: "Café \"au lait\", yes!\nsecond line", label: 2),
        TrainingExample(text: "It is 3pm", label: 1),
    ]

    func assertSameExamples(_ got: [TrainingExample], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.map(\.text), expected.map(\.text), file: file, line: line)
        XCTAssertEqual(got.map(\.label), expected.map(\.label), file: file, line: line)
    }

    func error(_ body: () throws -> Any) -> TrainingDataError? {
        do { _ = try body(); XCTFail("expected an error"); return nil } catch let e as TrainingDataError { return e } catch {
            XCTFail("unexpected error type: \(error)"); return nil
        }
    }

    // MARK: Formats

    func testJSONL_labelsAsIdsNamesAndNumericStrings_blankLinesAndCRLF() throws {
        let dir = TemporaryDirectory()
        let url = dir.write("train.jsonl", "{\"text\": \"I hate Mondays\", \"label\": 0}\r\n\n"
            + "{\"label\": \"POSITIVE\", \"text\": \"Café \\\"au lait\\\", yes!\\nsecond line\"}\n"
            + "   \n{\"text\":\"It is 3pm\",\"label\":\"1\", \"id\": 17}")
        let got = try TrainingDataLoader.load(url, labels: labels)
        assertSameExamples(got)
        XCTAssertEqual(got.map(\.line), [1, 3, 5])
    }

    func testJSONArray_customDataFile() throws {
        let dir = TemporaryDirectory()
        let url = dir.write("custom_data.json", """
        [
          {"text": "I hate Mondays", "label": "negative"},
          {
            "text": "Café \\"au lait\\", yes!\\nsecond line",
            "label": 2
          },
          {"text": "It is 3pm", "label": "Neutral"}
        ]

        """)
        XCTAssertEqual(try TrainingDataLoader.resolveFormat(url, .auto), .json)
        let got = try TrainingDataLoader.load(url, labels: labels)
        assertSameExamples(got)
        XCTAssertEqual(got.map(\.line), [2, 3, 7])
    }

    func testJSONExtensionHoldingOneObjectPerLine_isReadAsJSONL() throws {
        let dir = TemporaryDirectory()
        let url = dir.write("data.json", "{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\", \"label\": 1}\n")
        XCTAssertEqual(try TrainingDataLoader.resolveFormat(url, .auto), .jsonl)
        XCTAssertEqual(try TrainingDataLoader.load(url, labels: labels).map(\.label), [0, 1])
    }

    func testCSV_quotingMultiLineFieldsColumnOrderAndExtraColumns() throws {
        let dir = TemporaryDirectory()
        // BOM, CRLF records, columns in another order, an extra column, a quoted field with a comma,
        // doubled quotes and a line break, a quote inside an unquoted field kept literally.
        let csv = "\u{FEFF}id,Label,text\r\n1,negative,I hate Mondays\r\n"
            + "2,positive,\"Café \"\"au lait\"\", yes!\nsecond line\"\r\n\r\n"
            + "3,1,It is 3pm\r\n4,2,5\"9 tall\n"
        let url = dir.write("train.csv", csv)
        let got = try TrainingDataLoader.load(url, labels: labels)
        XCTAssertEqual(got.count, 4)
        assertSameExamples(Array(got.prefix(3)))
        XCTAssertEqual(got[3].text, "5\"9 tall")
        XCTAssertEqual(got.map(\.line), [2, 3, 6, 7], "a record's line is where it starts, counting the lines inside quotes")
    }

    func testCSVReader_edgeCases() throws {
        func rec(_ s: String) throws -> [[String]] { try CSVReader.records(Array(s.utf8)).map(\.fields) }
        XCTAssertEqual(try rec("a,b\n1,\n,2"), [["a", "b"], ["1", ""], ["", "2"]])
        XCTAssertEqual(try rec("a,b\n\"x\",\"\""), [["a", "b"], ["x", ""]])
        XCTAssertEqual(try rec("a,b\n\"x,\ny\",z\n"), [["a", "b"], ["x,\ny", "z"]])
        XCTAssertEqual(try rec("a\r\n\r\n\r\nb\r\n"), [["a"], ["b"]])
        XCTAssertEqual(try rec("a,\"b\",\n"), [["a", "b", ""]])
        XCTAssertThrowsError(try rec("a,b\n\"open,x\n")) { XCTAssertEqual($0 as? CSVReader.Failure, .unterminatedQuote(line: 2)) }
        XCTAssertThrowsError(try rec("a,b\n\n\"x\"y,z\n")) { XCTAssertEqual($0 as? CSVReader.Failure, .textAfterClosingQuote(line: 3)) }
    }

    func testTweetEvalPair() throws {
        let dir = TemporaryDirectory()
        let text = dir.write("train_text.txt", "I hate Mondays\r\nCafé \"au lait\", yes!\nIt is 3pm \n")
        dir.write("train_labels.txt", "0\n2\n1\n")
        XCTAssertEqual(try TrainingDataLoader.resolveFormat(text, .auto), .tweeteval)
        let got = try TrainingDataLoader.load(text, labels: labels)
        XCTAssertEqual(got.map(\.text), ["I hate Mondays", "Café \"au lait\", yes!", "It is 3pm "],
                       "the CR of CRLF goes, other white space stays")
        XCTAssertEqual(got.map(\.label), [0, 2, 1])
        XCTAssertEqual(got.map(\.line), [1, 2, 3])
    }

    func testLabelSet_modelNamesTweetEvalNamesAndIds() {
        let generic = LabelSet(["LABEL_0", "LABEL_1", "LABEL_2"])
        XCTAssertEqual(generic.index(of: "label_2"), 2)
        XCTAssertEqual(generic.index(of: "Negative"), 0, "a three-class model accepts TweetEval's names")
        XCTAssertEqual(generic.index(of: " 1 "), 1)
        XCTAssertNil(generic.index(of: "3"))
        XCTAssertNil(generic.index(of: "-1"))
        let two = LabelSet(["bad", "good"])
        XCTAssertNil(two.index(of: "neutral"), "TweetEval names only for three classes")
        XCTAssertEqual(two.index(of: "GOOD"), 1)
        let custom = LabelSet(["positive", "negative", "neutral"])
        XCTAssertEqual(custom.index(of: "negative"), 1, "the model's own id2label wins over TweetEval's order")
    }

    // MARK: Fingerprint

    func testSHA256_knownVectors() {
        var h = SHA256Hasher()
        h.update(Array("abc".utf8))
        XCTAssertEqual(h.finalizeHex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var h2 = SHA256Hasher()
        h2.update(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnop".utf8))
        h2.update(Array("nopq".utf8))
        XCTAssertEqual(h2.finalizeHex(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var h3 = SHA256Hasher()
        for _ in 0..<1000 { h3.update([UInt8](repeating: 0x61, count: 1000)) }
        XCTAssertEqual(h3.finalizeHex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testFingerprint_matchesTheDocumentedDefinitionAndIgnoresTheFormat() throws {
        // Value computed independently with Python's hashlib from the definition in DataFingerprint.
        XCTAssertEqual(DataFingerprint.of(expected, labels: labels),
                       "df3bdde9483f5e5f60b7984416b46c12fc4c3731e2a60e1e957119212f2d4690")
        XCTAssertEqual(DataFingerprint.of([], labels: labels),
                       "4d246dbbd5531e0ddd5e490714b0400e227c4cc9a57d6184f6b11789099c48c3")
        let dir = TemporaryDirectory()
        let jsonl = dir.write("a.jsonl", "{\"text\": \"I hate Mondays\", \"label\": \"0\"}\n"
            + "{\"text\": \"Café \\\"au lait\\\", yes!\\nsecond line\", \"label\": \"Positive\"}\n{\"text\": \"It is 3pm\", \"label\": 1}\n")
        let csv = dir.write("a.csv", "text,label\nI hate Mondays,negative\n\"Café \"\"au lait\"\", yes!\nsecond line\",2\nIt is 3pm,neutral\n")
        for url in [jsonl, csv] {
            XCTAssertEqual(DataFingerprint.of(try TrainingDataLoader.load(url, labels: labels), labels: labels),
                           "df3bdde9483f5e5f60b7984416b46c12fc4c3731e2a60e1e957119212f2d4690", url.lastPathComponent)
        }
        var swapped = expected
        swapped.swapAt(0, 2)
        XCTAssertNotEqual(DataFingerprint.of(swapped, labels: labels), DataFingerprint.of(expected, labels: labels))
        var relabelled = expected
        relabelled[2].label = 0
        XCTAssertNotEqual(DataFingerprint.of(relabelled, labels: labels), DataFingerprint.of(expected, labels: labels))
    }

    // MARK: Bad input, each with file and line

    func testUnknownLabel_namesFileLineAndAcceptedSpellings() {
        let dir = TemporaryDirectory()
        let url = dir.write("t.jsonl", "{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\", \"label\": \"happy\"}\n")
        guard let e = error({ try TrainingDataLoader.load(url, labels: labels) }) else { return }
        XCTAssertEqual(e, .unknownLabel(path: url.path, line: 2, label: "happy", accepted: labels.accepted))
        XCTAssertTrue(e.description.hasPrefix("\(url.path):2: unknown label \"happy\""), e.description)
        XCTAssertTrue(e.description.contains("negative"), e.description)

        let outOfRange = dir.write("r.csv", "text,label\nx,0\ny,3\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(outOfRange, labels: labels) }),
                       .unknownLabel(path: outOfRange.path, line: 3, label: "3", accepted: labels.accepted))
        let fractional = dir.write("f.jsonl", "{\"text\": \"x\", \"label\": 1.5}\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(fractional, labels: labels) }),
                       .unknownLabel(path: fractional.path, line: 1, label: "1.5", accepted: labels.accepted))
        let text = dir.write("x_text.txt", "a\nb\n")
        let lab = dir.write("x_labels.txt", "0\nmeh\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(text, labels: labels) }),
                       .unknownLabel(path: lab.path, line: 2, label: "meh", accepted: labels.accepted))
    }

    func testEmptyText_inEveryFormat() {
        let dir = TemporaryDirectory()
        let jsonl = dir.write("e.jsonl", "{\"text\": \"ok\", \"label\": 0}\n{\"text\": \"  \\t\", \"label\": 0}\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(jsonl, labels: labels) }), .emptyText(path: jsonl.path, line: 2))
        let csv = dir.write("e.csv", "text,label\nok,1\n\"\",1\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(csv, labels: labels) }), .emptyText(path: csv.path, line: 3))
        let text = dir.write("e_text.txt", "ok\n\nthird\n")
        dir.write("e_labels.txt", "0\n1\n2\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(text, labels: labels) }), .emptyText(path: text.path, line: 2))
        let json = dir.write("e.json", "[{\"text\": \"ok\", \"label\": 0},\n {\"text\": \"\", \"label\": 0}]")
        XCTAssertEqual(error({ try TrainingDataLoader.load(json, labels: labels) }), .emptyText(path: json.path, line: 2))
    }

    func testTweetEval_lineCountMismatchAndMissingLabelsFile() {
        let dir = TemporaryDirectory()
        let text = dir.write("val_text.txt", "a\nb\nc\n")
        let lab = dir.write("val_labels.txt", "0\n1\n")
        guard let e = error({ try TrainingDataLoader.load(text, labels: labels) }) else { return }
        XCTAssertEqual(e, .lineCountMismatch(textPath: text.path, textLines: 3, labelPath: lab.path, labelLines: 2))
        XCTAssertTrue(e.description.contains("3 lines") && e.description.contains("has 2"), e.description)
        let lone = dir.write("test_text.txt", "a\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(lone, labels: labels) }),
                       .labelFileMissing(textPath: lone.path, labelPath: dir.url.appendingPathComponent("test_labels.txt").path))
    }

    func testCSV_withoutTheColumns_andBadRecords() {
        let dir = TemporaryDirectory()
        let noLabel = dir.write("a.csv", "sentence,sentiment\nhello,0\n")
        guard let e = error({ try TrainingDataLoader.load(noLabel, labels: labels) }) else { return }
        XCTAssertEqual(e, .csvMissingColumns(path: noLabel.path, missing: ["text", "label"], found: ["sentence", "sentiment"]))
        XCTAssertTrue(e.description.contains("\"sentence\""), e.description)
        let onlyText = dir.write("b.csv", "text,score\nhello,0\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(onlyText, labels: labels) }),
                       .csvMissingColumns(path: onlyText.path, missing: ["label"], found: ["text", "score"]))
        let fields = dir.write("c.csv", "text,label\nhello,0\n\"multi\nline\",1\nx,1,extra\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(fields, labels: labels) }),
                       .csvFieldCount(path: fields.path, line: 5, expected: 2, found: 3))
        let open = dir.write("d.csv", "text,label\nhello,0\n\"never closed,1\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(open, labels: labels) }), .csvUnterminatedQuote(path: open.path, line: 3))
        let after = dir.write("e.csv", "text,label\n\"quoted\"tail,0\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(after, labels: labels) }), .csvTextAfterQuote(path: after.path, line: 2))
        let headerOnly = dir.write("f.csv", "text,label\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(headerOnly, labels: labels) }), .noExamples(path: headerOnly.path))
    }

    func testMalformedJSON_lineNumbers() {
        let dir = TemporaryDirectory()
        let jsonl = dir.write("m.jsonl", "{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\", \"label\": 0\n{\"text\": \"c\", \"label\": 0}\n")
        guard case let .malformedJSON(path, line, _)? = error({ try TrainingDataLoader.load(jsonl, labels: labels) }) else {
            return XCTFail("expected malformedJSON")
        }
        XCTAssertEqual(path, jsonl.path)
        XCTAssertEqual(line, 2)
        let dup = dir.write("d.jsonl", "{\"text\": \"a\", \"label\": 0, \"label\": 1}\n")
        guard case .malformedJSON(_, 1, let reason)? = error({ try TrainingDataLoader.load(dup, labels: labels) }) else {
            return XCTFail("a duplicate key is malformed")
        }
        XCTAssertTrue(reason.contains("duplicate"), reason)
        let array = dir.write("m.json", "[\n {\"text\": \"a\", \"label\": 0},\n {\"text\": \"b\",\n  \"label\": 0,}\n]")
        guard case .malformedJSON(_, 4, _)? = error({ try TrainingDataLoader.load(array, labels: labels) }) else {
            return XCTFail("the error is on line 4")
        }
        let unclosed = dir.write("u.json", "[{\"text\": \"a\", \"label\": 0},\n{\"text\": \"b\", \"label\": 1}\n")
        guard case .malformedJSON(_, _, let r2)? = error({ try TrainingDataLoader.load(unclosed, labels: labels) }) else {
            return XCTFail("an unclosed array is malformed")
        }
        XCTAssertTrue(r2.contains("not closed"), r2)
        let trailing = dir.write("t.json", "[{\"text\": \"a\", \"label\": 0},]")
        guard case .malformedJSON? = error({ try TrainingDataLoader.load(trailing, labels: labels) }) else {
            return XCTFail("a trailing comma is malformed")
        }
        let object = dir.write("o.json", "  {\"text\": \"a\", \"label\": 0}")
        XCTAssertEqual(error({ try TrainingDataLoader.load(object, labels: labels, format: .json) }), .notAnArray(path: object.path))
    }

    func testMissingAndMistypedFields() {
        let dir = TemporaryDirectory()
        let noText = dir.write("a.jsonl", "{\"txt\": \"a\", \"label\": 0}\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(noText, labels: labels) }), .missingField(path: noText.path, line: 1, field: "text"))
        let noLabel = dir.write("b.json", "[{\"text\": \"a\"}]")
        XCTAssertEqual(error({ try TrainingDataLoader.load(noLabel, labels: labels) }), .missingField(path: noLabel.path, line: 1, field: "label"))
        let numberText = dir.write("c.jsonl", "{\"text\": 5, \"label\": 0}\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(numberText, labels: labels) }),
                       .badField(path: numberText.path, line: 1, field: "text", expected: "a string"))
        let boolLabel = dir.write("d.jsonl", "{\"text\": \"x\", \"label\": true}\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(boolLabel, labels: labels) }),
                       .badField(path: boolLabel.path, line: 1, field: "label", expected: "a class index or a label name"))
        let notObject = dir.write("e.jsonl", "{\"text\": \"x\", \"label\": 0}\n[1, 2]\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(notObject, labels: labels) }), .notAnObject(path: notObject.path, line: 2))
    }

    func testUnreadableInvalidUTF8UnknownFormatAndEmptyFiles() {
        let dir = TemporaryDirectory()
        let missing = dir.url.appendingPathComponent("nope.jsonl")
        guard case .unreadable(missing.path, _)? = error({ try TrainingDataLoader.load(missing, labels: labels) }) else {
            return XCTFail("a missing file is unreadable")
        }
        let bad = dir.write("bad.jsonl", bytes: Array("{\"text\": \"ok\", \"label\": 0}\n{\"text\": \"".utf8) + [0xC3, 0x28] + Array("\", \"label\": 0}\n".utf8))
        XCTAssertEqual(error({ try TrainingDataLoader.load(bad, labels: labels) }), .invalidUTF8(path: bad.path, line: 2))
        let badCSV = dir.write("bad.csv", bytes: Array("text,label\nok,0\n".utf8) + [0xFF] + Array(",1\n".utf8))
        XCTAssertEqual(error({ try TrainingDataLoader.load(badCSV, labels: labels) }), .invalidUTF8(path: badCSV.path, line: 3))
        let txt = dir.write("data.txt", "hello\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(txt, labels: labels) }), .unknownFormat(path: txt.path))
        let empty = dir.write("empty.jsonl", "\n\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(empty, labels: labels) }), .noExamples(path: empty.path))
        let emptyArray = dir.write("empty.json", " [ ] \n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(emptyArray, labels: labels) }), .noExamples(path: emptyArray.path))
    }
}

extension TrainingDataLoader {
    /// Argument order that reads well in the tests.
    static func load(_ url: URL, labels: LabelSet, format: TrainingDataFormat) throws -> [TrainingExample] {
        try load(url, format: format, labels: labels)
    }
}
