import Dispatch
import Foundation
import Logging
import SentimentML
import SentimentStore
#if canImport(Glibc)
import Glibc
#endif

/// The versions in `models/`, which one is served, and how that changes: inotify arrivals (debounced), validation,
/// activation per policy, manual activation and rollback. Versions and the activation history live in SQLite, so a
/// restart serves the same version.
///
/// Threading: everything that loads, validates or writes to the store runs on one serial dispatch queue (never on
/// the serving path); `active`, `model(version:)` and `list()` only read a lock-protected snapshot. A swap replaces
/// one pointer under the lock; batches hold the `ActiveModel` they started with.
///
/// Memory: only the active model stays loaded, plus at most one other version loaded on demand by
/// `model(version:)`. Rollback reloads the previous version from disk (a memory-mapped load).
///
/// Decisions worth knowing:
/// - Changed files in a known version are a new arrival: re-validated; under `newest` a valid one becomes active,
///   under `manual` it is recorded and the copy loaded before keeps serving until `activate`. If the changed
///   files fail, the version is marked rejected and, if it was active, the copy loaded before keeps serving (a
///   restart then serves the newest valid version). Never overwrite the files of the active version in place:
///   publish a new folder by rename (a model whose mapped file is truncated under it cannot keep answering).
/// - A rolled-back version keeps its mark until an operator activates it (or rolls back to it) explicitly, even
///   if its files change; an arrival, rescan or restart never activates it.
/// - Activating an unchanged (same fingerprint) valid version reloads it without re-hashing the manifest; the
///   digests were checked when those files arrived.
/// - A folder that disappears is marked removed; if it was active, the loaded copy keeps serving.
public final class ModelRegistry: Sendable {
    public let modelsDirectory: URL
    public let policy: ActivationPolicy
    public let settleMilliseconds: Int
    private let store: VersionStore
    private let logger: Logger
    private let validator: CheckpointValidator
    private let queue = DispatchQueue(label: "sentimentd.model-registry")
    private let state = RegistryStateBox()
    private let onDemandLoad = NSLock()
    /// uid recorded for activations the daemon decides itself (startup, arrival).
    private let ownUID = UInt32(getuid())

    public init(modelsDirectory: URL, store: VersionStore, policy: ActivationPolicy, settleMilliseconds: Int,
                logger: Logger, loader: @escaping @Sendable (URL) throws -> SentimentModel) {
        self.modelsDirectory = modelsDirectory.standardizedFileURL
        self.store = store
        self.policy = policy
        self.settleMilliseconds = settleMilliseconds
        self.logger = logger
        self.validator = CheckpointValidator(loader: loader)
    }

    // MARK: Reading (any thread, cheap)

    /// The version unqualified predictions go to.
    public var active: ActiveModel? { state.withLock { $0.active } }

    /// A version by name: the active one, the one loaded on demand before, or (valid versions only) loaded now on
    /// the caller's thread, replacing the previous on-demand one. Nil for unknown, rejected, removed or changed
    /// versions. Loading takes as long as a model load: call it off the event loop.
    public func model(version: String) -> ActiveModel? {
        if let hit = cached(version) { return hit }
        onDemandLoad.lock()
        defer { onDemandLoad.unlock() }
        if let hit = cached(version) { return hit }
        guard let record = state.withLock({ $0.records.first { $0.version == version } }), record.status == .valid,
              let folder = try? CheckpointFolder.read(version: version, in: modelsDirectory),
              folder.fingerprint == record.fingerprint else { return nil }
        do {
            let model = try validator.loadAndProbe(folder)
            let loaded = ActiveModel(version: version, model: model, fingerprint: folder.fingerprint)
            state.withLock { $0.onDemand = loaded }
            logger.info("model loaded on demand", metadata: ["version": "\(version)"])
            return loaded
        } catch {
            logger.error("model failed to load on demand", metadata: ["version": "\(version)", "error": "\(error)"])
            return nil
        }
    }

    private func cached(_ version: String) -> ActiveModel? {
        state.withLock { s in
            if let a = s.active, a.version == version { return a }
            if let o = s.onDemand, o.version == version { return o }
            return nil
        }
    }

