import Foundation
import XCTest
@testable import SentimentTraining
import SentimentCore
import SentimentTestSupport

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
        let dir = try TemporaryDirectory()
        let url = dir.write("train.jsonl", "{\"text\": \"I hate Mondays\", \"label\": 0}\r\n\n"
            + "{\"label\": \"POSITIVE\", \"text\": \"Café \\\"au lait\\\", yes!\\nsecond line\"}\n"
            + "   \n{\"text\":\"It is 3pm\",\"label\":\"1\", \"id\": 17}")
        let got = try TrainingDataLoader.load(url, labels: labels)
        assertSameExamples(got)
        XCTAssertEqual(got.map(\.line), [1, 3, 5])
    }

    func testJSONArray_customDataFile() throws {
        let dir = try TemporaryDirectory()
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
        XCTAssertEqual(LabelFileFormat.detect(path: url.path), .json)
        let got = try TrainingDataLoader.load(url, labels: labels)
        assertSameExamples(got)
        XCTAssertEqual(got.map(\.line), [2, 3, 7])
    }

    /// sentimentctl import's rule, now finetune's too: a .json file is one array; objects one per line in it are
    /// an error that says to read the file as jsonl (before, finetune guessed JSON Lines from the first byte).
    func testJSONExtensionHoldingOneObjectPerLine_isAnErrorThatSaysToUseJSONL() throws {
        let dir = try TemporaryDirectory()
        let url = dir.write("data.json", "{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\", \"label\": 1}\n")
        guard let e = error({ try TrainingDataLoader.load(url, labels: labels) }) else { return }
        XCTAssertEqual(e, .file(.jsonLinesInJSONFile(path: url.path)))
        XCTAssertTrue(e.description.contains("read it as jsonl"), e.description)
        XCTAssertFalse(e.description.contains("--"), "the reader names the setting, finetune its flag: \(e.description)")
        XCTAssertEqual(try TrainingDataLoader.load(url, labels: labels, format: .jsonl).map(\.label), [0, 1])
    }

    func testCSV_quotingMultiLineFieldsColumnOrderAndExtraColumns() throws {
        let dir = try TemporaryDirectory()
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

    func testTweetEvalPair() throws {
        let dir = try TemporaryDirectory()
        let text = dir.write("train_text.txt", "I hate Mondays\r\nCafé \"au lait\", yes!\nIt is 3pm \n")
        dir.write("train_labels.txt", "0\n2\n1\n")
        let labelsFile = dir.url.appendingPathComponent("train_labels.txt")
        XCTAssertEqual(LabelFileFormat.detect(path: text.path), .tweeteval)
        XCTAssertEqual(LabelFileFormat.detect(path: labelsFile.path), .tweeteval)
        for named in [text, labelsFile] {
            let got = try TrainingDataLoader.load(named, labels: labels)
            XCTAssertEqual(got.map(\.text), ["I hate Mondays", "Café \"au lait\", yes!", "It is 3pm "],
                           "the CR of CRLF goes, other white space stays (named by \(named.lastPathComponent))")
            XCTAssertEqual(got.map(\.label), [0, 2, 1])
            XCTAssertEqual(got.map(\.line), [1, 2, 3])
        }
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

    func testFingerprint_matchesTheDocumentedDefinitionAndIgnoresTheFormat() throws {
        // Value computed independently with Python's hashlib from the definition in DataFingerprint.
        XCTAssertEqual(DataFingerprint.of(expected, labels: labels),
                       "df3bdde9483f5e5f60b7984416b46c12fc4c3731e2a60e1e957119212f2d4690")
        XCTAssertEqual(DataFingerprint.of([], labels: labels),
                       "4d246dbbd5531e0ddd5e490714b0400e227c4cc9a57d6184f6b11789099c48c3")
        let dir = try TemporaryDirectory()
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

    func testUnknownLabel_namesFileLineAndAcceptedSpellings() throws {
        let dir = try TemporaryDirectory()
        let url = dir.write("t.jsonl", "{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\", \"label\": \"happy\"}\n")
        guard let e = error({ try TrainingDataLoader.load(url, labels: labels) }) else { return }
        XCTAssertEqual(e, .unknownLabel(path: url.path, line: 2, label: "happy", accepted: labels.accepted))
        XCTAssertTrue(e.description.hasPrefix("\(url.path):2: unknown label \"happy\""), e.description)
        XCTAssertTrue(e.description.contains("negative"), e.description)

        let outOfRange = dir.write("r.csv", "text,label\nx,0\ny,3\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(outOfRange, labels: labels) }),
                       .unknownLabel(path: outOfRange.path, line: 3, label: "3", accepted: labels.accepted))
        let fractional = dir.write("f.jsonl", "{\"text\": \"x\", \"label\": 1.5}\n")
        guard case let .invalidLine(path, 1, reason, 0)? = error({ try TrainingDataLoader.load(fractional, labels: labels) }) else {
            return XCTFail("a fractional label is a line the reader cannot use")
        }
        XCTAssertEqual(path, fractional.path)
        XCTAssertTrue(reason.contains("not the number 1.5"), reason)
        let text = dir.write("x_text.txt", "a\nb\n")
        dir.write("x_labels.txt", "0\n7\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(text, labels: labels) }),
                       .unknownLabel(path: text.path, line: 2, label: "7", accepted: labels.accepted))
        dir.write("x_labels.txt", "0\nmeh\n")
        guard case let .invalidLine(_, 2, labelReason, 0)? = error({ try TrainingDataLoader.load(text, labels: labels) }) else {
            return XCTFail("a TweetEval label is a class index")
        }
        XCTAssertTrue(labelReason.contains("x_labels.txt") && labelReason.contains("\"meh\""), labelReason)
    }

    func testEmptyText_inEveryFormat() throws {
        let dir = try TemporaryDirectory()
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

    func testTweetEval_lineCountMismatchAndMissingLabelsFile() throws {
        let dir = try TemporaryDirectory()
        let text = dir.write("val_text.txt", "a\nb\nc\n")
        let lab = dir.write("val_labels.txt", "0\n1\n")
        guard let e = error({ try TrainingDataLoader.load(text, labels: labels) }) else { return }
        XCTAssertEqual(e, .file(.tweetEvalLineCounts(textPath: text.path, textLines: 3, labelsPath: lab.path, labelLines: 2)))
        XCTAssertTrue(e.description.contains("3 lines") && e.description.contains("has 2"), e.description)
        let lone = dir.write("test_text.txt", "a\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(lone, labels: labels) }),
                       .file(.tweetEvalSiblingMissing(path: lone.path, sibling: dir.url.appendingPathComponent("test_labels.txt").path)))
    }

    func testCSV_withoutTheColumns_andBadRecords() throws {
        let dir = try TemporaryDirectory()
        let noLabel = dir.write("a.csv", "sentence,sentiment\nhello,0\n")
        guard case let .file(.csvHeader(path, reason))? = error({ try TrainingDataLoader.load(noLabel, labels: labels) }) else {
            return XCTFail("a header without the columns is an error for the whole file")
        }
        XCTAssertEqual(path, noLabel.path)
        XCTAssertTrue(reason.contains("no \"text\" column") && reason.contains("\"sentence\""), reason)
        let onlyText = dir.write("b.csv", "text,score\nhello,0\n")
        guard case let .file(.csvHeader(_, onlyTextReason))? = error({ try TrainingDataLoader.load(onlyText, labels: labels) }) else {
            return XCTFail("a header without label is an error for the whole file")
        }
        XCTAssertTrue(onlyTextReason.contains("no \"label\" column") && onlyTextReason.contains("\"score\""), onlyTextReason)
        func invalidLine(_ url: URL) -> (line: Int, reason: String)? {
            guard case let .invalidLine(path, line, reason, _)? = error({ try TrainingDataLoader.load(url, labels: labels) }),
                  path == url.path else { return nil }
            return (line, reason)
        }
        let fields = dir.write("c.csv", "text,label\nhello,0\n\"multi\nline\",1\nx,1,extra\n")
        XCTAssertEqual(invalidLine(fields)?.line, 5)
        XCTAssertTrue(invalidLine(fields)?.reason.contains("3 field(s), but the header has 2") == true, "\(String(describing: invalidLine(fields)))")
        let open = dir.write("d.csv", "text,label\nhello,0\n\"never closed,1\n")
        XCTAssertEqual(invalidLine(open)?.line, 3)
        XCTAssertTrue(invalidLine(open)?.reason.contains("never closed") == true)
        let after = dir.write("e.csv", "text,label\n\"quoted\"tail,0\n")
        XCTAssertEqual(invalidLine(after)?.line, 2)
        XCTAssertTrue(invalidLine(after)?.reason.contains("after the closing quote") == true)
        let headerOnly = dir.write("f.csv", "text,label\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(headerOnly, labels: labels) }), .noExamples(path: headerOnly.path))
    }

    /// A line the reader cannot parse stops finetune with the file, the line and the reader's own words (the
    /// words sentimentctl import shows), plus how many other lines are bad.
    func testMalformedJSON_lineNumbers() throws {
        let dir = try TemporaryDirectory()
        func invalidLine(_ url: URL, format: LabelFileFormat? = nil) -> (line: Int, reason: String, more: Int)? {
            guard case let .invalidLine(path, line, reason, more)? = error({ try TrainingDataLoader.load(url, labels: labels, format: format) }),
                  path == url.path else { return nil }
            return (line, reason, more)
        }
        let jsonl = dir.write("m.jsonl", "{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\", \"label\": 0\n{\"text\": \"c\", \"label\": 0}\n")
        XCTAssertEqual(invalidLine(jsonl)?.line, 2)
        XCTAssertTrue(invalidLine(jsonl)?.reason.hasPrefix("not valid JSON") == true)
        XCTAssertEqual(invalidLine(jsonl)?.more, 0)
        let dup = dir.write("d.jsonl", "{\"text\": \"a\", \"label\": 0, \"label\": 1}\n")
        XCTAssertEqual(invalidLine(dup)?.line, 1)
        XCTAssertTrue(invalidLine(dup)?.reason.contains("\"label\" appears twice") == true, "a duplicate key is malformed")
        // (A trailing comma is tolerated, as sentimentctl import and JSONDecoder do; a missing one is not.)
        let array = dir.write("m.json", "[\n {\"text\": \"a\", \"label\": 0},\n {\"text\": \"b\"\n  \"label\": 0}\n]")
        XCTAssertEqual(invalidLine(array)?.line, 3, "the element that starts on line 3 is malformed")
        let unclosed = dir.write("u.json", "[{\"text\": \"a\", \"label\": 0},\n{\"text\": \"b\", \"label\": 1}\n")
        XCTAssertTrue(invalidLine(unclosed)?.reason.contains("not closed") == true, "\(String(describing: invalidLine(unclosed)))")
        let twoBad = dir.write("two.jsonl", "{\"text\": \"a\"}\n{\"label\": 0}\n")
        XCTAssertEqual(invalidLine(twoBad)?.line, 1)
        XCTAssertEqual(invalidLine(twoBad)?.more, 1)
        XCTAssertTrue(TrainingDataError.invalidLine(path: "p", line: 1, reason: "r", more: 1).description.contains("and 1 more line"))
        let object = dir.write("o.json", "  {\"text\": \"a\", \"label\": 0}")
        XCTAssertEqual(error({ try TrainingDataLoader.load(object, labels: labels, format: .json) }),
                       .file(.jsonLinesInJSONFile(path: object.path)))
    }

    func testMissingAndMistypedFields() throws {
        let dir = try TemporaryDirectory()
        func reason(_ url: URL, line: Int) -> String? {
            guard case let .invalidLine(path, l, reason, _)? = error({ try TrainingDataLoader.load(url, labels: labels) }),
                  path == url.path, l == line else { return nil }
            return reason
        }
        let noText = dir.write("a.jsonl", "{\"txt\": \"a\", \"label\": 0}\n")
        XCTAssertEqual(reason(noText, line: 1), "\"text\" is missing")
        let noLabel = dir.write("b.json", "[{\"text\": \"a\"}]")
        XCTAssertEqual(reason(noLabel, line: 1), "\"label\" is missing")
        let numberText = dir.write("c.jsonl", "{\"text\": 5, \"label\": 0}\n")
        XCTAssertEqual(reason(numberText, line: 1), "\"text\" must be a string, not a number")
        let boolLabel = dir.write("d.jsonl", "{\"text\": \"x\", \"label\": true}\n")
        XCTAssertTrue(reason(boolLabel, line: 1)?.contains("\"label\" must be a label name (a string) or a class index") == true)
        let notObject = dir.write("e.jsonl", "{\"text\": \"x\", \"label\": 0}\n[1, 2]\n")
        XCTAssertTrue(reason(notObject, line: 2)?.hasPrefix("expected an object") == true)
    }

    func testUnreadableInvalidUTF8UnknownFormatAndEmptyFiles() throws {
        let dir = try TemporaryDirectory()
        let missing = dir.url.appendingPathComponent("nope.jsonl")
        guard case .file(.cannotRead(missing.path, _))? = error({ try TrainingDataLoader.load(missing, labels: labels) }) else {
            return XCTFail("a missing file is unreadable")
        }
        let bad = dir.write("bad.jsonl", bytes: Array("{\"text\": \"ok\", \"label\": 0}\n{\"text\": \"".utf8) + [0xC3, 0x28] + Array("\", \"label\": 0}\n".utf8))
        XCTAssertEqual(error({ try TrainingDataLoader.load(bad, labels: labels) }), .file(.notUTF8(path: bad.path, byteOffset: 37, line: 2)))
        let badCSV = dir.write("bad.csv", bytes: Array("text,label\nok,0\n".utf8) + [0xFF] + Array(",1\n".utf8))
        XCTAssertEqual(error({ try TrainingDataLoader.load(badCSV, labels: labels) }), .file(.notUTF8(path: badCSV.path, byteOffset: 16, line: 3)))
        let txt = dir.write("data.txt", "hello\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(txt, labels: labels) }), .file(.unknownFormat(path: txt.path)))
        let empty = dir.write("empty.jsonl", "\n\n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(empty, labels: labels) }), .noExamples(path: empty.path))
        let emptyArray = dir.write("empty.json", " [ ] \n")
        XCTAssertEqual(error({ try TrainingDataLoader.load(emptyArray, labels: labels) }), .noExamples(path: emptyArray.path))
    }
}

extension TrainingDataLoader {
    /// Argument order that reads well in the tests.
    static func load(_ url: URL, labels: LabelSet, format: LabelFileFormat?) throws -> [TrainingExample] {
        try load(url, format: format, labels: labels)
    }
}
