import Foundation
import GRDB
import SentimentCore

/// Labels in SQLite: writes with newest-wins, chunked imports that apply all at once, statistics and the
/// selection of training data.
///
/// Every text is stored once, normalised (`LabelText.normalise`). Its split is assigned at insert, by the
/// writer's `SplitPolicy` (from the text's hash, or the training split for writers the evaluation split must not
/// trust), and changes only when an admin draws training texts into the evaluation split (`drawEval`). A new or
/// changed label takes the next value of a strictly increasing counter, `seq`; a run records the highest seq its
/// data accounts for, and labels above it are "new".
public final class LabelStore: Sendable {
    /// The default cap on the rows of one import.
    public static let defaultMaxImportRows = 1_000_000

    /// Internal, not private: the listing and removal of labels live in LabelQueries.swift.
    let database: DatabasePool

    /// A store on an already opened (and migrated) database, shared with the other stores.
    public init(pool: DatabasePool) {
        self.database = pool
    }

    /// Opens (creating and migrating when needed) the database at `path`.
    public convenience init(path: URL) throws {
        self.init(pool: try StoreDatabase.open(path: path))
    }

    // MARK: Writing

    /// Writes `items` in one transaction. Newest wins: a text that already has another label takes the new
    /// one, a new seq and a label_change row; the same label again changes nothing. The same text given
    /// different labels within `items` is a conflict: the last one is kept and the conflict reported.
    ///
    /// Under a policy that may not write the evaluation split, an item whose text is in that split is not
    /// applied: with `skipProtected` it is reported in `protectedLines`, without it the whole write is refused
    /// (`LabelStoreError.evalSplitProtected`) and nothing is applied.
    @discardableResult
    public func add(_ items: [LabelInput], source: LabelSource, policy: SplitPolicy, skipProtected: Bool = false,
                    uid: UInt32) throws -> LabelWriteSummary {
        try database.storeWrite { db in
            try Self.apply(items, source: source, batch: nil, uid: uid, policy: policy, skipProtected: skipProtected,
                           now: Date(), db: db)
        }
    }

    /// `add` with the hash assignment and no protection (an admin's write).
    @discardableResult
    public func add(_ items: [LabelInput], source: LabelSource, evalFraction: Double,
                    uid: UInt32) throws -> LabelWriteSummary {
        try add(items, source: source, policy: .byHash(evalFraction: evalFraction), uid: uid)
    }

    // MARK: Imports

    /// Starts an import; its rows are staged by `stageImport` and become labels only at `commitImport`.
    public func beginImport(source: String, format: String, uid: UInt32) throws -> Int64 {
        try database.storeWrite { db in
            try db.execute(
                sql: """
                    INSERT INTO import_batch (created_at, source, format, uid, status, staged)
                    VALUES (?, ?, ?, ?, 'open', 0)
                    """,
                arguments: [Date(), source, format, Int64(uid)])
            return db.lastInsertedRowID
        }
    }

    /// Stages one chunk of an open import. A row without a line number gets the next one after the rows
    /// already staged. Fails without staging anything when the import is not open or the chunk would take
    /// it past `maxRows`.
    public func stageImport(batch: Int64, rows: [LabelInput],
                            maxRows: Int = LabelStore.defaultMaxImportRows) throws {
        try database.storeWrite { db in
            let record = try Self.openBatch(batch, db)
            guard record.staged + rows.count <= maxRows else {
                throw LabelStoreError.importTooLarge(batch: batch, maxRows: maxRows)
            }
            let insert = try db.cachedStatement(
                sql: "INSERT INTO import_row (batch_id, line, text, label) VALUES (?, ?, ?, ?)")
            for (i, row) in rows.enumerated() {
                try insert.execute(arguments: [batch, row.line ?? record.staged + i + 1, row.text, row.label])
            }
            try db.execute(sql: "UPDATE import_batch SET staged = staged + ? WHERE id = ?",
                           arguments: [rows.count, batch])
        }
    }

    /// Applies every staged row of an open import, in line order, in one transaction with the rules of
    /// `add`; deletes the staged rows and marks the import committed. On any failure nothing is applied and
    /// the import stays open.
    @discardableResult
    public func commitImport(batch: Int64, evalFraction: Double) throws -> LabelWriteSummary {
        try commitImport(batch: batch, policy: .byHash(evalFraction: evalFraction))
    }

