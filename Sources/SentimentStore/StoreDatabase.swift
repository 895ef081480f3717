import Foundation
import GRDB

/// Errors opening or migrating the sentimentd database. Each names the file and says what to do.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    /// The database file (or its folder) cannot be created or opened.
    case cannotOpen(path: String, reason: String)
    /// The file holds migrations this build does not know: it was written by a newer sentimentd.
    case newerSchema(path: String, unknownMigrations: [String])
    /// A migration failed; the database is left at the last migration that completed.
    case migrationFailed(path: String, migration: String, reason: String)
    /// An update named a model version that has never been recorded.
    case unknownVersion(String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "\(path): cannot open the database: \(reason)"
        case let .newerSchema(path, unknown):
            return "\(path): the database was written by a newer sentimentd (unknown migrations: "
                + unknown.joined(separator: ", ") + "); run that version or restore a backup"
        case let .migrationFailed(path, migration, reason):
            return "\(path): migration \"\(migration)\" failed: \(reason)"
        case let .unknownVersion(version):
            return "model version \"\(version)\" is not recorded in the database"
        }
    }
}

/// Opening the one SQLite file sentimentd keeps (versions, activations; later labels and runs).
///
/// The schema only moves forward: every change is a new migration appended to `migrator`, never an edit of
/// an old one. A file that holds migrations this build does not know is refused rather than guessed at.
public enum StoreDatabase {
    /// How long a writer waits for another connection's lock before failing (the training worker and the
    /// daemon share the file).
    public static let busyTimeout: TimeInterval = 5

    /// Opens (creating when absent) the database at `path` in WAL mode with foreign keys on, and migrates it
    /// to the newest schema.
    public static func open(path: URL) throws -> DatabasePool {
        let filePath = path.path
        do {
            try FileManager.default.createDirectory(
                at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw StoreError.cannotOpen(path: filePath, reason: "cannot create its folder: \(error.localizedDescription)")
        }
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "sentimentd"
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: filePath, configuration: configuration)  // DatabasePool is always WAL
        } catch {
            throw StoreError.cannotOpen(path: filePath, reason: "\(error)")
        }
        try migrate(pool, path: filePath)
        return pool
    }

    static func migrate(_ writer: any DatabaseWriter, path: String) throws {
        let migrator = Self.migrator
        let known = Set(migrator.migrations)
        let applied: Set<String>
        do {
            applied = try writer.read { db in try migrator.appliedIdentifiers(db) }
        } catch {
            throw StoreError.cannotOpen(path: path, reason: "\(error)")
        }
        let unknown = applied.subtracting(known)
        if !unknown.isEmpty {
            throw StoreError.newerSchema(path: path, unknownMigrations: unknown.sorted())
        }
        for identifier in migrator.migrations where !applied.contains(identifier) {
            do {
                try migrator.migrate(writer, upTo: identifier)
            } catch {
                throw StoreError.migrationFailed(path: path, migration: identifier, reason: "\(error)")
            }
        }
    }

    /// Every schema change, in order. Append only.
    public static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-model-versions") { db in
            // One row per directory name ever seen in models/. Rows are never deleted, because
            // activations refer to them; a folder that disappears is marked `removed`.
            try db.execute(sql: """
                CREATE TABLE model_version (
                    version          TEXT PRIMARY KEY NOT NULL,
                    status           TEXT NOT NULL CHECK (status IN ('pending', 'valid', 'rejected', 'removed')),
                    reason           TEXT,
                    first_seen       DATETIME NOT NULL,
                    arrived_at       DATETIME NOT NULL,
                    arrival_seq      INTEGER NOT NULL,
                    validated_at     DATETIME,
                    fingerprint      TEXT NOT NULL,
                    manifest_sha256  TEXT,
                    family           TEXT,
                    labels           TEXT,
                    rolled_back_at   DATETIME
                );
                CREATE TABLE activation (
                    id            INTEGER PRIMARY KEY AUTOINCREMENT,
                    version       TEXT NOT NULL REFERENCES model_version(version) ON DELETE RESTRICT,
                    activated_at  DATETIME NOT NULL,
                    reason        TEXT NOT NULL,
                    uid           INTEGER NOT NULL CHECK (uid >= 0),
                    fingerprint   TEXT
                );
                CREATE INDEX activation_by_version ON activation(version);
                """)
        }
        return migrator
    }
}
