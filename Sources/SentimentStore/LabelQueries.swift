import Foundation
import GRDB
import SentimentCore

// MARK: - Reading labels back, and removing them
//
// Labels come out page by page, by id: a listing (or an export) asks for the ids above the last one it got, so a
// page costs the same at the start and at the end of millions of labels, and labels written meanwhile never shift
// a page (a new label gets a higher id; a changed one keeps its id). Removal keeps a record of every label it takes
// away (`label_removal`), in the same transaction.

/// Which stored labels a listing wants. Every field narrows it; an empty filter selects every label.
public struct LabelFilter: Sendable, Equatable {
    /// The splits to read (empty: none).
    public var splits: Set<LabelSplit> = Set(LabelSplit.allCases)
    /// The stored label name, exactly.
    public var label: String?
    public var source: LabelSource?
    public var importBatch: Int64?
    public var uid: UInt32?
    /// Labels written at or after this time (`updated_at`).
    public var updatedSince: Date?
    /// A substring of the stored text, normalised like it (`LabelText.normalise`); ASCII letters match in any case.
    public var contains: String?

    public init() {}
}

/// A stored label with its provenance.
public struct StoredLabelRow: Codable, Sendable, Equatable, FetchableRecord {
    public var id: Int64
    /// The normalised text.
    public var text: String
    public var label: String
    public var split: LabelSplit
    public var source: LabelSource
    public var importBatch: Int64?
    /// Who wrote the current label.
    public var uid: UInt32
    public var createdAt: Date
    public var updatedAt: Date
    public var seq: Int64

    enum CodingKeys: String, CodingKey {
        case id, text, label, split, source, uid, seq
        case importBatch = "import_batch"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

/// Which labels to remove: every label named by id or by text, and every label whose current value came from the
/// import. At least one must be given.
public struct LabelRemovalSelection: Sendable, Equatable {
    public var ids: [Int64]
    /// Texts as a client gives them; they are normalised like stored texts before they are looked up.
    public var texts: [String]
    public var importBatch: Int64?

    public init(ids: [Int64] = [], texts: [String] = [], importBatch: Int64? = nil) {
        self.ids = ids
        self.texts = texts
        self.importBatch = importBatch
    }

    public var isEmpty: Bool { ids.isEmpty && texts.isEmpty && importBatch == nil }
}

/// What a removal took away (or, dry, would have).
public struct LabelRemovalSummary: Sendable, Equatable {
    /// The labels removed, by id.
    public var removed: [StoredLabelRow]
    public var notFoundIDs: [Int64]
    /// Texts (as given) whose normalised form has no label.
    public var notFoundTexts: [String]
}

/// One label a removal took away, as `label_removal` keeps it.
public struct LabelRemovalRecord: Codable, Sendable, Equatable, FetchableRecord {
    public var id: Int64
    public var labelID: Int64
    public var text: String
    public var label: String
    public var split: LabelSplit
    public var source: LabelSource
    public var importBatch: Int64?
    /// Who wrote the label that was removed.
    public var labelledBy: UInt32
    public var seq: Int64
    /// How many recorded changes the label had (they were removed with it).
    public var changes: Int
    public var removedBy: UInt32
    public var removedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, text, label, split, source, seq, changes
        case labelID = "label_id"
        case importBatch = "import_batch"
        case labelledBy = "labelled_by"
        case removedBy = "removed_by"
        case removedAt = "removed_at"
    }
}

extension LabelStore {
    static let storedColumns = "id, text, label, split, source, import_batch, uid, created_at, updated_at, seq"

