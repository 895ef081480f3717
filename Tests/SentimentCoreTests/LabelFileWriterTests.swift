import Foundation
@testable import SentimentCore
import XCTest

/// The writer is the reader's inverse: what `LabelFileWriter` writes, `LabelFile` reads back into the same texts
/// and labels, in every format; what a format cannot carry is refused by name.
final class LabelFileWriterTests: XCTestCase {
    static let names = ["negative", "neutral", "positive"]

    /// Texts that break naive writers: separators and quotes of every format, escapes, non-ASCII, control
    /// characters. (Stored texts are normalised, so no line break; the jsonl/json/csv cases below add raw ones.)
    static let texts: [(String, String)] = [
        ("plain text", "positive"),
        ("a, comma, or two", "negative"),
        ("she said \"hello\" and left", "neutral"),
        ("\"quoted from the start\"", "positive"),
        ("'single' and `back` quotes", "neutral"),
        ("back\\slash and \\n that is not a newline", "negative"),
        ("tab\there", "neutral"),
        ("Café naïve façade — “curly” ‘quotes’", "positive"),
        ("emoji 😀🎉 and a flag 🇫🇷 and ZWJ 👩‍💻", "positive"),
        ("日本語のテキスト、カンマ付き", "neutral"),
        ("עברית ومعها العربية", "neutral"),
        ("control \u{1} and \u{1F} and DEL \u{7F}", "negative"),
        ("{\"text\": \"json inside\", \"label\": 2}", "neutral"),
        ("text,label", "negative"),
        ("=SUM(A1:A2) looks like a formula", "neutral"),
        ("12345", "positive"),
        ("  spaces inside  kept  ", "negative"),
        ("ends with a backslash \\", "positive"),
        ("null", "negative"),
        ("[1, 2, 3]", "neutral"),
    ]

    private func write(_ items: [(String, String)], _ format: LabelFileFormat) throws -> Data {
        var writer = LabelFileWriter(format: format, labelNames: Self.names)
        var data = writer.header
        for (text, label) in items { data += try writer.item(text: text, label: label) }
        return data + writer.footer
    }

    private func expected(_ items: [(String, String)], asIndexes: Bool) -> [LabelItem] {
        items.enumerated().map { _, item in
            LabelItem(text: item.0, label: asIndexes ? .index(Self.names.firstIndex(of: item.1)!) : .name(item.1))
        }
    }

    private func read(_ data: Data, _ format: LabelFileFormat) throws -> LabelFile.Parsed {
        try LabelFile.parse(data, format: format, name: "export.\(format.rawValue)")
    }

    func testJSONLines_roundTrip() throws {
        let items = Self.texts + [("line\nbreak and\r\nCRLF", "neutral")]
        let parsed = try read(try write(items, .jsonl), .jsonl)
        XCTAssertEqual(parsed.problems, [])
        XCTAssertEqual(parsed.items.map(\.text), items.map(\.0))
        XCTAssertEqual(parsed.items.map(\.label), expected(items, asIndexes: false).map(\.label))
        XCTAssertEqual(parsed.items.map(\.line), Array(1...items.count), "one item per line")
    }

    func testJSONArray_theGuidesCustomData_roundTripWithClassIndexes() throws {
        let items = Self.texts + [("line\nbreak", "positive")]
        let data = try write(items, .json)
        let parsed = try read(data, .json)
        XCTAssertEqual(parsed.problems, [])
        XCTAssertEqual(parsed.items.map(\.text), items.map(\.0))
        XCTAssertEqual(parsed.items.map(\.label), expected(items, asIndexes: true).map(\.label))
        // What Python's json (and so datasets.load_dataset("json")) sees: an array of objects with integer labels.
        let array = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        XCTAssertEqual(array.count, items.count)
        XCTAssertEqual(array[2]["label"] as? Int, 1)
        XCTAssertEqual(array[2]["text"] as? String, items[2].0)
        XCTAssertEqual(try read(try write([], .json), .json).items, [], "an empty export is an empty array")
    }

