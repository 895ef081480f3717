import Foundation

// MARK: - Writing label files
//
// The other half of `LabelFile`: `sentimentctl labels export` writes each format so that `LabelFile.read` (what
// `sentimentctl import` and `sentimentd finetune` use) gives back the same texts and labels, byte for byte. What a
// format cannot carry is refused, naming the item, never altered on the way out:
//
// - jsonl: one {"text": ..., "label": "name"} per line. Carries everything (JSON escapes).
// - json (the guide's custom_data.json): one array of {"text": ..., "label": index}, the label as its class index in
//   the daemon's label names (what a Hugging Face Trainer reads as `labels`). A label outside those names cannot be
//   written as an index.
// - csv: a `text,label` header, every text quoted (RFC 4180: "" for a quote; commas and line breaks stay inside the
//   quotes), labels by name. A label name the reader would take for a class index (all digits) cannot be written.
// - tweeteval: X_text.txt (one text per line) and X_labels.txt (its class index on the same line). A text holding a
//   line break (LF or CR) cannot be written: the pair has no escape for it. (The daemon's stored texts never hold
//   one: storing collapses every run of whitespace, line breaks included, to one space.)
// Everywhere: a label name with leading or trailing white space cannot be written (readers trim labels).

/// Why an item cannot be written in a format. `index` is the item's position in the export (0-based).
public enum LabelFileWriterError: Error, Equatable, CustomStringConvertible {
    case lineBreakInText(format: LabelFileFormat, index: Int, text: String)
    case labelNotInNames(format: LabelFileFormat, index: Int, label: String, names: [String])
    case labelLooksLikeIndex(format: LabelFileFormat, index: Int, label: String)
    case labelWithSurroundingSpace(index: Int, label: String)

    public var description: String {
        func shown(_ text: String) -> String {
            let flat = text.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\r", with: "\\r")
            return "\"" + (flat.count > 60 ? flat.prefix(59) + "…" : flat) + "\""
        }
        switch self {
        case let .lineBreakInText(format, index, text):
            return "item \(index + 1): \(shown(text)) holds a line break, which \(format.rawValue) files (one text per "
                + "line) cannot carry; export as jsonl, json or csv"
        case let .labelNotInNames(format, index, label, names):
            return "item \(index + 1): the label \"\(label)\" is not one of the label names (\(names.joined(separator: ", "))), "
                + "so \(format.rawValue) (labels as class indexes) cannot carry it; export as jsonl or csv"
        case let .labelLooksLikeIndex(format, index, label):
            return "item \(index + 1): the label name \"\(label)\" would read back as a class index from \(format.rawValue); "
                + "export as jsonl or json"
        case let .labelWithSurroundingSpace(index, label):
            return "item \(index + 1): the label name \"\(label)\" begins or ends with white space, which readers trim"
        }
    }
}

/// Writes labelled texts in one of the `LabelFileFormat`s, item by item (an export streams pages of labels into
/// a file): `header`, then `item` for each, then `footer`. For tweeteval each item has two lines, `TweetEvalLines`.
public struct LabelFileWriter: Sendable {
    public let format: LabelFileFormat
    /// The daemon's label names by class index (json and tweeteval write indexes).
    public let labelNames: [String]
    private var written = 0

    public init(format: LabelFileFormat, labelNames: [String]) {
        self.format = format
        self.labelNames = labelNames
    }

    /// What a file starts with.
    public var header: Data {
        switch format {
        case .jsonl, .tweeteval: return Data()
        case .json: return Data("[".utf8)
        case .csv: return Data("text,label\n".utf8)
        }
    }

    /// What a file ends with.
    public var footer: Data {
        switch format {
        case .json: return Data((written == 0 ? "]\n" : "\n]\n").utf8)
        case .jsonl, .csv, .tweeteval: return Data()
        }
    }

    /// The bytes of one item in a one-file format.
    public mutating func item(text: String, label: String) throws -> Data {
        precondition(format != .tweeteval, "a TweetEval pair is written with tweetEvalItem")
        let index = written
        try checkName(label, index: index)
        var out = ""
        switch format {
        case .jsonl:
            out = "{\"text\": " + JSONText.quoted(text) + ", \"label\": " + JSONText.quoted(label) + "}\n"
        case .json:
            let k = try classIndex(label, index: index)
            out = (index == 0 ? "\n" : ",\n") + "{\"text\": " + JSONText.quoted(text) + ", \"label\": \(k)}"
        case .csv:
            if Int(label) != nil { throw LabelFileWriterError.labelLooksLikeIndex(format: format, index: index, label: label) }
            out = Self.csvField(text, alwaysQuote: true) + "," + Self.csvField(label, alwaysQuote: false) + "\n"
        case .tweeteval:
            break
        }
        written += 1
        return Data(out.utf8)
    }

    /// The two lines of one item of a TweetEval pair: the text, and its class index.
    public mutating func tweetEvalItem(text: String, label: String) throws -> (text: Data, label: Data) {
        precondition(format == .tweeteval)
        let index = written
        try checkName(label, index: index)
        if text.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\r" }) {
            throw LabelFileWriterError.lineBreakInText(format: format, index: index, text: text)
        }
        let k = try classIndex(label, index: index)
        written += 1
        return (Data((text + "\n").utf8), Data("\(k)\n".utf8))
    }

    private func checkName(_ label: String, index: Int) throws {
        if label != label.trimmingCharacters(in: .whitespaces) {
            throw LabelFileWriterError.labelWithSurroundingSpace(index: index, label: label)
        }
    }

    private func classIndex(_ label: String, index: Int) throws -> Int {
        guard let k = labelNames.firstIndex(of: label) else {
            throw LabelFileWriterError.labelNotInNames(format: format, index: index, label: label, names: labelNames)
        }
        return k
    }

    /// A CSV field: in double quotes (a quote doubled) when asked, or when it holds a comma, a quote, a line break or
    /// surrounding white space.
    public static func csvField(_ s: String, alwaysQuote: Bool) -> String {
        let needs = alwaysQuote || s.isEmpty || s.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline })
            || s.first?.isWhitespace == true || s.last?.isWhitespace == true
        guard needs else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
