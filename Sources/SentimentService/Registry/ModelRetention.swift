import Dispatch
import Foundation
import Logging
import SentimentCore
import SentimentEngine
import SentimentProtocol
import SentimentStore
#if canImport(Glibc)
import Glibc
#endif

/// Which folders of the models directory stay, and the removal of the others: versions prune themselves.
///
/// Policy (`[models] keep`, `quarantine_after`):
/// - A version published by a training run (its `sentimentd.json` names the run) is kept while it is among the
///   newest `keep` runs' versions; beyond them it is removed, unless it is protected.
/// - Protected, whatever their age: the active version; its rollback target (what `rollback` would serve); pinned
///   versions; a base that an adapter left in the models directory resolves to; the base of a run in progress; the
///   gate's best version on the current evaluation split (a later run may evaluate it again when an admin changes
///   the split: `TrainWorker.carryOverBest`).
/// - A folder someone copied in is never removed by the daemon: it may be someone's only copy. One that stays
///   rejected, its files unchanged, for `quarantine_after` is moved to `.quarantine/` (out of the way, not lost).
/// - `models.remove` (an admin's) removes any version but the active one, a pinned one, a base an adapter needs and
///   the base of a run in progress; a rollback target or the gate's best may go when an admin says so.
///
/// Why keep by count rather than by age or disk size: each run's version is a whole model (about 0.5 GB for
/// RoBERTa-base), so the count bounds the disk, and a count keeps working when runs are rare. Removal is crash-safe
/// and never races a load (`ModelRegistry.moveOutOnQueue`). The plan is made on the registry's queue, so an
/// activation cannot slip between the plan and the removal.
final class ModelRetention: @unchecked Sendable {
    let registry: ModelRegistry
    let versions: VersionStore
    let runs: RunStore
    let loader: ModelLoader
    private let config: @Sendable () -> DaemonConfig
    private let logger: Logger
    private var timer: DispatchSourceTimer?
    /// Passes asked for while one runs coalesce into one more.
    private let pending = LockedBox((running: false, again: false))

    init(registry: ModelRegistry, versions: VersionStore, runs: RunStore, loader: ModelLoader,
         config: @escaping @Sendable () -> DaemonConfig, logger: Logger) {
        self.registry = registry
        self.versions = versions
        self.runs = runs
        self.loader = loader
        self.config = config
        self.logger = logger
    }

    // MARK: The plan

    /// One folder of the models directory and what retention does with it.
    struct Entry: Equatable {
        enum Action: Equatable {
            case keep
            /// A training run's version beyond `keep`.
            case prune
            /// A folder that stayed rejected.
            case quarantine
        }
        var version: String
        /// The run that published it, from its manifest.
        var run: Int64?
        var bytes: Int64
        var pinned: Bool
        /// Why it stays (empty for prune and quarantine).
        var reasons: [String]
        var action: Action
        /// What the listing says about it.
        var summary: [String] {
            switch action {
            case .keep: return reasons
            case .prune: return ["beyond keep = \(keep): removed at the next pass"]
            case .quarantine: return ["rejected: moved to \(ModelRegistry.quarantineFolder)/ at the next pass"]
            }
        }
        var keep = 0
    }

