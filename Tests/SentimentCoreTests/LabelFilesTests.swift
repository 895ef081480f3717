import Foundation
@testable import SentimentCore
import SentimentTestSupport
import XCTest

final class LabelFilesTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("labelfiles-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    @discardableResult
    private func write(_ name: String, _ text: String) throws -> String {
        try write(name, bytes: Array(text.utf8))
    }

    @discardableResult
    private func write(_ name: String, bytes: [UInt8]) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    private func problemLines(_ file: LabelFile) -> [Int] { file.problems.map(\.line) }

    private func assertProblem(_ file: LabelFile, line: Int, contains fragment: String,
                               file sourceFile: StaticString = #filePath, line sourceLine: UInt = #line) {
        guard let problem = file.problems.first(where: { $0.line == line }) else {
            XCTFail("no problem on line \(line); problems: \(file.problems)", file: sourceFile, line: sourceLine)
            return
        }
        XCTAssertTrue(problem.reason.contains(fragment), "line \(line): \"\(problem.reason)\" does not mention \"\(fragment)\"",
                      file: sourceFile, line: sourceLine)
    }

    // MARK: JSON Lines

    func testJSONLines_itemsKeepTheirLinesAndBlankLinesAreSkipped() throws {
        let path = try write("a.jsonl", """
        {"text": "good day", "label": "positive"}

        {"text": "meh", "label": 1, "source": "extra fields are fine"}
           \t
        {"label": "negative", "text": "awful"}
        """)
        let file = try LabelFile.read(path: path)
        XCTAssertEqual(file.format, .jsonl)
        XCTAssertEqual(file.paths, [path])
        XCTAssertEqual(file.problems, [])
        XCTAssertEqual(file.items, [
            LabelItem(text: "good day", label: .name("positive"), line: 1),
            LabelItem(text: "meh", label: .index(1), line: 3),
            LabelItem(text: "awful", label: .name("negative"), line: 5),
        ])
    }

    func testJSONLines_everyKindOfBadLineIsAProblemWithItsLine() throws {
        let path = try write("bad.jsonl", [
            #"{"text": "fine", "label": 2}"#,
            #"{"text": "no label"}"#,
            #"{"label": "positive"}"#,
            #"{"text": 5, "label": "positive"}"#,
            #"{"text": "x", "label": true}"#,
            #"{"text": "x", "label": 1.5}"#,
            #"["text", "label"]"#,
            #"{"text": "x", "label": pos}"#,
            #"{"text": "unterminated"#,
            #"{"text": "also fine", "label": "neutral"}"#,
        ].joined(separator: "\n") + "\n")
        let file = try LabelFile.read(path: path)
        XCTAssertEqual(file.items.map(\.line), [1, 10])
        XCTAssertEqual(problemLines(file), [2, 3, 4, 5, 6, 7, 8, 9])
        assertProblem(file, line: 2, contains: "\"label\" is missing")
        assertProblem(file, line: 3, contains: "\"text\" is missing")
        assertProblem(file, line: 4, contains: "\"text\" must be a string, not a number")
        assertProblem(file, line: 5, contains: "not a boolean")
        assertProblem(file, line: 6, contains: "not the number 1.5")
        assertProblem(file, line: 7, contains: "found an array")
        assertProblem(file, line: 8, contains: "not valid JSON")
        assertProblem(file, line: 8, contains: "column 24")
        assertProblem(file, line: 9, contains: "not valid JSON")
    }

    func testJSONLines_CRLFAndByteOrderMark() throws {
        let text = "\u{FEFF}{\"text\":\"a\",\"label\":0}\r\n\r\n{\"text\":\"b\",\"label\":\"neutral\"}\r\n"
        let file = try LabelFile.read(path: try write("crlf.jsonl", text))
        XCTAssertEqual(file.problems, [])
        XCTAssertEqual(file.items, [LabelItem(text: "a", label: .index(0), line: 1),
                                    LabelItem(text: "b", label: .name("neutral"), line: 3)])
    }

    // MARK: JSON array (custom_data.json)

    func testJSONArray_itemsCarryTheLineTheirObjectStartsOn() throws {
        let path = try write("custom_data.json", """
        [
          {"text": "I love it", "label": "positive"},
          {
            "text": "spans\\nlines [with] {brackets}, and \\"quotes\\"",
            "label": 0
          },
          {"text": "last", "label": "neutral"}
        ]

        """)
        let file = try LabelFile.read(path: path)
        XCTAssertEqual(file.format, .json)
        XCTAssertEqual(file.problems, [])
        XCTAssertEqual(file.items, [
            LabelItem(text: "I love it", label: .name("positive"), line: 2),
            LabelItem(text: "spans\nlines [with] {brackets}, and \"quotes\"", label: .index(0), line: 3),
            LabelItem(text: "last", label: .name("neutral"), line: 7),
        ])
    }

    func testJSONArray_badElementsAreProblemsAndTheOthersStillRead() throws {
        let path = try write("bad.json", """
        [
          {"text": "ok", "label": 1},
          {"text": "no label"},
          42,
          {"text": "broken", "label": },
          {"text": "ok too",
           "label": "positive"},
          , {"text": "after empty", "label": 0}
        ]
        """)
        let file = try LabelFile.read(path: path)
        XCTAssertEqual(file.items.map(\.line), [2, 6, 8])
        XCTAssertEqual(problemLines(file), [3, 4, 5, 8])
        assertProblem(file, line: 3, contains: "\"label\" is missing")
        assertProblem(file, line: 4, contains: "found a number")
        assertProblem(file, line: 5, contains: "not valid JSON")
        assertProblem(file, line: 5, contains: "line 5, column")
        assertProblem(file, line: 8, contains: "empty array element")
    }

    func testJSONArray_aFileThatIsNotAnArrayIsOneProblemAtLineOne() throws {
        for (name, text) in [("number.json", "\n42\n"), ("string.json", "\"text\""), ("empty.json", "   \n")] {
            let file = try LabelFile.read(path: try write(name, text))
            XCTAssertEqual(file.items, [], name)
            XCTAssertEqual(file.problems.count, 1, name)
            XCTAssertEqual(file.problems.first?.line, 1, name)
            XCTAssertTrue(file.problems.first?.reason.contains("not a JSON array") == true, "\(name): \(file.problems)")
        }
    }

    /// The one behaviour both commands changed to: objects one after another in a .json file are JSON Lines in the
    /// wrong file, an error for the whole file that says how to read it, never guessed into JSON Lines.
    func testJSONArray_objectsInAJSONFileAreAnErrorThatSaysToUseJSONL() throws {
        for (name, text) in [("object.json", "\n{\"text\": \"a\", \"label\": 1}\n"),
                             ("lines.json", "{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\": 2}\n")] {
            let path = try write(name, text)
            XCTAssertThrowsError(try LabelFile.read(path: path), name) { error in
                XCTAssertEqual(error as? LabelFileError, .jsonLinesInJSONFile(path: path))
                XCTAssertTrue("\(error)".contains("read it as jsonl"), "\(error)")
                XCTAssertFalse("\(error)".contains("--"), "the reader names the setting, the command its flag: \(error)")
                XCTAssertEqual((error as? LabelFileError)?.formatsToName, [.jsonl])
            }
            XCTAssertEqual(try LabelFile.read(path: path, format: .jsonl).items.map(\.text).first, "a",
                           "the same file given as jsonl is read")
        }
    }

    func testJSONArray_brokenStructureStopsWithAProblemWhereItBreaks() throws {
        let missingComma = try LabelFile.read(path: try write("comma.json", """
        [{"text": "a", "label": 1}
         {"text": "b", "label": 2}]
        """))
        XCTAssertEqual(missingComma.items.map(\.line), [1])
        XCTAssertEqual(problemLines(missingComma), [2])
        assertProblem(missingComma, line: 2, contains: "expected ',' or ']'")

        let unclosedElement = try LabelFile.read(path: try write("open.json", "[\n{\"text\": \"a\", \"label\": 1},\n{\"text\": \"b\",\n"))
        XCTAssertEqual(unclosedElement.items.map(\.line), [2])
        XCTAssertEqual(problemLines(unclosedElement), [3])
        assertProblem(unclosedElement, line: 3, contains: "not closed")

        let unclosedArray = try LabelFile.read(path: try write("noend.json", "[\n{\"text\": \"a\", \"label\": 1}\n\n"))
        XCTAssertEqual(unclosedArray.items.map(\.line), [2])
        XCTAssertEqual(problemLines(unclosedArray), [4])
        assertProblem(unclosedArray, line: 4, contains: "array is not closed")

        let trailing = try LabelFile.read(path: try write("trailing.json", "[{\"text\": \"a\", \"label\": 1}]\n\nx\n"))
        XCTAssertEqual(trailing.items.count, 1)
        XCTAssertEqual(problemLines(trailing), [3])
        assertProblem(trailing, line: 3, contains: "after the array's closing")

        let empty = try LabelFile.read(path: try write("none.json", " [ ] \n"))
        XCTAssertEqual(empty.items, [])
        XCTAssertEqual(empty.problems, [])
    }

    // MARK: CSV

    func testCSV_headerInAnyOrderAndCaseQuotedFieldsAndRecordLines() throws {
        let path = try write("labels.csv", #"""
        id,Label,TEXT,note
        1,positive,plain text,x
        2,0,"with, comma",y
        3,neutral,"two
        lines and ""quotes""",z

        4, negative ,"last",
        """#)
        let file = try LabelFile.read(path: path)
        XCTAssertEqual(file.format, .csv)
        XCTAssertEqual(file.problems, [])
        XCTAssertEqual(file.items, [
            LabelItem(text: "plain text", label: .name("positive"), line: 2),
            LabelItem(text: "with, comma", label: .index(0), line: 3),
            LabelItem(text: "two\nlines and \"quotes\"", label: .name("neutral"), line: 4),
            LabelItem(text: "last", label: .name("negative"), line: 7),
        ])
    }

    func testCSV_CRLFAndByteOrderMark() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("text,label\r\n\"a\r\nb\",1\r\nc,2\r\n".utf8)
        let file = try LabelFile.read(path: try write("crlf.csv", bytes: bytes))
        XCTAssertEqual(file.problems, [])
        XCTAssertEqual(file.items, [LabelItem(text: "a\r\nb", label: .index(1), line: 2),
                                    LabelItem(text: "c", label: .index(2), line: 4)])
    }

    func testCSV_badRecordsAreProblemsWithTheLineTheyStartOn() throws {
        let path = try write("bad.csv", """
        text,label
        good,positive
        a, comma, too many,negative
        only one field
        "closed" too early,neutral
        empty label,
        "fine
        again",1
        "never closed,2
        x,0
        """)
        let file = try LabelFile.read(path: path)
        XCTAssertEqual(file.items.map(\.line), [2, 7])
        XCTAssertEqual(problemLines(file), [3, 4, 5, 6, 9])
        assertProblem(file, line: 3, contains: "4 field(s), but the header has 2")
        assertProblem(file, line: 4, contains: "1 field(s)")
        assertProblem(file, line: 5, contains: "after the closing quote")
        assertProblem(file, line: 6, contains: "label field is empty")
        assertProblem(file, line: 9, contains: "opened on line 9 is never closed")
    }

    func testCSV_headerProblemsAreErrorsForTheWholeFile() throws {
        XCTAssertThrowsError(try LabelFile.read(path: try write("nolabel.csv", "text,sentiment\na,1\n"))) { error in
            guard case let LabelFileError.csvHeader(_, reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("no \"label\" column"), reason)
            XCTAssertTrue(reason.contains("\"sentiment\""), reason)
        }
        XCTAssertThrowsError(try LabelFile.read(path: try write("twice.csv", "text,label,Text\na,1,b\n"))) { error in
            guard case let LabelFileError.csvHeader(_, reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("2 columns named \"text\""), reason)
        }
        XCTAssertThrowsError(try LabelFile.read(path: try write("empty.csv", "\n\n"))) { error in
            guard case let LabelFileError.csvHeader(_, reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("empty"), reason)
        }
    }

    // MARK: TweetEval

    func testTweetEval_eitherFileFindsItsSiblingAndLinesPair() throws {
        let text = try write("val_text.txt", "first tweet \nsecond\r\nthird @user\n")
        let labels = try write("val_labels.txt", "2\n0\n1\n\n")
        for given in [text, labels] {
            let file = try LabelFile.read(path: given)
            XCTAssertEqual(file.format, .tweeteval)
            XCTAssertEqual(file.paths, [text, labels])
            XCTAssertEqual(file.problems, [])
            XCTAssertEqual(file.items, [
                LabelItem(text: "first tweet ", label: .index(2), line: 1),
                LabelItem(text: "second", label: .index(0), line: 2),
                LabelItem(text: "third @user", label: .index(1), line: 3),
            ])
        }
    }

    func testTweetEval_nonIntegerLabelIsAProblemAndLineCountsMustAgree() throws {
        try write("x_text.txt", "a\nb\nc\nd\n")
        let labels = try write("x_labels.txt", "1\npositive\n\n0\n")
        let file = try LabelFile.read(path: labels)
        XCTAssertEqual(file.items.map(\.line), [1, 4])
        XCTAssertEqual(problemLines(file), [2, 3])
        assertProblem(file, line: 2, contains: "x_labels.txt: the label is \"positive\", not a class index")
        assertProblem(file, line: 3, contains: "an empty line")

        let short = try write("y_text.txt", "a\nb\nc\n")
        try write("y_labels.txt", "1\n2\n")
        XCTAssertThrowsError(try LabelFile.read(path: short)) { error in
            XCTAssertEqual(error as? LabelFileError, .tweetEvalLineCounts(
                textPath: short, textLines: 3, labelsPath: directory.appendingPathComponent("y_labels.txt").path, labelLines: 2))
            XCTAssertTrue("\(error)".contains("has 3 lines but"), "\(error)")
        }

        let lonely = try write("z_text.txt", "a\n")
        XCTAssertThrowsError(try LabelFile.read(path: lonely)) { error in
            guard case let LabelFileError.tweetEvalSiblingMissing(path, sibling) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, lonely)
            XCTAssertTrue(sibling.hasSuffix("z_labels.txt"), sibling)
        }
    }

    func testTweetEval_theRealValidationPair() throws {
        guard SharedData.file("tweet-sentiment/val_text.txt") != nil else {
            throw XCTSkip(SharedData.absence("tweet-sentiment/val_text.txt"))
        }
        let folder = SharedData.folder.appendingPathComponent("tweet-sentiment")
        let file = try LabelFile.read(path: folder.appendingPathComponent("val_labels.txt").path)
        XCTAssertEqual(file.problems, [])
        XCTAssertEqual(file.items.count, 2000)
        XCTAssertEqual(file.items.map(\.line), Array(1...2000))
        XCTAssertTrue(file.items.allSatisfy { if case let .index(i) = $0.label { return (0...2).contains(i) } else { return false } })
        XCTAssertTrue(file.items[0].text.hasPrefix("Dark Souls 3 April Launch Date Confirmed"), file.items[0].text)
        XCTAssertEqual(file.items[0].label, .index(1))
        XCTAssertEqual(file.items[1].label, .index(2))
        XCTAssertEqual(file.items[2].label, .index(0))
    }

    // MARK: Formats and encodings

    func testFormatComesFromTheNameUnlessGiven() throws {
        XCTAssertEqual(LabelFileFormat.detect(path: "a/b.JSONL"), .jsonl)
        XCTAssertEqual(LabelFileFormat.detect(path: "custom_data.json"), .json)
        XCTAssertEqual(LabelFileFormat.detect(path: "x.csv"), .csv)
        XCTAssertEqual(LabelFileFormat.detect(path: "d/train_text.txt"), .tweeteval)
        XCTAssertEqual(LabelFileFormat.detect(path: "d/train_labels.txt"), .tweeteval)
        XCTAssertNil(LabelFileFormat.detect(path: "d/_text.txt"))
        XCTAssertNil(LabelFileFormat.detect(path: "notes.txt"))

        let path = try write("labels.txt", "{\"text\": \"a\", \"label\": 1}\n")
        XCTAssertThrowsError(try LabelFile.read(path: path)) { error in
            XCTAssertEqual(error as? LabelFileError, .unknownFormat(path: path))
            XCTAssertTrue("\(error)".contains("name its format (jsonl, json, csv or tweeteval)"), "\(error)")
            XCTAssertEqual((error as? LabelFileError)?.formatsToName, LabelFileFormat.allCases)
        }
        XCTAssertEqual(try LabelFile.read(path: path, format: .jsonl).items, [LabelItem(text: "a", label: .index(1), line: 1)])
        XCTAssertThrowsError(try LabelFile.read(path: path, format: .tweeteval)) { error in
            XCTAssertEqual(error as? LabelFileError, .notTweetEvalName(path: path))
        }
        XCTAssertThrowsError(try LabelFile.read(path: directory.appendingPathComponent("missing.csv").path)) { error in
            guard case let LabelFileError.cannotRead(_, reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(reason, "no such file")
        }
    }

    func testInvalidUTF8IsAnErrorWithTheByteOffset() throws {
        // "text,label\n" is 11 bytes; "caf" 3 more; then Latin-1 é (0xE9) at offset 14 on line 2.
        let bytes = Array("text,label\ncaf".utf8) + [0xE9] + Array(",1\n".utf8)
        let path = try write("latin1.csv", bytes: bytes)
        XCTAssertThrowsError(try LabelFile.read(path: path)) { error in
            XCTAssertEqual(error as? LabelFileError, .notUTF8(path: path, byteOffset: 14, line: 2))
            XCTAssertTrue("\(error)".contains("offset 14"), "\(error)")
        }
        try write("u_text.txt", "fine\n")
        let labels = try write("u_labels.txt", bytes: [0x31, 0x0A, 0xFF])
        XCTAssertThrowsError(try LabelFile.read(path: labels)) { error in
            XCTAssertEqual(error as? LabelFileError, .notUTF8(path: labels, byteOffset: 2, line: 2))
        }
    }

    func testUTF8Validation() {
        XCTAssertNil(LabelFile.firstInvalidUTF8Offset(Array("ascii, é, €, 😀".utf8)))
        XCTAssertEqual(LabelFile.firstInvalidUTF8Offset([0x61, 0xC0, 0xAF]), 1)        // overlong "/"
        XCTAssertEqual(LabelFile.firstInvalidUTF8Offset([0x61, 0x62, 0xED, 0xA0, 0x80]), 2)  // a UTF-16 surrogate
        XCTAssertEqual(LabelFile.firstInvalidUTF8Offset([0xF4, 0x90, 0x80, 0x80]), 0)  // past U+10FFFF
        XCTAssertEqual(LabelFile.firstInvalidUTF8Offset([0x61, 0xE2, 0x82]), 1)        // truncated at the end
        XCTAssertEqual(LabelFile.firstInvalidUTF8Offset([0xE2, 0x28, 0xA1]), 0)        // bad continuation byte
        XCTAssertEqual(LabelFile.firstInvalidUTF8Offset([0x80]), 0)                    // a lone continuation byte
    }

    func testJSON_aKeyGivenTwiceIsAProblem() throws {
        let path = try write("dup.jsonl", """
        {"text": "a", "label": 0, "label": 1}
        {"text": "b", "label": 2, "meta": {"label": 1, "label": 2}}
        """)
        let file = try LabelFile.read(path: path)
        XCTAssertEqual(problemLines(file), [1])
        assertProblem(file, line: 1, contains: "\"label\" appears twice")
        XCTAssertEqual(file.items, [LabelItem(text: "b", label: .index(2), line: 2)], "nested objects' keys are their own")
    }

    /// RFC 4180 records (moved with the reader from finetune's former CSVReader tests).
    func testCSVRecords_edgeCases() {
        func records(_ s: String) -> [LabelFile.CSVRecords.Record] {
            var reader = LabelFile.CSVRecords(Array(s.utf8)[...])
            var out: [LabelFile.CSVRecords.Record] = []
            while let record = reader.next() { if !record.isBlank { out.append(record) } }
            return out
        }
        func fields(_ s: String) -> [[String]] { records(s).map(\.fields) }
        XCTAssertEqual(fields("a,b\n1,\n,2"), [["a", "b"], ["1", ""], ["", "2"]])
        XCTAssertEqual(fields("a,b\n\"x\",\"\""), [["a", "b"], ["x", ""]])
        XCTAssertEqual(fields("a,b\n\"x,\ny\",z\n"), [["a", "b"], ["x,\ny", "z"]])
        XCTAssertEqual(fields("a\r\n\r\n\r\nb\r\n"), [["a"], ["b"]])
        XCTAssertEqual(fields("a,\"b\",\n"), [["a", "b", ""]])
        let open = records("a,b\n\"open,x\n")
        XCTAssertEqual(open.last?.line, 2)
        XCTAssertTrue(open.last?.problem?.contains("opened on line 2 is never closed") == true, "\(open)")
        let after = records("a,b\n\n\"x\"y,z\n")
        XCTAssertEqual(after.last?.line, 3)
        XCTAssertTrue(after.last?.problem?.contains("after the closing quote") == true, "\(after)")
    }
}
