import Dispatch
import Foundation
import Logging
import SentimentProtocol
import SentimentStore
import SentimentCore

/// Starts training runs (on the schedule, or on `train`), one at a time, each in a child process
/// (`sentimentd train-worker`), watches it, cancels it, and after a restart puts every unfinished run into a
/// final state (see `TrainWorker` for what a kill at each point leaves).
final class TrainingCoordinator: @unchecked Sendable {
    let labels: LabelStore
    let runs: RunStore
    private let config: @Sendable () -> DaemonConfig
    private let catalog: ModelCatalog
    let modelsDirectory: URL
    private let databasePath: URL
    private let baseDirectories: [String]
    private let workerExecutable: URL
    private let logger: Logger
    private let startedAt = Date()
    /// Seconds between schedule checks.
    private let tickSeconds: Double

    private struct Worker {
        var runID: Int64
        /// The version the run started from.
        var base: String
        var process: Process
        var cancelReason: String?
    }
    private let worker = LockedBox<Worker?>(nil)
    /// Serialises run creation (schedule tick vs. `train`).
    private let startLock = NSLock()
    private var timer: DispatchSourceTimer?

    init(labels: LabelStore, runs: RunStore, config: @escaping @Sendable () -> DaemonConfig, catalog: ModelCatalog,
         modelsDirectory: URL, databasePath: URL, baseDirectories: [String], workerExecutable: URL, logger: Logger,
         tickSeconds: Double = 5) {
        self.baseDirectories = baseDirectories
        self.labels = labels
        self.runs = runs
        self.config = config
        self.catalog = catalog
        self.modelsDirectory = modelsDirectory
        self.databasePath = databasePath
        self.workerExecutable = workerExecutable
        self.logger = logger
        self.tickSeconds = tickSeconds
    }

    // MARK: start-up recovery

    /// No worker runs yet: every queued or running run is from a previous daemon. A run whose candidate reached
    /// models/ (its manifest names the run) is recorded as published; the others failed. Staging is emptied and
    /// open imports are abandoned.
    func recover() {
        do {
            let abandoned = try labels.abandonOpenImports(olderThan: nil)
            if abandoned > 0 { logger.notice("abandoned label imports left open by a previous run", metadata: ["imports": "\(abandoned)"]) }
        } catch {
            logger.error("cannot abandon open imports", metadata: ["error": "\(error)"])
        }
        do {
            let unfinished = try runs.runs(limit: 1000).filter { $0.status == .queued || $0.status == .running }
            let published = publishedRuns()
            for run in unfinished {
                if let version = published[run.id] {
                    try runs.finish(id: run.id, status: .published, decision: .published,
                                    reason: "the candidate was published just before the daemon stopped; recorded at the next start",
                                    candidateVersion: version, error: nil)
                    logger.notice("recovered a published run", metadata: ["run": "\(run.id)", "model_version": "\(version)"])
                }
            }
            let failed = try runs.failUnfinishedRuns(reason: "the daemon stopped during the run; nothing of it was published")
            if !failed.isEmpty { logger.warning("runs interrupted by a restart marked failed", metadata: ["runs": "\(failed)"]) }
        } catch {
            logger.error("cannot recover unfinished runs", metadata: ["error": "\(error)"])
        }
        let debris = RunPaths.cleanAll(modelsDirectory)
        if !debris.isEmpty { logger.notice("removed staging debris", metadata: ["entries": "\(debris.sorted())"]) }
    }