    /// What every folder of the models directory is kept for, or what happens to it. Reads the folders and the
    /// database; changes nothing.
    func plan(now: Date = Date()) -> [Entry] {
        let config = self.config()
        let models = registry.modelsDirectory
        let present = (try? CheckpointFolder.versionNames(in: models)) ?? []
        let records = Dictionary((try? versions.versions())?.map { ($0.version, $0) } ?? [], uniquingKeysWith: { a, _ in a })
        let pins = (try? versions.pins()) ?? [:]
        let active = registry.active?.version
        var reasons: [String: [String]] = [:]
        func protect(_ version: String?, _ why: String) {
            guard let version, present.contains(version) else { return }
            reasons[version, default: []].append(why)
        }
        protect(active, "active")
        protect(rollbackTarget(active: active, records: records, present: present), "rollback target")
        for version in pins.keys { protect(version, "pinned") }
        if let run = try? runs.activeRun() {
            protect(run.baseVersion ?? (run.status == .queued ? active : nil), "base of run \(run.id) in progress")
        }
        if let split = try? runs.latestSplit(), let best = try? runs.bestSplitEvaluation(split: split) {
            protect(best.version, "the gate's best on the current eval split")
        }

        // Training runs' versions, newest run first.
        var runOf: [String: Int64] = [:]
        for name in present {
            let manifest = models.appendingPathComponent(name).appendingPathComponent(CheckpointManifest.fileName)
            if let m = try? CheckpointManifest.read(at: manifest), let run = m.run { runOf[name] = Int64(run) }
        }
        let byRun = runOf.keys.sorted { (runOf[$0]!, $0) > (runOf[$1]!, $1) }
        var prune: Set<String> = []
        for (i, version) in byRun.enumerated() {
            if i < config.keepVersions {
                reasons[version, default: []].append("newest \(config.keepVersions) runs")
            } else if reasons[version] == nil {
                prune.insert(version)
            }
        }

        // Rejected folders that stayed rejected.
        var quarantine: Set<String> = []
        for name in present where reasons[name] == nil && !prune.contains(name) {
            guard let r = records[name], r.status == .rejected, let judged = r.validatedAt,
                  now.timeIntervalSince(judged) >= config.quarantineAfterSeconds,
                  let folder = try? CheckpointFolder.read(version: name, in: models), folder.fingerprint == r.fingerprint
            else { continue }
            quarantine.insert(name)
        }

        // Bases that adapters staying in the directory resolve to (a base is never an adapter, so one pass).
        for name in present where !prune.contains(name) && !quarantine.contains(name) {
            let folder = models.appendingPathComponent(name)
            guard AdapterFolder.isAdapter(folder), let adapter = try? AdapterFolder.readConfig(folder),
                  let base = try? loader.resolveBase(adapter.baseModelNameOrPath ?? "", adapter: folder),
                  base.deletingLastPathComponent().standardizedFileURL.path == models.standardizedFileURL.path
            else { continue }
            let baseName = base.lastPathComponent
            guard present.contains(baseName) else { continue }
            reasons[baseName, default: []].append("base of adapter \(name)")
            prune.remove(baseName)
            quarantine.remove(baseName)
        }

        return present.map { name in
            var why = reasons[name] ?? []
            if why.isEmpty && !prune.contains(name) && !quarantine.contains(name) {
                if runOf[name] == nil {
                    why = [records[name]?.status == .rejected ? "rejected: quarantined after \(Self.duration(config.quarantineAfterSeconds))"
                                                              : "copied in (only models rm removes it)"]
                }
            }
            var entry = Entry(version: name, run: runOf[name], bytes: Self.diskUse(models.appendingPathComponent(name)),
                              pinned: pins[name] != nil, reasons: why,
                              action: prune.contains(name) ? .prune : quarantine.contains(name) ? .quarantine : .keep)
            entry.keep = config.keepVersions
            return entry
        }
    }

    /// What `rollback` without a version would serve: the most recently activated version before the active one that
    /// is valid, not rolled back, and still here.
    func rollbackTarget(active: String?, records: [String: ModelVersionRecord], present: [String]) -> String? {
        guard let history = try? versions.activations() else { return nil }
        var seen: Set<String> = active.map { [$0] } ?? []
        for entry in history where !seen.contains(entry.version) {
            seen.insert(entry.version)
            guard let r = records[entry.version], r.status == .valid, !r.isRolledBack, present.contains(r.version) else {
                continue
            }
            return r.version
        }
        return nil
    }

    // MARK: Passes

    /// Applies the plan: training runs' versions beyond `keep` go, rejected folders move to quarantine. Passes asked
    /// for while one runs are folded into one more.
    func prune() async {
        let start = pending.withLock { p -> Bool in
            if p.running { p.again = true; return false }
            p.running = true
            return true
        }
        guard start else { return }
        while true {
            await pass()
            let again = pending.withLock { p -> Bool in
                if p.again { p.again = false; return true }
                p.running = false
                return false
            }
            if !again { return }
        }
    }

