import Foundation

// MARK: - Label files
//
// One reader for every labelled-data file, shared by `sentimentctl import` (which streams the items to the
// daemon) and `sentimentd finetune` (which trains on them). The rules are the ones `sentimentctl import`
// documents: `.jsonl` (or `.ndjson`) is JSON Lines, `.json` is one JSON array (the guide's `custom_data.json`; JSON
// Lines content in a `.json` file is an error that says to read it as jsonl), `.csv` has a header row naming
// `text` and `label`, and a TweetEval pair is `X_text.txt` + `X_labels.txt`, named by either file.
//
// `sentimentctl import` reads a file into `LabelItem`s here and streams them to the daemon (which never opens
// client paths). Each item keeps the 1-based line it came from; a line that cannot be parsed becomes a
// `LabelProblem` with the same numbering, so that the daemon's own rejections and the client's read alike.
//
// Lines are counted by "\n" (a "\r" before it belongs to the line ending). What "line" means per format:
// - jsonl: the line of the object. Blank lines are skipped (but counted).
// - json: the line where the array element (the "{") starts.
// - csv: the line where the record starts (a quoted field may span lines). The header is line 1 unless
//   blank lines precede it.
// - tweeteval: the line in both files (line N of *_text.txt goes with line N of *_labels.txt).
//
// What the parser checks is syntax and field types only. Whether a label name or index exists, and whether a
// text is empty or too long, is the daemon's call: it knows the label set and its limits.

/// A label as a client may give it: a name ("positive") or a class index (2), both checked against the
/// daemon's label set.
public enum LabelValue: Codable, Sendable, Equatable, CustomStringConvertible {
    case name(String)
    case index(Int)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) { self = .index(i); return }
        if let s = try? c.decode(String.self) { self = .name(s); return }
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "a label is a name (string) or a class index (integer)")
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case let .name(s): try c.encode(s)
        case let .index(i): try c.encode(i)
        }
    }

    public var description: String {
        switch self {
        case let .name(s): return "\"\(s)\""
        case let .index(i): return "\(i)"
        }
    }
}

/// One labelled text. `line` is where it came from in an imported file (1-based), for error reports.
public struct LabelItem: Codable, Sendable, Equatable {
    public var text: String
    public var label: LabelValue
    public var line: Int?
    public init(text: String, label: LabelValue, line: Int? = nil) {
        self.text = text
        self.label = label
        self.line = line
    }
}

/// An item that was not applied, and why.
public struct LabelProblem: Codable, Sendable, Equatable {
    /// The file line (imports) or the item index (labels.add).
    public var line: Int
    public var reason: String
    public init(line: Int, reason: String) {
        self.line = line
        self.reason = reason
    }
}

/// One normalised text given more than one label within one request or one import; the last label was kept. The
/// store finds them, the daemon answers them as they are, sentimentctl shows them.
public struct LabelConflict: Codable, Sendable, Equatable {
    /// The normalised text.
    public var text: String
    /// Every line (imports) or item index (labels.add) the text appeared on, in order.
    public var lines: [Int]
    /// The label given on each of `lines` (same order, same length).
    public var labels: [String]

    public init(text: String, lines: [Int], labels: [String]) {
        self.text = text
        self.lines = lines
        self.labels = labels
    }
}

/// The label-file formats (`sentimentctl import` and `sentimentd finetune` read them alike; the daemon never opens
/// client paths, the client parses the file and sends the items).
public enum LabelFileFormat: String, Codable, Sendable, CaseIterable {
    /// One JSON object per line: {"text": ..., "label": name or index}.
    case jsonl
    /// The guide's custom_data.json: a JSON array of {"text": ..., "label": ...}.
    case json
    /// CSV with a header row naming `text` and `label` columns (RFC 4180 quoting).
    case csv
    /// TweetEval: `X_text.txt` and `X_labels.txt`, one item per line, labels as class indexes.
    case tweeteval
}

