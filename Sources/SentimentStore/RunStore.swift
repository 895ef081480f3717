import Foundation
import GRDB
import SentimentCore

/// Training runs in SQLite: the daemon creates and finishes them, the training worker (another process on
/// the same file) writes its progress, epochs and evaluation.
///
/// At most one run is queued or running. A finished run (published, rejected, failed, cancelled) never
/// changes again: every write checks the status inside its own transaction.
public final class RunStore: Sendable {
    /// Internal, not private: the runs' curves live in RunCurves.swift.
    let database: DatabasePool

    /// A store on an already opened (and migrated) database, shared with the other stores.
    public init(pool: DatabasePool) {
        self.database = pool
    }

    /// Opens (creating and migrating when needed) the database at `path`.
    public convenience init(path: URL) throws {
        self.init(pool: try StoreDatabase.open(path: path))
    }

    // MARK: Lifecycle

    /// Queues a new run. Throws `runInProgress` when another run is queued or running.
    public func createRun(trigger: RunTrigger, uid: UInt32, method: TrainingMethod, recipeJSON: String,
                          at date: Date = Date()) throws -> Int64 {
        try database.storeWrite { db in
            if let active = try Self.activeRunID(db) {
                throw RunStoreError.runInProgress(id: active)
            }
            try db.execute(
                sql: """
                    INSERT INTO training_run (status, "trigger", uid, created_at, method, recipe)
                    VALUES ('queued', ?, ?, ?, ?, ?)
                    """,
                arguments: [trigger.rawValue, Int64(uid), date, method.rawValue, recipeJSON])
            return db.lastInsertedRowID
        }
    }

    /// Marks a queued run running and records its worker and data. Calling it again while running updates
    /// those fields (the daemon may record the pid first, the worker the data later); `started_at` is set
    /// once.
    public func markRunning(id: Int64, pid: Int32?, baseVersion: String?, trainExamples: Int?, newExamples: Int?,
                            replayExamples: Int?, evalExamples: Int?, labelSeqHigh: Int64?,
                            dataFingerprint: String?, labelUIDs: String? = nil, at date: Date = Date()) throws {
        try database.storeWrite { db in
            let status = try Self.status(of: id, db)
            guard !status.isFinished else { throw RunStoreError.runFinished(id: id, status: status) }
            try db.execute(
                sql: """
                    UPDATE training_run SET status = 'running', started_at = COALESCE(started_at, ?),
                        worker_pid = COALESCE(?, worker_pid), base_version = COALESCE(?, base_version),
                        train_examples = COALESCE(?, train_examples), new_examples = COALESCE(?, new_examples),
                        replay_examples = COALESCE(?, replay_examples), eval_examples = COALESCE(?, eval_examples),
                        label_seq_high = COALESCE(?, label_seq_high),
                        data_fingerprint = COALESCE(?, data_fingerprint),
                        label_uids = COALESCE(?, label_uids)
                    WHERE id = ?
                    """,
                arguments: [date, pid.map { Int64($0) }, baseVersion, trainExamples, newExamples, replayExamples,
                            evalExamples, labelSeqHigh, dataFingerprint, labelUIDs, id])
        }
    }

    /// Records the worker's latest progress. Only while running: a run finished meanwhile (cancelled by the
    /// daemon) makes this throw `runFinished`, which tells the worker to stop.
    public func updateProgress(id: Int64, step: Int, totalSteps: Int, epoch: Int, loss: Double?, lr: Double?,
                               examplesPerSecond: Double?, etaSeconds: Double?, at date: Date = Date()) throws {
        try database.storeWrite { db in
            try Self.requireRunning(id, db)
            try db.execute(
                sql: """
                    UPDATE training_run SET step = ?, total_steps = ?, epoch = ?, loss = ?, lr = ?,
                        examples_per_second = ?, eta_seconds = ?, progress_at = ?
                    WHERE id = ?
                    """,
                arguments: [step, totalSteps, epoch, Self.finite(loss), Self.finite(lr),
                            Self.finite(examplesPerSecond), Self.finite(etaSeconds), date, id])
        }
    }

