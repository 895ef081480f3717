import Foundation

// MARK: - Backup of the database (admin)
//
// `sentimentctl backup FILE` takes a consistent copy of the database while the daemon runs. The daemon makes the
// copy with SQLite's online backup (one read transaction: every table as of one moment, writers not blocked) into a
// temporary file in its own state directory, the one place it may write under the unit's hardening; the client
// reads that copy over the socket and writes FILE itself, as the user who asked, wherever that user may write
// (the daemon never writes a client's path). The copy is removed at backup.end, when the client goes quiet for
// longer than the idle time, and at the next start.

/// Starts a backup: the daemon copies the database and says how big the copy is and its SHA-256.
public enum BackupBeginMethod: RPCMethod {
    public static let name = "backup.begin"
    public static let requiredRole = Role.admin
    public typealias Params = NoParams

    public struct Result: Codable, Sendable, Equatable {
        public var backupID: String
        /// Bytes of the copy.
        public var bytes: Int64
        /// SHA-256 of the copy, 64 hex digits: the client checks what it wrote against it.
        public var sha256: String
        /// The moment the copy holds.
        public var takenAt: Date
        /// The database file the copy is of.
        public var database: String
        /// The schema's migrations the copy holds (a sentimentd that knows fewer refuses to open it).
        public var migrations: [String]
        /// What the copy holds, for the report.
        public var labels: Int
        public var versions: Int
        public var runs: Int
        /// Bytes per backup.read the daemon answers at most.
        public var maxChunkBytes: Int

        enum CodingKeys: String, CodingKey {
            case bytes, sha256, database, migrations, labels, versions, runs
            case backupID = "backup_id"
            case takenAt = "taken_at"
            case maxChunkBytes = "max_chunk_bytes"
        }

        public init(backupID: String, bytes: Int64, sha256: String, takenAt: Date, database: String, migrations: [String],
                    labels: Int, versions: Int, runs: Int, maxChunkBytes: Int) {
            self.backupID = backupID
            self.bytes = bytes
            self.sha256 = sha256
            self.takenAt = takenAt
            self.database = database
            self.migrations = migrations
            self.labels = labels
            self.versions = versions
            self.runs = runs
            self.maxChunkBytes = maxChunkBytes
        }
    }
}

/// Reads `length` bytes of a backup's copy from `offset` (the last read of a copy may be shorter).
public enum BackupReadMethod: RPCMethod {
    public static let name = "backup.read"
    public static let requiredRole = Role.admin

    public struct Params: Codable, Sendable, Equatable {
        public var backupID: String
        public var offset: Int64
        public var length: Int

        enum CodingKeys: String, CodingKey {
            case offset, length
            case backupID = "backup_id"
        }

        public init(backupID: String, offset: Int64, length: Int) {
            self.backupID = backupID
            self.offset = offset
            self.length = length
        }
    }

    public struct Result: Codable, Sendable, Equatable {
        /// The bytes (base64 in JSON).
        public var data: Data
        /// Whether the copy ends with these bytes.
        public var end: Bool

        public init(data: Data, end: Bool) {
            self.data = data
            self.end = end
        }
    }
}

/// Ends a backup: the daemon removes its copy.
public enum BackupEndMethod: RPCMethod {
    public static let name = "backup.end"
    public static let requiredRole = Role.admin

    public struct Params: Codable, Sendable, Equatable {
        public var backupID: String
        enum CodingKeys: String, CodingKey { case backupID = "backup_id" }
        public init(backupID: String) { self.backupID = backupID }
    }

    public struct Result: Codable, Sendable, Equatable {
        public var removed: Bool
        public init(removed: Bool) { self.removed = removed }
    }
}