/// A user's label file that cannot be read at all (as opposed to single lines that cannot be parsed, which are
/// `LabelProblem`s).
public enum LabelFileError: Error, Sendable, Equatable, CustomStringConvertible {
    case cannotRead(path: String, reason: String)
    /// The first byte of the first invalid UTF-8 sequence (0-based) and its line (1-based).
    case notUTF8(path: String, byteOffset: Int, line: Int)
    /// The format cannot be told from the file name.
    case unknownFormat(path: String)
    /// The tweeteval format named for a file not named `*_text.txt` or `*_labels.txt`.
    case notTweetEvalName(path: String)
    case tweetEvalSiblingMissing(path: String, sibling: String)
    case tweetEvalLineCounts(textPath: String, textLines: Int, labelsPath: String, labelLines: Int)
    /// No header row, or the header lacks (or repeats) the `text` or `label` column.
    case csvHeader(path: String, reason: String)
    /// A file read as a JSON array (`.json`) that holds JSON objects one after the other (JSON Lines).
    case jsonLinesInJSONFile(path: String)

    public var description: String {
        switch self {
        case let .cannotRead(path, reason):
            return "cannot read \(path): \(reason)"
        case let .notUTF8(path, offset, line):
            return "\(path) is not valid UTF-8: the bytes at offset \(offset) (line \(line)) are not a UTF-8 character; "
                + "convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        case let .unknownFormat(path):
            return "cannot tell the format of \(path) from its name (.jsonl, .json, .csv, or a TweetEval "
                + "*_text.txt / *_labels.txt pair): name its format (jsonl, json, csv or tweeteval)"
        case let .notTweetEvalName(path):
            return "\(path) is not part of a TweetEval pair: the files are named X_text.txt and X_labels.txt"
        case let .tweetEvalSiblingMissing(path, sibling):
            return "\(path) is half of a TweetEval pair, but its other half \(sibling) cannot be read"
        case let .tweetEvalLineCounts(textPath, textLines, labelsPath, labelLines):
            return "\(textPath) has \(textLines) lines but \(labelsPath) has \(labelLines): the files must have one "
                + "line per item, in the same order"
        case let .csvHeader(path, reason):
            return "\(path): \(reason)"
        case let .jsonLinesInJSONFile(path):
            return "\(path) holds JSON objects one after another (JSON Lines), but a .json file is read as one JSON "
                + "array [{\"text\": ..., \"label\": ...}, ...]: read it as jsonl, or rename the file to .jsonl"
        }
    }

    /// The formats to choose from when naming the file's format is the fix (jsonl for JSON Lines in a `.json` file;
    /// any for a name that says none), else nil. The message names the setting, not a flag: each command that reads
    /// label files (`sentimentctl import`, `sentimentd finetune`) says it with its own option.
    public var formatsToName: [LabelFileFormat]? {
        switch self {
        case .unknownFormat: return LabelFileFormat.allCases
        case .jsonLinesInJSONFile: return [.jsonl]
        case .cannotRead, .notUTF8, .notTweetEvalName, .tweetEvalSiblingMissing, .tweetEvalLineCounts, .csvHeader:
            return nil
        }
    }
}

extension LabelFileFormat {
    /// The format a file name implies: `.jsonl` (or `.ndjson`), `.json`, `.csv`, `*_text.txt` / `*_labels.txt`.
    public static func detect(path: String) -> LabelFileFormat? {
        let name = (path as NSString).lastPathComponent.lowercased()
        if name.hasSuffix(".jsonl") || name.hasSuffix(".ndjson") { return .jsonl }
        if name.hasSuffix(".json") { return .json }
        if name.hasSuffix(".csv") { return .csv }
        if LabelFile.tweetEvalPair(for: path) != nil { return .tweeteval }
        return nil
    }
}

/// A label file read into items and problems.
public struct LabelFile: Sendable, Equatable {
    public var format: LabelFileFormat
    /// The files read: one, or the text and the labels file of a TweetEval pair (in that order).
    public var paths: [String]
    public var items: [LabelItem]
    public var problems: [LabelProblem]

    public init(format: LabelFileFormat, paths: [String], items: [LabelItem], problems: [LabelProblem]) {
        self.format = format
        self.paths = paths
        self.items = items
        self.problems = problems
    }

