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
    /// The file exists but is not an SQLite database. It is left exactly as it is.
    case notADatabase(path: String)
    /// The file is an SQLite database whose pages are damaged.
    case corrupt(path: String, reason: String)
    /// The file, or the folder it lives in, cannot be written by this process.
    case readOnly(path: String, reason: String)
    /// Another connection held a lock on the file for longer than the busy timeout.
    case locked(path: String, timeout: TimeInterval)
    /// The disk (or quota) is full.
    case diskFull(path: String)

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
        case let .notADatabase(path):
            return "\(path): file is not a database (it was left untouched); move it away or point the "
                + "state directory elsewhere, and sentimentd creates a new database"
        case let .corrupt(path, reason):
            return "\(path): the database is corrupt (\(reason)); restore a backup or move the file away"
        case let .readOnly(path, reason):
            return "\(path): the database is read-only: \(reason); give the service user write access"
        case let .locked(path, timeout):
            return "\(path): the database stayed locked by another process for more than "
                + "\(Self.seconds(timeout)) s; is another sentimentd (or an sqlite3 shell) holding it?"
        case let .diskFull(path):
            return "\(path): the disk is full; free some space and retry"
        }
    }

    private static func seconds(_ t: TimeInterval) -> String {
        t == t.rounded() ? String(Int(t)) : String(format: "%.1f", t)
    }
}

/// Opening the one SQLite file sentimentd keeps (versions, activations, labels, imports, training runs).
///
/// The schema only moves forward: every change is a new migration appended to `migrator`, never an edit of
/// an old one. A file that holds migrations this build does not know is refused rather than guessed at.
public enum StoreDatabase {
    /// How long a writer waits for another connection's lock before failing (the training worker and the
    /// daemon share the file).
    public static let busyTimeout: TimeInterval = 5

