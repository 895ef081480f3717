import Dispatch
import Foundation
import Logging
import SentimentEngine
import SentimentTraining
import SentimentProtocol
import SentimentStore
import SentimentCore

/// What `sentimentd train-worker` is started with (the daemon passes every path; the worker reads no config).
public struct TrainWorkerOptions: Sendable {
    var runID: Int64
    var databasePath: URL
    var modelsDirectory: URL
    /// The version serving when the run was created: the starting point and the champion.
    var baseVersion: String
    /// The daemon's pid: when the worker's parent is no longer this process, the run stops.
    var parentPID: pid_t?
    var nice: Int
    var threads: Int
    /// Where adapter bases are looked up (models.base_directories).
    var baseDirectories: [URL]
    /// `models.precision`: the precision the daemon serves versions in (int8 once a version passes its int8 check).
    /// Training is fp32; the evaluations the gate judges run in the precision each model will serve in.
    var precision: Precision

    public init(runID: Int64, databasePath: URL, modelsDirectory: URL, baseVersion: String, parentPID: pid_t?,
                nice: Int, threads: Int, baseDirectories: [URL] = [], precision: Precision = .fp32) {
        self.baseDirectories = baseDirectories
        self.precision = precision
        self.runID = runID
        self.databasePath = databasePath
        self.modelsDirectory = modelsDirectory
        self.baseVersion = baseVersion
        self.parentPID = parentPID
        self.nice = nice
        self.threads = threads
    }
}

/// Where a run keeps its files while it is not yet published: `models/.staging/run-N` (the candidate) and
/// `models/.staging/.run-N.training` (the trainer's work directory). The registry never looks into dot folders;
/// publishing is one rename from here into models/.
enum RunPaths {
    static func staging(_ models: URL) -> URL { models.appendingPathComponent(".staging", isDirectory: true) }
    static func candidate(_ models: URL, run: Int64) -> URL { staging(models).appendingPathComponent("run-\(run)") }
    static func work(_ models: URL, run: Int64) -> URL { staging(models).appendingPathComponent(".run-\(run).training") }

    /// Removes everything a run left in staging.
    static func clean(_ models: URL, run: Int64) {
        let fm = FileManager.default
        try? fm.removeItem(at: candidate(models, run: run))
        try? fm.removeItem(at: work(models, run: run))
        // ModelFolderWriter's temporaries: .run-N.tmp-*, .run-N.old-*
        if let names = try? fm.contentsOfDirectory(atPath: staging(models).path) {
            for name in names where name.hasPrefix(".run-\(run).") {
                try? fm.removeItem(at: staging(models).appendingPathComponent(name))
            }
        }
    }

    /// Removes every training run's leftovers from staging (daemon start: no worker is running). Other entries
    /// (e.g. a `sentimentctl pull` in progress, which resumes from its partial files) are left alone.
    static func cleanAll(_ models: URL) -> [String] {
        let fm = FileManager.default
        let dir = staging(models)
        guard let names = try? fm.contentsOfDirectory(atPath: dir.path) else { return [] }
        let runs = names.filter { $0.hasPrefix("run-") || $0.hasPrefix(".run-") }
        for name in runs { try? fm.removeItem(at: dir.appendingPathComponent(name)) }
        return runs
    }

    static func versionName(run: Int64, date: Date = Date()) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return "run-\(run)-\(f.string(from: date))"
    }
}

enum TrainWorkerError: Error, CustomStringConvertible {
    case runNotRunnable(id: Int64, status: String)
    case noNewLabels(since: Int64)
    case tooFewEvalLabels(have: Int, need: Int)
    case labelsNotInModel(model: [String], missing: [String])
    case stopped(String)
    /// Another version serves than the one the run started from (an admin's rollback or activation won).
    case baseNoLongerServes(base: String, serving: String?)

    /// Why the run counts as cancelled rather than failed, for the errors that are an admin's doing.
    var cancellation: String? {
        if case .baseNoLongerServes = self { return description }
        return nil
    }

