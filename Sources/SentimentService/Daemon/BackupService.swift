import Dispatch
import Foundation
import Logging
import SentimentProtocol
import SentimentStore

/// backup.begin / .read / .end: a consistent copy of the database, read by the client over the socket.
///
/// Who writes what, and where (the unit's hardening: ProtectSystem=strict, PrivateTmp, the state directory the
/// only writable place): the daemon writes its copy next to the database, in its state directory, readable by the
/// daemon's user only (UMask=0077); the client (an admin) reads it in chunks and writes the file it was asked for
/// itself, under its own uid and permissions, wherever it may write. So the daemon never opens a path a client
/// names, and the backup file is the caller's, not the service user's.
///
/// A copy lives until backup.end, until nobody read it for `idleTimeout` seconds, or until the daemon stops; a
/// daemon that died leaves it behind, and the next start removes it. At most `maxOpen` copies exist at once (each is
/// as big as the database).
final class BackupService: @unchecked Sendable {
    static let maxChunkBytes = 1 << 20
    static let maxOpen = 2
    let idleTimeout: TimeInterval

    private let store: StoreBackup
    private let logger: Logger
    private struct Session {
        var copy: DatabaseCopy
        var uid: UInt32
        var lastActivity: TimeInterval
    }
    private let sessions = LockedBox<[String: Session]>([:])
    private var sweeper: DispatchSourceTimer?

    init(store: StoreBackup, idleTimeout: TimeInterval = 300, logger: Logger) {
        self.store = store
        self.idleTimeout = idleTimeout
        self.logger = logger
        let leftovers = StoreBackup.removeLeftovers(in: store.databasePath.deletingLastPathComponent())
        if !leftovers.isEmpty {
            logger.notice("removed database copies left by an unfinished backup", metadata: ["files": "\(leftovers)"])
        }
    }

    func begin(context: CallContext) throws -> BackupBeginMethod.Result {
        sweep()
        let open = sessions.value.count
        guard open < Self.maxOpen else {
            throw RPCError.overloaded("\(open) backups are being read; at most \(Self.maxOpen) at once (each copy is as "
                + "big as the database): finish one first")
        }
        let copy: DatabaseCopy
        do {
            copy = try store.copy()
        } catch {
            logger.error("backup failed", metadata: ["error": "\(error)"])
            throw RPCError.storeFailed("\(error)")
        }
        let id = UUID().uuidString.lowercased()
        sessions.withLock {
            $0[id] = Session(copy: copy, uid: context.uid, lastActivity: ProcessInfo.processInfo.systemUptime)
        }
        context.logger.notice("database copied for a backup", metadata: [
            "backup_id": "\(id)", "bytes": "\(copy.bytes)", "peer_uid": "\(context.uid)",
        ])
        return .init(backupID: id, bytes: copy.bytes, sha256: copy.sha256, takenAt: copy.takenAt,
                     database: store.databasePath.path, migrations: copy.migrations, labels: copy.labels,
                     versions: copy.versions, runs: copy.runs, maxChunkBytes: Self.maxChunkBytes)
    }

    private func session(_ id: String) throws -> Session {
        guard let s = sessions.value[id] else {
            throw RPCError.notFound("backup \(id) is not open (it ended, was idle for more than \(Int(idleTimeout)) s, "
                + "or the daemon restarted); start the backup again")
        }
        return s
    }

    func read(_ params: BackupReadMethod.Params) throws -> BackupReadMethod.Result {
        let s = try session(params.backupID)
        guard params.offset >= 0, params.offset <= s.copy.bytes else {
            throw RPCError.invalidParams("backup.read: offset \(params.offset) is outside the copy (0...\(s.copy.bytes))")
        }
        guard (1...Self.maxChunkBytes).contains(params.length) else {
            throw RPCError.invalidParams("backup.read: length \(params.length) is out of range 1...\(Self.maxChunkBytes)")
        }
        let count = Int(min(Int64(params.length), s.copy.bytes - params.offset))
        var data = Data(count: count)
        let fd = open(s.copy.url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RPCError.storeFailed("cannot read the copy: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var done = 0
        try data.withUnsafeMutableBytes { buffer in
            while done < count {
                let n = pread(fd, buffer.baseAddress! + done, count - done, off_t(params.offset) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    throw RPCError.storeFailed("cannot read the copy: " + (n == 0 ? "it is shorter than recorded" : String(cString: strerror(errno))))
                }
                done += n
            }
        }
        sessions.withLock { $0[params.backupID]?.lastActivity = ProcessInfo.processInfo.systemUptime }
        return .init(data: data, end: params.offset + Int64(count) == s.copy.bytes)
    }

    func end(_ params: BackupEndMethod.Params) -> BackupEndMethod.Result {
        guard let s = sessions.withLock({ $0.removeValue(forKey: params.backupID) }) else { return .init(removed: false) }
        StoreBackup.remove(s.copy.url)
        return .init(removed: true)
    }

    /// Removes the copies nobody read for `idleTimeout`.
    func sweep() {
        let now = ProcessInfo.processInfo.systemUptime
        let idle = sessions.withLock { open -> [(String, Session)] in
            let ids = open.filter { now - $0.value.lastActivity > idleTimeout }
            for (id, _) in ids { open[id] = nil }
            return ids.map { ($0.key, $0.value) }
        }
        for (id, s) in idle {
            StoreBackup.remove(s.copy.url)
            logger.notice("backup abandoned: idle too long; its copy was removed", metadata: ["backup_id": "\(id)"])
        }
    }

    func start() {
        let t = DispatchSource.makeTimerSource(queue: .global())
        let every = max(1, min(30, idleTimeout / 4))
        t.schedule(deadline: .now() + every, repeating: every)
        t.setEventHandler { [weak self] in self?.sweep() }
        t.resume()
        sweeper = t
    }

    /// Daemon stop: every copy goes.
    func stop() {
        sweeper?.cancel()
        sweeper = nil
        for (_, s) in sessions.withLock({ open -> [String: Session] in defer { open = [:] }; return open }) {
            StoreBackup.remove(s.copy.url)
        }
    }

    func register(on router: Router) {
        router.registerAsync(BackupBeginMethod.self) { [self] _, context in try begin(context: context) }
        router.registerAsync(BackupReadMethod.self) { [self] params, _ in try read(params) }
        router.registerAsync(BackupEndMethod.self) { [self] params, _ in end(params) }
    }
}
