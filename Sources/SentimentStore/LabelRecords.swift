import Foundation
import GRDB
import SentimentCore

/// Errors of label writes and imports a client can cause. Each says what was wrong and what to do.
public enum LabelStoreError: Error, Equatable, CustomStringConvertible {
    /// An import id that was never handed out.
    case unknownImport(batch: Int64)
    /// Rows were staged into, or a commit asked for, an import that is no longer open.
    case importNotOpen(batch: Int64, status: ImportStatus)
    /// Staging these rows would take the import past `maxRows`; nothing of this chunk was staged.
    case importTooLarge(batch: Int64, maxRows: Int)
    /// A text is empty once normalised (the caller should have refused it).
    case emptyText(line: Int)
    /// The write's policy may not touch the evaluation split, and these lines' texts are in it; nothing was
    /// applied.
    case evalSplitProtected(lines: [Int])

    public var description: String {
        switch self {
        case let .unknownImport(batch):
            return "import \(batch) does not exist; start a new import"
        case let .importNotOpen(batch, status):
            return "import \(batch) is \(status.rawValue), not open; start a new import"
        case let .importTooLarge(batch, maxRows):
            return "import \(batch) would exceed \(maxRows) rows; split the file into several imports"
        case let .emptyText(line):
            return "line \(line): the text is empty"
        case let .evalSplitProtected(lines):
            let shown = lines.prefix(10).map(String.init).joined(separator: ", ")
            return "lines \(shown)\(lines.count > 10 ? ", ..." : ""): \(SplitPolicy.protectedReason)"
        }
    }
}

/// One label to write, already checked by the caller: `label` is a known class name, `text` is not empty
/// once normalised and not too long. `line` is the line of the import file (or the position in a batch) and
/// only serves to report conflicts; when nil, the position in the call (from 1) stands in.
public struct LabelInput: Codable, Sendable, Equatable {
    public var text: String
    public var label: String
    public var line: Int?

    public init(text: String, label: String, line: Int? = nil) {
        self.text = text
        self.label = label
        self.line = line
    }
}

/// What a `LabelStore.add` or an import commit did. Counts are per distinct normalised text.
public struct LabelWriteSummary: Codable, Sendable, Equatable {
    /// Texts that had no label before.
    public var added: Int
    /// Texts whose label changed (newest wins; the change is recorded in label_change).
    public var updated: Int
    /// Texts that already had the same label.
    public var unchanged: Int
    /// Of the added and updated texts, how many are in the frozen eval split (never trained on).
    public var evalSplit: Int
    /// Texts given different labels within this write.
    public var conflicts: [LabelConflict]
    /// Input rows received (duplicates included).
    public var received: Int
    /// The highest label seq once the write is done.
    public var highSeq: Int64
    /// The import this summary is for, nil for `add`.
    public var batch: Int64?
    /// Lines not applied because their text is in the evaluation split and the policy may not write it.
    public var protectedLines: [Int]

    public init(added: Int, updated: Int, unchanged: Int, evalSplit: Int, conflicts: [LabelConflict], received: Int,
                highSeq: Int64, batch: Int64?, protectedLines: [Int] = []) {
        self.added = added
        self.updated = updated
        self.unchanged = unchanged
        self.evalSplit = evalSplit
        self.conflicts = conflicts
        self.received = received
        self.highSeq = highSeq
        self.batch = batch
        self.protectedLines = protectedLines
    }
}

/// A stored label.
public struct LabelRow: Codable, Sendable, Equatable, Hashable, FetchableRecord {
    public var id: Int64
    /// The normalised text.
    public var text: String
    public var label: String
    public var split: LabelSplit
    public var seq: Int64
    /// Who wrote the current label.
    public var uid: UInt32

    public init(id: Int64, text: String, label: String, split: LabelSplit, seq: Int64, uid: UInt32 = 0) {
        self.id = id
        self.text = text
        self.label = label
        self.split = split
        self.seq = seq
        self.uid = uid
    }
}

/// How a label write treats the splits: where its new texts go, and whether it may write a text that is in the
/// evaluation split. The split is what the gate judges candidates on, so writers who are not trusted with it
/// (labellers, by default) put new texts in the training split and may not relabel evaluation texts.
public struct SplitPolicy: Sendable, Equatable {
    public enum NewTexts: Sendable, Equatable {
        /// The text's hash decides (`SplitAssignment`): `evalFraction` of new texts go to the evaluation split.
        case byHash(evalFraction: Double)
        case train
        case eval
    }

    public var newTexts: NewTexts
    public var mayWriteEval: Bool

    public init(newTexts: NewTexts, mayWriteEval: Bool) {
        self.newTexts = newTexts
        self.mayWriteEval = mayWriteEval
    }

    /// A trusted writer's policy with the hash assignment.
    public static func byHash(evalFraction: Double) -> SplitPolicy {
        SplitPolicy(newTexts: .byHash(evalFraction: evalFraction), mayWriteEval: true)
    }

