import Foundation
import GRDB
import SentimentCore

/// A consistent copy of the database, made while the daemon runs.
public struct DatabaseCopy: Sendable, Equatable {
    public var url: URL
    public var bytes: Int64
    public var sha256: String
    public var takenAt: Date
    /// The migrations the copy holds.
    public var migrations: [String]
    public var labels: Int
    public var versions: Int
    public var runs: Int
}

public enum StoreBackupError: Error, Equatable, CustomStringConvertible {
    case copyFailed(path: String, reason: String)
    case damaged(path: String, problems: [String])

    public var description: String {
        switch self {
        case let .copyFailed(path, reason): return "\(path): cannot copy the database: \(reason)"
        case let .damaged(path, problems):
            return "\(path): the copy failed its integrity check (\(problems.prefix(3).joined(separator: "; "))); "
                + "nothing was handed out"
        }
    }
}

/// Copies of the open database with SQLite's online backup API (through GRDB).
///
/// Why the online backup and not a file copy: the daemon writes the database in WAL mode, so its file alone is
/// not the database (recent commits may live in the -wal file), and a copy taken while a write lands would be torn.
/// The backup runs inside one read transaction of the daemon's own pool: it copies every page as of that moment,
/// while writers (the daemon, the training worker) go on. The copy is switched out of WAL mode (journal_mode
/// DELETE), so the one file holds everything, checked with `PRAGMA integrity_check`, fsynced, and only then handed
/// out.
public final class StoreBackup: Sendable {
    /// Copies are named with this prefix in the database's folder; leftovers of a crash are removed at start.
    public static let temporaryPrefix = ".sentimentd-backup-"

    private let database: DatabasePool

    public init(pool: DatabasePool) {
        self.database = pool
    }

    /// The database file.
    public var databasePath: URL { URL(fileURLWithPath: database.path) }

    /// A new copy in the database's folder (where the daemon may write), named `temporaryPrefix` + a unique part.
    public func copy() throws -> DatabaseCopy {
        let folder = databasePath.deletingLastPathComponent()
        let url = folder.appendingPathComponent(Self.temporaryPrefix + UUID().uuidString + ".sqlite")
        do {
            return try copy(to: url)
        } catch {
            Self.remove(url)
            throw error
        }
    }

    func copy(to url: URL) throws -> DatabaseCopy {
        let takenAt = Date()
        var configuration = Configuration()
        configuration.label = "sentimentd-backup"
        do {
            let target = try DatabaseQueue(path: url.path, configuration: configuration)
            try database.backup(to: target)
            try target.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            let problems = try StoreDatabase.integrityCheck(target)
            guard problems == ["ok"] else { throw StoreBackupError.damaged(path: url.path, problems: problems) }
            let (migrations, labels, versions, runs) = try target.read { db in
                (try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid"),
                 try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM label") ?? 0,
                 try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM model_version") ?? 0,
                 try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM training_run") ?? 0)
            }
            try target.close()
            try Self.sync(url)
            let size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.int64Value ?? 0
            return DatabaseCopy(url: url, bytes: size, sha256: try SHA256Hasher.hex(ofFileAt: url), takenAt: takenAt,
                                migrations: migrations, labels: labels, versions: versions, runs: runs)
        } catch let error as StoreBackupError {
            throw error
        } catch {
            throw StoreBackupError.copyFailed(path: url.path, reason: "\(error)")
        }
    }

    /// fsync of the file and of its folder.
    static func sync(_ url: URL) throws {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreBackupError.copyFailed(path: url.path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw StoreBackupError.copyFailed(path: url.path, reason: String(cString: strerror(errno))) }
        try AtomicFile.syncDirectory(url.deletingLastPathComponent().path)
    }

    /// Removes a copy (and the journal SQLite may have left next to it).
    public static func remove(_ url: URL) {
        for suffix in ["", "-journal", "-wal", "-shm"] { unlink(url.path + suffix) }
    }

    /// Removes the copies a previous daemon left in `folder` (a crash between a backup's start and its end);
    /// returns their names.
    @discardableResult
    public static func removeLeftovers(in folder: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        let leftovers = names.filter { $0.hasPrefix(temporaryPrefix) }
        for name in leftovers { unlink(folder.appendingPathComponent(name).path) }
        return leftovers.sorted()
    }
}