    /// `commitImport` under a writer's `SplitPolicy` (see `add` for `skipProtected`).
    @discardableResult
    public func commitImport(batch: Int64, policy: SplitPolicy, skipProtected: Bool = false) throws -> LabelWriteSummary {
        try database.storeWrite { db in
            let record = try Self.openBatch(batch, db)
            let rows = try Row.fetchAll(
                db, sql: "SELECT line, text, label FROM import_row WHERE batch_id = ? ORDER BY line, rowid",
                arguments: [batch])
            let items = rows.map { LabelInput(text: $0["text"], label: $0["label"], line: $0["line"]) }
            let now = Date()
            let summary = try Self.apply(items, source: .import, batch: batch, uid: record.uid, policy: policy,
                                         skipProtected: skipProtected, now: now, db: db)
            try db.execute(sql: "DELETE FROM import_row WHERE batch_id = ?", arguments: [batch])
            try db.execute(
                sql: """
                    UPDATE import_batch SET status = 'committed', added = ?, updated = ?, unchanged = ?,
                        conflicts = ?, committed_at = ?
                    WHERE id = ?
                    """,
                arguments: [summary.added, summary.updated, summary.unchanged, summary.conflicts.count, now, batch])
            return summary
        }
    }

    /// Drops an open import and its staged rows. Abandoning an abandoned import does nothing; a committed
    /// one cannot be abandoned.
    public func abandonImport(batch: Int64) throws {
        try database.storeWrite { db in
            guard let record = try Self.batch(batch, db) else {
                throw LabelStoreError.unknownImport(batch: batch)
            }
            switch record.status {
            case .open:
                try Self.abandon(batch, now: Date(), db)
            case .abandoned:
                return
            case .committed:
                throw LabelStoreError.importNotOpen(batch: batch, status: .committed)
            }
        }
    }

    /// Abandons every open import created before `olderThan` (every open import when nil) and deletes
    /// their staged rows; returns how many. The daemon calls it at start: no client can still be sending.
    @discardableResult
    public func abandonOpenImports(olderThan: Date?) throws -> Int {
        try database.storeWrite { db in
            let ids: [Int64]
            if let olderThan {
                ids = try Int64.fetchAll(
                    db, sql: "SELECT id FROM import_batch WHERE status = 'open' AND created_at < ?",
                    arguments: [olderThan])
            } else {
                ids = try Int64.fetchAll(db, sql: "SELECT id FROM import_batch WHERE status = 'open'")
            }
            let now = Date()
            for id in ids { try Self.abandon(id, now: now, db) }
            return ids.count
        }
    }

    /// One import, nil when the id was never handed out.
    public func importBatch(_ id: Int64) throws -> ImportBatchRecord? {
        try database.read { db in try Self.batch(id, db) }
    }

