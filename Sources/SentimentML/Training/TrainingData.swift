import Foundation

/// One labelled text. `label` indexes the model's `id2label`; `line` is the 1-based line of the source
/// file the example starts on (0 for examples that did not come from a file).
public struct TrainingExample: Sendable, Equatable {
    public var text: String
    public var label: Int
    public var line: Int

    public init(text: String, label: Int, line: Int = 0) {
        self.text = text
        self.label = label
        self.line = line
    }
}

/// The file layouts `sentimentd finetune` reads.
public enum TrainingDataFormat: String, Sendable, CaseIterable, Codable {
    /// Decide from the file name: `.jsonl`/`.ndjson` JSONL, `.json` an array (or JSONL when the first
    /// byte is `{`), `.csv` CSV, `*_text.txt` a TweetEval pair.
    case auto
    /// One JSON object `{"text": ..., "label": ...}` per line; blank lines are skipped.
    case jsonl
    /// The guide's `custom_data.json`: one JSON array of `{"text", "label"}` objects.
    case json
    /// A header row with `text` and `label` columns (any order, other columns ignored), RFC 4180 quoting.
    case csv
    /// TweetEval's `X_text.txt` (one text per line) with `X_labels.txt` beside it (one label per line).
    case tweeteval
}

/// What is wrong with a data file. Every case names the file and, where there is one, the line.
public enum TrainingDataError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case invalidUTF8(path: String, line: Int)
    case unknownFormat(path: String)
    case malformedJSON(path: String, line: Int, reason: String)
    case notAnArray(path: String)
    case notAnObject(path: String, line: Int)
    case missingField(path: String, line: Int, field: String)
    case badField(path: String, line: Int, field: String, expected: String)
    case unknownLabel(path: String, line: Int, label: String, accepted: [String])
    case emptyText(path: String, line: Int)
    case labelFileMissing(textPath: String, labelPath: String)
    case lineCountMismatch(textPath: String, textLines: Int, labelPath: String, labelLines: Int)
    case csvMissingColumns(path: String, missing: [String], found: [String])
    case csvFieldCount(path: String, line: Int, expected: Int, found: Int)
    case csvUnterminatedQuote(path: String, line: Int)
    case csvTextAfterQuote(path: String, line: Int)
    case noExamples(path: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): cannot read: \(reason)"
        case let .invalidUTF8(path, line): return "\(path):\(line): not valid UTF-8"
        case let .unknownFormat(path):
            return "\(path): cannot tell the format from the name; pass --format jsonl, json, csv or tweeteval "
                + "(.jsonl, .json, .csv and *_text.txt are recognised)"
        case let .malformedJSON(path, line, reason): return "\(path):\(line): malformed JSON: \(reason)"
        case let .notAnArray(path):
            return "\(path): expected a JSON array of {\"text\", \"label\"} objects (for one object per line use --format jsonl)"
        case let .notAnObject(path, line): return "\(path):\(line): expected a JSON object {\"text\": ..., \"label\": ...}"
        case let .missingField(path, line, field): return "\(path):\(line): the field \"\(field)\" is missing"
        case let .badField(path, line, field, expected): return "\(path):\(line): \"\(field)\" must be \(expected)"
        case let .unknownLabel(path, line, label, accepted):
            return "\(path):\(line): unknown label \"\(label)\" (accepted: \(accepted.joined(separator: ", ")), case-insensitive)"
        case let .emptyText(path, line): return "\(path):\(line): the text is empty"
        case let .labelFileMissing(textPath, labelPath):
            return "\(textPath): the TweetEval labels file \(labelPath) is missing (X_text.txt needs X_labels.txt beside it)"
        case let .lineCountMismatch(textPath, textLines, labelPath, labelLines):
            return "\(textPath) has \(textLines) lines but \(labelPath) has \(labelLines); they must pair up line by line"
        case let .csvMissingColumns(path, missing, found):
            return "\(path):1: the header has no \(missing.map { "\"\($0)\"" }.joined(separator: " or ")) column "
                + "(found: \(found.map { "\"\($0)\"" }.joined(separator: ", "))); a CSV needs a header row with text,label"
        case let .csvFieldCount(path, line, expected, found):
            return "\(path):\(line): \(found) fields, the header has \(expected)"
        case let .csvUnterminatedQuote(path, line): return "\(path):\(line): a quoted field opened here never closes"
        case let .csvTextAfterQuote(path, line):
            return "\(path):\(line): text after a closing quote (write a quote inside a quoted field as \"\")"
        case let .noExamples(path): return "\(path): no examples"
        }
    }
}