    /// An untrusted writer's policy: new texts to the training split, the evaluation split untouched.
    public static let trainOnly = SplitPolicy(newTexts: .train, mayWriteEval: false)

    public func split(forNormalised text: String) -> LabelSplit {
        switch newTexts {
        case let .byHash(fraction): return SplitAssignment.split(forNormalised: text, evalFraction: fraction)
        case .train: return .train
        case .eval: return .eval
        }
    }

    /// Why a protected item was not applied (the same words for every client).
    public static let protectedReason = "the text is in the frozen evaluation split, which only an admin may "
        + "change (labellers' labels go to the training split)"
}

/// One recorded change of a text's label.
public struct LabelChangeRecord: Codable, Sendable, Equatable, FetchableRecord {
    public var id: Int64
    public var labelID: Int64
    public var oldLabel: String
    public var newLabel: String
    public var importBatch: Int64?
    /// Who gave the new label (the importing client's uid for an import).
    public var uid: UInt32
    public var changedAt: Date
    /// The seq the label took with this change.
    public var seq: Int64

    enum CodingKeys: String, CodingKey {
        case id
        case labelID = "label_id"
        case oldLabel = "old_label"
        case newLabel = "new_label"
        case importBatch = "import_batch"
        case uid
        case changedAt = "changed_at"
        case seq
    }
}

/// The state of an import.
public enum ImportStatus: String, Codable, Sendable {
    /// Receiving chunks; nothing is visible in the labels yet.
    case open
    /// Applied to the labels in one transaction.
    case committed
    /// Dropped (by the client, on error or at daemon start); its staged rows are deleted.
    case abandoned
}

/// One import (a file streamed in chunks by a client).
public struct ImportBatchRecord: Codable, Sendable, Equatable, FetchableRecord {
    public var id: Int64
    public var createdAt: Date
    /// The client-given name (usually the file name).
    public var source: String
    public var format: String
    public var uid: UInt32
    public var status: ImportStatus
    /// Rows staged so far.
    public var staged: Int
    public var added: Int?
    public var updated: Int?
    public var unchanged: Int?
    /// Number of conflicting texts found at commit.
    public var conflicts: Int?
    public var committedAt: Date?
    public var abandonedAt: Date?

    enum CodingKeys: String, CodingKey {
        case id
        case createdAt = "created_at"
        case source, format, uid, status, staged, added, updated, unchanged, conflicts
        case committedAt = "committed_at"
        case abandonedAt = "abandoned_at"
    }
}

/// Label counts of one class (or of all), per split.
public struct LabelSplitCounts: Codable, Sendable, Equatable {
    public var train: Int
    public var eval: Int
    public var total: Int { train + eval }

    public init(train: Int = 0, eval: Int = 0) {
        self.train = train
        self.eval = eval
    }
}

/// The label distribution (the guide's "check the label distribution" step).
public struct LabelStats: Codable, Sendable, Equatable {
    /// Per class name.
    public var perLabel: [String: LabelSplitCounts]
    public var total: LabelSplitCounts
    /// The `sinceSeq` asked for; nil means every label counts as new.
    public var sinceSeq: Int64?
    /// Labels with seq > sinceSeq (new or changed since), per class name.
    public var newPerLabel: [String: LabelSplitCounts]
    public var newTotal: LabelSplitCounts
    /// The current highest seq.
    public var maxSeq: Int64
}

/// The data of one training run: the new train labels plus a replay sample of older train labels.
/// Eval labels never appear here.
public struct LabelSelection: Codable, Sendable, Equatable {
    /// Train labels with seq > the `newerThan` asked for, by seq.
    public var newExamples: [LabelRow]
    /// A seeded uniform sample of train labels with seq <= `newerThan`, by id.
    public var replay: [LabelRow]
    /// The highest label seq this selection accounts for: the run's `label_seq_high`. Every label at or
    /// below it is either in the selection, older, or in the eval split.
    public var highSeq: Int64

    public init(newExamples: [LabelRow], replay: [LabelRow], highSeq: Int64) {
        self.newExamples = newExamples
        self.replay = replay
        self.highSeq = highSeq
    }

    /// Identity of the selected data: SHA-256 (SentimentCore) over the id, seq, label and text of every row (new,
    /// then replay) and `highSeq`, as 64 hex digits. Same selection, same fingerprint.
    public var fingerprint: String {
        var hasher = SHA256Hasher()
        hasher.update("highSeq=\(highSeq)\n")
        for (part, rows) in [("new", newExamples), ("replay", replay)] {
            hasher.update("[\(part)]\n")
            for row in rows { hasher.update("\(row.id)\t\(row.seq)\t\(row.label)\t\(row.text)\n") }
        }
        return hasher.finalizeHex()
    }
}