    /// How many rows an import has staged (0 once committed or abandoned).
    public func stagedRowCount(batch: Int64) throws -> Int {
        try database.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM import_row WHERE batch_id = ?", arguments: [batch]) ?? 0
        }
    }

    // MARK: Reading

    /// Counts per class and split, and those with seq > `sinceSeq` (every label when nil).
    public func stats(sinceSeq: Int64?) throws -> LabelStats {
        try database.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT label, split, COUNT(*) AS n, COALESCE(SUM(seq > ?), 0) AS fresh
                    FROM label GROUP BY label, split
                    """,
                arguments: [sinceSeq ?? Int64.min])
            var stats = LabelStats(perLabel: [:], total: LabelSplitCounts(), sinceSeq: sinceSeq, newPerLabel: [:],
                                   newTotal: LabelSplitCounts(), maxSeq: try Self.currentSeq(db))
            for row in rows {
                let label: String = row["label"]
                let split = LabelSplit(rawValue: row["split"]) ?? .train
                let n: Int = row["n"]
                let fresh: Int = row["fresh"]
                func add(_ counts: inout LabelSplitCounts, _ k: Int) {
                    switch split {
                    case .train: counts.train += k
                    case .eval: counts.eval += k
                    }
                }
                add(&stats.perLabel[label, default: LabelSplitCounts()], n)
                add(&stats.total, n)
                if fresh > 0 {
                    add(&stats.newPerLabel[label, default: LabelSplitCounts()], fresh)
                    add(&stats.newTotal, fresh)
                }
            }
            return stats
        }
    }

    /// The highest seq given so far (0 before the first label).
    public func maxSeq() throws -> Int64 {
        try database.read { db in try Self.currentSeq(db) }
    }

    /// The stored label of `text` (normalised here), nil when it has none.
    public func label(forText text: String) throws -> LabelRow? {
        try database.read { db in
            try LabelRow.fetchOne(db, sql: "SELECT id, text, label, split, seq, uid FROM label WHERE text = ?",
                                  arguments: [LabelText.normalise(text)])
        }
    }

    /// The recorded label changes of one label, oldest first.
    public func changes(labelID: Int64) throws -> [LabelChangeRecord] {
        try database.read { db in
            try LabelChangeRecord.fetchAll(db, sql: "SELECT * FROM label_change WHERE label_id = ? ORDER BY id",
                                           arguments: [labelID])
        }
    }

    /// The data of a training run, read in one snapshot. `newExamples`: train labels with seq > `seq`, by
    /// seq, at most `maxNew` (the oldest first, so the rest are new for the next run). `replay`: a uniform
    /// sample without replacement, drawn with `seed`, of the train labels with seq <= `seq`, of
    /// round(`replayRatio` × new count) rows or all there are. Eval labels are never selected.
    public func trainingSelection(newerThan seq: Int64, replayRatio: Double, seed: UInt64,
                                  maxNew: Int?) throws -> LabelSelection {
        try database.read { db in
            let columns = "id, text, label, split, seq, uid"
            var newExamples: [LabelRow]
            var highSeq = try Self.currentSeq(db)
            if let maxNew {
                let limit = max(maxNew, 0)
                newExamples = try LabelRow.fetchAll(
                    db,
                    sql: "SELECT \(columns) FROM label WHERE split = 'train' AND seq > ? ORDER BY seq LIMIT ?",
                    arguments: [seq, limit + 1])
                if newExamples.count > limit {
                    // Capped: the run accounts for labels up to its last new example only.
                    newExamples.removeLast(newExamples.count - limit)
                    highSeq = newExamples.last?.seq ?? seq
                }
            } else {
                newExamples = try LabelRow.fetchAll(
                    db, sql: "SELECT \(columns) FROM label WHERE split = 'train' AND seq > ? ORDER BY seq",
                    arguments: [seq])
            }
            highSeq = max(highSeq, seq)

            let ratio = replayRatio.isFinite ? max(replayRatio, 0) : 0
            let wanted = Int((ratio * Double(newExamples.count)).rounded())
            var replay: [LabelRow] = []
            if wanted > 0 {
                let candidates = try Int64.fetchAll(
                    db, sql: "SELECT id FROM label WHERE split = 'train' AND seq <= ? ORDER BY id", arguments: [seq])
                let chosen = Self.sample(candidates, count: min(wanted, candidates.count), seed: seed).sorted()
                for start in stride(from: 0, to: chosen.count, by: 500) {
                    let chunk = Array(chosen[start..<min(start + 500, chosen.count)])
                    let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                    // By rowid only: `AND split = 'train'` makes SQLite scan the split index instead. The ids
                    // are train ids from this same snapshot.
                    replay += try LabelRow.fetchAll(
                        db, sql: "SELECT \(columns) FROM label WHERE id IN (\(marks)) ORDER BY id",
                        arguments: StatementArguments(chunk))
                }
            }
            return LabelSelection(newExamples: newExamples, replay: replay, highSeq: highSeq)
        }
    }

    /// Every eval label, by id: the frozen set candidate and champion are compared on.
    public func evalSet() throws -> [LabelRow] {
        try database.read { db in
            try LabelRow.fetchAll(
                db, sql: "SELECT id, text, label, split, seq, uid FROM label WHERE split = 'eval' ORDER BY id")
        }
    }

    // MARK: Growing the evaluation split

    /// Training labels no published model can have learned: seq above `usedUpTo` (the highest label seq of any
    /// published run) and never relabelled (a changed label's text may have been trained on under its old label);
    /// when `uids` is given, only labels those uids wrote.
    static func unusedTrain(usedUpTo: Int64, uids: [UInt32]?) -> (sql: String, arguments: StatementArguments) {
        var sql = """
            split = 'train' AND seq > ? AND NOT EXISTS (SELECT 1 FROM label_change c WHERE c.label_id = label.id)
            """
        var arguments: StatementArguments = [usedUpTo]
        if let uids {
            sql += " AND uid IN (" + (uids.isEmpty ? "NULL" : Array(repeating: "?", count: uids.count).joined(separator: ",")) + ")"
            arguments += StatementArguments(uids.map { Int64($0) })
        }
        return (sql, arguments)
    }

    /// Moves `count` training labels (or all there are) into the evaluation split, in one transaction: a uniform
    /// sample, drawn with `seed`, of the labels `unusedTrain` selects. Their label, seq and uid stay; the draw is
    /// recorded in eval_draw with the `uid` that asked. Returns (drawn, available before).
    @discardableResult
    public func drawEval(count: Int, seed: UInt64, usedUpTo: Int64, fromUIDs: [UInt32]? = nil,
                         uid: UInt32) throws -> (drawn: Int, available: Int) {
        try database.storeWrite { db in
            let condition = Self.unusedTrain(usedUpTo: usedUpTo, uids: fromUIDs)
            let pool = try Int64.fetchAll(
                db, sql: "SELECT id FROM label WHERE \(condition.sql) ORDER BY id", arguments: condition.arguments)
            let chosen = Self.sample(pool, count: count, seed: seed)
            for start in stride(from: 0, to: chosen.count, by: 500) {
                let chunk = Array(chosen[start..<min(start + 500, chosen.count)])
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                try db.execute(sql: "UPDATE label SET split = 'eval' WHERE id IN (\(marks))",
                               arguments: StatementArguments(chunk))
            }
            try db.execute(
                sql: """
                    INSERT INTO eval_draw (drawn_at, uid, requested, drawn, seed, used_up_to)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [Date(), Int64(uid), count, chosen.count, Int64(bitPattern: seed), usedUpTo])
            return (chosen.count, pool.count)
        }
    }

    // MARK: Internals

    /// `count` distinct elements of `items`, uniformly, reproducibly from `seed` (partial Fisher-Yates).
    static func sample<T>(_ items: [T], count: Int, seed: UInt64) -> [T] {
        var pool = items
        var rng = SplitMix64(seed: seed)
        let k = min(max(count, 0), pool.count)
        for i in 0..<k {
            let j = i + Int(rng.below(UInt64(pool.count - i)))
            pool.swapAt(i, j)
        }
        return Array(pool[0..<k])
    }

    static func currentSeq(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT seq FROM label_counter WHERE id = 1") ?? 0
    }

    static func batch(_ id: Int64, _ db: Database) throws -> ImportBatchRecord? {
        try ImportBatchRecord.fetchOne(db, sql: "SELECT * FROM import_batch WHERE id = ?", arguments: [id])
    }

    static func openBatch(_ id: Int64, _ db: Database) throws -> ImportBatchRecord {
        guard let record = try batch(id, db) else { throw LabelStoreError.unknownImport(batch: id) }
        guard record.status == .open else { throw LabelStoreError.importNotOpen(batch: id, status: record.status) }
        return record
    }

    static func abandon(_ id: Int64, now: Date, _ db: Database) throws {
        try db.execute(sql: "DELETE FROM import_row WHERE batch_id = ?", arguments: [id])
        try db.execute(sql: "UPDATE import_batch SET status = 'abandoned', abandoned_at = ? WHERE id = ?",
                       arguments: [now, id])
    }

    /// The newest-wins write shared by `add` and `commitImport`; runs inside the caller's transaction.
    static func apply(_ items: [LabelInput], source: LabelSource, batch: Int64?, uid: UInt32,
                      policy: SplitPolicy, skipProtected: Bool, now: Date, db: Database) throws -> LabelWriteSummary {
        struct Occurrences {
            var text: String
            var lines: [Int] = []
            var labels: [String] = []
            /// Position in `items` of the last occurrence: the one that wins.
            var last = 0
        }
        // Distinct texts in order of first appearance.
        var distinct: [Occurrences] = []
        var indexOf: [String: Int] = [:]
        indexOf.reserveCapacity(items.count)
        for (position, item) in items.enumerated() {
            let line = item.line ?? position + 1
            let text = LabelText.normalise(item.text)
            guard !text.isEmpty else { throw LabelStoreError.emptyText(line: line) }
            let k: Int
            if let known = indexOf[text] {
                k = known
            } else {
                k = distinct.count
                indexOf[text] = k
                distinct.append(Occurrences(text: text))
            }
            distinct[k].lines.append(line)
            distinct[k].labels.append(item.label)
            distinct[k].last = position
        }

        let find = try db.cachedStatement(sql: "SELECT id, label, split FROM label WHERE text = ?")
        let insert = try db.cachedStatement(sql: """
            INSERT INTO label (text, label, split, source, import_batch, uid, created_at, updated_at, seq)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (text) DO NOTHING
            """)
        let update = try db.cachedStatement(sql: """
            UPDATE label SET label = ?, source = ?, import_batch = ?, uid = ?, updated_at = ?, seq = ?
            WHERE id = ?
            """)
        let recordChange = try db.cachedStatement(sql: """
            INSERT INTO label_change (label_id, old_label, new_label, import_batch, uid, changed_at, seq)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """)

        // Bound once: converting a Date for every row is measurable on a 100k-row import.
        let nowValue = now.databaseValue, sourceValue = source.rawValue.databaseValue
        let batchValue = batch.databaseValue, uidValue = Int64(uid).databaseValue
        var seq = try currentSeq(db)
        var added = 0, updated = 0, unchanged = 0, evalSplit = 0
        var protectedLines: [Int] = []
        // Texts in the order their winning label was given.
        for k in distinct.indices.sorted(by: { distinct[$0].last < distinct[$1].last }) {
            let text = distinct[k].text
            let label = distinct[k].labels.last!
            // Insert first: most texts of an import are new, and a failed unique check is cheaper than a
            // lookup for every row.
            let split = policy.split(forNormalised: text)
            try insert.execute(arguments: [text, label, split.rawValue, sourceValue, batchValue, uidValue, nowValue,
                                           nowValue, seq + 1])
            if db.changesCount == 1 {
                seq += 1
                added += 1
                if split == .eval { evalSplit += 1 }
                continue
            }
            guard let existing = try Row.fetchOne(find, arguments: [text]) else {
                throw DatabaseError(resultCode: .SQLITE_INTERNAL, message: "label \"\(text)\" neither inserted nor found")
            }
            let id: Int64 = existing["id"]
            let old: String = existing["label"]
            let storedSplit: String = existing["split"]
            if storedSplit == LabelSplit.eval.rawValue && !policy.mayWriteEval {
                protectedLines += distinct[k].lines
                continue
            }
            if old == label {
                unchanged += 1
                continue
            }
            seq += 1
            try update.execute(arguments: [label, sourceValue, batchValue, uidValue, nowValue, seq, id])
            try recordChange.execute(arguments: [id, old, label, batchValue, uidValue, nowValue, seq])
            updated += 1
            if storedSplit == LabelSplit.eval.rawValue { evalSplit += 1 }
        }
        if !protectedLines.isEmpty && !skipProtected {
            throw LabelStoreError.evalSplitProtected(lines: protectedLines.sorted())
        }
        try db.execute(sql: "UPDATE label_counter SET seq = ? WHERE id = 1", arguments: [seq])

        let conflicts = distinct.compactMap { occurrences -> LabelConflict? in
            guard occurrences.labels.count > 1, Set(occurrences.labels).count > 1 else { return nil }
            return LabelConflict(text: occurrences.text, lines: occurrences.lines, labels: occurrences.labels)
        }
        return LabelWriteSummary(added: added, updated: updated, unchanged: unchanged, evalSplit: evalSplit,
                                 conflicts: conflicts,
                                 received: items.count, highSeq: seq, batch: batch,
                                 protectedLines: protectedLines.sorted())
    }
}