    private func pass() async {
        let trashed: [URL]
        do {
            trashed = try await registry.onQueue("retention pass") { [self] () -> [URL] in
                guard registry.isRunning else { return [] }
                var out: [URL] = []
                for entry in plan() where entry.action != .keep {
                    do {
                        if entry.action == .prune {
                            let reason = "a training run's version beyond the newest \(entry.keep) (models.keep)"
                            out.append(try registry.moveOutOnQueue(
                                entry.version, to: registry.freePlace(for: entry.version, in: ModelRegistry.trashFolder),
                                action: .pruned, uid: registry.ownUID, bytes: entry.bytes, reason: reason))
                        } else {
                            let why = (try? versions.version(entry.version))??.reason ?? "rejected"
                            let place = registry.freePlace(for: entry.version, in: ModelRegistry.quarantineFolder)
                            _ = try registry.moveOutOnQueue(
                                entry.version, to: place, action: .quarantined, uid: registry.ownUID, bytes: entry.bytes,
                                reason: "moved to \(ModelRegistry.quarantineFolder)/\(place.lastPathComponent) after staying "
                                    + "rejected for \(Self.duration(config().quarantineAfterSeconds)): \(why)")
                        }
                    } catch {
                        logger.warning("retention could not move a version out", metadata: [
                            "version": "\(entry.version)", "error": "\(error)",
                        ])
                    }
                }
                return out
            }
        } catch {
            logger.error("retention pass failed", metadata: ["error": "\(error)"])
            return
        }
        for folder in trashed { try? FileManager.default.removeItem(at: folder) }
    }

    /// `models.remove`: an admin removes one version.
    func remove(version: String, uid: UInt32) async throws -> ModelsRemoveMethod.Result {
        let (folder, entry) = try await registry.onQueue("remove \(version)") { [self] () -> (URL, Entry) in
            guard let entry = plan().first(where: { $0.version == version }) else {
                let known = (try? versions.version(version)) ?? nil
                throw known == nil ? VersionRemovalError.unknown(version: version) : VersionRemovalError.gone(version: version)
            }
            let blocking = entry.reasons.filter {
                $0 == "active" || $0 == "pinned" || $0.hasPrefix("base of adapter") || $0.hasPrefix("base of run")
            }
            if blocking == ["active"] { throw VersionRemovalError.active(version: version) }
            if !blocking.isEmpty { throw VersionRemovalError.protected(version: version, reasons: blocking) }
            let folder = try registry.moveOutOnQueue(
                version, to: registry.freePlace(for: version, in: ModelRegistry.trashFolder), action: .removed, uid: uid,
                bytes: entry.bytes, reason: "removed by uid \(uid) (models.remove)")
            return (folder, entry)
        }
        try? FileManager.default.removeItem(at: folder)
        // What the removed version protected (an adapter's base) may go now.
        Task { await prune() }
        let was = entry.reasons.filter { !$0.hasPrefix("newest") && !$0.hasPrefix("copied in") && !$0.hasPrefix("rejected") }
        return .init(version: version, bytes: entry.bytes, was: was)
    }

    func pin(_ params: ModelsPinMethod.Params, uid: UInt32) async throws -> ModelsPinMethod.Result {
        let pinned = params.pinned ?? true
        do {
            if pinned {
                guard FileManager.default.fileExists(atPath: registry.modelsDirectory.appendingPathComponent(params.version).path)
                else { throw VersionRemovalError.gone(version: params.version) }
                try versions.pin(version: params.version, uid: uid, note: params.note)
            } else {
                guard try versions.unpin(version: params.version) else {
                    throw RPCError.notFound("model version \"\(params.version)\" is not pinned")
                }
                await prune()
            }
        } catch StoreError.unknownVersion {
            throw RPCError.modelNotFound(version: params.version, reason: "the models directory has no such version (see `sentimentctl models`)")
        } catch let error as VersionRemovalError {
            throw Self.rpc(error)
        }
        return .init(version: params.version, pinned: pinned)
    }