/// The label names of a model and how data files may spell them: the class index (`0`, `"2"`), the
/// model's `id2label` name, or for a three-class model TweetEval's `negative`/`neutral`/`positive`
/// (indices 0/1/2); names are compared case-insensitively after trimming spaces.
public struct LabelSet: Sendable, Equatable {
    public let names: [String]
    public static let tweetEval = ["negative", "neutral", "positive"]

    public init(_ names: [String]) {
        precondition(!names.isEmpty, "a label set needs at least one label")
        self.names = names
    }

    public var count: Int { names.count }

    /// Every accepted spelling, for error messages.
    public var accepted: [String] {
        var out = names.indices.map(String.init) + names
        if names.count == 3 {
            for n in Self.tweetEval where !names.contains(where: { $0.lowercased() == n }) { out.append(n) }
        }
        return out
    }

    public func index(of raw: String) -> Int? {
        let s = raw.trimmingCharacters(in: .whitespaces)
        if let i = Int(s) { return names.indices.contains(i) ? i : nil }
        let lower = s.lowercased()
        if let i = names.firstIndex(where: { $0.lowercased() == lower }) { return i }
        if names.count == 3, let i = Self.tweetEval.firstIndex(of: lower) { return i }
        return nil
    }
}

/// Reads labelled examples from the supported formats. Texts are kept exactly as written (CSV unquoted,
/// JSON unescaped, a CR before LF removed in the line formats); a text that is empty or only white space
/// is an error, as is a label the label set does not know.
public enum TrainingDataLoader {
    public static func load(_ url: URL, format: TrainingDataFormat = .auto, labels: LabelSet) throws -> [TrainingExample] {
        let resolved = try resolveFormat(url, format)
        let examples: [TrainingExample]
        switch resolved {
        case .jsonl: examples = try loadJSONL(url, labels: labels)
        case .json: examples = try loadJSONArray(url, labels: labels)
        case .csv: examples = try loadCSV(url, labels: labels)
        case .tweeteval: examples = try loadTweetEval(url, labels: labels)
        case .auto: preconditionFailure("resolved above")
        }
        if examples.isEmpty { throw TrainingDataError.noExamples(path: url.path) }
        return examples
    }

    public static func resolveFormat(_ url: URL, _ format: TrainingDataFormat) throws -> TrainingDataFormat {
        guard format == .auto else { return format }
        let name = url.lastPathComponent.lowercased()
        if name.hasSuffix(".jsonl") || name.hasSuffix(".ndjson") { return .jsonl }
        if name.hasSuffix(".csv") { return .csv }
        if name.hasSuffix("_text.txt") { return .tweeteval }
        if name.hasSuffix(".json") {
            let bytes = try read(url)
            let first = bytes.first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
            return first == UInt8(ascii: "{") ? .jsonl : .json
        }
        throw TrainingDataError.unknownFormat(path: url.path)
    }

    /// The labels file of a TweetEval text file: `X_text.txt` -> `X_labels.txt`.
    public static func tweetEvalLabelsURL(for textURL: URL) -> URL {
        let name = textURL.lastPathComponent
        let stem = name.hasSuffix("_text.txt") ? String(name.dropLast("_text.txt".count)) : (name as NSString).deletingPathExtension
        return textURL.deletingLastPathComponent().appendingPathComponent(stem + "_labels.txt")
    }

    // MARK: Formats

    static func loadJSONL(_ url: URL, labels: LabelSet) throws -> [TrainingExample] {
        let path = url.path
        var out: [TrainingExample] = []
        for (line, bytes) in try lines(try read(url), path: path) {
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            let value = try parseJSON(bytes, path: path, firstLine: line)
            out.append(try example(value, path: path, line: line, labels: labels))
        }
        return out
    }

    static func loadJSONArray(_ url: URL, labels: LabelSet) throws -> [TrainingExample] {
        let path = url.path
        let bytes = try read(url)
        try checkUTF8(bytes, path: path)
        let elements = try arrayElements(bytes, path: path)
        return try elements.map { range, line in
            let value = try parseJSON(Array(bytes[range]), path: path, firstLine: line)
            return try example(value, path: path, line: line, labels: labels)
        }
    }