    /// Records (or, for a resumed run, replaces) the metrics of one epoch. Only while running.
    public func recordEpoch(id: Int64, epoch: Int, trainLoss: Double?, metricsJSON: String,
                            at date: Date = Date()) throws {
        try database.storeWrite { db in
            try Self.requireRunning(id, db)
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO run_epoch (run_id, epoch, train_loss, metrics, recorded_at)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                arguments: [id, epoch, Self.finite(trainLoss), metricsJSON, date])
        }
    }

    /// Records both models' scores on the eval split and the gate's numbers. Only while running.
    public func recordEvaluation(id: Int64, championMetricsJSON: String?, candidateMetricsJSON: String?,
                                 championF1: Double?, candidateF1: Double?, gateJSON: String? = nil) throws {
        try database.storeWrite { db in
            try Self.requireRunning(id, db)
            try db.execute(
                sql: """
                    UPDATE training_run SET champion_metrics = ?, candidate_metrics = ?, champion_f1 = ?,
                        candidate_f1 = ?, gate = COALESCE(?, gate)
                    WHERE id = ?
                    """,
                arguments: [championMetricsJSON, candidateMetricsJSON, Self.finite(championF1),
                            Self.finite(candidateF1), gateJSON, id])
        }
    }

    // MARK: Evaluations on a split (the gate's references)

    /// Records (or replaces) a version's evaluation on a split.
    public func recordSplitEvaluation(_ e: SplitEvaluation) throws {
        let predictions = String(decoding: try JSONEncoder().encode(e.predictions), as: UTF8.self)
        try database.storeWrite { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO split_evaluation
                        (split_fingerprint, version, run_id, examples, macro_f1, predictions, recorded_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [e.splitFingerprint, e.version, e.runID, e.examples, e.macroF1, predictions, e.recordedAt])
        }
    }

    /// The best-scoring version evaluated on `split`, leaving out versions that are marked rolled back (an admin
    /// said they were bad).
    public func bestSplitEvaluation(split: String) throws -> SplitEvaluation? {
        try database.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT e.* FROM split_evaluation e
                    WHERE e.split_fingerprint = ?
                      AND NOT EXISTS (SELECT 1 FROM model_version v
                                      WHERE v.version = e.version AND v.rolled_back_at IS NOT NULL)
                    ORDER BY e.macro_f1 DESC, e.recorded_at LIMIT 1
                    """,
                arguments: [split])
            return try rows.first.map(Self.splitEvaluation)
        }
    }

    /// The versions evaluated on `split`.
    public func versionsEvaluated(onSplit split: String) throws -> Set<String> {
        try database.read { db in
            Set(try String.fetchAll(db, sql: "SELECT version FROM split_evaluation WHERE split_fingerprint = ?",
                                    arguments: [split]))
        }
    }

    /// The most recently evaluated split other than `split`, if any.
    public func latestOtherSplit(than split: String) throws -> String? {
        try database.read { db in
            try String.fetchOne(
                db, sql: """
                    SELECT split_fingerprint FROM split_evaluation WHERE split_fingerprint != ?
                    ORDER BY recorded_at DESC LIMIT 1
                    """,
                arguments: [split])
        }
    }

    static func splitEvaluation(_ row: Row) throws -> SplitEvaluation {
        let json: String = row["predictions"]
        return SplitEvaluation(splitFingerprint: row["split_fingerprint"], version: row["version"], runID: row["run_id"],
                               examples: row["examples"], macroF1: row["macro_f1"],
                               predictions: try JSONDecoder().decode([Int].self, from: Data(json.utf8)),
                               recordedAt: row["recorded_at"])
    }

    /// Ends a queued or running run with a final `status`. Fields passed as nil keep their value. Throws
    /// `runFinished` for a run that is already finished and `notAFinalStatus` for queued/running.
    public func finish(id: Int64, status: RunStatus, decision: RunDecision? = nil, reason: String? = nil,
                       candidateVersion: String? = nil, error: String? = nil, at date: Date = Date()) throws {
        guard status.isFinished else { throw RunStoreError.notAFinalStatus(status) }
        try database.storeWrite { db in
            let current = try Self.status(of: id, db)
            guard !current.isFinished else { throw RunStoreError.runFinished(id: id, status: current) }
            try db.execute(
                sql: """
                    UPDATE training_run SET status = ?, finished_at = ?, decision = COALESCE(?, decision),
                        reason = COALESCE(?, reason), candidate_version = COALESCE(?, candidate_version),
                        error = COALESCE(?, error)
                    WHERE id = ?
                    """,
                arguments: [status.rawValue, date, decision?.rawValue, reason, candidateVersion, error, id])
        }
    }

    /// Marks every queued or running run failed with `reason` (in `reason` and `error`); returns their ids.
    /// The daemon calls it at start: no worker of a previous daemon is still trusted.
    @discardableResult
    public func failUnfinishedRuns(reason: String, at date: Date = Date()) throws -> [Int64] {
        try database.storeWrite { db in
            let ids = try Int64.fetchAll(
                db, sql: "SELECT id FROM training_run WHERE status IN ('queued', 'running') ORDER BY id")
            for id in ids {
                try db.execute(
                    sql: """
                        UPDATE training_run SET status = 'failed', finished_at = ?, reason = ?,
                            error = COALESCE(error, ?)
                        WHERE id = ?
                        """,
                    arguments: [date, reason, reason, id])
            }
            return ids
        }
    }

    // MARK: Reading

    public func run(id: Int64) throws -> TrainingRunRecord? {
        try database.read { db in
            try TrainingRunRecord.fetchOne(db, sql: "SELECT * FROM training_run WHERE id = ?", arguments: [id])
        }
    }

    /// The newest runs first, `limit` at most (all when nil).
    public func runs(limit: Int? = nil) throws -> [TrainingRunRecord] {
        try database.read { db in
            try TrainingRunRecord.fetchAll(
                db, sql: "SELECT * FROM training_run ORDER BY id DESC LIMIT ?", arguments: [limit ?? -1])
        }
    }

    /// The queued or running run, if any.
    public func activeRun() throws -> TrainingRunRecord? {
        try database.read { db in
            try TrainingRunRecord.fetchOne(
                db, sql: "SELECT * FROM training_run WHERE status IN ('queued', 'running') ORDER BY id DESC LIMIT 1")
        }
    }

    /// The newest run that got as far as a gate decision (published or rejected). Its `labelSeqHigh` is
    /// where new labels start; failed and cancelled runs consume no labels.
    public func lastCompletedRun() throws -> TrainingRunRecord? {
        try database.read { db in
            try TrainingRunRecord.fetchOne(
                db, sql: """
                    SELECT * FROM training_run WHERE status IN ('published', 'rejected') ORDER BY id DESC LIMIT 1
                    """)
        }
    }

    /// The highest label seq any published run trained on (0 when none was published): labels above it (and
    /// never relabelled) no published model has learned.
    public func highestPublishedLabelSeq() throws -> Int64 {
        try database.read { db in
            try Int64.fetchOne(db, sql: "SELECT MAX(label_seq_high) FROM training_run WHERE status = 'published'") ?? 0
        }
    }

    /// The recorded epochs of a run, in epoch order.
    public func epochs(run id: Int64) throws -> [RunEpochRecord] {
        try database.read { db in
            try RunEpochRecord.fetchAll(db, sql: "SELECT * FROM run_epoch WHERE run_id = ? ORDER BY epoch",
                                        arguments: [id])
        }
    }

    // MARK: Internals

    static func finite(_ value: Double?) -> Double? {
        guard let value, value.isFinite else { return nil }
        return value
    }

    static func activeRunID(_ db: Database) throws -> Int64? {
        try Int64.fetchOne(
            db, sql: "SELECT id FROM training_run WHERE status IN ('queued', 'running') ORDER BY id LIMIT 1")
    }

    static func status(of id: Int64, _ db: Database) throws -> RunStatus {
        guard let raw = try String.fetchOne(db, sql: "SELECT status FROM training_run WHERE id = ?", arguments: [id]),
              let status = RunStatus(rawValue: raw)
        else { throw RunStoreError.unknownRun(id: id) }
        return status
    }

    static func requireRunning(_ id: Int64, _ db: Database) throws {
        let status = try status(of: id, db)
        if status.isFinished { throw RunStoreError.runFinished(id: id, status: status) }
        if status != .running { throw RunStoreError.notRunning(id: id, status: status) }
    }
}