    /// Every version ever seen, oldest arrival first.
    public func list() -> [ModelVersionInfo] {
        let (records, active, validating, lastActivated) = state.withLock {
            ($0.records, $0.active, $0.validating, $0.lastActivated)
        }
        return records.map { r in
            var reason = r.reason
            let state: ModelVersionInfo.State
            if active?.version == r.version {
                state = .active
                if r.status != .valid || r.fingerprint != active?.fingerprint {
                    let why = r.status == .removed ? "the folder was removed"
                        : r.status == .rejected ? "its files changed and were rejected: \(r.reason ?? "")"
                        : "its files changed since it was loaded"
                    reason = "serving the copy loaded before; \(why)"
                }
            } else if validating.contains(r.version) || r.status == .pending {
                state = .loading
            } else {
                switch r.status {
                case .rejected: state = .rejected
                case .removed: state = .removed
                case .pending: state = .loading
                case .valid: state = r.isRolledBack ? .rolledBack : .available
                }
            }
            return ModelVersionInfo(version: r.version, state: state, reason: reason, firstSeen: r.firstSeen,
                                    arrivedAt: r.arrivedAt, lastActivatedAt: lastActivated[r.version],
                                    rolledBackAt: r.rolledBackAt, fingerprint: r.fingerprint,
                                    manifestSHA256: r.manifestSHA256, family: r.family, labels: r.labels)
        }
    }

    /// The activation history, newest first.
    public func history(limit: Int? = nil) throws -> [ActivationRecord] {
        do { return try store.activations(limit: limit) } catch { throw RegistryError.database(reason: "\(error)") }
    }

    /// `handler` is called with the version after every activation (on the registry's queue; return quickly).
    public func onActivation(_ handler: @escaping @Sendable (String) -> Void) {
        state.withLock { $0.handlers.append(handler) }
    }

    // MARK: Life cycle

    /// Starts watching `models/` (creating it when absent), records what changed while the daemon was down, and
    /// serves: the most recently activated version if it is still valid; else the newest valid one. Under policy
    /// `newest`, a valid version that arrived while the daemon was down wins over both.
    public func start() async throws {
        try state.withLock { s in
            guard s.phase == .idle else { throw RegistryError.alreadyStarted }
            s.phase = .starting
        }
        do {
            try FileManager.default.createDirectory(at: modelsDirectory, withIntermediateDirectories: true)
        } catch {
            state.withLock { $0.phase = .idle }
            throw RegistryError.modelsDirectoryUnavailable(path: modelsDirectory.path, reason: error.localizedDescription)
        }
        do {
            try await onQueue {
                try self.startWatcher()
                try self.startupScan()
            }
        } catch {
            let watcher = state.withLock { s -> DirectoryWatcher? in
                s.phase = .idle
                defer { s.watcher = nil }
                return s.watcher
            }
            watcher?.stop()
            throw error
        }
        state.withLock { $0.phase = .running }
    }

    /// Stops the watcher and waits for work in progress. The active model stays readable.
    public func shutdown() async {
        let watcher = state.withLock { s -> DirectoryWatcher? in
            s.phase = .stopped
            defer { s.watcher = nil }
            return s.watcher
        }
        watcher?.stop()
        _ = try? await onQueue {}
    }

    // MARK: Changing what is served

    /// Serves `version` (valid, present). Activating the version already active with unchanged files does nothing.
    /// `.manual` and `.rollback` clear a rolled-back mark.
    public func activate(version: String, reason: ActivationReason, byUID uid: UInt32) async throws {
        try await onQueue {
            try self.requireStarted()
            try self.activateOnQueue(version, reason: reason, uid: uid)
        }
    }

    /// Re-activates the previous version from the activation history (skipping rolled-back, rejected and removed
    /// ones), or `version` when given, and marks the version rolled back from so nothing re-activates it
    /// automatically. Returns the version now active.
    public func rollback(to version: String?, byUID uid: UInt32) async throws -> String {
        try await onQueue {
            try self.requireStarted()
            return try self.rollbackOnQueue(to: version, uid: uid)
        }
    }

