import Foundation
import SentimentCore

// MARK: - Labels out: list (and export, which pages through it), remove
//
// Reading labels back needs the labeller role: those who may write the training split may read it. The frozen
// evaluation split is an admin matter for reading too (a labeller who could read it could write training texts
// that mirror it): `labels.list` of the eval split needs the admin role, and a labeller's listing without a split
// shows the training split only (`Result.splits` says which splits a listing covers). Removing labels needs the
// admin role.

/// One stored label. `text` is the stored (normalised) form: Unicode NFC, trimmed, every run of whitespace
/// (newlines and tabs included) one space; that is the text a label is keyed by and what training reads.
public struct StoredLabel: Codable, Sendable, Equatable {
    public var id: Int64
    public var text: String
    public var label: String
    public var split: LabelSplit
    public var source: LabelSource
    /// The import the current label came from (nil for labels.add).
    public var importID: Int64?
    /// The uid that wrote the current label.
    public var uid: UInt32
    public var createdAt: Date
    /// When the label was last written with a new value (its creation, or the last change).
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, text, label, split, source, uid
        case importID = "import_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public init(id: Int64, text: String, label: String, split: LabelSplit, source: LabelSource, importID: Int64?,
                uid: UInt32, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.text = text
        self.label = label
        self.split = split
        self.source = source
        self.importID = importID
        self.uid = uid
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Stored labels, oldest id first, one page at a time: `sentimentctl labels list`, and `labels export` pages
/// through it with `after_id` until `next_after_id` is absent.
public enum LabelsListMethod: RPCMethod {
    public static let name = "labels.list"
    public static let requiredRole = Role.labeller

    /// The most labels one page holds (and the default of `limit`).
    public static let maxLimit = 10_000

    public struct Params: Codable, Sendable, Equatable {
        /// Only this split (absent: every split the caller may read). `eval` needs the admin role.
        public var split: LabelSplit?
        /// Only this label (a name, any case, or a class index of labels.names).
        public var label: LabelValue?
        public var source: LabelSource?
        /// Only labels whose current value came from this import.
        public var importID: Int64?
        /// Only labels whose current value this uid wrote.
        public var uid: UInt32?
        /// Only labels written (added or changed) at or after this time.
        public var since: Date?
        /// Only texts that contain this (after the same normalisation as stored texts; ASCII letters in any case).
        public var contains: String?
        /// Labels per page (1...10000, default 10000).
        public var limit: Int?
        /// Only ids above this one: the `next_after_id` of the previous page.
        public var afterID: Int64?

        enum CodingKeys: String, CodingKey {
            case split, label, source, uid, since, contains, limit
            case importID = "import_id"
            case afterID = "after_id"
        }

        public init(split: LabelSplit? = nil, label: LabelValue? = nil, source: LabelSource? = nil,
                    importID: Int64? = nil, uid: UInt32? = nil, since: Date? = nil, contains: String? = nil,
                    limit: Int? = nil, afterID: Int64? = nil) {
            self.split = split
            self.label = label
            self.source = source
            self.importID = importID
            self.uid = uid
            self.since = since
            self.contains = contains
            self.limit = limit
            self.afterID = afterID
        }
    }

    public struct Result: Codable, Sendable, Equatable {
        public var labels: [StoredLabel]
        /// Pass as `after_id` for the next page; absent when this page is the last.
        public var nextAfterID: Int64?
        /// The splits this listing covers (a labeller's unfiltered listing covers the training split only).
        public var splits: [LabelSplit]
        /// The daemon's label names by class index (labels.names): what class indexes in a file mean.
        public var labelNames: [String]

        enum CodingKeys: String, CodingKey {
            case labels, splits
            case nextAfterID = "next_after_id"
            case labelNames = "label_names"
        }

        public init(labels: [StoredLabel], nextAfterID: Int64?, splits: [LabelSplit], labelNames: [String]) {
            self.labels = labels
            self.nextAfterID = nextAfterID
            self.splits = splits
            self.labelNames = labelNames
        }
    }
}

/// Removes labels (admin): by id, by text (normalised like stored texts), or every label whose current value came
/// from one import. Each removed label is recorded (text, label, split, who wrote it, who removed it). Refused
/// while a training run is in progress, which may be training on the labels.
public enum LabelsRemoveMethod: RPCMethod {
    public static let name = "labels.remove"
    public static let requiredRole = Role.admin

    public struct Params: Codable, Sendable, Equatable {
        public var ids: [Int64]?
        public var texts: [String]?
        public var importID: Int64?
        /// Say what would be removed, remove nothing.
        public var dryRun: Bool?

        enum CodingKeys: String, CodingKey {
            case ids, texts
            case importID = "import_id"
            case dryRun = "dry_run"
        }

        public init(ids: [Int64]? = nil, texts: [String]? = nil, importID: Int64? = nil, dryRun: Bool? = nil) {
            self.ids = ids
            self.texts = texts
            self.importID = importID
            self.dryRun = dryRun
        }
    }

    public struct Result: Codable, Sendable, Equatable {
        /// Labels removed (or, with dry_run, that would be).
        public var removed: Int
        public var train: Int
        public var eval: Int
        /// The removed labels, at most the first 100.
        public var labels: [StoredLabel]
        /// Ids and texts asked for that matched no label.
        public var notFoundIDs: [Int64]
        public var notFoundTexts: [String]
        public var dryRun: Bool

        enum CodingKeys: String, CodingKey {
            case removed, train, eval, labels
            case notFoundIDs = "not_found_ids"
            case notFoundTexts = "not_found_texts"
            case dryRun = "dry_run"
        }

        public init(removed: Int, train: Int, eval: Int, labels: [StoredLabel], notFoundIDs: [Int64],
                    notFoundTexts: [String], dryRun: Bool) {
            self.removed = removed
            self.train = train
            self.eval = eval
            self.labels = labels
            self.notFoundIDs = notFoundIDs
            self.notFoundTexts = notFoundTexts
            self.dryRun = dryRun
        }
    }
}
