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
    public var runID: Int64
    public var databasePath: URL
    public var modelsDirectory: URL
    /// The version serving when the run was created: the starting point and the champion.
    public var baseVersion: String
    /// The daemon's pid: when the worker's parent is no longer this process, the run stops.
    public var parentPID: pid_t?
    public var nice: Int
    public var threads: Int
    /// Where adapter bases are looked up (models.base_directories).
    public var baseDirectories: [URL]

    public init(runID: Int64, databasePath: URL, modelsDirectory: URL, baseVersion: String, parentPID: pid_t?,
                nice: Int, threads: Int, baseDirectories: [URL] = []) {
        self.baseDirectories = baseDirectories
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

    static func execute(_ options: TrainWorkerOptions, runs: RunStore, labels: LabelStore, versions: VersionStore,
                        control: TrainingControl, stopReason: @escaping () -> String?, logger: Logger) throws {
        let id = options.runID
        let models = options.modelsDirectory
        guard let record = try runs.run(id: id) else { throw TrainWorkerError.runNotRunnable(id: id, status: "unknown") }
        guard record.status == .queued else { throw TrainWorkerError.runNotRunnable(id: id, status: record.status.rawValue) }
        let plan = try RunPlan.decode(record.recipe)
        let baseFolder = models.appendingPathComponent(options.baseVersion)

        // The champion: its labels fix the class order of everything below.
        let loader = ModelLoader(modelsDirectory: models, baseDirectories: options.baseDirectories)
        // Optional so it can be released before training (its weights are not needed again). Unpacked: the
        // evaluation runs in batches, where OpenBLAS serves, so packed copies would only cost memory.
        let evaluation = ModelLoadOptions(packWeights: false)
        var champion: SentimentModel? = try loader.load(baseFolder, options: evaluation)
        let modelLabels = champion!.labels
        let index = Dictionary(modelLabels.enumerated().map { ($1.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })
        let missing = plan.labels.filter { index[$0.lowercased()] == nil }
        guard missing.isEmpty else { throw TrainWorkerError.labelsNotInModel(model: modelLabels, missing: missing) }

        // Data: new train labels + a replay sample of older ones; the frozen eval split.
        let since = try runs.lastCompletedRun()?.labelSeqHigh ?? 0
        let selection = try labels.trainingSelection(newerThan: since, replayRatio: plan.recipe.replayRatio ?? 1,
                                                     seed: UInt64(bitPattern: id), maxNew: nil)
        guard !selection.newExamples.isEmpty else { throw TrainWorkerError.noNewLabels(since: since) }
        let evalRows = try labels.evalSet()
        func examples(_ rows: [LabelRow]) -> [TrainingExample] {
            rows.compactMap { r in index[r.label.lowercased()].map { TrainingExample(text: r.text, label: $0, line: Int(r.id)) } }
        }
        let trainSet = examples(selection.newExamples + selection.replay)
        let evalSet = examples(evalRows)
        guard evalSet.count >= plan.minEvalLabels else {
            throw TrainWorkerError.tooFewEvalLabels(have: evalSet.count, need: plan.minEvalLabels)
        }
        let fingerprint = DataFingerprint.of(trainSet, labels: LabelSet(modelLabels))
        // Whose labels the run learns from (`runs show`), counted over the examples it trains on.
        var byUID: [String: Int] = [:]
        for row in selection.newExamples + selection.replay where index[row.label.lowercased()] != nil {
            byUID[String(row.uid), default: 0] += 1
        }
        try runs.markRunning(id: id, pid: getpid(), baseVersion: options.baseVersion,
                             trainExamples: trainSet.count, newExamples: selection.newExamples.count,
                             replayExamples: selection.replay.count, evalExamples: evalSet.count,
                             labelSeqHigh: selection.highSeq, dataFingerprint: fingerprint,
                             labelUIDs: String(decoding: try JSONEncoder.sorted.encode(byUID), as: UTF8.self))
        logger.notice("training run started", metadata: [
            "run": "\(id)", "base": "\(options.baseVersion)", "new": "\(selection.newExamples.count)",
            "replay": "\(selection.replay.count)", "eval": "\(evalSet.count)",
        ])

        // Champion on the eval split (before training: a broken champion fails the run early). It is a version
        // that was served, so it joins the split's record; on a split no run has seen yet, the best version of the
        // last split is evaluated too, so the record does not start again from the champion.
        let split = DataFingerprint.of(evalSet, labels: LabelSet(modelLabels))
        let evalLabels = evalSet.map(\.label)
        let (championMetrics, championPredictions) = evaluate(champion!, evalSet, classes: modelLabels.count)
        champion = nil
        try runs.recordSplitEvaluation(SplitEvaluation(splitFingerprint: split, version: options.baseVersion, runID: id,
                                                       examples: evalSet.count, macroF1: championMetrics.macroF1,
                                                       predictions: championPredictions))
        try carryOverBest(to: split, champion: options.baseVersion, evalSet: evalSet, modelLabels: modelLabels, run: id,
                          loader: loader, options: evaluation, runs: runs, logger: logger)

        // Train into staging.
        try FileManager.default.createDirectory(at: RunPaths.staging(models), withIntermediateDirectories: true)
        RunPaths.clean(models, run: id)
        let candidateFolder = RunPaths.candidate(models, run: id)
        let continues = AdapterFolder.isAdapter(baseFolder) && plan.recipe.method == "lora" ? try AdapterFolder.readConfig(baseFolder) : nil
        var job = FineTuneJob(baseFolder: baseFolder, outputFolder: candidateFolder,
                              train: .examples(trainSet, source: "run \(id): \(selection.newExamples.count) new + \(selection.replay.count) replayed labels"),
                              validation: .examples(evalSet, source: "frozen eval split"),
                              recipe: plan.trainingRecipe(runID: id, continuesAdapter: continues))
        job.workDirectory = RunPaths.work(models, run: id)
        job.baseResolver = { name in try loader.resolveBase(name, adapter: baseFolder) }
        var lastProgress = 0.0
        // The training curve (`runs show --plot`): a point every few steps, the mean loss of the steps since the last.
        var curveLoss = 0.0, curveSteps = 0
        let outcome = try job.run(control: control) { event in
            switch event {
            case let .progress(p):
                curveLoss += Double(p.loss)
                curveSteps += 1
                if p.step % RunStore.curveStride(totalSteps: p.totalSteps) == 0 || p.step == p.totalSteps {
                    try? runs.recordCurvePoint(id: id, RunCurvePoint(step: p.step, epoch: p.epoch,
                                                                     loss: curveLoss / Double(curveSteps),
                                                                     lr: Double(p.learningRate), gradNorm: Double(p.gradNorm)))
                    curveLoss = 0
                    curveSteps = 0
                }
                let now = Date().timeIntervalSince1970
                guard now - lastProgress >= 1 || p.step == p.totalSteps else { return }
                lastProgress = now
                try? runs.updateProgress(id: id, step: p.step, totalSteps: p.totalSteps, epoch: p.epoch,
                                         loss: Double(p.loss), lr: Double(p.learningRate),
                                         examplesPerSecond: p.examplesPerSecond, etaSeconds: p.etaSeconds)
            case let .epochEnd(record, _):
                try? runs.recordEpoch(id: id, epoch: record.epoch, trainLoss: record.trainLoss,
                                      metricsJSON: record.validation.map { EvalMetrics($0).json() } ?? "{}")
            case let .message(m):
                logger.info("\(m)", metadata: ["run": "\(id)"])
            case .checkpoint:
                break
            }
        }
        guard case .completed = outcome else {
            throw TrainWorkerError.stopped(stopReason() ?? "training was interrupted")
        }
        if let why = stopReason() { throw TrainWorkerError.stopped(why) }

        // The candidate as written (what would be served), on the same split, against the champion and the best
        // version published so far on this split (`PromotionGate`).
        let candidate = try loader.load(candidateFolder, options: evaluation)
        let (candidateMetrics, candidatePredictions) = evaluate(candidate, evalSet, classes: modelLabels.count)
        var references = [PromotionGate.Reference(version: options.baseVersion, role: "champion",
                                                  predictions: championPredictions)]
        if let best = try runs.bestSplitEvaluation(split: split) {
            if best.version == options.baseVersion {
                references[0].role = "champion, best"
            } else {
                references.append(PromotionGate.Reference(version: best.version, role: "best", predictions: best.predictions))
            }
        }
        let gate = PromotionGate(tolerance: plan.gateTolerance, confidence: plan.gateConfidence ?? 0.95)
        let seed = PromotionGate.seed(splitFingerprint: split)
        let decision = gate.decide(candidate: candidatePredictions, references: references, labels: evalLabels,
                                   classes: modelLabels.count, seed: seed)
        let report = GateReport(publish: decision.publish, tolerance: gate.tolerance, confidence: gate.confidence,
                                resamples: gate.resamples, seed: seed, examples: evalSet.count,
                                minExamples: plan.minEvalLabels, splitFingerprint: split,
                                comparisons: decision.comparisons)
        try runs.recordEvaluation(id: id, championMetricsJSON: EvalMetrics(championMetrics).json(),
                                  candidateMetricsJSON: EvalMetrics(candidateMetrics).json(),
                                  championF1: championMetrics.macroF1, candidateF1: candidateMetrics.macroF1,
                                  gateJSON: String(decoding: try JSONEncoder.sorted.encode(report), as: UTF8.self))
        logger.notice("gate", metadata: ["run": "\(id)", "publish": "\(decision.publish)", "reason": "\(decision.reason)"])
        guard decision.publish else {
            RunPaths.clean(models, run: id)
            try runs.finish(id: id, status: .rejected, decision: .rejected, reason: decision.reason, candidateVersion: nil, error: nil)
            return
        }

        // Publish: manifest, then one rename into models/.
        try CheckpointManifest.write(into: candidateFolder, parent: options.baseVersion, run: Int(id),
                                     dataFingerprint: fingerprint,
                                     metrics: ["eval_macro_f1": candidateMetrics.macroF1, "eval_accuracy": candidateMetrics.accuracy,
                                               "eval_macro_recall": candidateMetrics.macroRecall,
                                               "champion_eval_macro_f1": championMetrics.macroF1])
        if let why = stopReason() { throw TrainWorkerError.stopped(why) }
        guard try runs.run(id: id)?.status == .running else {
            throw TrainWorkerError.stopped("the run was ended by the daemon before publishing")
        }
        testPause("before-publish")
        // Rollback wins: the candidate is a child of the base; if an admin made another version serve meanwhile,
        // it is not published (the daemon cancels the run too, and its registry would not activate it).
        let serving = try versions.latestActivation()?.version
        guard serving == options.baseVersion else {
            throw TrainWorkerError.baseNoLongerServes(base: options.baseVersion, serving: serving)
        }
        let version = RunPaths.versionName(run: id)
        let destination = models.appendingPathComponent(version)
        guard rename(candidateFolder.path, destination.path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [
                NSFilePathErrorKey: destination.path, NSLocalizedDescriptionKey: String(cString: strerror(errno)),
            ])
        }
        let dir = open(models.path, O_RDONLY | O_DIRECTORY)
        if dir >= 0 { _ = fsync(dir); close(dir) }
        testPause("after-publish")
        RunPaths.clean(models, run: id)
        // Published: from now on the version the gate's later runs must not fall below.
        try? runs.recordSplitEvaluation(SplitEvaluation(splitFingerprint: split, version: version, runID: id,
                                                        examples: evalSet.count, macroF1: candidateMetrics.macroF1,
                                                        predictions: candidatePredictions))
        try runs.finish(id: id, status: .published, decision: .published, reason: decision.reason,
                        candidateVersion: version, error: nil)
        logger.notice("candidate published", metadata: ["run": "\(id)", "model_version": "\(version)"])
    }

    /// Test hook for the kill tests: when SENTIMENTD_TEST_WORKER_PAUSE names this point, write the file
    /// SENTIMENTD_TEST_WORKER_PAUSE_FILE and wait there until killed. Points: before-publish (manifest written in
    /// staging, not yet renamed), after-publish (renamed into models/, run not yet marked).
    static func testPause(_ point: String) {
        let env = ProcessInfo.processInfo.environment
        guard env["SENTIMENTD_TEST_WORKER_PAUSE"] == point else { return }
        if let file = env["SENTIMENTD_TEST_WORKER_PAUSE_FILE"] {
            _ = FileManager.default.createFile(atPath: file, contents: Data(point.utf8))  // the test polls for it
        }
        while true { sleep(3600) }
    }

    /// A split no evaluation was recorded on yet (an admin grew or changed it) starts its record with the best
    /// version of the last split, when it is still in the models directory and knows the same labels: otherwise a
    /// changed split would let the next candidates be judged against the champion alone again.
    static func carryOverBest(to split: String, champion: String, evalSet: [TrainingExample], modelLabels: [String],
                              run: Int64, loader: ModelLoader, options: ModelLoadOptions, runs: RunStore,
                              logger: Logger) throws {
        guard try runs.versionsEvaluated(onSplit: split) == [champion],
              let previous = try runs.latestOtherSplit(than: split),
              let best = try runs.bestSplitEvaluation(split: previous), best.version != champion else { return }
        let folder = loader.modelsDirectory.appendingPathComponent(best.version)
        guard FileManager.default.fileExists(atPath: folder.path) else { return }
        do {
            let model = try loader.load(folder, options: options)
            // Its classes in the champion's order.
            let order = modelLabels.map { $0.lowercased() }
            let map = model.labels.map { order.firstIndex(of: $0.lowercased()) }
            guard map.allSatisfy({ $0 != nil }), model.labels.count == modelLabels.count else { return }
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
