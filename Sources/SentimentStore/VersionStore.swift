import Foundation
import GRDB
import SentimentCore

/// One directory name of models/ as the registry last judged it.
public struct ModelVersionRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public enum Status: String, Codable, Sendable {
        /// Seen (new or changed files), not yet validated.
        case pending
        /// Passed validation and the smoke test with the files that have `fingerprint`.
        case valid
        /// Failed validation; `reason` says why. Never served.
        case rejected
        /// The folder is gone from models/.
        case removed
    }

    public static let databaseTableName = "model_version"

    public var version: String
    public var status: Status
    /// Why it was rejected (or a note for other states).
    public var reason: String?
    public var firstSeen: Date
    /// When the current contents arrived (first seen, or last seen changed).
    public var arrivedAt: Date
    /// Strictly increasing over all arrivals: orders "newest" without relying on clock resolution.
    public var arrivalSequence: Int64
    public var validatedAt: Date?
    /// Identity of the files the status refers to (the registry decides how it is computed).
    public var fingerprint: String
    /// SHA-256 of the manifest `sentimentd.json`, when the version has one.
    public var manifestSHA256: String?
    public var family: String?
    public var labels: [String]?
    /// Set by a rollback away from this version; a rescan never re-activates it while set.
    public var rolledBackAt: Date?
    /// The last int8 check of this version's files (`models.precision = "int8"`), nil when none ran.
    public var int8Check: Int8CheckRecord? = nil
    /// Set while the current files are being validated (or loaded at start-up); still set at the next start
    /// means the daemon died during it.
    public var validationStartedAt: Date? = nil
    /// How many validations of the current files the daemon's death interrupted.
    public var validationInterruptions: Int = 0
    /// Digests of the files that passed validation (JSON written and read by the registry), nil when unknown.
    public var fileDigests: String? = nil

    public var isRolledBack: Bool { rolledBackAt != nil }

    enum CodingKeys: String, CodingKey {
        case version, status, reason
        case firstSeen = "first_seen"
        case arrivedAt = "arrived_at"
        case arrivalSequence = "arrival_seq"
        case validatedAt = "validated_at"
        case fingerprint
        case manifestSHA256 = "manifest_sha256"
        case family, labels
        case rolledBackAt = "rolled_back_at"
        case int8Check = "int8_check"
        case validationStartedAt = "validation_started_at"
        case validationInterruptions = "validation_interruptions"
        case fileDigests = "file_digests"
    }
}

/// One row of the append-only activation history.
public struct ActivationRecord: Codable, Sendable, Equatable, FetchableRecord {
    public static let databaseTableName = "activation"

    public var id: Int64
    public var version: String
    public var activatedAt: Date
    /// startup, arrival, rollback or manual (the registry's `ActivationReason` raw values).
    public var reason: String
    /// The uid that asked for it (the daemon's own uid for automatic activations).
    public var uid: UInt32
    /// The fingerprint of the files that were activated.
    public var fingerprint: String?

    enum CodingKeys: String, CodingKey {
        case id, version
        case activatedAt = "activated_at"
        case reason, uid, fingerprint
    }
}

/// Model versions and the activation history, in SQLite.
public final class VersionStore: Sendable {
    /// The file this store was opened on.
    public let path: URL
    /// Internal, not private: pins and removals live in VersionRetention.swift.
    let database: DatabasePool

    /// Opens (creating and migrating when needed) the database at `path`.
    public init(path: URL) throws {
        self.path = path
        self.database = try StoreDatabase.open(path: path)
    }

    /// A store on a pool already opened (and migrated) by `StoreDatabase.open(path:)`: one pool per process.
    public init(pool: DatabasePool) {
        self.path = URL(fileURLWithPath: pool.path)
        self.database = pool
    }

    // MARK: Versions

