import Foundation
import SentimentCore

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

/// What is wrong with a data file for fine-tuning. Every case names the file and, where there is one, the line.
/// The file itself is read by SentimentCore's `LabelFile`, the reader `sentimentctl import` uses, so both
/// commands accept the same files and say the same about a line they cannot parse; this type adds what only
/// training checks: labels against the model's label set, empty texts, and a file with no example.
public enum TrainingDataError: Error, Equatable, CustomStringConvertible {
    /// The file as a whole cannot be read (missing, not UTF-8, unknown format, JSON Lines in a `.json` file, half
    /// a TweetEval pair, a CSV header without `text` and `label`).
    case file(LabelFileError)
    /// The first line the reader could not parse (`more`: how many other lines could not be parsed either).
    case invalidLine(path: String, line: Int, reason: String, more: Int)
    case unknownLabel(path: String, line: Int, label: String, accepted: [String])
    case emptyText(path: String, line: Int)
    case noExamples(path: String)

    public var description: String {
        switch self {
        case let .file(error): return error.description
        case let .invalidLine(path, line, reason, more):
            return "\(path):\(line): \(reason)" + (more > 0 ? " (and \(more) more line\(more == 1 ? "" : "s") that cannot be read)" : "")
        case let .unknownLabel(path, line, label, accepted):
            return "\(path):\(line): unknown label \"\(label)\" (accepted: \(accepted.joined(separator: ", ")), case-insensitive)"
        case let .emptyText(path, line): return "\(path):\(line): the text is empty"
        case let .noExamples(path): return "\(path): no examples"
        }
    }
}

/// Reads labelled examples for training: the file through `LabelFile` (format from the name unless given), then
/// every item checked against the label set. Texts are kept exactly as written (CSV unquoted, JSON unescaped, a
/// CR before LF removed in the line formats); a text that is empty or only white space is an error, as is a
/// label the label set does not know.
public enum TrainingDataLoader {
    public static func load(_ url: URL, format: LabelFileFormat? = nil, labels: LabelSet) throws -> [TrainingExample] {
        let file: LabelFile
        do {
            file = try LabelFile.read(path: url.path, format: format)
        } catch let error as LabelFileError {
            throw TrainingDataError.file(error)
        }
        // Problems are reported against the file named (for TweetEval the reason names the labels file).
        let path = url.path
        if let first = file.problems.first {
            throw TrainingDataError.invalidLine(path: path, line: first.line, reason: first.reason,
                                                more: file.problems.count - 1)
        }
        let examples = try file.items.map { item in
            let line = item.line ?? 0
            if item.text.unicodeScalars.allSatisfy({ $0.properties.isWhitespace }) {
                throw TrainingDataError.emptyText(path: path, line: line)
            }
            guard let label = labels.index(of: item.label) else {
                let raw: String
                switch item.label {
                case let .name(name): raw = name
                case let .index(index): raw = String(index)
                }
                throw TrainingDataError.unknownLabel(path: path, line: line, label: raw, accepted: labels.accepted)
            }
            return TrainingExample(text: item.text, label: label, line: line)
        }
        if examples.isEmpty { throw TrainingDataError.noExamples(path: path) }
        return examples
    }
}