    static func loadCSV(_ url: URL, labels: LabelSet) throws -> [TrainingExample] {
        let path = url.path
        let bytes = try read(url)
        try checkUTF8(bytes, path: path)
        let records: [CSVReader.Record]
        do { records = try CSVReader.records(bytes) } catch let failure as CSVReader.Failure {
            switch failure {
            case let .unterminatedQuote(line): throw TrainingDataError.csvUnterminatedQuote(path: path, line: line)
            case let .textAfterClosingQuote(line): throw TrainingDataError.csvTextAfterQuote(path: path, line: line)
            }
        }
        guard let header = records.first else { throw TrainingDataError.noExamples(path: path) }
        let columns = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let textColumn = columns.firstIndex(of: "text"), labelColumn = columns.firstIndex(of: "label")
        guard let tc = textColumn, let lc = labelColumn else {
            let missing = (textColumn == nil ? ["text"] : []) + (labelColumn == nil ? ["label"] : [])
            throw TrainingDataError.csvMissingColumns(path: path, missing: missing, found: header.fields)
        }
        return try records.dropFirst().map { record in
            guard record.fields.count == header.fields.count else {
                throw TrainingDataError.csvFieldCount(path: path, line: record.line, expected: header.fields.count,
                                                      found: record.fields.count)
            }
            return try make(text: record.fields[tc], label: record.fields[lc], path: path, line: record.line, labels: labels)
        }
    }

    static func loadTweetEval(_ textURL: URL, labels: LabelSet) throws -> [TrainingExample] {
        let labelURL = tweetEvalLabelsURL(for: textURL)
        guard FileManager.default.fileExists(atPath: labelURL.path) else {
            throw TrainingDataError.labelFileMissing(textPath: textURL.path, labelPath: labelURL.path)
        }
        let texts = try lines(try read(textURL), path: textURL.path)
        let labelLines = try lines(try read(labelURL), path: labelURL.path)
        guard texts.count == labelLines.count else {
            throw TrainingDataError.lineCountMismatch(textPath: textURL.path, textLines: texts.count,
                                                      labelPath: labelURL.path, labelLines: labelLines.count)
        }
        return try zip(texts, labelLines).map { t, l in
            let raw = String(decoding: l.bytes, as: UTF8.self)
            guard let label = labels.index(of: raw) else {
                throw TrainingDataError.unknownLabel(path: labelURL.path, line: l.line, label: raw, accepted: labels.accepted)
            }
            let text = String(decoding: t.bytes, as: UTF8.self)
            if isBlank(text) { throw TrainingDataError.emptyText(path: textURL.path, line: t.line) }
            return TrainingExample(text: text, label: label, line: t.line)
        }
    }

    // MARK: Pieces