    /// Looks at every folder again (SIGHUP, `reload`), as if each had just settled.
    public func rescan() async {
        _ = try? await onQueue {
            guard self.isRunning else { return }
            self.rescanOnQueue()
        }
    }

    // MARK: Queue work

    private func onQueue<T>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    private var isRunning: Bool { state.withLock { $0.phase == .running || $0.phase == .starting } }

    private func requireStarted() throws {
        guard isRunning else { throw RegistryError.notStarted }
    }

    private func startWatcher() throws {
        let watcher = DirectoryWatcher(
            root: modelsDirectory, settleMilliseconds: settleMilliseconds, logger: logger,
            onSettled: { [weak self] name in
                guard let self else { return }
                self.queue.async { self.settled(name) }
            },
            onOverflow: { [weak self] in
                guard let self else { return }
                self.queue.async { if self.isRunning { self.rescanOnQueue() } }
            })
        do {
            try watcher.start()
        } catch {
            throw RegistryError.modelsDirectoryUnavailable(path: modelsDirectory.path, reason: "\(error)")
        }
        state.withLock { $0.watcher = watcher }
    }

    private func settled(_ name: String) {
        guard isRunning else { return }
        logger.debug("models folder settled", metadata: ["version": "\(name)"])
        if case let .valid(checkpoint, rolledBack) = examine(name) {
            applyPolicy(to: checkpoint, rolledBack: rolledBack)
        }
    }

    private func applyPolicy(to checkpoint: ValidatedCheckpoint, rolledBack: Bool) {
        let version = checkpoint.folder.version
        if policy == .newest && !rolledBack {
            do {
                try commit(ActiveModel(version: version, model: checkpoint.model, fingerprint: checkpoint.folder.fingerprint),
                           reason: .arrival, uid: ownUID)
            } catch {
                logger.error("activation failed", metadata: ["version": "\(version)", "error": "\(error)"])
            }
        } else if active?.version == version {
            logger.notice("files of the active version changed and passed validation; the copy loaded before keeps serving until the version is activated again",
                          metadata: ["version": "\(version)"])
        } else {
            logger.info("model version available", metadata: [
                "version": "\(version)", "why_not_active": "\(rolledBack ? "it was rolled back" : "activation policy is manual")",
            ])
        }
    }

    private func rescanOnQueue() {
        let present = (try? CheckpointFolder.versionNames(in: modelsDirectory)) ?? []
        let known = state.withLock { $0.records.filter { $0.status != .removed }.map(\.version) }
        let gone = Set(known).subtracting(present)
        for name in gone.sorted() { _ = examine(name) }
        var newest: (ValidatedCheckpoint, Bool)?
        for folder in foldersOldestFirst(present) {
            if case let .valid(checkpoint, rolledBack) = examine(folder.version) {
                if newest == nil || !rolledBack || newest!.1 { newest = (checkpoint, rolledBack) }
            }
        }
        if let (checkpoint, rolledBack) = newest { applyPolicy(to: checkpoint, rolledBack: rolledBack) }
    }

    private func foldersOldestFirst(_ names: [String]) -> [CheckpointFolder] {
        names.compactMap { try? CheckpointFolder.read(version: $0, in: modelsDirectory) }
            .sorted { ($0.modifiedNanoseconds, $0.version) < ($1.modifiedNanoseconds, $1.version) }
    }