    var description: String {
        switch self {
        case let .runNotRunnable(id, status): return "run \(id) is \(status), not queued"
        case let .noNewLabels(since):
            return "no new train-split labels since label sequence \(since); add labels first"
        case let .tooFewEvalLabels(have, need):
            return "the frozen eval split has \(have) labels; the gate needs at least \(need) (training.min_eval_labels): add more labels"
        case let .labelsNotInModel(model, missing):
            return "the serving model's labels (\(model.joined(separator: ", "))) do not include \(missing.joined(separator: ", ")) (labels.names)"
        case let .stopped(why): return why
        case let .baseNoLongerServes(base, serving):
            return "cancelled before publishing: the run's base \(base) no longer serves (\(serving ?? "nothing") "
                + "was activated during the run: a rollback or an activation wins over the run)"
        }
    }
}

/// The training worker: one run, in its own (niced) process, so that a crash or an out-of-memory kill in
/// training never takes serving down. It reports through the database only.
///
/// Order of effects (what a kill at any point leaves):
/// 1. mark the run running; 2. train into `models/.staging/run-N` (written atomically by FineTuneJob);
/// 3. evaluate champion and candidate on the frozen eval split, record both; 4. gate; 5. if it passes, write the
/// manifest (naming the run), rename the folder into models/, fsync; 6. mark the run published or rejected.
/// A kill before 5 leaves only staging debris (removed at the daemon's next start; the run is marked failed).
/// A kill between the rename and 6 leaves a complete, manifest-verified version whose manifest names the run;
/// the daemon's recovery finds it and records the run as published.
public enum TrainWorker {
    public static func run(_ options: TrainWorkerOptions, logger: Logger) -> Int32 {
        TestHooks.role = "worker"
        // The daemon and this worker share the unit's memory limit: if it runs out, the kernel kills this process,
        // not the one serving (see ProcessLimits).
        if !ProcessLimits.preferOOMKill() {
            logger.warning("cannot raise the worker's oom_score_adj; an out-of-memory kill may hit the daemon instead")
        }
        if options.nice > 0 {
            errno = 0
            if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Int32(options.nice)) != 0 {
                logger.warning("cannot lower the worker's priority", metadata: ["errno": "\(errno)"])
            }
        }
        Parallel.workers = max(1, options.threads)
        let runs: RunStore
        let labels: LabelStore
        let versions: VersionStore
        do {
            let pool = try StoreDatabase.open(path: options.databasePath)
            runs = RunStore(pool: pool)
            labels = LabelStore(pool: pool)
            versions = VersionStore(pool: pool)
        } catch {
            logger.error("cannot open the database", metadata: ["error": "\(error)"])
            return 1
        }

        let control = TrainingControl()
        let stopReason = LockedBox<String?>(nil)
        func stop(_ why: String) {
            stopReason.withLock { if $0 == nil { $0 = why } }
            control.requestCancel()
        }
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let term = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        term.setEventHandler { stop("cancelled (train.cancel, or the daemon is stopping)") }
        term.resume()
        let intr = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        intr.setEventHandler { stop("interrupted (SIGINT)") }
        intr.resume()
        let parentWatch = DispatchSource.makeTimerSource(queue: .global())
        if let parent = options.parentPID {
            parentWatch.schedule(deadline: .now() + 1, repeating: 1)
            parentWatch.setEventHandler {
                if getppid() != parent { stop("the daemon (pid \(parent)) exited during the run") }
            }
            parentWatch.resume()
        }
        defer {
            term.cancel()
            intr.cancel()
            parentWatch.cancel()
        }

