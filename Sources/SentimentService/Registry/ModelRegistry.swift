import Dispatch
import Foundation
import SentimentCheckpoint
import Logging
import SentimentEngine
import SentimentProtocol
import SentimentStore
import SentimentCore
#if canImport(Glibc)
import Glibc
#endif

/// The versions in `models/`, which one is served, and how that changes: inotify arrivals (debounced), validation,
/// activation per policy, manual activation and rollback. Versions and the activation history live in SQLite, so a
/// restart serves the same version.
///
/// Threading: everything that loads, validates or writes to the store runs on one serial dispatch queue (never on
/// the serving path); `active`, `loadedModel(version:)` and `list()` only read a lock-protected snapshot
/// (`model(version:)` may load on the caller's thread, see there). A swap replaces one pointer under the lock; batches
/// hold the `ActiveModel` they started with.
///
/// Memory: only the active model stays loaded, plus at most one other version loaded on demand by
/// `model(version:)` / `loadModel(version:)`. Rollback reloads the previous version from disk.
///
/// Fingerprints: see `CheckpointFolder` (size, mtime and inode of each file, cheap enough for every event). With a
/// manifest `sentimentd.json`, each file's SHA-256 is verified when the files arrive (`CheckpointManifest`).
///
/// Validation: new or changed files are checked in a validation process (`CheckpointValidator`, `ValidationProcess`),
/// and this process loads only the bytes that were checked; the digests of a valid version's files are kept, so a
/// restart restores it without a validation process. A validation the daemon dies in is counted when it next
/// starts; the second such interruption rejects the version (`VersionStore.recoverInterruptedValidations`). If the
/// version served before a restart cannot be served, the previous good one is, and `startupFallback` says so.
/// `watch` tells the watchdog and `status` whether the queue makes progress.
///
/// Decisions worth knowing:
/// - Changed files in a known version are a new arrival: re-validated; under `newest` a valid one becomes active,
///   under `manual` it is recorded and the copy loaded before keeps serving until `activate`. If the changed
///   files fail, the version is marked rejected and, if it was active, the copy loaded before keeps serving (a
///   restart then serves the previous good version). Publish a new folder by rename rather than overwriting the
///   active version's files in place: files are read with pread, never mapped, so a file truncated under a load
///   fails that load and nothing else, but a folder renamed into place is validated once, complete.
/// - A rolled-back version keeps its mark until an operator activates it (or rolls back to it) explicitly, even
///   if its files change; an arrival, rescan or restart never activates it.
/// - Activating an unchanged (same fingerprint) valid version reloads it without a validation process, each file
///   compared as it is read with the digest it had when it was validated.
/// - A folder that disappears is marked removed; if it was active, the loaded copy keeps serving.
final class ModelRegistry: Sendable {
    let modelsDirectory: URL
    let policy: ActivationPolicy
    let settleMilliseconds: Int
    let store: VersionStore
    let logger: Logger
    let validator: CheckpointValidator
    let queue = DispatchQueue(label: "sentimentd.model-registry")
    let state = RegistryStateBox()
    let onDemandLoad = NSLock()
    /// uid recorded for activations the daemon decides itself (startup, arrival).
    let ownUID = UInt32(getuid())
    /// `models.precision`; with int8, `int8Check` decides per version (see `ModelRegistry+Precision`).
    let precision: Precision
    let int8Check: Int8Check?
    /// Runs the int8 checks, one at a time, off the registry's queue (a check takes minutes; activations and
    /// rollbacks must not wait for it).
    let checkQueue = DispatchQueue(label: "sentimentd.int8-check")
    /// Whether a version that serves fp32 in int8 mode gets its packed copy (`models.pack_weights`) once its check
    /// fails; its fp32 copy is loaded unpacked, as it is expected to be replaced.
    let packAfterFailedCheck: Bool

    /// What the queue is doing, and whether it makes progress (the watchdog and `status` read it).
    let watch: RegistryWatch

    /// - precision, int8Check: `models.precision`; `int8Check` is required when `precision` is int8.
    /// - validation: where arrivals are checked (`.process` in the daemon).
    /// - validationTimeout: `models.validation_timeout`, seconds without progress that end a validation.
    /// - loader: loads a version folder in the precision given (fp32 for a version to validate or check, int8 for a
    ///   version whose recorded check passed); given digests, only files with those bytes (`ModelLoader`).
    init(modelsDirectory: URL, store: VersionStore, policy: ActivationPolicy, settleMilliseconds: Int,
         loadPriority: LoadPriority = .idle, precision: Precision = .fp32, int8Check: Int8Check? = nil,
         packAfterFailedCheck: Bool = false, validation: ValidationIsolation = .inProcess,
         validationTimeout: Double = 120, logger: Logger,
         loader: @escaping @Sendable (URL, Precision, FolderDigests?) throws -> LoadedModel) {
        precondition(precision == .fp32 || int8Check != nil, "int8 serving needs an int8 check")
        self.modelsDirectory = modelsDirectory.standardizedFileURL
        self.store = store
        self.policy = policy
        self.settleMilliseconds = settleMilliseconds
        self.logger = logger
        self.precision = precision
        var check = int8Check
        check?.priority = loadPriority
        self.int8Check = check
        self.packAfterFailedCheck = packAfterFailedCheck
        self.watch = RegistryWatch(stallLimit: validationTimeout)
        self.validator = CheckpointValidator(loader: loader, priority: loadPriority, isolation: validation,
                                             stallLimit: validationTimeout)
    }