    private func startupScan() throws {
        let present = (try? CheckpointFolder.versionNames(in: modelsDirectory)) ?? []
        refreshRecords()
        let records = try storeCall { try self.store.versions() }
        for record in records where record.status != .removed && !present.contains(record.version) {
            try storeCall { try self.store.recordRemoved(version: record.version, reason: "the folder was removed") }
        }

        // The version served before the restart, if its files are unchanged and still load.
        let last = try storeCall { try self.store.latestActivation() }
        var restored: ActiveModel?
        if let last, let record = try storeCall({ try self.store.version(last.version) }), record.status == .valid,
           present.contains(record.version),
           let folder = try? CheckpointFolder.read(version: record.version, in: modelsDirectory),
           folder.fingerprint == record.fingerprint {
            do {
                let model = try validator.loadAndProbe(folder)
                restored = ActiveModel(version: record.version, model: model, fingerprint: folder.fingerprint)
            } catch {
                reject(record.version, fingerprint: folder.fingerprint, because: error)
            }
        }

        // Folders that are new or changed since the daemon last looked.
        var newest: ValidatedCheckpoint?
        for folder in foldersOldestFirst(present) {
            if case let .valid(checkpoint, rolledBack) = examine(folder.version), !rolledBack { newest = checkpoint }
        }

        if policy == .newest, let newest {
            try commit(ActiveModel(version: newest.folder.version, model: newest.model, fingerprint: newest.folder.fingerprint),
                       reason: .arrival, uid: ownUID)
        } else if let restored {
            install(restored)
            logger.notice("model restored", metadata: ["version": "\(restored.version)"])
            notifyHandlers(restored.version)
        } else {
            try startupFallback(lastVersion: last?.version, newest: newest)
        }
        if active == nil {
            logger.warning("no valid model in the models directory; predictions fail until one arrives",
                           metadata: ["path": "\(modelsDirectory.path)"])
        }
    }

    private func startupFallback(lastVersion: String?, newest: ValidatedCheckpoint?) throws {
        let records = try storeCall { try self.store.versions() }
        let usable = records.filter { $0.status == .valid && !$0.isRolledBack }
        var candidates = usable.sorted { $0.arrivalSequence > $1.arrivalSequence }.map(\.version)
        if let lastVersion, let i = candidates.firstIndex(of: lastVersion) {
            candidates.insert(candidates.remove(at: i), at: 0)
        }
        for version in candidates {
            guard let folder = try? CheckpointFolder.read(version: version, in: modelsDirectory) else { continue }
            let model: SentimentModel
            if let newest, newest.folder.version == version, newest.folder.fingerprint == folder.fingerprint {
                model = newest.model
            } else {
                do {
                    model = try validator.loadAndProbe(folder)
                } catch {
                    reject(version, fingerprint: folder.fingerprint, because: error)
                    continue
                }
            }
            try commit(ActiveModel(version: version, model: model, fingerprint: folder.fingerprint),
                       reason: .startup, uid: ownUID)
            return
        }
    }

    private enum Examination {
        case unchanged
        case gone
        case rejected
        /// Files changed while being validated; the watcher reports the folder again once it is quiet.
        case changedDuringValidation
        case valid(ValidatedCheckpoint, rolledBack: Bool)
    }