    /// At most `limit` labels matching `filter` with an id above `afterID`, by id.
    public func list(_ filter: LabelFilter, afterID: Int64 = 0, limit: Int) throws -> [StoredLabelRow] {
        guard !filter.splits.isEmpty, limit > 0 else { return [] }
        var conditions = ["id > ?"]
        var arguments: StatementArguments = [afterID]
        if filter.splits.count < LabelSplit.allCases.count, let only = filter.splits.first {
            conditions.append("split = ?")
            arguments += [only.rawValue]
        }
        if let label = filter.label {
            conditions.append("label = ?")
            arguments += [label]
        }
        if let source = filter.source {
            conditions.append("source = ?")
            arguments += [source.rawValue]
        }
        if let batch = filter.importBatch {
            conditions.append("import_batch = ?")
            arguments += [batch]
        }
        if let uid = filter.uid {
            conditions.append("uid = ?")
            arguments += [Int64(uid)]
        }
        if let since = filter.updatedSince {
            conditions.append("updated_at >= ?")
            arguments += [since]
        }
        if let contains = filter.contains {
            let needle = LabelText.normalise(contains)
            if !needle.isEmpty {
                conditions.append("text LIKE ? ESCAPE '\\'")
                arguments += ["%" + Self.likeEscaped(needle) + "%"]
            }
        }
        arguments += [limit]
        return try database.read { db in
            try StoredLabelRow.fetchAll(
                db, sql: "SELECT \(Self.storedColumns) FROM label WHERE \(conditions.joined(separator: " AND ")) "
                    + "ORDER BY id LIMIT ?",
                arguments: arguments)
        }
    }

    /// `s` with LIKE's wildcards (and the escape character) escaped by a backslash.
    static func likeEscaped(_ s: String) -> String {
        var out = ""
        for c in s {
            if c == "%" || c == "_" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out
    }

    /// Removes the selected labels in one transaction: each label's recorded changes go with it, and each label is
    /// recorded in `label_removal` with `uid` (who removed it). With `dryRun` nothing changes. The label counter and
    /// the runs' bookkeeping stay as they are: a removed label is simply no longer there to train or evaluate on.
    public func remove(_ selection: LabelRemovalSelection, uid: UInt32, dryRun: Bool = false,
                       at date: Date = Date()) throws -> LabelRemovalSummary {
        let texts = selection.texts.map { ($0, LabelText.normalise($0)) }
        let work = { (db: Database) throws -> LabelRemovalSummary in
            var rows: [Int64: StoredLabelRow] = [:]
            var notFoundIDs: [Int64] = []
            var notFoundTexts: [String] = []
            let byID = try db.cachedStatement(sql: "SELECT \(Self.storedColumns) FROM label WHERE id = ?")
            for id in selection.ids {
                if let row = try StoredLabelRow.fetchOne(byID, arguments: [id]) { rows[row.id] = row } else {
                    notFoundIDs.append(id)
                }
            }
            let byText = try db.cachedStatement(sql: "SELECT \(Self.storedColumns) FROM label WHERE text = ?")
            for (given, normalised) in texts {
                if let row = try StoredLabelRow.fetchOne(byText, arguments: [normalised]) { rows[row.id] = row } else {
                    notFoundTexts.append(given)
                }
            }
            if let batch = selection.importBatch {
                for row in try StoredLabelRow.fetchAll(
                    db, sql: "SELECT \(Self.storedColumns) FROM label WHERE import_batch = ? ORDER BY id", arguments: [batch]) {
                    rows[row.id] = row
                }
            }
            let removed = rows.values.sorted { $0.id < $1.id }
            if !dryRun {
                let countChanges = try db.cachedStatement(sql: "SELECT COUNT(*) FROM label_change WHERE label_id = ?")
                let record = try db.cachedStatement(sql: """
                    INSERT INTO label_removal (label_id, text, label, split, source, import_batch, labelled_by, seq,
                                               changes, removed_by, removed_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                let dropChanges = try db.cachedStatement(sql: "DELETE FROM label_change WHERE label_id = ?")
                let drop = try db.cachedStatement(sql: "DELETE FROM label WHERE id = ?")
                for row in removed {
                    let changes = try Int.fetchOne(countChanges, arguments: [row.id]) ?? 0
                    try record.execute(arguments: [row.id, row.text, row.label, row.split.rawValue, row.source.rawValue,
                                                   row.importBatch, Int64(row.uid), row.seq, changes, Int64(uid), date])
                    try dropChanges.execute(arguments: [row.id])
                    try drop.execute(arguments: [row.id])
                }
            }
            return LabelRemovalSummary(removed: removed, notFoundIDs: notFoundIDs, notFoundTexts: notFoundTexts)
        }
        if dryRun { return try database.read(work) }
        return try database.storeWrite(work)
    }

    /// The recorded removals, newest first.
    public func removals(limit: Int = 100) throws -> [LabelRemovalRecord] {
        try database.read { db in
            try LabelRemovalRecord.fetchAll(db, sql: "SELECT * FROM label_removal ORDER BY id DESC LIMIT ?",
                                            arguments: [limit])
        }
    }
}