        let id = options.runID
        let models = options.modelsDirectory
        do {
            try execute(options, runs: runs, labels: labels, versions: versions, control: control,
                        stopReason: { stopReason.value }, logger: logger)
            return 0
        } catch {
            RunPaths.clean(models, run: id)
            let cancelled = stopReason.value ?? (error as? TrainWorkerError)?.cancellation
            let status: RunStatus = cancelled != nil ? .cancelled : .failed
            let reason = cancelled ?? "\(error)"
            do {
                try runs.finish(id: id, status: status, decision: nil, reason: reason, candidateVersion: nil,
                                error: cancelled == nil ? "\(error)" : nil)
            } catch RunStoreError.runFinished {
                // The daemon ended the run first (train.cancel, a rollback) and recorded why.
            } catch {
                logger.error("cannot record the run's end", metadata: ["run": "\(id)", "error": "\(error)"])
            }
            logger.error("training run ended without a candidate", metadata: ["run": "\(id)", "status": "\(status.rawValue)", "reason": "\(reason)"])
            return cancelled != nil ? 0 : 1
        }
    }

    /// The run, step by step (`WorkerRun`): the data, the champion's evaluation, training into staging, the gate,
    /// then publishing or rejecting.
    static func execute(_ options: TrainWorkerOptions, runs: RunStore, labels: LabelStore, versions: VersionStore,
                        control: TrainingControl, stopReason: @escaping () -> String?, logger: Logger) throws {
        var run = try WorkerRun(options: options, runs: runs, labels: labels, versions: versions, control: control,
                                stopReason: stopReason, logger: logger)
        let data = try run.selectData()
        let champion = try run.evaluateChampion(on: data)
        let candidateFolder = try run.train(on: data)
        let verdict = try run.judge(candidateFolder, data: data, champion: champion)
        guard verdict.decision.publish else {
            try run.reject(verdict)
            return
        }
        try run.publish(candidateFolder, data: data, verdict: verdict)
    }

    /// A split no evaluation was recorded on yet (an admin grew or changed it) starts its record with the best
    /// version of the last split, when it is still in the models directory and knows the same labels: otherwise a
    /// changed split would let the next candidates be judged against the champion alone again.
    static func carryOverBest(to split: String, champion: String, evalSet: [TrainingExample], modelLabels: [String],
                              run: Int64, loader: ModelLoader, options: (String) -> ModelLoadOptions, runs: RunStore,
                              logger: Logger) throws {
        guard try runs.versionsEvaluated(onSplit: split) == [champion],
              let previous = try runs.latestOtherSplit(than: split),
              let best = try runs.bestSplitEvaluation(split: previous), best.version != champion else { return }
        let folder = loader.modelsDirectory.appendingPathComponent(best.version)
        guard FileManager.default.fileExists(atPath: folder.path) else { return }
        do {
            let model = try loader.load(folder, options: options(best.version))
            // Its classes in the champion's order.
            let classes = LabelSet(modelLabels)
            let map = model.labels.map { classes.index(of: $0) }
            guard map.allSatisfy({ $0 != nil }), Set(map).count == map.count, model.labels.count == modelLabels.count else { return }
            let (_, predicted) = evaluate(model, evalSet, classes: modelLabels.count)
            let predictions = predicted.map { map[$0]! }
            let f1 = ClassificationMetrics(predictions: predictions, labels: evalSet.map(\.label),
                                           classCount: modelLabels.count).macroF1
            try runs.recordSplitEvaluation(SplitEvaluation(splitFingerprint: split, version: best.version, runID: run,
                                                           examples: evalSet.count, macroF1: f1, predictions: predictions))
            logger.notice("the eval split changed; the last split's best version joins the new split's record",
                          metadata: ["run": "\(run)", "model_version": "\(best.version)", "macro_f1": "\(f1)"])
        } catch {
            logger.warning("cannot evaluate the last split's best version on the new split", metadata: [
                "run": "\(run)", "model_version": "\(best.version)", "error": "\(error)",
            ])
        }
    }

    /// The precision the daemon serves `version` in: fp32 unless it serves int8, and then int8 unless the version's
    /// int8 check of its current files failed (a version not checked yet is judged in int8, what it serves once its
    /// check passes; one that failed serves, and is judged, in fp32). A candidate is judged in `options.precision`.
    static func servingPrecision(_ version: String, options: TrainWorkerOptions, versions: VersionStore) -> Precision {
        guard options.precision == .int8 else { return .fp32 }
        guard let record = try? versions.version(version), let check = record.int8Check,
              check.fingerprint == record.fingerprint, check.scheme == Int8Check.scheme else { return .int8 }
        return check.passed ? .int8 : .fp32
    }

    /// Metrics of `model` on `examples` (labels in the model's class order) and its predicted class per example.
    static func evaluate(_ model: SentimentModel, _ examples: [TrainingExample], classes: Int)
        -> (ClassificationMetrics, [Int]) {
        var logits: [[Float]] = []
        logits.reserveCapacity(examples.count)
        var start = 0
        while start < examples.count {
            let chunk = examples[start..<min(start + 64, examples.count)]
            logits += model.logits(encoded: chunk.map { model.encode($0.text) })
            start += chunk.count
        }
        return (ClassificationMetrics(logits: logits, labels: examples.map(\.label), classCount: classes),
                logits.map(ClassificationMetrics.predictedClass))
    }
}