    func testCSV_roundTrip_quotesCommasAndLineBreaks() throws {
        let items = Self.texts + [("line\nbreak, inside", "neutral"), ("CR\r\nLF", "negative")]
        let data = try write(items, .csv)
        XCTAssertTrue(String(decoding: data, as: UTF8.self).hasPrefix("text,label\n"))
        let parsed = try read(data, .csv)
        XCTAssertEqual(parsed.problems, [])
        XCTAssertEqual(parsed.items.map(\.text), items.map(\.0))
        XCTAssertEqual(parsed.items.map(\.label), expected(items, asIndexes: false).map(\.label))
    }

    func testTweetEval_roundTrip() throws {
        var writer = LabelFileWriter(format: .tweeteval, labelNames: Self.names)
        var texts = Data(), labels = Data()
        for (text, label) in Self.texts {
            let lines = try writer.tweetEvalItem(text: text, label: label)
            texts += lines.text
            labels += lines.label
        }
        let parsed = try LabelFile.parseTweetEval(text: texts, labels: labels, textName: "x_text.txt", labelsName: "x_labels.txt")
        XCTAssertEqual(parsed.problems, [])
        XCTAssertEqual(parsed.items.map(\.text), Self.texts.map(\.0))
        XCTAssertEqual(parsed.items.map(\.label), expected(Self.texts, asIndexes: true).map(\.label))
    }

    // MARK: What a format cannot carry is refused, never altered

    func testTweetEval_refusesALineBreak() {
        for text in ["two\nlines", "carriage\rreturn"] {
            var writer = LabelFileWriter(format: .tweeteval, labelNames: Self.names)
            XCTAssertNoThrow(try writer.tweetEvalItem(text: "fine", label: "neutral"))
            XCTAssertThrowsError(try writer.tweetEvalItem(text: text, label: "neutral")) { error in
                XCTAssertEqual(error as? LabelFileWriterError, .lineBreakInText(format: .tweeteval, index: 1, text: text))
                XCTAssertTrue("\(error)".contains("item 2"), "\(error)")
                XCTAssertTrue("\(error)".contains("export as jsonl"), "\(error)")
            }
        }
    }

    func testClassIndexFormats_refuseALabelOutsideTheNames() {
        var json = LabelFileWriter(format: .json, labelNames: Self.names)
        XCTAssertThrowsError(try json.item(text: "t", label: "mixed")) { error in
            XCTAssertEqual(error as? LabelFileWriterError,
                           .labelNotInNames(format: .json, index: 0, label: "mixed", names: Self.names))
        }
        var pair = LabelFileWriter(format: .tweeteval, labelNames: Self.names)
        XCTAssertThrowsError(try pair.tweetEvalItem(text: "t", label: "mixed"))
        // Names formats write it as it is (the importing daemon judges it).
        var jsonl = LabelFileWriter(format: .jsonl, labelNames: Self.names)
        XCTAssertNoThrow(try jsonl.item(text: "t", label: "mixed"))
    }

    func testCSV_refusesALabelNameTheReaderTakesForAnIndex() {
        var csv = LabelFileWriter(format: .csv, labelNames: ["0", "1"])
        XCTAssertThrowsError(try csv.item(text: "t", label: "1")) { error in
            XCTAssertEqual(error as? LabelFileWriterError, .labelLooksLikeIndex(format: .csv, index: 0, label: "1"))
        }
        var jsonl = LabelFileWriter(format: .jsonl, labelNames: ["0", "1"])
        XCTAssertNoThrow(try jsonl.item(text: "t", label: "1"), "JSON keeps a name a string")
    }

    func testEveryFormat_refusesALabelWithSurroundingSpace() {
        for format in [LabelFileFormat.jsonl, .csv] {
            var writer = LabelFileWriter(format: format, labelNames: Self.names)
            XCTAssertThrowsError(try writer.item(text: "t", label: " positive")) { error in
                XCTAssertEqual(error as? LabelFileWriterError, .labelWithSurroundingSpace(index: 0, label: " positive"))
            }
        }
    }
}