    /// Reads a label file; the format comes from the name unless `format` is given. For TweetEval either file of
    /// the pair may be named.
    public static func read(path: String, format: LabelFileFormat? = nil) throws -> LabelFile {
        guard let format = format ?? LabelFileFormat.detect(path: path) else {
            throw LabelFileError.unknownFormat(path: path)
        }
        if format == .tweeteval {
            guard let pair = tweetEvalPair(for: path) else { throw LabelFileError.notTweetEvalName(path: path) }
            let sibling = path == pair.text ? pair.labels : pair.text
            let text = try readBytes(pair.text, siblingOf: sibling == pair.text ? path : nil)
            let labels = try readBytes(pair.labels, siblingOf: sibling == pair.labels ? path : nil)
            let parsed = try parseTweetEval(text: text, labels: labels, textName: pair.text, labelsName: pair.labels)
            return LabelFile(format: format, paths: [pair.text, pair.labels], items: parsed.items,
                             problems: parsed.problems)
        }
        let bytes = try readBytes(path, siblingOf: nil)
        let parsed = try parse(bytes, format: format, name: path)
        return LabelFile(format: format, paths: [path], items: parsed.items, problems: parsed.problems)
    }

    /// The text and labels files of the TweetEval pair `path` belongs to (same folder, `X_text.txt` <->
    /// `X_labels.txt`); nil when the name is neither.
    public static func tweetEvalPair(for path: String) -> (text: String, labels: String)? {
        let textSuffix = "_text.txt", labelsSuffix = "_labels.txt"
        if path.hasSuffix(textSuffix), (path as NSString).lastPathComponent.count > textSuffix.count {
            return (path, String(path.dropLast(textSuffix.count)) + labelsSuffix)
        }
        if path.hasSuffix(labelsSuffix), (path as NSString).lastPathComponent.count > labelsSuffix.count {
            return (String(path.dropLast(labelsSuffix.count)) + textSuffix, path)
        }
        return nil
    }

    // MARK: Parsing bytes

    public typealias Parsed = (items: [LabelItem], problems: [LabelProblem])

    /// Parses the bytes of a one-file format (`name` is used in error messages). Throws only for the file as a
    /// whole (not UTF-8, a CSV header without the needed columns); bad lines are `problems`.
    public static func parse(_ data: Data, format: LabelFileFormat, name: String) throws -> Parsed {
        let bytes = try validatedUTF8([UInt8](data), name: name)
        switch format {
        case .jsonl: return parseJSONLines(bytes)
        case .json:
            if bytes.first(where: { !isJSONWhitespace($0) }) == UInt8(ascii: "{") {
                throw LabelFileError.jsonLinesInJSONFile(path: name)
            }
            return parseJSONArray(bytes)
        case .csv: return try parseCSV(bytes, name: name)
        case .tweeteval:
            // A pair is two files: parseTweetEval(text:labels:textName:labelsName:) or read(path:format:).
            throw LabelFileError.notTweetEvalName(path: name)
        }
    }

    /// Parses a TweetEval pair: line N of the text file is labelled by line N of the labels file (a class index).
    /// Blank lines at the very end of either file are ignored; otherwise the line counts must agree.
    public static func parseTweetEval(text: Data, labels: Data, textName: String, labelsName: String) throws -> Parsed {
        let textLines = splitLines(try validatedUTF8([UInt8](text), name: textName))
        let labelLines = splitLines(try validatedUTF8([UInt8](labels), name: labelsName))
        func withoutTrailingBlanks(_ lines: ArraySlice<ArraySlice<UInt8>>) -> ArraySlice<ArraySlice<UInt8>> {
            var lines = lines
            while let last = lines.last, last.allSatisfy(isJSONWhitespace) { lines.removeLast() }
            return lines
        }
        let texts = withoutTrailingBlanks(textLines[...]), labelValues = withoutTrailingBlanks(labelLines[...])
        guard texts.count == labelValues.count else {
            throw LabelFileError.tweetEvalLineCounts(textPath: textName, textLines: texts.count,
                                                     labelsPath: labelsName, labelLines: labelValues.count)
        }
        let labelsFile = (labelsName as NSString).lastPathComponent
        var items: [LabelItem] = [], problems: [LabelProblem] = []
        items.reserveCapacity(texts.count)
        for (offset, (textLine, labelLine)) in zip(texts, labelValues).enumerated() {
            let line = offset + 1
            let cell = string(labelLine).trimmingCharacters(in: .whitespaces)
            guard let index = Int(cell) else {
                let shown = cell.isEmpty ? "an empty line" : "\"\(cell.prefix(40))\""
                problems.append(LabelProblem(line: line, reason: "\(labelsFile): the label is \(shown), not a class index (an integer)"))
                continue
            }
            items.append(LabelItem(text: string(textLine), label: .index(index), line: line))
        }
        return (items, problems)
    }

    // MARK: JSON Lines