    /// Adds disk use, pins and retention to a listing.
    func annotate(_ result: inout ModelsListMethod.Result) {
        let entries = Dictionary(uniqueKeysWithValues: plan().map { ($0.version, $0) })
        result.keep = config().keepVersions
        result.diskBytes = entries.values.reduce(0) { $0 + $1.bytes }
        result.quarantineBytes = Self.diskUse(registry.modelsDirectory.appendingPathComponent(ModelRegistry.quarantineFolder))
        result.models = result.models.map { m in
            guard let e = entries[m.version] else { return m }
            var m = m
            m.diskBytes = e.bytes
            m.run = e.run
            m.pinned = e.pinned
            m.retention = e.summary
            return m
        }
    }

    // MARK: Life cycle

    /// Empties `.trash/` (a crash between a removal's rename and its delete), then prunes now and every
    /// `quarantine_after` / 4 (between 1 s and a minute), and after every activation.
    func start() {
        let left = registry.emptyTrash()
        if !left.isEmpty { logger.notice("deleted folders a removal left in the models directory's .trash", metadata: ["folders": "\(left)"]) }
        registry.onActivation { [weak self] _ in
            guard let self else { return }
            Task { await self.prune() }
        }
        let every = max(1, min(60, config().quarantineAfterSeconds / 4))
        let t = DispatchSource.makeTimerSource(queue: .global())
        t.schedule(deadline: .now(), repeating: every)
        t.setEventHandler { [weak self] in
            guard let self else { return }
            Task { await self.prune() }
        }
        t.resume()
        timer = t
    }

    func stop() {
        timer?.cancel()
        timer = nil
    }

    func register(on router: Router) {
        router.registerAsync(ModelsRemoveMethod.self) { [self] params, context in
            do {
                let result = try await remove(version: params.version, uid: context.uid)
                context.logger.notice("model version removed on request", metadata: [
                    "model_version": "\(params.version)", "peer_uid": "\(context.uid)", "bytes": "\(result.bytes)",
                ])
                return result
            } catch let error as VersionRemovalError {
                throw Self.rpc(error)
            }
        }
        router.registerAsync(ModelsPinMethod.self) { [self] params, context in try await pin(params, uid: context.uid) }
    }

    static func rpc(_ error: VersionRemovalError) -> RPCError {
        switch error {
        case let .unknown(v):
            return .modelNotFound(version: v, reason: "the models directory has no such version (see `sentimentctl models`)")
        case .gone:
            return .notFound(error.description)
        case .active(let v):
            return .versionKept(version: v, reason: "it is being served; activate another version first")
        case .beingValidated(let v):
            return .versionKept(version: v, reason: "it is being validated or loaded; try again in a moment")
        case let .protected(v, reasons):
            var why = "it is " + reasons.joined(separator: ", ")
            if reasons.contains("pinned") { why += " (sentimentctl models unpin \(v) first)" }
            return .versionKept(version: v, reason: why)
        case let .cannotMove(path, _):
            return .versionKept(version: (path as NSString).lastPathComponent, reason: error.description)
        }
    }

    // MARK: Measures

    /// Disk space of everything under `url`, as `du` counts it: allocated 512-byte blocks, each inode once, links
    /// not followed.
    static func diskUse(_ url: URL) -> Int64 {
        var seen: Set<[UInt64]> = []
        var total: Int64 = 0
        func add(_ path: String) -> Bool {
            var st = stat()
            guard lstat(path, &st) == 0 else { return false }
            if seen.insert([UInt64(st.st_dev), UInt64(st.st_ino)]).inserted { total += Int64(st.st_blocks) * 512 }
            return (st.st_mode & S_IFMT) == S_IFDIR
        }
        guard add(url.path) else { return total }
        guard let walker = FileManager.default.enumerator(atPath: url.path) else { return total }
        while let relative = walker.nextObject() as? String {
            _ = add(url.appendingPathComponent(relative).path)
        }
        return total
    }

    static func duration(_ seconds: Double) -> String {
        if seconds >= 86400, seconds.truncatingRemainder(dividingBy: 86400) == 0 { return "\(Int(seconds / 86400))d" }
        if seconds >= 3600, seconds.truncatingRemainder(dividingBy: 3600) == 0 { return "\(Int(seconds / 3600))h" }
        if seconds >= 60, seconds.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(seconds / 60))m" }
        return "\(Int(seconds))s"
    }
}