    /// Opens (creating when absent) the database at `path` in WAL mode with foreign keys on, and migrates it
    /// to the newest schema.
    ///
    /// A file that exists but is not an SQLite database is refused before SQLite ever opens it, so it is
    /// never overwritten or migrated. A read-only file or folder, a lock held longer than `busyTimeout` and a
    /// damaged file each fail with their own `StoreError` naming the file.
    public static func open(path: URL, busyTimeout: TimeInterval = StoreDatabase.busyTimeout) throws -> DatabasePool {
        let filePath = path.path
        do {
            try FileManager.default.createDirectory(
                at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw StoreError.cannotOpen(path: filePath, reason: "cannot create its folder: \(error.localizedDescription)")
        }
        try checkBeforeOpening(filePath, forWriting: true)
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "sentimentd"
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: filePath, configuration: configuration)  // DatabasePool is always WAL
            openedPaths.withLock { _ = $0.insert(canonical(filePath)) }
        } catch {
            throw classify(error, path: filePath, busyTimeout: busyTimeout)
        }
        try migrate(pool, path: filePath, busyTimeout: busyTimeout)
        return pool
    }

    /// Runs `PRAGMA integrity_check` on the file at `path` over a read-only connection: `["ok"]` when the
    /// database is sound, otherwise SQLite's list of problems. Never creates, migrates or writes the file.
    public static func integrityCheck(path: URL) throws -> [String] {
        let filePath = path.path
        guard FileManager.default.fileExists(atPath: filePath) else {
            throw StoreError.cannotOpen(path: filePath, reason: "no such file")
        }
        try checkBeforeOpening(filePath, forWriting: false)
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "sentimentd-integrity"
        do {
            return try integrityCheck(DatabaseQueue(path: filePath, configuration: configuration))
        } catch let error as DatabaseError where [.SQLITE_READONLY, .SQLITE_CANTOPEN].contains(error.resultCode) {
            // A read-only connection to a WAL database needs its -shm file, and cannot create it in a folder it
            // may not write. Nobody can be writing such a file, so it is safe to read it as immutable (needs
            // SQLite URI filenames; without them this attempt fails too and the first error is reported).
            let encoded = filePath.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? filePath
            if let problems = try? integrityCheck(
                DatabaseQueue(path: "file:\(encoded)?immutable=1", configuration: configuration)) {
                return problems
            }
            throw classify(error, path: filePath, busyTimeout: busyTimeout)
        } catch {
            throw classify(error, path: filePath, busyTimeout: busyTimeout)
        }
    }

    /// Runs `PRAGMA integrity_check` on an open database: `["ok"]` when it is sound.
    public static func integrityCheck(_ reader: any DatabaseReader) throws -> [String] {
        try reader.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
    }

    /// Files this process has opened through SQLite (see `checkBeforeOpening`).
    static let openedPaths = PathSet()

    static func canonical(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }

    /// The 16 bytes every SQLite 3 database file starts with.
    static let sqliteHeader = Array("SQLite format 3\u{0}".utf8)

    /// Refuses, before SQLite touches it, a path that is a directory, a non-empty file without the SQLite
    /// header, and (when `forWriting`) a file or folder this process cannot write.
    ///
    /// The header is read with a plain file descriptor. Closing any descriptor of a file drops every POSIX lock
    /// this process holds on it, including SQLite's, which would let another process believe it is the last
    /// connection, checkpoint and delete the WAL under this process's feet (writes then vanish). So the check is
    /// skipped for a file this process has already opened with SQLite; open each database once per process and
    /// share the pool. (The access checks below use no descriptor and always run.)
    static func checkBeforeOpening(_ filePath: String, forWriting: Bool) throws {
        let alreadyOpen = openedPaths.withLock { $0.contains(canonical(filePath)) }
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: filePath, isDirectory: &isDirectory)
        if exists && isDirectory.boolValue {
            throw StoreError.cannotOpen(path: filePath, reason: "it is a directory")
        }
        if exists && !alreadyOpen {
            guard let handle = FileHandle(forReadingAtPath: filePath) else {
                throw StoreError.cannotOpen(path: filePath, reason: "the file cannot be read by uid \(geteuid())")
            }
            defer { try? handle.close() }
            let head: Data
            do {
                head = try handle.read(upToCount: sqliteHeader.count) ?? Data()
            } catch {
                throw StoreError.cannotOpen(path: filePath, reason: "cannot read it: \(error.localizedDescription)")
            }
            // An empty file is a valid empty database (what a crash between create and first write leaves).
            if !head.isEmpty && Array(head) != sqliteHeader {
                throw StoreError.notADatabase(path: filePath)
            }
        }
        guard forWriting else { return }
        if exists && faccessat(AT_FDCWD, filePath, R_OK | W_OK, AT_EACCESS) != 0 {
            throw StoreError.readOnly(path: filePath, reason: errno == EROFS
                ? "it is on a read-only file system"
                : "the file is not writable by uid \(geteuid())")
        }
        let folder = (filePath as NSString).deletingLastPathComponent
        if faccessat(AT_FDCWD, folder.isEmpty ? "." : folder, W_OK | X_OK, AT_EACCESS) != 0 {
            throw StoreError.readOnly(path: filePath, reason: errno == EROFS
                ? "its folder \(folder) is on a read-only file system"
                : "its folder \(folder) is not writable by uid \(geteuid()) (SQLite creates the -wal and "
                    + "-shm files next to the database)")
        }
    }

    /// Maps an SQLite failure while opening to the `StoreError` that says what the operator should do.
    static func classify(_ error: any Error, path: String, busyTimeout: TimeInterval) -> StoreError {
        if let error = error as? StoreError { return error }
        guard let error = error as? DatabaseError else {
            return .cannotOpen(path: path, reason: "\(error)")
        }
        switch error.resultCode {
        case .SQLITE_NOTADB: return .notADatabase(path: path)
        case .SQLITE_CORRUPT: return .corrupt(path: path, reason: error.message ?? "\(error)")
        case .SQLITE_BUSY, .SQLITE_LOCKED: return .locked(path: path, timeout: busyTimeout)
        case .SQLITE_READONLY: return .readOnly(path: path, reason: error.message ?? "\(error)")
        case .SQLITE_FULL: return .diskFull(path: path)
        default: return .cannotOpen(path: path, reason: "\(error)")
        }
    }

    /// Whether `error` is one of the failures `classify` names on its own (rather than a failed migration).
    static func isEnvironmental(_ error: any Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return [.SQLITE_NOTADB, .SQLITE_CORRUPT, .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_READONLY, .SQLITE_FULL]
            .contains(error.resultCode)
    }

    static func migrate(_ writer: any DatabaseWriter, path: String,
                        busyTimeout: TimeInterval = StoreDatabase.busyTimeout) throws {
        let migrator = Self.migrator
        let known = Set(migrator.migrations)
        let applied: Set<String>
        do {
            applied = try writer.read { db in try migrator.appliedIdentifiers(db) }
        } catch {
            throw classify(error, path: path, busyTimeout: busyTimeout)
        }
        let unknown = applied.subtracting(known)
        if !unknown.isEmpty {
            throw StoreError.newerSchema(path: path, unknownMigrations: unknown.sorted())
        }
        for identifier in migrator.migrations where !applied.contains(identifier) {
            do {
                try migrator.migrate(writer, upTo: identifier)
            } catch where isEnvironmental(error) {
                throw classify(error, path: path, busyTimeout: busyTimeout)
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
        migrator.registerMigration("v2-labels") { db in
            // Labels keyed by their normalised text (LabelText.normalise). `seq` is a change counter: a new
            // label or a changed label takes the next value of label_counter, so "labels newer than the last
            // run" is `seq > run.label_seq_high`. The split is assigned once, at insert, and never changes.
            try db.execute(sql: """
                CREATE TABLE import_batch (
                    id            INTEGER PRIMARY KEY AUTOINCREMENT,
                    created_at    DATETIME NOT NULL,
                    source        TEXT NOT NULL,
                    format        TEXT NOT NULL,
                    uid           INTEGER NOT NULL CHECK (uid >= 0),
                    status        TEXT NOT NULL CHECK (status IN ('open', 'committed', 'abandoned')),
                    staged        INTEGER NOT NULL DEFAULT 0,
                    added         INTEGER,
                    updated       INTEGER,
                    unchanged     INTEGER,
                    conflicts     INTEGER,
                    committed_at  DATETIME,
                    abandoned_at  DATETIME
                );
                CREATE INDEX import_batch_by_status ON import_batch(status);
                CREATE TABLE import_row (
                    batch_id  INTEGER NOT NULL REFERENCES import_batch(id) ON DELETE CASCADE,
                    line      INTEGER NOT NULL,
                    text      TEXT NOT NULL,
                    label     TEXT NOT NULL
                );
                CREATE INDEX import_row_by_batch ON import_row(batch_id, line);
                CREATE TABLE label (
                    id            INTEGER PRIMARY KEY,
                    text          TEXT NOT NULL UNIQUE,
                    label         TEXT NOT NULL,
                    split         TEXT NOT NULL CHECK (split IN ('train', 'eval')),
                    source        TEXT NOT NULL CHECK (source IN ('add', 'import')),
                    import_batch  INTEGER REFERENCES import_batch(id),
                    uid           INTEGER NOT NULL CHECK (uid >= 0),
                    created_at    DATETIME NOT NULL,
                    updated_at    DATETIME NOT NULL,
                    seq           INTEGER NOT NULL
                );
                CREATE UNIQUE INDEX label_by_seq ON label(seq);
                CREATE INDEX label_by_split ON label(split, seq);
                CREATE TABLE label_change (
                    id            INTEGER PRIMARY KEY AUTOINCREMENT,
                    label_id      INTEGER NOT NULL REFERENCES label(id),
                    old_label     TEXT NOT NULL,
                    new_label     TEXT NOT NULL,
                    import_batch  INTEGER REFERENCES import_batch(id),
                    uid           INTEGER NOT NULL CHECK (uid >= 0),
                    changed_at    DATETIME NOT NULL,
                    seq           INTEGER NOT NULL
                );
                CREATE INDEX label_change_by_label ON label_change(label_id);
                CREATE TABLE label_counter (
                    id   INTEGER PRIMARY KEY CHECK (id = 1),
                    seq  INTEGER NOT NULL CHECK (seq >= 0)
                );
                INSERT INTO label_counter (id, seq) VALUES (1, 0);
                """)
        }
        migrator.registerMigration("v3-runs") { db in
            // One row per fine-tuning run. At most one run is queued or running: the partial unique index
            // holds that even against two processes writing at once.
            try db.execute(sql: """
                CREATE TABLE training_run (
                    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
                    status               TEXT NOT NULL CHECK (status IN
                                             ('queued', 'running', 'published', 'rejected', 'failed', 'cancelled')),
                    "trigger"            TEXT NOT NULL CHECK ("trigger" IN ('schedule', 'manual')),
                    uid                  INTEGER NOT NULL CHECK (uid >= 0),
                    created_at           DATETIME NOT NULL,
                    started_at           DATETIME,
                    finished_at          DATETIME,
                    base_version         TEXT,
                    candidate_version    TEXT,
                    method               TEXT NOT NULL CHECK (method IN ('full', 'lora')),
                    recipe               TEXT NOT NULL,
                    label_seq_high       INTEGER,
                    data_fingerprint     TEXT,
                    train_examples       INTEGER,
                    new_examples         INTEGER,
                    replay_examples      INTEGER,
                    eval_examples        INTEGER,
                    step                 INTEGER,
                    total_steps          INTEGER,
                    epoch                INTEGER,
                    loss                 REAL,
                    lr                   REAL,
                    examples_per_second  REAL,
                    eta_seconds          REAL,
                    progress_at          DATETIME,
                    champion_metrics     TEXT,
                    candidate_metrics    TEXT,
                    champion_f1          REAL,
                    candidate_f1         REAL,
                    decision             TEXT CHECK (decision IS NULL OR decision IN ('published', 'rejected')),
                    reason               TEXT,
                    worker_pid           INTEGER,
                    error                TEXT
                );
                CREATE UNIQUE INDEX training_run_one_active ON training_run(status IN ('queued', 'running'))
                    WHERE status IN ('queued', 'running');
                CREATE INDEX training_run_by_status ON training_run(status);
                CREATE TABLE run_epoch (
                    run_id       INTEGER NOT NULL REFERENCES training_run(id) ON DELETE CASCADE,
                    epoch        INTEGER NOT NULL,
                    train_loss   REAL,
                    metrics      TEXT NOT NULL,
                    recorded_at  DATETIME NOT NULL,
                    PRIMARY KEY (run_id, epoch)
                );
                """)
        }
        migrator.registerMigration("v4-roles") { db in
            // Roles (issue 15): the evaluation split grows only by an admin's draw from the training pool, each
            // recorded here; a run records how many of its training labels each uid wrote.
            try db.execute(sql: """
                CREATE TABLE eval_draw (
                    id          INTEGER PRIMARY KEY AUTOINCREMENT,
                    drawn_at    DATETIME NOT NULL,
                    uid         INTEGER NOT NULL CHECK (uid >= 0),
                    requested   INTEGER NOT NULL,
                    drawn       INTEGER NOT NULL,
                    seed        INTEGER NOT NULL,
                    used_up_to  INTEGER NOT NULL
                );
                ALTER TABLE training_run ADD COLUMN label_uids TEXT;
                """)
        }
        migrator.registerMigration("v5-gate") { db in
            // The gate compares a candidate with the best version published so far on the same frozen eval split,
            // text by text: every version a run evaluated (the champion it started from, a candidate it published)
            // is kept here with its predicted class per eval text, keyed by the split's fingerprint. A run records
            // the gate's numbers.
            try db.execute(sql: """
                CREATE TABLE split_evaluation (
                    split_fingerprint  TEXT NOT NULL,
                    version            TEXT NOT NULL,
                    run_id             INTEGER,
                    examples           INTEGER NOT NULL,
                    macro_f1           REAL NOT NULL,
                    predictions        TEXT NOT NULL,
                    recorded_at        DATETIME NOT NULL,
                    PRIMARY KEY (split_fingerprint, version)
                );
                CREATE INDEX split_evaluation_by_time ON split_evaluation(recorded_at);
                ALTER TABLE training_run ADD COLUMN gate TEXT;
                """)
        }
        migrator.registerMigration("v6-label-removal") { db in
            // Labels come out (issue 20): `labels.remove` deletes a label (and its change history, which refers to
            // it) and keeps what it was here: nothing an admin removes is lost without a trace.
            try db.execute(sql: """
                CREATE TABLE label_removal (
                    id           INTEGER PRIMARY KEY AUTOINCREMENT,
                    label_id     INTEGER NOT NULL,
                    text         TEXT NOT NULL,
                    label        TEXT NOT NULL,
                    split        TEXT NOT NULL,
                    source       TEXT NOT NULL,
                    import_batch INTEGER,
                    labelled_by  INTEGER NOT NULL,
                    seq          INTEGER NOT NULL,
                    changes      INTEGER NOT NULL,
                    removed_by   INTEGER NOT NULL CHECK (removed_by >= 0),
                    removed_at   DATETIME NOT NULL
                );
                """)
        }
        migrator.registerMigration("v7-run-curves") { db in
            // Pictures of a run (issue 20): its training curve, a point every few steps (the mean loss of the steps
            // since the last point), which `runs show --plot` draws with the per-epoch metrics and the confusion
            // matrices (those are in the metrics JSON).
            try db.execute(sql: """
                CREATE TABLE run_curve (
                    run_id       INTEGER NOT NULL REFERENCES training_run(id) ON DELETE CASCADE,
                    step         INTEGER NOT NULL,
                    epoch        INTEGER NOT NULL,
                    loss         REAL,
                    lr           REAL,
                    grad_norm    REAL,
                    recorded_at  DATETIME NOT NULL,
                    PRIMARY KEY (run_id, step)
                );
                """)
        }
        migrator.registerMigration("v8-version-retention") { db in
            // Versions prune themselves (issue 20): versions an admin pinned (retention never removes them), and a
            // record of every folder retention removed or quarantined, or an admin removed.
            try db.execute(sql: """
                CREATE TABLE version_pin (
                    version    TEXT PRIMARY KEY NOT NULL,
                    pinned_at  DATETIME NOT NULL,
                    uid        INTEGER NOT NULL CHECK (uid >= 0),
                    note       TEXT
                );
                CREATE TABLE version_removal (
                    id          INTEGER PRIMARY KEY AUTOINCREMENT,
                    version     TEXT NOT NULL,
                    removed_at  DATETIME NOT NULL,
                    action      TEXT NOT NULL CHECK (action IN ('pruned', 'removed', 'quarantined')),
                    uid         INTEGER NOT NULL CHECK (uid >= 0),
                    bytes       INTEGER NOT NULL,
                    path        TEXT,
                    reason      TEXT NOT NULL
                );
                CREATE INDEX version_removal_by_version ON version_removal(version, id);
                """)
        }
        migrator.registerMigration("v9-int8-check") { db in
            // int8_check: JSON of a version's int8 check (VersionStore's Int8CheckRecord): the files and scheme it
            // checked, the texts compared, agreement, macro-F1 in both precisions, the verdict and why.
            try db.execute(sql: "ALTER TABLE model_version ADD COLUMN int8_check TEXT;")
        }
        migrator.registerMigration("v10-validation-safety") { db in
            // validation_started_at: set when a validation (or a start-up load) of the current files begins,
            // cleared when it ends either way; one still set at start-up was interrupted by the daemon's death,
            // and validation_interruptions counts those (see VersionStore.recoverInterruptedValidations).
            // file_digests: JSON {"files": {name: {"size", "sha256"}}, ...} of the files that passed validation,
            // so a restart can serve them without validating again while their bytes are the same.
            try db.execute(sql: """
                ALTER TABLE model_version ADD COLUMN validation_started_at DATETIME;
                ALTER TABLE model_version ADD COLUMN validation_interruptions INTEGER NOT NULL DEFAULT 0
                    CHECK (validation_interruptions >= 0);
                ALTER TABLE model_version ADD COLUMN file_digests TEXT;
                """)
        }
        migrator.registerMigration("v11-api-tokens") { db in
            // Bearer tokens of the HTTP front end (issue 19): only each token's SHA-256 is kept; `id` is the public
            // part of the token, so a presented token is found without scanning and compared in constant time.
            try db.execute(sql: """
                CREATE TABLE api_token (
                    id              TEXT PRIMARY KEY,
                    name            TEXT NOT NULL,
                    role            TEXT NOT NULL CHECK (role IN ('reader', 'labeller', 'admin')),
                    sha256          TEXT NOT NULL,
                    created_at      DATETIME NOT NULL,
                    created_by_uid  INTEGER NOT NULL CHECK (created_by_uid >= 0),
                    revoked_at      DATETIME
                );
                CREATE UNIQUE INDEX api_token_live_name ON api_token(name) WHERE revoked_at IS NULL;
                """)
        }
        return migrator
    }
}

extension DatabasePool {
    /// `write`, with the failures an operator must act on (disk full, lock held too long, read-only or
    /// damaged file) turned into the `StoreError` that names the file. Everything else is rethrown as is.
    func storeWrite<T>(_ updates: (Database) throws -> T) throws -> T {
        do {
            return try write(updates)
        } catch where StoreDatabase.isEnvironmental(error) {
            var timeout = StoreDatabase.busyTimeout
            if case let .timeout(t) = configuration.busyMode { timeout = t }
            throw StoreDatabase.classify(error, path: path, busyTimeout: timeout)
        }
    }
}

/// A locked set of paths.
final class PathSet: @unchecked Sendable {
    private let lock = NSLock()
    private var paths: Set<String> = []
    func withLock<T>(_ body: (inout Set<String>) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&paths)
    }
}