    static func parseJSONLines(_ bytes: ArraySlice<UInt8>) -> Parsed {
        var items: [LabelItem] = [], problems: [LabelProblem] = []
        for (offset, line) in splitLines(bytes).enumerated() {
            if line.allSatisfy(isJSONWhitespace) { continue }
            switch item(fromJSON: line, line: offset + 1) {
            case let .success(item): items.append(item)
            case let .failure(problem): problems.append(problem)
            }
        }
        return (items, problems)
    }

    // MARK: JSON array (the guide's custom_data.json)

    /// Walks the top-level array element by element so that each element keeps the line it starts on and one
    /// bad element does not hide the others. A break in the array's own structure (a missing comma, an unclosed
    /// bracket) ends the walk with a problem that says so.
    static func parseJSONArray(_ bytes: ArraySlice<UInt8>) -> Parsed {
        var items: [LabelItem] = [], problems: [LabelProblem] = []
        let lines = LineIndex(bytes)
        let end = bytes.endIndex
        func skipWhitespace(_ i: Int) -> Int {
            var i = i
            while i < end, isJSONWhitespace(bytes[i]) { i += 1 }
            return i
        }
        var i = skipWhitespace(bytes.startIndex)
        guard i < end, bytes[i] == UInt8(ascii: "[") else {
            let found = i < end ? "it starts with \(describeByte(bytes[i]))" : "it is empty"
            return ([], [LabelProblem(line: 1, reason: "not a JSON array of {\"text\": ..., \"label\": ...} objects: \(found)")])
        }
        i = skipWhitespace(i + 1)
        if i < end, bytes[i] == UInt8(ascii: "]") { i = skipWhitespace(i + 1) } else {
            while true {
                let start = i, startLine = lines.line(at: start)
                if start < end, bytes[start] == UInt8(ascii: ",") {
                    problems.append(LabelProblem(line: startLine, reason: "an empty array element (two commas in a row)"))
                    i = skipWhitespace(start + 1)
                    continue
                }
                guard let valueEnd = jsonValueEnd(bytes, from: start) else {
                    problems.append(LabelProblem(line: startLine, reason: "the element starting here is not closed "
                        + "before the end of the file; the rest of the file was not read"))
                    return (items, problems)
                }
                switch item(fromJSON: bytes[start..<valueEnd], line: startLine, lines: lines) {
                case let .success(item): items.append(item)
                case let .failure(problem): problems.append(problem)
                }
                i = skipWhitespace(valueEnd)
                guard i < end else {
                    problems.append(LabelProblem(line: lines.line(at: i), reason: "the array is not closed: the file "
                        + "ends after the element on line \(startLine) without a ']'"))
                    return (items, problems)
                }
                if bytes[i] == UInt8(ascii: "]") { i = skipWhitespace(i + 1); break }
                guard bytes[i] == UInt8(ascii: ",") else {
                    problems.append(LabelProblem(line: lines.line(at: i), reason: "expected ',' or ']' after the "
                        + "element that starts on line \(startLine), found \(describeByte(bytes[i])); the rest of the file was not read"))
                    return (items, problems)
                }
                i = skipWhitespace(i + 1)
                // A trailing comma before the closing bracket is tolerated, as JSONDecoder does.
                if i < end, bytes[i] == UInt8(ascii: "]") { i = skipWhitespace(i + 1); break }
                if i >= end {
                    problems.append(LabelProblem(line: lines.line(at: i), reason: "the array is not closed: the file ends after a ','"))
                    return (items, problems)
                }
            }
        }
        if i < end {
            problems.append(LabelProblem(line: lines.line(at: i), reason: "unexpected \(describeByte(bytes[i])) after the array's closing ']'"))
        }
        return (items, problems)
    }

    /// The index just past the JSON value starting at `start` (a container is matched by bracket depth outside
    /// strings; a scalar runs to the next delimiter), or nil when the file ends inside it. Whether the value is
    /// well-formed is for the decoder to say.
    private static func jsonValueEnd(_ bytes: ArraySlice<UInt8>, from start: Int) -> Int? {
        let end = bytes.endIndex
        var i = start
        var depth = 0
        var inString = false
        while i < end {
            let c = bytes[i]
            if inString {
                if c == UInt8(ascii: "\\") { i += 2; continue }
                if c == UInt8(ascii: "\"") {
                    inString = false
                    if depth == 0 { return i + 1 }
                }
                i += 1
                continue
            }
            switch c {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 0 { return i }  // a scalar ended by the array's own ']'
                depth -= 1
                if depth == 0 { return i + 1 }
            case UInt8(ascii: ","):
                if depth == 0 { return i }
            default:
                if depth == 0, isJSONWhitespace(c) { return i }
            }
            i += 1
        }
        return depth == 0 && !inString ? end : nil
    }