    /// Set when the version active before this start could not be served (see `startupScan`).
    var startupFallback: StartupFallbackStatus? { state.withLock { $0.fallback } }

    // MARK: Reading (any thread, cheap)

    /// The version unqualified predictions go to.
    var active: ActiveModel? { state.withLock { $0.active } }

    /// A version by name: the active one, the one loaded on demand before, or (valid versions only) loaded now on
    /// the caller's thread, replacing the previous on-demand one. Nil for unknown, rejected, removed or changed
    /// versions. Loading takes as long as a model load: call it off the event loop.
    func model(version: String) -> ActiveModel? {
        if let hit = cached(version) { return hit }
        onDemandLoad.lock()
        defer { onDemandLoad.unlock() }
        if let hit = cached(version) { return hit }
        guard let record = state.withLock({ $0.records.first { $0.version == version } }), record.status == .valid,
              let digests = FolderDigests(json: record.fileDigests),
              let folder = try? CheckpointFolder.read(version: version, in: modelsDirectory),
              folder.fingerprint == record.fingerprint else { return nil }
        do {
            let model = try validator.load(folder, expecting: digests, whileServing: false, watch: nil,
                                           precision: loadPrecision(record))
            let loaded = ActiveModel(version: version, model: model, fingerprint: folder.fingerprint)
            state.withLock { $0.onDemand = loaded }
            logger.info("model loaded on demand", metadata: ["version": "\(version)"])
            return loaded
        } catch {
            logger.error("model failed to load on demand", metadata: ["version": "\(version)", "error": "\(error)"])
            return nil
        }
    }

    /// A version only if it is already in memory (the active one, the one loaded on demand, or the fp32 copy of one
    /// whose int8 check runs before its activation); never loads, so it is safe on an event loop.
    func loadedModel(version: String) -> ActiveModel? { cached(version) }

    /// A version by name, loading it on the registry's queue (off the caller's thread) when it is not in memory; it
    /// then replaces the previous on-demand copy. Errors say why a version cannot be served.
    func loadModel(version: String) async throws -> ActiveModel {
        if let hit = cached(version) { return hit }
        return try await onQueue("loading \(version)") {
            try self.requireStarted()
            let (loaded, isActiveCopy, _) = try self.prepare(version)
            if !isActiveCopy { self.state.withLock { $0.onDemand = loaded } }
            return loaded
        }
    }

    func cached(_ version: String) -> ActiveModel? {
        state.withLock { s in
            if let a = s.active, a.version == version { return a }
            if let o = s.onDemand, o.version == version { return o }
            if let w = s.awaitingCheck, w.version == version { return w }
            return nil
        }
    }

