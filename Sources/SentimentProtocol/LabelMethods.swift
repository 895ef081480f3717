import Foundation
import SentimentCore

// MARK: - Labels
//
// Writing labels needs the labeller role (`Role`); reading their statistics needs only the reader role. A labeller's
// labels go to the training pool: the frozen evaluation split, which the gate judges candidates on, changes only by
// an admin's action (see `LabelSplitChoice` and `LabelsDrawEvalMethod`).

/// What a labels.add or an import did.
public struct LabelWriteResult: Codable, Sendable, Equatable {
    /// Texts seen for the first time.
    public var added: Int
    /// Known texts whose label changed (the newest label wins; the change is recorded).
    public var updated: Int
    /// Known texts given the label they already had.
    public var unchanged: Int
    public var conflicts: [LabelConflict]
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

    public init(added: Int, updated: Int, unchanged: Int, conflicts: [LabelConflict], rejected: [LabelProblem],
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
    public static let requiredRole = Role.labeller

    public struct Params: Codable, Sendable, Equatable {
        public var items: [LabelItem]
        /// Apply the valid items and report the others, instead of rejecting the whole request.
        public var skipInvalid: Bool?
        /// Where new texts go (absent: `auto`). `eval` needs the admin role. Texts already labelled keep their split.
        public var split: LabelSplitChoice?
        enum CodingKeys: String, CodingKey {
            case items
            case skipInvalid = "skip_invalid"
            case split
        }
        public init(items: [LabelItem], skipInvalid: Bool? = nil, split: LabelSplitChoice? = nil) {
            self.items = items
            self.skipInvalid = skipInvalid
            self.split = split
        }
    }
    public typealias Result = LabelWriteResult
}

public enum LabelsImportBeginMethod: RPCMethod {
    public static let name = "labels.import.begin"
    public static let requiredRole = Role.labeller

    public struct Params: Codable, Sendable, Equatable {
        /// What the client calls the file (recorded with the import batch).
        public var source: String
        public var format: LabelFileFormat
        public var skipInvalid: Bool?
        /// Where the import's new texts go (absent: `auto`). `eval` needs the admin role.
        public var split: LabelSplitChoice?
        enum CodingKeys: String, CodingKey {
            case source, format, split
            case skipInvalid = "skip_invalid"
        }
        public init(source: String, format: LabelFileFormat, skipInvalid: Bool? = nil, split: LabelSplitChoice? = nil) {
            self.source = source
            self.format = format
            self.skipInvalid = skipInvalid
            self.split = split
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
    public static let requiredRole = Role.labeller

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
    public static let requiredRole = Role.labeller

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
    public static let requiredRole = Role.labeller
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
    public static let requiredRole = Role.reader
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

// MARK: - Import chunks

/// One labels.import.chunk request's worth of a parsed file.
public struct LabelImportChunk: Sendable, Equatable {
    public var items: [LabelItem]
    public var problems: [LabelProblem]

    public init(items: [LabelItem], problems: [LabelProblem]) {
        self.items = items
        self.problems = problems
    }

    /// Cuts items into requests of at most `maxItems` items whose request line stays within `maxBytes` (an item
    /// that is alone too big still gets its own chunk: the daemon then says what its limit is). Client-side parse
    /// problems ride along with the first chunk, or the first few when they are many. Order is kept.
    public static func plan(items: [LabelItem], problems: [LabelProblem], maxItems: Int, maxBytes: Int) -> [LabelImportChunk] {
        precondition(maxItems > 0, "maxItems must be positive")
        var chunks: [LabelImportChunk] = []
        var pendingProblems = problems[...]
        var start = items.startIndex
        repeat {
            var bytes = envelopeBytes
            var chunkProblems: [LabelProblem] = []
            while let p = pendingProblems.first, chunkProblems.count < maxItems,
                  chunkProblems.isEmpty || bytes + problemBytes(p) <= maxBytes {
                bytes += problemBytes(p)
                chunkProblems.append(p)
                pendingProblems = pendingProblems.dropFirst()
            }
            var end = start
            while end < items.endIndex, end - start < maxItems {
                let size = itemBytes(items[end])
                if end > start || !chunkProblems.isEmpty, bytes + size > maxBytes { break }
                bytes += size
                end += 1
            }
            chunks.append(LabelImportChunk(items: Array(items[start..<end]), problems: chunkProblems))
            start = end
        } while start < items.endIndex || !pendingProblems.isEmpty
        return chunks
    }

    // Upper bounds of the JSON the encoder writes (RPCCoding: slashes and non-ASCII unescaped).
    /// {"jsonrpc":"2.0","id":N,"method":"labels.import.chunk","params":{"import_id":N,"items":[],"problems":[]}}
    private static let envelopeBytes = 160
    /// {"text":"…","label":…,"line":N},
    private static func itemBytes(_ item: LabelItem) -> Int {
        let label: Int
        switch item.label {
        case let .name(name): label = stringBytes(name)
        case .index: label = 20
        }
        return 48 + stringBytes(item.text) + label
    }
    /// {"line":N,"reason":"…"},
    private static func problemBytes(_ problem: LabelProblem) -> Int { 40 + stringBytes(problem.reason) }
    /// A control character may become \uXXXX (6 bytes); a quote or backslash takes 2.
    private static func stringBytes(_ s: String) -> Int {
        var n = 2
        for b in s.utf8 { n += b < 0x20 ? 6 : (b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\")) ? 2 : 1 }
        return n
    }
}

/// An admin grows the frozen evaluation split by moving `count` texts out of the training pool: a seeded uniform
/// sample of the training labels that no run has used yet (so no published model has seen them). Moved texts keep
/// their label; the gate compares versions on the new split from the next run on.
public enum LabelsDrawEvalMethod: RPCMethod {
    public static let name = "labels.eval.draw"
    public static let requiredRole = Role.admin

    public struct Params: Codable, Sendable, Equatable {
        public var count: Int
        /// Seed of the sample (absent: a fixed one, so the same call on the same data draws the same texts).
        public var seed: UInt64?
        /// Draw only labels written by these uids (absent: any), e.g. to leave labellers' labels out.
        public var fromUIDs: [UInt32]?
        enum CodingKeys: String, CodingKey {
            case count, seed
            case fromUIDs = "from_uids"
        }
        public init(count: Int, seed: UInt64? = nil, fromUIDs: [UInt32]? = nil) {
            self.count = count
            self.seed = seed
            self.fromUIDs = fromUIDs
        }
    }

    public struct Result: Codable, Sendable, Equatable {
        /// Texts moved into the evaluation split.
        public var drawn: Int
        /// Training labels no run has used yet, before the draw (the pool drawn from).
        public var available: Int
        /// Labels in the evaluation split after the draw.
        public var evalTotal: Int
        enum CodingKeys: String, CodingKey {
            case drawn, available
            case evalTotal = "eval_total"
        }
        public init(drawn: Int, available: Int, evalTotal: Int) {
            self.drawn = drawn
            self.available = available
            self.evalTotal = evalTotal
        }
    }
}