    // MARK: One JSON object -> one item

    private enum ItemOrProblem {
        case success(LabelItem)
        case failure(LabelProblem)
    }

    private static func item(fromJSON slice: ArraySlice<UInt8>, line: Int, lines: LineIndex? = nil) -> ItemOrProblem {
        let data = Data(slice)
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            return .failure(LabelProblem(line: line, reason: "not valid JSON" + jsonSyntaxDetail(data, slice: slice, lines: lines)))
        }
        guard case let .object(members) = value else {
            return .failure(LabelProblem(line: line, reason: "expected an object {\"text\": ..., \"label\": ...}, found \(value.typeName)"))
        }
        // JSONDecoder keeps one of two equal keys without a word; which label was meant is then a guess.
        if let repeated = repeatedTopLevelKey(slice) {
            return .failure(LabelProblem(line: line, reason: "the key \"\(repeated)\" appears twice in the object"))
        }
        let text: String
        switch members["text"] {
        case let .string(s)?: text = s
        case nil: return .failure(LabelProblem(line: line, reason: "\"text\" is missing"))
        case let other?: return .failure(LabelProblem(line: line, reason: "\"text\" must be a string, not \(other.typeName)"))
        }
        let label: LabelValue
        switch members["label"] {
        case let .string(s)?: label = .name(s)
        case let .int(i)?: label = .index(Int(i))
        case nil: return .failure(LabelProblem(line: line, reason: "\"label\" is missing"))
        case let other?:
            let found: String
            if case let .double(d) = other { found = "the number \(d)" } else { found = other.typeName }
            return .failure(LabelProblem(line: line, reason: "\"label\" must be a label name (a string) or a class index (an integer), not \(found)"))
        }
        return .success(LabelItem(text: text, label: label, line: line))
    }

    /// The first key that appears twice among the members of the object in `slice` (already known to be valid
    /// JSON), or nil. Only the object's own keys count, not those of nested values.
    private static func repeatedTopLevelKey(_ slice: ArraySlice<UInt8>) -> String? {
        var seen: Set<String> = []
        var depth = 0
        var i = slice.startIndex
        while i < slice.endIndex {
            let c = slice[i]
            if c == UInt8(ascii: "\"") {
                let start = i
                i += 1
                while i < slice.endIndex, slice[i] != UInt8(ascii: "\"") { i += slice[i] == UInt8(ascii: "\\") ? 2 : 1 }
                i += 1
                var after = i
                while after < slice.endIndex, isJSONWhitespace(slice[after]) { after += 1 }
                if depth == 1, after < slice.endIndex, slice[after] == UInt8(ascii: ":"),
                   let key = try? JSONDecoder().decode(String.self, from: Data(slice[start..<i])),
                   !seen.insert(key).inserted {
                    return key
                }
                continue
            }
            if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") { depth += 1 }
            if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") { depth -= 1 }
            i += 1
        }
        return nil
    }

    /// JSONDecoder does not say where the syntax breaks; JSONSerialization does ("around character N"). The
    /// position is turned into a column (JSON Lines) or a line and column (an element of a JSON array).
    private static func jsonSyntaxDetail(_ data: Data, slice: ArraySlice<UInt8>, lines: LineIndex?) -> String {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return ""
        } catch {
            let text = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? ""
            guard !text.isEmpty else { return "" }
            let marker = "around character "
            guard let range = text.range(of: marker) else { return ": " + text.trimmingCharacters(in: ["."]) }
            let digits = text[range.upperBound...].prefix(while: \.isNumber)
            guard let offset = Int(digits), offset <= slice.count else { return ": " + text.trimmingCharacters(in: ["."]) }
            let what = text[..<range.lowerBound].trimmingCharacters(in: .whitespaces).lowercased()
            if let lines {
                let absolute = slice.startIndex + offset
                return ": \(what) at line \(lines.line(at: absolute)), column \(lines.column(at: absolute))"
            }
            return ": \(what) at column \(offset + 1)"
        }
    }

    // MARK: CSV (RFC 4180)

    static func parseCSV(_ bytes: ArraySlice<UInt8>, name: String) throws -> Parsed {
        var records = CSVRecords(bytes)
        var header: CSVRecords.Record?
        while let record = records.next() {
            if record.isBlank { continue }
            header = record
            break
        }
        guard let header else {
            throw LabelFileError.csvHeader(path: name, reason: "the file is empty; a CSV label file starts with a header row naming the text and label columns")
        }
        if let problem = header.problem {
            throw LabelFileError.csvHeader(path: name, reason: "the header row (line \(header.line)) cannot be read: \(problem)")
        }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        func column(_ wanted: String) throws -> Int {
            let found = names.indices.filter { names[$0] == wanted }
            if found.count > 1 {
                throw LabelFileError.csvHeader(path: name, reason: "the header row (line \(header.line)) has \(found.count) columns named \"\(wanted)\"")
            }
            guard let index = found.first else {
                let shown = header.fields.prefix(8).map { "\"\($0.count > 30 ? $0.prefix(29) + "…" : $0)\"" }
                    .joined(separator: ", ") + (header.fields.count > 8 ? ", ..." : "")
                throw LabelFileError.csvHeader(path: name, reason: "the header row (line \(header.line)) has no \"\(wanted)\" column "
                    + "(it has \(shown)); name the columns text and label")
            }
            return index
        }
        let textColumn = try column("text"), labelColumn = try column("label")
        var items: [LabelItem] = [], problems: [LabelProblem] = []
        while let record = records.next() {
            if let problem = record.problem {
                problems.append(LabelProblem(line: record.line, reason: problem))
                continue
            }
            if record.isBlank { continue }
            guard record.fields.count == header.fields.count else {
                problems.append(LabelProblem(line: record.line, reason: "\(record.fields.count) field(s), but the header has "
                    + "\(header.fields.count); a text with a comma must be quoted (\"...\", with \"\" for a quote inside)"))
                continue
            }
            let cell = record.fields[labelColumn].trimmingCharacters(in: .whitespaces)
            guard !cell.isEmpty else {
                problems.append(LabelProblem(line: record.line, reason: "the label field is empty"))
                continue
            }
            let label: LabelValue = Int(cell).map { .index($0) } ?? .name(cell)
            items.append(LabelItem(text: record.fields[textColumn], label: label, line: record.line))
        }
        return (items, problems)
    }

    /// RFC 4180 records: fields separated by ',', records by "\n" or "\r\n", a field in double quotes may hold
    /// commas, line breaks and "" (one quote). A quote inside an unquoted field is kept as a character.
    struct CSVRecords {
        struct Record {
            var line: Int
            var fields: [String]
            /// Why the record cannot be used (a quote problem); `fields` is then incomplete.
            var problem: String?
            var isBlank: Bool { problem == nil && fields.count == 1 && fields[0].allSatisfy { $0 == " " || $0 == "\t" } }
        }

        private let bytes: ArraySlice<UInt8>
        private var i: Int
        private var line = 1

        init(_ bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            self.i = bytes.startIndex
        }

        mutating func next() -> Record? {
            let end = bytes.endIndex
            guard i < end else { return nil }
            let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
            var record = Record(line: line, fields: [])
            while true {
                var field: [UInt8] = []
                if i < end, bytes[i] == quote {
                    let openedOn = line
                    i += 1
                    var closed = false
                    while i < end {
                        let c = bytes[i]
                        if c == quote {
                            if i + 1 < end, bytes[i + 1] == quote { field.append(quote); i += 2; continue }
                            i += 1
                            closed = true
                            break
                        }
                        if c == lf { line += 1 }
                        field.append(c)
                        i += 1
                    }
                    guard closed else {
                        record.problem = "the quoted field opened on line \(openedOn) is never closed; the rest of the file was read as part of it"
                        return record
                    }
                    if i < end, bytes[i] != comma, bytes[i] != lf, !(bytes[i] == cr && i + 1 < end && bytes[i + 1] == lf) {
                        let column = record.fields.count + 1
                        record.problem = "field \(column): \(LabelFile.describeByte(bytes[i])) after the closing quote (a quote inside a quoted field is written \"\")"
                        skipToEndOfLine()
                        return record
                    }
                } else {
                    while i < end, bytes[i] != comma, bytes[i] != lf { field.append(bytes[i]); i += 1 }
                    if field.last == cr, i >= end || bytes[i] == lf { field.removeLast() }  // "\r\n"
                }
                record.fields.append(LabelFile.string(field[...]))
                if i < end, bytes[i] == comma { i += 1; continue }
                if i < end, bytes[i] == cr { i += 1 }  // "\r\n" after a quoted field
                if i < end, bytes[i] == lf { i += 1; line += 1 }
                return record
            }
        }

        private mutating func skipToEndOfLine() {
            while i < bytes.endIndex, bytes[i] != UInt8(ascii: "\n") { i += 1 }
            if i < bytes.endIndex { i += 1; line += 1 }
        }
    }

    // MARK: Bytes, lines, UTF-8

    private static func readBytes(_ path: String, siblingOf original: String?) throws -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            if let original { throw LabelFileError.tweetEvalSiblingMissing(path: original, sibling: path) }
            throw LabelFileError.cannotRead(path: path, reason: "no such file")
        }
        if isDirectory.boolValue { throw LabelFileError.cannotRead(path: path, reason: "it is a directory") }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = FileManager.default.isReadableFile(atPath: path) ? "\((error as NSError).localizedDescription)" : "permission denied"
            if let original { throw LabelFileError.tweetEvalSiblingMissing(path: original, sibling: path + " (\(reason))") }
            throw LabelFileError.cannotRead(path: path, reason: reason)
        }
    }

    /// The bytes without a UTF-8 byte order mark, after checking they are UTF-8.
    static func validatedUTF8(_ bytes: [UInt8], name: String) throws -> ArraySlice<UInt8> {
        if let offset = firstInvalidUTF8Offset(bytes) {
            let line = bytes[..<offset].reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            throw LabelFileError.notUTF8(path: name, byteOffset: offset, line: line)
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { return bytes[3...] }
        return bytes[...]
    }

    /// The offset of the first byte that does not start a well-formed UTF-8 sequence (overlong forms, surrogates
    /// and code points past U+10FFFF are not well-formed), or nil.
    static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            let lead = bytes[i]
            if lead < 0x80 { i += 1; continue }
            let length: Int, minimum: UInt32
            var scalar: UInt32
            switch lead {
            case 0xC2...0xDF: length = 2; minimum = 0x80; scalar = UInt32(lead & 0x1F)
            case 0xE0...0xEF: length = 3; minimum = 0x800; scalar = UInt32(lead & 0x0F)
            case 0xF0...0xF4: length = 4; minimum = 0x10000; scalar = UInt32(lead & 0x07)
            default: return i
            }
            guard i + length <= n else { return i }
            for k in 1..<length {
                let b = bytes[i + k]
                guard b & 0xC0 == 0x80 else { return i }
                scalar = scalar << 6 | UInt32(b & 0x3F)
            }
            if scalar < minimum || scalar > 0x10FFFF || (0xD800...0xDFFF).contains(scalar) { return i }
            i += length
        }
        return nil
    }

    /// Lines split at "\n", each without its "\r\n" / "\n"; a final line ending does not start another line.
    static func splitLines(_ bytes: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        for i in bytes.indices where bytes[i] == UInt8(ascii: "\n") {
            lines.append(trimCR(bytes[start..<i]))
            start = i + 1
        }
        if start < bytes.endIndex { lines.append(trimCR(bytes[start...])) }
        return lines
    }

    private static func trimCR(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        line.last == UInt8(ascii: "\r") ? line.dropLast() : line
    }

    static func string(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

    private static func isJSONWhitespace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D
    }

    static func describeByte(_ c: UInt8) -> String {
        if c >= 0x21 && c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        return String(format: "the byte 0x%02X", c)
    }

    /// Line and column of a byte offset, by binary search over the line starts.
    struct LineIndex {
        private var starts: [Int]
        init(_ bytes: ArraySlice<UInt8>) {
            starts = [bytes.startIndex]
            for i in bytes.indices where bytes[i] == UInt8(ascii: "\n") { starts.append(i + 1) }
        }
        /// 1-based.
        func line(at offset: Int) -> Int {
            var lo = 0, hi = starts.count - 1
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if starts[mid] <= offset { lo = mid } else { hi = mid - 1 }
            }
            return lo + 1
        }
        /// 1-based, in bytes.
        func column(at offset: Int) -> Int { offset - starts[line(at: offset) - 1] + 1 }
    }
}
