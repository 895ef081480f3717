import Foundation
import GRDB

/// A pinned version: retention never removes it.
public struct VersionPin: Codable, Sendable, Equatable, FetchableRecord {
    public var version: String
    public var pinnedAt: Date
    public var uid: UInt32
    public var note: String?

    enum CodingKeys: String, CodingKey {
        case version, uid, note
        case pinnedAt = "pinned_at"
    }
}

/// What happened to a version's folder.
public enum VersionRemovalAction: String, Codable, Sendable {
    /// Retention removed it (a training run's version beyond `models.keep`).
    case pruned
    /// An admin removed it (`models.remove`).
    case removed
    /// It stayed rejected; it was moved to models/.quarantine.
    case quarantined
}

/// One folder retention or an admin took out of the models directory.
public struct VersionRemovalRecord: Codable, Sendable, Equatable, FetchableRecord {
    public var id: Int64
    public var version: String
    public var removedAt: Date
    public var action: VersionRemovalAction
    public var uid: UInt32
    public var bytes: Int64
    /// Where a quarantined folder went.
    public var path: String?
    public var reason: String

    enum CodingKeys: String, CodingKey {
        case id, version, action, uid, bytes, path, reason
        case removedAt = "removed_at"
    }
}

extension VersionStore {
    public func pin(version: String, uid: UInt32, note: String?, at date: Date = Date()) throws {
        try database.storeWrite { db in
            guard try ModelVersionRecord.fetchOne(db, key: version) != nil else { throw StoreError.unknownVersion(version) }
            try db.execute(sql: """
                INSERT INTO version_pin (version, pinned_at, uid, note) VALUES (?, ?, ?, ?)
                ON CONFLICT (version) DO UPDATE SET pinned_at = excluded.pinned_at, uid = excluded.uid, note = excluded.note
                """, arguments: [version, date, Int64(uid), note])
        }
    }

    /// Returns whether the version was pinned.
    @discardableResult
    public func unpin(version: String) throws -> Bool {
        try database.storeWrite { db in
            try db.execute(sql: "DELETE FROM version_pin WHERE version = ?", arguments: [version])
            return db.changesCount > 0
        }
    }

    public func pins() throws -> [String: VersionPin] {
        try database.read { db in
            Dictionary(uniqueKeysWithValues: try VersionPin.fetchAll(db, sql: "SELECT * FROM version_pin").map { ($0.version, $0) })
        }
    }

    /// Records a removal, and marks the version removed with `reason`, in one transaction.
    public func recordRemoval(version: String, action: VersionRemovalAction, uid: UInt32, bytes: Int64, path: String?,
                              reason: String, at date: Date = Date()) throws {
        try database.storeWrite { db in
            try db.execute(sql: """
                INSERT INTO version_removal (version, removed_at, action, uid, bytes, path, reason)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [version, date, action.rawValue, Int64(uid), bytes, path, reason])
            try db.execute(sql: "UPDATE model_version SET status = 'removed', reason = ? WHERE version = ?",
                           arguments: [reason, version])
        }
    }

    /// The recorded removals, newest first.
    public func removals(limit: Int = 100) throws -> [VersionRemovalRecord] {
        try database.read { db in
            try VersionRemovalRecord.fetchAll(db, sql: "SELECT * FROM version_removal ORDER BY id DESC LIMIT ?",
                                              arguments: [limit])
        }
    }
}

extension RunStore {
    /// The eval split evaluated most recently, if any: the split the gate's references are on.
    public func latestSplit() throws -> String? {
        try database.read { db in
            try String.fetchOne(db, sql: "SELECT split_fingerprint FROM split_evaluation ORDER BY recorded_at DESC LIMIT 1")
        }
    }
}
