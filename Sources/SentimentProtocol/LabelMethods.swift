import Foundation

// MARK: - Labels
//
// Labels are data, not control: any peer that may open the socket may send them (the socket's mode and group
// decide who that is). Starting or cancelling training, activation and rollback need the admin rule.

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

/// A text that was given different labels within one request or one import; the last one was kept.
public struct LabelConflictInfo: Codable, Sendable, Equatable {
    public var text: String
    /// Lines (imports) or item indexes (labels.add), in order.
    public var lines: [Int]
    public var labels: [String]
    public init(text: String, lines: [Int], labels: [String]) {
        self.text = text
        self.lines = lines
        self.labels = labels
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

/// What a labels.add or an import did.
public struct LabelWriteResult: Codable, Sendable, Equatable {
    /// Texts seen for the first time.
    public var added: Int
    /// Known texts whose label changed (the newest label wins; the change is recorded).
    public var updated: Int
    /// Known texts given the label they already had.
    public var unchanged: Int
    public var conflicts: [LabelConflictInfo]
    /// Items not applied (only with skip_invalid; otherwise any problem rejects the whole request).
    public var rejected: [LabelProblem]
    /// All rejected items; `rejected` lists at most the first 100.
    public var rejectedCount: Int
    /// How many of the applied labels went to the frozen eval split.
    public var evalSplit: Int

    enum CodingKeys: String, CodingKey {
        case added, updated, unchanged, conflicts, rejected
        case rejectedCount = "rejected_count"
        case evalSplit = "eval_split"
    }

    public init(added: Int, updated: Int, unchanged: Int, conflicts: [LabelConflictInfo], rejected: [LabelProblem],
                rejectedCount: Int, evalSplit: Int) {
        self.added = added
        self.updated = updated
        self.unchanged = unchanged
        self.conflicts = conflicts
        self.rejected = rejected
        self.rejectedCount = rejectedCount
        self.evalSplit = evalSplit
    }
}

public enum LabelsAddMethod: RPCMethod {
    public static let name = "labels.add"
    public static let changesState = false

    public struct Params: Codable, Sendable, Equatable {
        public var items: [LabelItem]
        /// Apply the valid items and report the others, instead of rejecting the whole request.
        public var skipInvalid: Bool?
        enum CodingKeys: String, CodingKey {
            case items
            case skipInvalid = "skip_invalid"
        }
        public init(items: [LabelItem], skipInvalid: Bool? = nil) {
            self.items = items
            self.skipInvalid = skipInvalid
        }
    }
    public typealias Result = LabelWriteResult
}

/// File formats `sentimentctl import` reads (the client parses the file; the daemon never opens client paths).
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

public enum LabelsImportBeginMethod: RPCMethod {
    public static let name = "labels.import.begin"
    public static let changesState = false

    public struct Params: Codable, Sendable, Equatable {
        /// What the client calls the file (recorded with the import batch).
        public var source: String
        public var format: LabelFileFormat
        public var skipInvalid: Bool?
        enum CodingKeys: String, CodingKey {
            case source, format
            case skipInvalid = "skip_invalid"
        }
        public init(source: String, format: LabelFileFormat, skipInvalid: Bool? = nil) {
            self.source = source
            self.format = format
            self.skipInvalid = skipInvalid
        }
    }

    public struct Result: Codable, Sendable, Equatable {
        public var importID: Int64
        /// Items per chunk the daemon accepts.
        public var maxChunkItems: Int
        /// Longest request line the daemon accepts (server.request_line_bytes): a chunk must encode shorter.
        public var maxRequestBytes: Int?
        enum CodingKeys: String, CodingKey {
            case importID = "import_id"
            case maxChunkItems = "max_chunk_items"
            case maxRequestBytes = "max_request_bytes"
        }
        public init(importID: Int64, maxChunkItems: Int, maxRequestBytes: Int? = nil) {
            self.importID = importID
            self.maxChunkItems = maxChunkItems
            self.maxRequestBytes = maxRequestBytes
        }
    }
}

public enum LabelsImportChunkMethod: RPCMethod {
    public static let name = "labels.import.chunk"
    public static let changesState = false

    public struct Params: Codable, Sendable, Equatable {
        public var importID: Int64
        public var items: [LabelItem]
        /// Lines the client could not parse, reported with the import (they count as rejected items).
        public var problems: [LabelProblem]?
        enum CodingKeys: String, CodingKey {
            case importID = "import_id"
            case items, problems
        }
        public init(importID: Int64, items: [LabelItem], problems: [LabelProblem]? = nil) {
            self.importID = importID
            self.items = items
            self.problems = problems
        }
    }

    public struct Result: Codable, Sendable, Equatable {
        /// Items staged so far in this import.
        public var staged: Int
        /// Problems found so far (client-reported and daemon-side validation).
        public var problems: Int
        public init(staged: Int, problems: Int) {
            self.staged = staged
            self.problems = problems
        }
    }
}

public enum LabelsImportCommitMethod: RPCMethod {
    public static let name = "labels.import.commit"
    public static let changesState = false

    public struct Params: Codable, Sendable, Equatable {
        public var importID: Int64
        enum CodingKeys: String, CodingKey { case importID = "import_id" }
        public init(importID: Int64) { self.importID = importID }
    }

    public struct Result: Codable, Sendable, Equatable {
        public var importID: Int64
        public var summary: LabelWriteResult
        enum CodingKeys: String, CodingKey {
            case importID = "import_id"
            case summary
        }
        public init(importID: Int64, summary: LabelWriteResult) {
            self.importID = importID
            self.summary = summary
        }
    }
}

public enum LabelsImportAbortMethod: RPCMethod {
    public static let name = "labels.import.abort"
    public static let changesState = false
    public typealias Params = LabelsImportCommitMethod.Params

    public struct Result: Codable, Sendable, Equatable {
        public var importID: Int64
        public var aborted: Bool
        enum CodingKeys: String, CodingKey {
            case importID = "import_id"
            case aborted
        }
        public init(importID: Int64, aborted: Bool) {
            self.importID = importID
            self.aborted = aborted
        }
    }
}

public enum LabelsStatsMethod: RPCMethod {
    public static let name = "labels.stats"
    public static let changesState = false
    public typealias Params = NoParams

    public struct PerLabel: Codable, Sendable, Equatable {
        public var label: String
        public var train: Int
        public var eval: Int
        /// Labels (train split) that arrived or changed since the last completed run.
        public var newTrain: Int
        public var newEval: Int
        enum CodingKeys: String, CodingKey {
            case label, train, eval
            case newTrain = "new_train"
            case newEval = "new_eval"
        }
        public init(label: String, train: Int, eval: Int, newTrain: Int, newEval: Int) {
            self.label = label
            self.train = train
            self.eval = eval
            self.newTrain = newTrain
            self.newEval = newEval
        }
    }

    public struct Result: Codable, Sendable, Equatable {
        public var labels: [PerLabel]
        public var total: Int
        public var train: Int
        public var eval: Int
        public var newTrain: Int
        /// The run whose data "new" is counted after (nil: no run has completed yet).
        public var sinceRun: Int64?
        /// What the scheduler needs before it starts a run on its own.
        public var minNewLabels: Int
        public var evalFraction: Double
        enum CodingKeys: String, CodingKey {
            case labels, total, train, eval
            case newTrain = "new_train"
            case sinceRun = "since_run"
            case minNewLabels = "min_new_labels"
            case evalFraction = "eval_fraction"
        }
        public init(labels: [PerLabel], total: Int, train: Int, eval: Int, newTrain: Int, sinceRun: Int64?,
                    minNewLabels: Int, evalFraction: Double) {
            self.labels = labels
            self.total = total
            self.train = train
            self.eval = eval
            self.newTrain = newTrain
            self.sinceRun = sinceRun
            self.minNewLabels = minNewLabels
            self.evalFraction = evalFraction
        }
    }
}