    static func read(_ url: URL) throws -> [UInt8] {
        do {
            var bytes = Array(try Data(contentsOf: url))
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }   // a UTF-8 byte order mark
            return bytes
        } catch {
            throw TrainingDataError.unreadable(path: url.path, reason: (error as NSError).localizedDescription)
        }
    }

    static func checkUTF8(_ bytes: [UInt8], path: String) throws {
        if let bad = UTF8Validation.firstError(bytes) {
            throw TrainingDataError.invalidUTF8(path: path, line: lineNumber(bytes, offset: bad.offset))
        }
    }

    /// Lines split at LF (a CR before it dropped), with 1-based numbers; a final LF does not start a line.
    /// Each line must be valid UTF-8.
    static func lines(_ bytes: [UInt8], path: String) throws -> [(line: Int, bytes: [UInt8])] {
        var out: [(line: Int, bytes: [UInt8])] = []
        var start = 0, number = 1
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            var slice = Array(bytes[start..<end])
            if slice.last == 0x0D { slice.removeLast() }
            if UTF8Validation.firstError(slice) != nil { throw TrainingDataError.invalidUTF8(path: path, line: number) }
            out.append((number, slice))
            number += 1
            start = end + 1
        }
        return out
    }

    static func lineNumber(_ bytes: [UInt8], offset: Int) -> Int {
        1 + bytes[0..<min(offset, bytes.count)].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }

    static func parseJSON(_ bytes: [UInt8], path: String, firstLine: Int) throws -> StrictJSON.Value {
        if let bad = UTF8Validation.firstError(bytes) {
            throw TrainingDataError.invalidUTF8(path: path, line: firstLine + lineNumber(bytes, offset: bad.offset) - 1)
        }
        do {
            return try bytes.withUnsafeBytes { try StrictJSON.parse($0) }
        } catch let e as StrictJSON.ParseError {
            let line = firstLine + lineNumber(bytes, offset: e.offset) - 1
            let reason = e.reason == "unexpected end of header" ? "unexpected end of input" : e.reason
            throw TrainingDataError.malformedJSON(path: path, line: line, reason: reason)
        }
    }

    /// Byte ranges and first lines of the elements of a top-level JSON array, found by tracking strings
    /// and nesting only; each element is then parsed on its own so that errors carry its line.
    static func arrayElements(_ b: [UInt8], path: String) throws -> [(Range<Int>, Int)] {
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }
        var i = 0
        var line = 1
        func skipSpace() { while i < b.count && isSpace(b[i]) { if b[i] == 0x0A { line += 1 }; i += 1 } }
        skipSpace()
        guard i < b.count, b[i] == UInt8(ascii: "[") else {
            if i < b.count && b[i] == UInt8(ascii: "{") { throw TrainingDataError.notAnArray(path: path) }
            throw TrainingDataError.malformedJSON(path: path, line: line, reason: i < b.count ? "expected '['" : "the file is empty")
        }
        i += 1
        var out: [(Range<Int>, Int)] = []
        skipSpace()
        if i < b.count && b[i] == UInt8(ascii: "]") {
            i += 1
            skipSpace()
            if i < b.count { throw TrainingDataError.malformedJSON(path: path, line: line, reason: "unexpected data after the array") }
            return out
        }
        while true {
            skipSpace()
            let start = i, startLine = line
            var depth = 0
            var inString = false
            scan: while i < b.count {
                let c = b[i]
                if inString {
                    if c == UInt8(ascii: "\\") { i += 2; continue }
                    if c == UInt8(ascii: "\"") { inString = false }
                    if c == 0x0A { line += 1 }
                    i += 1
                    continue
                }
                switch c {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    if depth == 0 { break scan }
                    depth -= 1
                case UInt8(ascii: ","): if depth == 0 { break scan }
                case 0x0A: line += 1
                default: break
                }
                i += 1
            }
            var end = i
            while end > start && isSpace(b[end - 1]) { end -= 1 }
            guard i < b.count else {
                throw TrainingDataError.malformedJSON(path: path, line: line, reason: "unexpected end of input (the array is not closed)")
            }
            if end == start { throw TrainingDataError.malformedJSON(path: path, line: line, reason: "expected a value") }
            out.append((start..<end, startLine))
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            guard b[i] == UInt8(ascii: "]") else {
                throw TrainingDataError.malformedJSON(path: path, line: line, reason: "unexpected '}'")
            }
            i += 1
            skipSpace()
            if i < b.count { throw TrainingDataError.malformedJSON(path: path, line: line, reason: "unexpected data after the array") }
            return out
        }
    }

    static func example(_ value: StrictJSON.Value, path: String, line: Int, labels: LabelSet) throws -> TrainingExample {
        guard case let .object(members) = value else { throw TrainingDataError.notAnObject(path: path, line: line) }
        func field(_ name: String) -> StrictJSON.Value? { members.first { $0.key == name }?.value }
        guard let textValue = field("text") else { throw TrainingDataError.missingField(path: path, line: line, field: "text") }
        guard case let .string(text) = textValue else {
            throw TrainingDataError.badField(path: path, line: line, field: "text", expected: "a string")
        }
        guard let labelValue = field("label") else { throw TrainingDataError.missingField(path: path, line: line, field: "label") }
        let raw: String
        switch labelValue {
        case let .string(s): raw = s
        case let .number(digits):
            guard Int(digits) != nil else {
                throw TrainingDataError.unknownLabel(path: path, line: line, label: digits, accepted: labels.accepted)
            }
            raw = digits
        default:
            throw TrainingDataError.badField(path: path, line: line, field: "label", expected: "a class index or a label name")
        }
        return try make(text: text, label: raw, path: path, line: line, labels: labels)
    }

    static func make(text: String, label raw: String, path: String, line: Int, labels: LabelSet) throws -> TrainingExample {
        if isBlank(text) { throw TrainingDataError.emptyText(path: path, line: line) }
        guard let label = labels.index(of: raw) else {
            throw TrainingDataError.unknownLabel(path: path, line: line, label: raw, accepted: labels.accepted)
        }
        return TrainingExample(text: text, label: label, line: line)
    }

    static func isBlank(_ s: String) -> Bool {
        s.unicodeScalars.allSatisfy { $0.properties.isWhitespace }
    }
}