    /// Looks at one name: records a removal, or validates new or changed files and records the outcome. Does not
    /// activate anything.
    private func examine(_ name: String) -> Examination {
        guard CheckpointFolder.isVersionName(name) else { return .unchanged }
        do {
            let record = try store.version(name)
            var isDirectory: ObjCBool = false
            let path = modelsDirectory.appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                if let record, record.status != .removed {
                    try store.recordRemoved(version: name, reason: "the folder was removed")
                    if active?.version == name {
                        logger.warning("the active version's folder was removed; its loaded copy keeps serving",
                                       metadata: ["version": "\(name)"])
                    } else {
                        logger.info("model version removed", metadata: ["version": "\(name)"])
                    }
                    refreshRecords()
                }
                state.withLock { if $0.onDemand?.version == name { $0.onDemand = nil } }
                return .gone
            }
            let folder: CheckpointFolder
            do {
                folder = try CheckpointFolder.read(version: name, in: modelsDirectory)
            } catch {
                if record?.status != .rejected || record?.fingerprint != "" {
                    try store.recordArrival(version: name, fingerprint: "")
                    try store.recordRejected(version: name, fingerprint: "", reason: "\(error)")
                    logger.warning("model version rejected", metadata: ["version": "\(name)", "reason": "\(error)"])
                    refreshRecords()
                }
                return .rejected
            }
            if let record, record.fingerprint == folder.fingerprint, record.status == .valid || record.status == .rejected {
                return .unchanged
            }

            try store.recordArrival(version: name, fingerprint: folder.fingerprint)
            logger.info(record == nil ? "new model version" : "model version changed; validating again",
                        metadata: ["version": "\(name)"])
            state.withLock { s in
                s.validating.insert(name)
                if s.onDemand?.version == name { s.onDemand = nil }
            }
            refreshRecords()
            defer {
                state.withLock { _ = $0.validating.remove(name) }
                refreshRecords()
            }
            let outcome: Result<ValidatedCheckpoint, Error> = Result { try validator.validate(folder) }
            let after = try? CheckpointFolder.read(version: name, in: modelsDirectory)
            guard after?.fingerprint == folder.fingerprint else {
                logger.info("model folder changed while it was validated; waiting for it to settle",
                            metadata: ["version": "\(name)"])
                return .changedDuringValidation
            }
            switch outcome {
            case let .success(checkpoint):
                try store.recordValid(version: name, fingerprint: folder.fingerprint,
                                      manifestSHA256: checkpoint.manifestSHA256, family: checkpoint.family,
                                      labels: checkpoint.labels)
                logger.info("model version validated", metadata: [
                    "version": "\(name)", "family": "\(checkpoint.family)",
                    "manifest": "\(checkpoint.manifestSHA256 == nil ? "none" : "verified")",
                ])
                return .valid(checkpoint, rolledBack: record?.isRolledBack ?? false)
            case let .failure(error):
                reject(name, fingerprint: folder.fingerprint, because: error)
                return .rejected
            }
        } catch {
            logger.error("model registry database error", metadata: ["version": "\(name)", "error": "\(error)"])
            return .rejected
        }
    }

    private func reject(_ version: String, fingerprint: String, because error: Error) {
        do {
            try store.recordRejected(version: version, fingerprint: fingerprint, reason: "\(error)")
        } catch {
            logger.error("model registry database error", metadata: ["version": "\(version)", "error": "\(error)"])
        }
        if active?.version == version {
            logger.error("files of the active version changed and were rejected; the copy loaded before keeps serving",
                         metadata: ["version": "\(version)", "reason": "\(error)"])
        } else {
            logger.warning("model version rejected", metadata: ["version": "\(version)", "reason": "\(error)"])
        }
        refreshRecords()
    }

    private func activateOnQueue(_ version: String, reason: ActivationReason, uid: UInt32) throws {
        guard let record = try storeCall({ try self.store.version(version) }) else {
            throw RegistryError.unknownVersion(version)
        }
        switch record.status {
        case .pending: throw RegistryError.notReady(version: version)
        case .removed:
            if !FileManager.default.fileExists(atPath: modelsDirectory.appendingPathComponent(version).path) {
                throw RegistryError.removed(version: version)
            }
        case .valid, .rejected: break
        }
        // Look at the folder now: it may have changed or vanished since the last event.
        let loaded: ActiveModel
        switch examine(version) {
        case .gone: throw RegistryError.removed(version: version)
        case .changedDuringValidation: throw RegistryError.notReady(version: version)
        case .rejected:
            let why = (try? store.version(version))??.reason ?? "validation failed"
            throw RegistryError.rejected(version: version, reason: why)
        case let .valid(checkpoint, _):
            loaded = ActiveModel(version: version, model: checkpoint.model, fingerprint: checkpoint.folder.fingerprint)
        case .unchanged:
            if record.status == .rejected {
                throw RegistryError.rejected(version: version, reason: record.reason ?? "validation failed")
            }
            let folder: CheckpointFolder
            do {
                folder = try CheckpointFolder.read(version: version, in: modelsDirectory)
            } catch {
                throw RegistryError.rejected(version: version, reason: "\(error)")
            }
            let (current, onDemand) = state.withLock { ($0.active, $0.onDemand) }
            if let current, current.version == version, current.fingerprint == folder.fingerprint {
                if record.isRolledBack { try clearRolledBack(version) }
                return
            }
            if let onDemand, onDemand.version == version, onDemand.fingerprint == folder.fingerprint {
                loaded = onDemand
            } else {
                do {
                    loaded = ActiveModel(version: version, model: try validator.loadAndProbe(folder),
                                         fingerprint: folder.fingerprint)
                } catch {
                    reject(version, fingerprint: folder.fingerprint, because: error)
                    throw RegistryError.rejected(version: version, reason: "\(error)")
                }
            }
        }
        if record.isRolledBack && (reason == .manual || reason == .rollback) { try clearRolledBack(version) }
        try commit(loaded, reason: reason, uid: uid)
    }

    private func clearRolledBack(_ version: String) throws {
        try storeCall { try self.store.setRolledBack(version: version, at: nil) }
        refreshRecords()
    }

    private func rollbackOnQueue(to target: String?, uid: UInt32) throws -> String {
        guard let current = active else {
            throw RegistryError.nothingToRollBackTo(reason: "no version is active")
        }
        if let target {
            guard target != current.version else { throw RegistryError.alreadyActive(version: target) }
            try activateOnQueue(target, reason: .rollback, uid: uid)
        } else {
            let history = try storeCall { try self.store.activations() }
            var seen: Set<String> = [current.version]
            var candidates: [String] = []
            for entry in history where !seen.contains(entry.version) {
                seen.insert(entry.version)
                candidates.append(entry.version)
            }
            var skipped: [String] = []
            var chosen: String?
            for candidate in candidates {
                guard let record = try storeCall({ try self.store.version(candidate) }) else { continue }
                if record.isRolledBack {
                    skipped.append("\"\(candidate)\" was rolled back")
                    continue
                }
                do {
                    try activateOnQueue(candidate, reason: .rollback, uid: uid)
                    chosen = candidate
                    break
                } catch let error as RegistryError {
                    skipped.append(error.description)
                }
            }
            guard chosen != nil else {
                throw RegistryError.nothingToRollBackTo(reason: candidates.isEmpty
                    ? "\"\(current.version)\" is the only version ever activated"
                    : "no earlier version can be served (\(skipped.joined(separator: "; ")))")
            }
        }
        try storeCall { try self.store.setRolledBack(version: current.version, at: Date()) }
        refreshRecords()
        logger.notice("rolled back", metadata: ["from": "\(current.version)", "to": "\(active?.version ?? "")",
                                                 "uid": "\(uid)"])
        return active?.version ?? ""
    }

    /// Records the activation, then swaps the pointer. A failed write leaves the old model serving.
    private func commit(_ model: ActiveModel, reason: ActivationReason, uid: UInt32) throws {
        let previous = active?.version
        try storeCall {
            try self.store.recordActivation(version: model.version, reason: reason.rawValue, uid: uid,
                                            fingerprint: model.fingerprint)
        }
        install(ActiveModel(version: model.version, model: model.model, fingerprint: model.fingerprint, since: Date()))
        refreshRecords()
        logger.notice("model activated", metadata: [
            "version": "\(model.version)", "reason": "\(reason.rawValue)", "uid": "\(uid)",
            "previous": "\(previous ?? "none")",
        ])
        notifyHandlers(model.version)
    }

    private func install(_ model: ActiveModel) {
        state.withLock { s in
            s.active = model
            if s.onDemand?.version == model.version { s.onDemand = nil }
        }
    }

    private func notifyHandlers(_ version: String) {
        for handler in state.withLock({ $0.handlers }) { handler(version) }
    }

    private func refreshRecords() {
        do {
            let records = try store.versions()
            let times = try store.lastActivationTimes()
            state.withLock { s in
                s.records = records
                s.lastActivated = times
            }
        } catch {
            logger.error("model registry database error", metadata: ["error": "\(error)"])
        }
    }

    @discardableResult
    private func storeCall<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as RegistryError { throw error } catch {
            throw RegistryError.database(reason: "\(error)")
        }
    }
}

/// The registry's shared state: read from any thread, written on the registry's queue.
private final class RegistryStateBox: @unchecked Sendable {
    enum Phase { case idle, starting, running, stopped }

    struct State {
        var phase = Phase.idle
        var active: ActiveModel?
        var onDemand: ActiveModel?
        var records: [ModelVersionRecord] = []
        var lastActivated: [String: Date] = [:]
        var validating: Set<String> = []
        var handlers: [@Sendable (String) -> Void] = []
        var watcher: DirectoryWatcher?
    }

    private let lock = NSLock()
    private var state = State()

    func withLock<T>(_ body: (inout State) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&state)
    }
}