    /// Versions in models/ whose manifest names a run: run id -> version.
    private func publishedRuns() -> [Int64: String] {
        var out: [Int64: String] = [:]
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: modelsDirectory.path) else { return out }
        for name in names where !name.hasPrefix(".") {
            let url = modelsDirectory.appendingPathComponent(name).appendingPathComponent(CheckpointManifest.fileName)
            if let m = try? CheckpointManifest.read(at: url), let run = m.run { out[Int64(run)] = name }
        }
        return out
    }

    // MARK: schedule

    func start() {
        let t = DispatchSource.makeTimerSource(queue: .global())
        t.schedule(deadline: .now() + tickSeconds, repeating: tickSeconds)
        t.setEventHandler { [weak self] in self?.tick() }
        t.resume()
        timer = t
    }

    /// Why a scheduled run would not start now (nil: it starts).
    func scheduleBlocker(now: Date = Date()) throws -> String? {
        let settings = config().training
        guard settings.enabled else { return "training.enabled is false" }
        if worker.value != nil { return "a run is in progress" }
        if settings.isQuiet(at: now) { return "quiet hours" }
        let last = try runs.runs(limit: 1).first
        let reference = last?.finishedAt ?? last?.createdAt ?? startedAt
        let since = max(reference, startedAt)
        if now.timeIntervalSince(since) < settings.everySeconds { return "training.every has not passed" }
        let newTrain = try newTrainLabels()
        if newTrain < settings.minNewLabels { return "\(newTrain) new labels; training.min_new_labels is \(settings.minNewLabels)" }
        return nil
    }

    private func newTrainLabels() throws -> Int {
        let since = try runs.lastCompletedRun()?.labelSeqHigh
        let stats = try labels.stats(sinceSeq: since)
        return stats.newTotal.train
    }

    /// The last reason a due scheduled run could not start, so the log says it once, not every tick.
    private let lastScheduleFailure = LockedBox<String?>(nil)

    private func tick() {
        do {
            guard try scheduleBlocker() == nil else { return }
            let run = try startRun(trigger: "schedule", uid: getuid(), overrides: nil)
            lastScheduleFailure.value = nil
            logger.notice("scheduled training run started", metadata: ["run": "\(run.id)"])
        } catch {
            let text = "\(error)"
            guard lastScheduleFailure.value != text else { return }
            lastScheduleFailure.value = text
            logger.warning("scheduled training run not started", metadata: ["error": "\(text)"])
        }
    }

    // MARK: runs

    func startRun(trigger: String, uid: UInt32, overrides: RunRecipe?) throws -> RunSummary {
        startLock.lock()
        defer { startLock.unlock() }
        let config = self.config()
        if let w = worker.value { throw RPCError.trainingBusy(runID: w.runID) }
        let plan = try RunPlan.resolve(config.training, labels: config.labelNames, overrides: overrides)
        guard let active = catalog.active else {
            throw RPCError.nothingToTrain("no model is serving; a run fine-tunes the serving model")
        }
        let baseFolder = modelsDirectory.appendingPathComponent(active.version)
        guard active.model.folder.standardizedFileURL.resolvingSymlinksInPath().path
                == baseFolder.standardizedFileURL.resolvingSymlinksInPath().path else {
            throw RPCError.nothingToTrain("the serving model \(active.version) is not a folder of the models directory (SENTIMENT_MODEL pins a folder elsewhere)")
        }
        let stats: LabelStats
        let since: Int64?
        do {
            since = try runs.lastCompletedRun()?.labelSeqHigh
            stats = try labels.stats(sinceSeq: since)
        } catch {
            throw RPCError.storeFailed("\(error)")
        }
        let newTrain = stats.newTotal.train
        guard newTrain > 0 else {
            throw RPCError.nothingToTrain("no new train-split labels since the last completed run; add labels (sentimentctl label / import)")
        }
        let evalCount = stats.total.eval
        guard evalCount >= config.training.minEvalLabels else {
            throw RPCError.nothingToTrain("the frozen eval split has \(evalCount) labels; the gate needs at least \(config.training.minEvalLabels) (training.min_eval_labels)")
        }
        let id: Int64
        do {
            id = try runs.createRun(trigger: RunTrigger(rawValue: trigger) ?? .manual, uid: uid,
                                    method: TrainingMethod(rawValue: plan.recipe.method ?? "full") ?? .full,
                                    recipeJSON: try plan.json())
        } catch let RunStoreError.runInProgress(other) {
            throw RPCError.trainingBusy(runID: other)
        } catch {
            throw RPCError.storeFailed("\(error)")
        }
        let process = Process()
        process.executableURL = workerExecutable
        var arguments = ["train-worker", "--run", "\(id)", "--database", databasePath.path,
                         "--models", modelsDirectory.path, "--base", active.version,
                         "--parent-pid", "\(getpid())", "--nice", "\(config.training.nice)",
                         "--threads", "\(config.training.threads)"]
        arguments += ["--log-level", config.logLevel.rawValue, "--precision", config.precision.rawValue]
        for dir in baseDirectories { arguments += ["--base-directory", dir] }
        process.arguments = arguments
        process.terminationHandler = { [weak self] p in self?.workerExited(runID: id, process: p) }
        worker.value = Worker(runID: id, base: active.version, process: process, cancelReason: nil)
        do {
            try process.run()
        } catch {
            worker.value = nil
            try? runs.finish(id: id, status: .failed, decision: nil, reason: "cannot start the training worker: \(error)",
                             candidateVersion: nil, error: "\(error)")
            runEndedHandler.value?(RunStatus.failed.rawValue)
            throw RPCError.internalError("cannot start the training worker \(workerExecutable.path): \(error)")
        }
        logger.notice("training run started", metadata: [
            "run": "\(id)", "trigger": "\(trigger)", "base": "\(active.version)", "worker_pid": "\(process.processIdentifier)",
            "new_labels": "\(newTrain)",
        ])
        return try summary(id)
    }

    /// Called with the final status (`published`, `rejected`, `failed`, `cancelled`) of every run whose worker ended.
    public var onRunEnded: (@Sendable (String) -> Void)? {
        get { runEndedHandler.value }
        set { runEndedHandler.value = newValue }
    }
    private let runEndedHandler = LockedBox<(@Sendable (String) -> Void)?>(nil)

    private func workerExited(runID: Int64, process: Process) {
        defer {
            if let run = try? runs.run(id: runID), run.status.isFinished { runEndedHandler.value?(run.status.rawValue) }
        }
        let cancelReason = worker.withLock { w -> String? in
            let reason = w?.runID == runID ? w?.cancelReason : nil
            if w?.runID == runID { w = nil }
            return reason
        }
        let how: String
        if process.terminationReason == .uncaughtSignal {
            let sig = process.terminationStatus
            how = "the training worker was killed by signal \(sig)" + (sig == SIGKILL ? " (SIGKILL: out of memory, or killed by hand)" : "")
        } else {
            how = "the training worker exited with status \(process.terminationStatus)"
        }
        do {
            if let run = try runs.run(id: runID), run.status == .queued || run.status == .running {
                RunPaths.clean(modelsDirectory, run: runID)
                if let version = publishedRuns()[runID] {
                    // Killed between the publishing rename and its record: the version is complete and served.
                    try runs.finish(id: runID, status: .published, decision: .published,
                                    reason: "the candidate was published, then \(how); recorded by the daemon",
                                    candidateVersion: version, error: nil)
                    logger.warning("training worker died after publishing", metadata: ["run": "\(runID)", "model_version": "\(version)"])
                    return
                }
                if let cancelReason {
                    try runs.finish(id: runID, status: .cancelled, decision: nil, reason: cancelReason, candidateVersion: nil, error: nil)
                } else {
                    try runs.finish(id: runID, status: .failed, decision: nil, reason: how, candidateVersion: nil, error: how)
                }
                logger.error("training run ended by its worker's exit", metadata: ["run": "\(runID)", "reason": "\(cancelReason ?? how)"])
            } else {
                logger.notice("training worker finished", metadata: ["run": "\(runID)", "exit": "\(process.terminationStatus)"])
            }
        } catch {
            logger.error("cannot record the end of a run", metadata: ["run": "\(runID)", "error": "\(error)"])
        }
    }

    /// Stops the running run: records it cancelled with `reason`, then SIGTERM (the worker stops at the next step:
    /// its next write finds the run finished), then SIGKILL after `cancel_grace_seconds`. Returns the run as it
    /// ended.
    func cancel(reason: String) async throws -> RunSummary {
        guard let w = worker.withLock({ w -> Worker? in
            if w != nil && w?.cancelReason == nil { w?.cancelReason = reason }
            return w
        }) else {
            throw RPCError.notFound("no training run is in progress")
        }
        do {
            try runs.finish(id: w.runID, status: .cancelled, decision: nil, reason: reason, candidateVersion: nil, error: nil)
        } catch RunStoreError.runFinished {
            // It ended on its own meanwhile; what it recorded stands.
        } catch {
            logger.error("cannot record the cancellation", metadata: ["run": "\(w.runID)", "error": "\(error)"])
        }
        kill(w.process.processIdentifier, SIGTERM)
        let grace = config().training.cancelGraceSeconds
        let deadline = Date().addingTimeInterval(grace)
        while w.process.isRunning && Date() < deadline {
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        if w.process.isRunning {
            logger.warning("training worker did not stop in time; killing it", metadata: ["run": "\(w.runID)"])
            kill(w.process.processIdentifier, SIGKILL)
            while w.process.isRunning { try? await Task.sleep(nanoseconds: 20_000_000) }
        }
        // The termination handler may still be recording; wait for it.
        for _ in 0..<200 where worker.value?.runID == w.runID {
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        return try summary(w.runID)
    }

    /// Rollback wins: when another version than the run's base (or the run's own candidate) starts serving during
    /// a run — an admin rolled back or activated one, or a newer folder arrived — the run is cancelled; it would
    /// publish a child of a version that no longer serves. (Should it reach its publish first, the worker's own
    /// check and the registry's refusal to activate a candidate whose parent does not serve keep it from going
    /// live.)
    func servingVersionChanged(to version: String) {
        guard let w = worker.value, w.cancelReason == nil, version != w.base, !version.hasPrefix("run-\(w.runID)-") else {
            return
        }
        logger.notice("cancelling the training run: its base version no longer serves", metadata: [
            "run": "\(w.runID)", "base": "\(w.base)", "model_version": "\(version)",
        ])
        let reason = "cancelled: \(version) was activated during the run, so the run's base \(w.base) no longer "
            + "serves (a rollback or an activation wins over a run in progress)"
        Task { _ = try? await self.cancel(reason: reason) }
    }

    /// Daemon stop: cancel a running run and wait for the worker.
    func shutdown() async {
        timer?.cancel()
        if worker.value != nil {
            _ = try? await cancel(reason: "cancelled: the daemon stopped")
        }
    }

    var currentRunID: Int64? { worker.value?.runID }

    // MARK: views

    func summary(_ id: Int64) throws -> RunSummary {
        guard let r = try runs.run(id: id) else { throw RPCError.notFound("no training run \(id)") }
        return Self.summary(r)
    }

    static func summary(_ r: TrainingRunRecord) -> RunSummary {
        var s = RunSummary(id: r.id, status: r.status.rawValue, trigger: r.trigger.rawValue, createdAt: r.createdAt, method: r.method.rawValue)
        s.startedAt = r.startedAt
        s.finishedAt = r.finishedAt
        s.baseVersion = r.baseVersion
        s.candidateVersion = r.candidateVersion
        s.step = r.step
        s.totalSteps = r.totalSteps
        s.epoch = r.epoch
        s.loss = r.loss
        s.learningRate = r.lr
        s.examplesPerSecond = r.examplesPerSecond
        s.etaSeconds = r.etaSeconds
        s.trainExamples = r.trainExamples
        s.newExamples = r.newExamples
        s.replayExamples = r.replayExamples
        s.evalExamples = r.evalExamples
        s.championF1 = r.championF1
        s.candidateF1 = r.candidateF1
        s.decision = r.decision?.rawValue
        s.reason = r.reason ?? r.error
        return s
    }

    func detail(_ id: Int64) throws -> RunDetail {
        guard let r = try runs.run(id: id) else { throw RPCError.notFound("no training run \(id)") }
        let plan = try? RunPlan.decode(r.recipe)
        let epochs = try runs.epochs(run: id).map {
            RunEpoch(epoch: $0.epoch, trainLoss: $0.trainLoss ?? 0, metrics: EvalMetrics.decode($0.metrics))
        }
        var detail = RunDetail(run: Self.summary(r), recipe: plan?.recipe ?? RunRecipe(), labels: plan?.labels,
                               dataFingerprint: r.dataFingerprint, epochs: epochs,
                               champion: EvalMetrics.decode(r.championMetrics),
                               candidate: EvalMetrics.decode(r.candidateMetrics), gateTolerance: plan?.gateTolerance)
        if let json = r.gate { detail.gate = try? JSONDecoder().decode(GateReport.self, from: Data(json.utf8)) }
        if let curve = try? runs.curve(run: id), !curve.isEmpty { detail.curve = curve }
        if let json = r.labelUIDs, let counts = try? JSONDecoder().decode([String: Int].self, from: Data(json.utf8)) {
            detail.labelAuthors = counts.compactMap { key, n in UInt32(key).map { LabelAuthorship(uid: $0, examples: n) } }
                .sorted { ($0.examples, $1.uid) > ($1.examples, $0.uid) }
        }
        return detail
    }

    func register(on router: Router) {
        router.registerAsync(TrainMethod.self) { [self] params, context in
            let run = try startRun(trigger: "manual", uid: context.uid, overrides: params.recipe)
            context.logger.notice("training run requested", metadata: ["run": "\(run.id)", "peer_uid": "\(context.uid)"])
            return run
        }
        router.registerAsync(TrainCancelMethod.self) { [self] _, context in
            try await cancel(reason: "cancelled by train.cancel (uid \(context.uid))")
        }
        router.registerAsync(RunsListMethod.self) { [self] params, _ in
            let limit = min(max(params.limit ?? 20, 1), 1000)
            do {
                return RunsListMethod.Result(runs: try runs.runs(limit: limit).map(Self.summary))
            } catch {
                throw RPCError.storeFailed("\(error)")
            }
        }
        router.registerAsync(RunsShowMethod.self) { [self] params, _ in try detail(params.id) }
    }
}