    /// Records that `version` appeared, or that its files changed: status `pending`, a new arrival sequence.
    /// `firstSeen` and the rolled-back mark of a known version are kept.
    @discardableResult
    public func recordArrival(version: String, fingerprint: String, at date: Date = Date()) throws -> ModelVersionRecord {
        try database.write { db in
            let next = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(arrival_seq), 0) + 1 FROM model_version") ?? 1
            var record = try ModelVersionRecord.fetchOne(db, key: version)
                ?? ModelVersionRecord(version: version, status: .pending, reason: nil, firstSeen: date, arrivedAt: date,
                                      arrivalSequence: next, validatedAt: nil, fingerprint: fingerprint,
                                      manifestSHA256: nil, family: nil, labels: nil, rolledBackAt: nil)
            // Interrupted validations count against the same files only.
            if record.fingerprint != fingerprint { record.validationInterruptions = 0 }
            record.status = .pending
            record.reason = nil
            record.arrivedAt = date
            record.arrivalSequence = next
            record.validatedAt = nil
            record.fingerprint = fingerprint
            record.manifestSHA256 = nil
            record.family = nil
            record.labels = nil
            record.int8Check = nil
            record.validationStartedAt = nil
            record.fileDigests = nil
            try record.save(db)
            return record
        }
    }

    /// Records that the files with `fingerprint` passed validation (`fileDigests`: what was read, for restarts).
    public func recordValid(version: String, fingerprint: String, manifestSHA256: String?, family: String?,
                            labels: [String]?, fileDigests: String? = nil, at date: Date = Date()) throws {
        try recordVerdict(version, .valid, reason: nil, fingerprint: fingerprint, fileDigests: fileDigests, at: date) { record in
            record.manifestSHA256 = manifestSHA256
            record.family = family
            record.labels = labels
        }
    }

    /// Records that the files with `fingerprint` failed validation, and why.
    public func recordRejected(version: String, fingerprint: String, reason: String, at date: Date = Date()) throws {
        try recordVerdict(version, .rejected, reason: reason, fingerprint: fingerprint, fileDigests: nil, at: date)
    }

    /// A validation's verdict on the files with `fingerprint`: it ends the validation, so its mark and the count of
    /// interrupted ones are cleared (`more` adds what only a passed validation knows).
    private func recordVerdict(_ version: String, _ status: ModelVersionRecord.Status, reason: String?, fingerprint: String,
                               fileDigests: String?, at date: Date,
                               _ more: (inout ModelVersionRecord) -> Void = { _ in }) throws {
        try update(version) { record in
            record.status = status
            record.reason = reason
            record.validatedAt = date
            record.fingerprint = fingerprint
            record.fileDigests = fileDigests
            record.validationStartedAt = nil
            record.validationInterruptions = 0
            more(&record)
        }
    }

    // MARK: Interrupted validations

    /// Marks that a validation (or start-up load) of `version`'s current files begins. Written before any of
    /// their bytes are read, so a daemon that dies reading them leaves the mark behind.
    public func beginValidation(version: String, at date: Date = Date()) throws {
        try update(version) { record in record.validationStartedAt = date }
    }

    /// Clears the mark without an outcome: the validation was stopped on purpose (a clean shutdown, or files
    /// that changed meanwhile). It does not count as an interruption.
    public func endValidation(version: String) throws {
        try update(version) { record in record.validationStartedAt = nil }
    }

    /// At start-up: every mark still set belongs to a validation the previous daemon died in. Each is counted
    /// and cleared; the versions are returned with their new counts (the caller retries or rejects them).
    public func recoverInterruptedValidations() throws -> [ModelVersionRecord] {
        try database.write { db in
            let interrupted = try ModelVersionRecord.fetchAll(
                db, sql: "SELECT * FROM model_version WHERE validation_started_at IS NOT NULL ORDER BY arrival_seq")
            return try interrupted.map { record in
                var record = record
                record.validationStartedAt = nil
                record.validationInterruptions += 1
                try record.update(db)
                return record
            }
        }
    }

    /// Records the int8 check of `version`'s files (nil forgets it).
    public func recordInt8Check(version: String, _ check: Int8CheckRecord?) throws {
        try update(version) { record in record.int8Check = check }
    }

    /// Records that the folder of `version` is gone.
    public func recordRemoved(version: String, reason: String? = nil) throws {
        try update(version) { record in
            record.status = .removed
            record.reason = reason
        }
    }

    /// Sets (a date) or clears (nil) the rolled-back mark of `version`.
    public func setRolledBack(version: String, at date: Date?) throws {
        try update(version) { record in record.rolledBackAt = date }
    }

    public func version(_ version: String) throws -> ModelVersionRecord? {
        try database.read { db in try ModelVersionRecord.fetchOne(db, key: version) }
    }

    /// Every recorded version, oldest arrival first.
    public func versions() throws -> [ModelVersionRecord] {
        try database.read { db in
            try ModelVersionRecord.fetchAll(db, sql: "SELECT * FROM model_version ORDER BY arrival_seq")
        }
    }

    private func update(_ version: String, _ change: (inout ModelVersionRecord) -> Void) throws {
        try database.write { db in
            guard var record = try ModelVersionRecord.fetchOne(db, key: version) else {
                throw StoreError.unknownVersion(version)
            }
            change(&record)
            try record.update(db)
        }
    }

    // MARK: Activations

    /// Appends an activation of a recorded version to the history, in one transaction with what it implies:
    /// `clearingRolledBack` clears the activated version's rolled-back mark (an admin chose it again),
    /// `markingRolledBack` sets that mark on the version it replaces (a rollback away from it). Either all of it is
    /// recorded or none.
    @discardableResult
    public func recordActivation(version: String, reason: String, uid: UInt32, fingerprint: String?,
                                 clearingRolledBack: Bool = false, markingRolledBack rolledBack: String? = nil,
                                 at date: Date = Date()) throws -> ActivationRecord {
        try database.write { db in
            guard var record = try ModelVersionRecord.fetchOne(db, key: version) else {
                throw StoreError.unknownVersion(version)
            }
            if clearingRolledBack && record.rolledBackAt != nil {
                record.rolledBackAt = nil
                try record.update(db)
            }
            try db.execute(
                sql: "INSERT INTO activation (version, activated_at, reason, uid, fingerprint) VALUES (?, ?, ?, ?, ?)",
                arguments: [version, date, reason, Int64(uid), fingerprint])
            let activation = ActivationRecord(id: db.lastInsertedRowID, version: version, activatedAt: date,
                                              reason: reason, uid: uid, fingerprint: fingerprint)
            if let rolledBack {
                guard var left = try ModelVersionRecord.fetchOne(db, key: rolledBack) else {
                    throw StoreError.unknownVersion(rolledBack)
                }
                left.rolledBackAt = date
                try left.update(db)
            }
            return activation
        }
    }

    /// The activation history, newest first (`limit` rows at most).
    public func activations(limit: Int? = nil) throws -> [ActivationRecord] {
        try database.read { db in
            if let limit {
                return try ActivationRecord.fetchAll(
                    db, sql: "SELECT * FROM activation ORDER BY id DESC LIMIT ?", arguments: [limit])
            }
            return try ActivationRecord.fetchAll(db, sql: "SELECT * FROM activation ORDER BY id DESC")
        }
    }

    /// The most recent activation: the version a restart serves (when it is still valid).
    public func latestActivation() throws -> ActivationRecord? {
        try activations(limit: 1).first
    }

    /// The time of the last activation of each version that has one.
    public func lastActivationTimes() throws -> [String: Date] {
        try database.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT version, activated_at FROM activation
                WHERE id IN (SELECT MAX(id) FROM activation GROUP BY version)
                """)
            var times: [String: Date] = [:]
            for row in rows {
                let version: String = row["version"]
                let time: Date = row["activated_at"]
                times[version] = time
            }
            return times
        }
    }
}