    /// Every version ever seen, oldest arrival first.
    func list() -> [ModelVersionInfo] {
        let (records, active, validating, lastActivated, onDemand, checking, waiting) = state.withLock {
            ($0.records, $0.active, $0.validating, $0.lastActivated, $0.onDemand, $0.checking, $0.awaitingCheck)
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
            } else if validating.contains(r.version) || r.status == .pending || waiting?.version == r.version {
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
                                    manifestSHA256: r.manifestSHA256, family: r.family, labels: r.labels,
                                    precision: precisionInfo(r, loaded: [active, onDemand].compactMap { $0 }.first { $0.version == r.version },
                                                             checking: checking.contains(r.version),
                                                             waiting: waiting.map { $0.version == r.version && $0.fingerprint == r.fingerprint } ?? false,
                                                             activeVersion: active?.version))
        }
    }

    /// The activation history, newest first.
    func history(limit: Int? = nil) throws -> [ActivationRecord] {
        do { return try store.activations(limit: limit) } catch { throw RegistryError.database(reason: "\(error)") }
    }

    /// `handler` is called with the version after every activation (on the registry's queue; return quickly).
    func onActivation(_ handler: @escaping @Sendable (String) -> Void) {
        state.withLock { $0.handlers.append(handler) }
    }

    /// `handler` is called with the kind of reason (`CheckpointRejection.kind`) each time a version is rejected.
    public func onRejection(_ handler: @escaping @Sendable (String) -> Void) {
        state.withLock { $0.rejectionHandlers.append(handler) }
    }

    func rejected(because error: Error) {
        let kind = (error as? CheckpointRejection)?.kind ?? "other"
        for handler in state.withLock({ $0.rejectionHandlers }) { handler(kind) }
    }

    // MARK: Life cycle

    /// Starts watching `models/` (creating it when absent), records what changed while the daemon was down, and
    /// serves: the most recently activated version if it is still valid; else the newest valid one. Under policy
    /// `newest`, a valid version that arrived while the daemon was down wins over both.
    func start() async throws {
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
            try await onQueue("starting: restoring the active version") {
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
    func shutdown() async {
        let watcher = state.withLock { s -> DirectoryWatcher? in
            s.phase = .stopped
            defer { s.watcher = nil }
            return s.watcher
        }
        watcher?.stop()
        _ = try? await onQueue("stopping") {}
    }

    // MARK: Changing what is served

    /// Serves `version` (valid, present). Activating the version already active with unchanged files does nothing.
    /// `.manual` and `.rollback` clear a rolled-back mark.
    func activate(version: String, reason: ActivationReason, byUID uid: UInt32) async throws {
        try await onQueue("activating \(version)") {
            try self.requireStarted()
            try self.activateOnQueue(version, reason: reason, uid: uid)
        }
    }

    /// Re-activates the previous version from the activation history (skipping rolled-back, rejected and removed
    /// ones), or `version` when given, and marks the version rolled back from so nothing re-activates it
    /// automatically. Returns the version now active.
    func rollback(to version: String?, byUID uid: UInt32) async throws -> String {
        try await onQueue("rolling back") {
            try self.requireStarted()
            return try self.rollbackOnQueue(to: version, uid: uid)
        }
    }

    /// Looks at every folder again (SIGHUP, `reload`), as if each had just settled.
    func rescan() async {
        _ = try? await onQueue("rescanning the models directory") {
            guard self.isRunning else { return }
            self.rescanOnQueue()
        }
    }

    // MARK: Queue work

    func onQueue<T>(_ task: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(task) { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Every piece of the queue's work goes through here, so the watch knows what the queue is doing.
    func enqueue(_ task: String, _ body: @escaping @Sendable () -> Void) {
        queue.async {
            self.watch.begin(task)
            defer { self.watch.end() }
            body()
        }
    }

    var isRunning: Bool { state.withLock { $0.phase == .running || $0.phase == .starting } }

    /// True once `shutdown` began: a validation in progress is stopped (and not counted as interrupted).
    var isStopping: Bool { state.withLock { $0.phase == .stopped } }

    func requireStarted() throws {
        guard isRunning else { throw RegistryError.notStarted }
    }

    func startWatcher() throws {
        let watcher = DirectoryWatcher(
            root: modelsDirectory, settleMilliseconds: settleMilliseconds, logger: logger,
            onSettled: { [weak self] name in
                guard let self else { return }
                self.enqueue("looking at \(name)") { self.settled(name) }
            },
            onOverflow: { [weak self] in
                guard let self else { return }
                self.enqueue("rescanning the models directory") { if self.isRunning { self.rescanOnQueue() } }
            })
        do {
            try watcher.start()
        } catch {
            throw RegistryError.modelsDirectoryUnavailable(path: modelsDirectory.path, reason: "\(error)")
        }
        state.withLock { $0.watcher = watcher }
    }

    func refreshRecords() {
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
    func storeCall<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as RegistryError { throw error } catch {
            throw RegistryError.database(reason: "\(error)")
        }
    }
}

/// The registry's shared state: read from any thread, written on the registry's queue.
final class RegistryStateBox: @unchecked Sendable {
    enum Phase { case idle, starting, running, stopped }

    struct State {
        var phase = Phase.idle
        var active: ActiveModel?
        var onDemand: ActiveModel?
        var records: [ModelVersionRecord] = []
        var lastActivated: [String: Date] = [:]
        var validating: Set<String> = []
        /// Versions whose int8 check runs (or waits to run) while they serve.
        var checking: Set<String> = []
        /// The version whose int8 check runs before it is activated (a hot reload in int8 mode), its fp32 copy; it
        /// serves nothing meanwhile (`ModelRegistry+Precision`). `since`: when its check was queued.
        var awaitingCheck: ActiveModel?
        /// Why a version's int8 check could not run, until it is checked again.
        var checkErrors: [String: String] = [:]
        var fallback: StartupFallbackStatus?
        var handlers: [@Sendable (String) -> Void] = []
        var rejectionHandlers: [@Sendable (String) -> Void] = []
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
