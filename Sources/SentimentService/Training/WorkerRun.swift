import Foundation
import Logging
import SentimentCore
import SentimentEngine
import SentimentProtocol
import SentimentStore
import SentimentTraining

/// One training run inside `sentimentd train-worker`, step by step (`TrainWorker.execute` calls them in order; see
/// `TrainWorker` for what a kill after each step leaves).
struct WorkerRun {
    let options: TrainWorkerOptions
    let runs: RunStore
    let labels: LabelStore
    let versions: VersionStore
    let control: TrainingControl
    let stopReason: () -> String?
    let logger: Logger

    let plan: RunPlan
    let baseFolder: URL
    let loader: ModelLoader
    /// The champion's labels: they fix the class order of everything below.
    let modelLabels: [String]
    /// The precision the champion serves in (`TrainWorker.servingPrecision`): the gate judges what users get.
    let championPrecision: Precision
    /// Released after its evaluation (its weights are not needed while training).
    private var champion: SentimentModel?

    var id: Int64 { options.runID }
    var models: URL { options.modelsDirectory }

    /// The run's examples: new train labels plus a replay sample of older ones, and the frozen eval split.
    struct RunData {
        let selection: LabelSelection
        let trainSet: [TrainingExample]
        let evalSet: [TrainingExample]
        let fingerprint: String
        /// The eval split's fingerprint: the key of its evaluation record.
        let split: String
    }

    /// What the gate decided about the candidate.
    struct Verdict {
        let championMetrics: ClassificationMetrics
        let candidateMetrics: ClassificationMetrics
        let candidatePredictions: [Int]
        let decision: PromotionGate.Decision
    }

    /// Reads the queued run and its plan, and loads the champion (the version serving when the run was created).
    init(options: TrainWorkerOptions, runs: RunStore, labels: LabelStore, versions: VersionStore,
         control: TrainingControl, stopReason: @escaping () -> String?, logger: Logger) throws {
        self.options = options
        self.runs = runs
        self.labels = labels
        self.versions = versions
        self.control = control
        self.stopReason = stopReason
        self.logger = logger
        let id = options.runID
        guard let record = try runs.run(id: id) else { throw TrainWorkerError.runNotRunnable(id: id, status: "unknown") }
        guard record.status == .queued else { throw TrainWorkerError.runNotRunnable(id: id, status: record.status.rawValue) }
        plan = try RunPlan.decode(record.recipe)
        baseFolder = options.modelsDirectory.appendingPathComponent(options.baseVersion)
        loader = ModelLoader(modelsDirectory: options.modelsDirectory, baseDirectories: options.baseDirectories)
        championPrecision = TrainWorker.servingPrecision(options.baseVersion, options: options, versions: versions)
        let champion = try loader.load(baseFolder, options: Self.evaluation(championPrecision))
        self.champion = champion
        modelLabels = champion.labels
    }

    /// How a model is loaded to be evaluated, in the precision it serves in. Unpacked: the evaluation runs in batches,
    /// where OpenBLAS serves, so packed copies would only cost memory.
    static func evaluation(_ precision: Precision) -> ModelLoadOptions {
        ModelLoadOptions(packWeights: false, precision: precision)
    }

    /// The champion's classes: a stored label name resolves to one by the rule every label takes (`LabelSet`).
    private var classes: LabelSet { LabelSet(modelLabels) }

    /// Selects the run's data, checks it is enough, and marks the run running (with whose labels it learns from).
    func selectData() throws -> RunData {
        let classes = self.classes
        let missing = plan.labels.filter { classes.index(of: $0) == nil }
        guard missing.isEmpty else { throw TrainWorkerError.labelsNotInModel(model: modelLabels, missing: missing) }
        let since = try runs.lastCompletedRun()?.labelSeqHigh ?? 0
        let selection = try labels.trainingSelection(newerThan: since, replayRatio: plan.recipe.replayRatio ?? 1,
                                                     seed: UInt64(bitPattern: id), maxNew: nil)
        guard !selection.newExamples.isEmpty else { throw TrainWorkerError.noNewLabels(since: since) }
        func examples(_ rows: [LabelRow]) -> [TrainingExample] {
            rows.compactMap { r in classes.index(of: r.label).map { TrainingExample(text: r.text, label: $0, line: Int(r.id)) } }
        }
        let trainSet = examples(selection.newExamples + selection.replay)
        let evalSet = examples(try labels.evalSet())
        guard evalSet.count >= plan.minEvalLabels else {
            throw TrainWorkerError.tooFewEvalLabels(have: evalSet.count, need: plan.minEvalLabels)
        }
        let data = RunData(selection: selection, trainSet: trainSet, evalSet: evalSet,
                        fingerprint: DataFingerprint.of(trainSet, labels: classes),
                        split: DataFingerprint.of(evalSet, labels: classes))
        // Whose labels the run learns from (`runs show`), counted over the examples it trains on.
        var byUID: [String: Int] = [:]
        for row in selection.newExamples + selection.replay where classes.index(of: row.label) != nil {
            byUID[String(row.uid), default: 0] += 1
        }
        try runs.markRunning(id: id, pid: getpid(), baseVersion: options.baseVersion,
                             trainExamples: trainSet.count, newExamples: selection.newExamples.count,
                             replayExamples: selection.replay.count, evalExamples: evalSet.count,
                             labelSeqHigh: selection.highSeq, dataFingerprint: data.fingerprint,
                             labelUIDs: String(decoding: try JSONEncoder.sorted.encode(byUID), as: UTF8.self))
        logger.notice("training run started", metadata: [
            "run": "\(id)", "base": "\(options.baseVersion)", "new": "\(selection.newExamples.count)",
            "replay": "\(selection.replay.count)", "eval": "\(evalSet.count)",
        ])
        return data
    }

    /// The champion on the eval split (before training: a broken champion fails the run early), then released. It is
    /// a version that was served, so it joins the split's record; on a split no run has seen yet, the best version of
    /// the last split is evaluated too, so the record does not start again from the champion.
    mutating func evaluateChampion(on data: RunData) throws -> (ClassificationMetrics, [Int]) {
        guard let champion else { preconditionFailure("the champion is evaluated once") }
        let (metrics, predictions) = TrainWorker.evaluate(champion, data.evalSet, classes: modelLabels.count)
        self.champion = nil
        try runs.recordSplitEvaluation(SplitEvaluation(splitFingerprint: data.split, version: options.baseVersion,
                                                       runID: id, examples: data.evalSet.count,
                                                       macroF1: metrics.macroF1, predictions: predictions))
        try TrainWorker.carryOverBest(to: data.split, champion: options.baseVersion, evalSet: data.evalSet,
                                      modelLabels: modelLabels, run: id, loader: loader,
                                      options: { [options, versions] in
                                          Self.evaluation(TrainWorker.servingPrecision($0, options: options, versions: versions))
                                      },
                                      runs: runs, logger: logger)
        return (metrics, predictions)
    }

    /// Fine-tunes into `models/.staging/run-N`, recording progress and per-epoch metrics. Returns the candidate's folder.
    func train(on data: RunData) throws -> URL {
        try FileManager.default.createDirectory(at: RunPaths.staging(models), withIntermediateDirectories: true)
        RunPaths.clean(models, run: id)
        let candidateFolder = RunPaths.candidate(models, run: id)
        let continues = AdapterFolder.isAdapter(baseFolder) && plan.recipe.method == "lora" ? try AdapterFolder.readConfig(baseFolder) : nil
        let source = "run \(id): \(data.selection.newExamples.count) new + \(data.selection.replay.count) replayed labels"
        var job = FineTuneJob(baseFolder: baseFolder, outputFolder: candidateFolder,
                              train: .examples(data.trainSet, source: source),
                              validation: .examples(data.evalSet, source: "frozen eval split"),
                              recipe: plan.trainingRecipe(runID: id, continuesAdapter: continues))
        job.workDirectory = RunPaths.work(models, run: id)
        let loader = self.loader, baseFolder = self.baseFolder, runs = self.runs, id = self.id, logger = self.logger
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
                    try? runs.recordCurvePoint(id: id, TrainingCurvePoint(step: p.step, epoch: p.epoch,
                                                                         loss: curveLoss / Double(curveSteps),
                                                                         learningRate: Double(p.learningRate),
                                                                         gradNorm: Double(p.gradNorm)))
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
        return candidateFolder
    }

    /// The candidate as written (what would be served), on the same split, against the champion and the best version
    /// published so far on this split (`PromotionGate`); both evaluations and the gate's numbers are recorded.
    func judge(_ candidateFolder: URL, data: RunData, champion: (metrics: ClassificationMetrics, predictions: [Int]))
        throws -> Verdict {
        let candidate = try loader.load(candidateFolder, options: Self.evaluation(options.precision))
        let (candidateMetrics, candidatePredictions) = TrainWorker.evaluate(candidate, data.evalSet,
                                                                            classes: modelLabels.count)
        var references = [PromotionGate.Reference(version: options.baseVersion, role: "champion",
                                                  predictions: champion.predictions)]
        if let best = try runs.bestSplitEvaluation(split: data.split) {
            if best.version == options.baseVersion {
                references[0].role = "champion, best"
            } else {
                references.append(PromotionGate.Reference(version: best.version, role: "best", predictions: best.predictions))
            }
        }
        let gate = PromotionGate(tolerance: plan.gateTolerance, confidence: plan.gateConfidence ?? 0.95)
        let seed = PromotionGate.seed(splitFingerprint: data.split)
        let decision = gate.decide(candidate: candidatePredictions, references: references,
                                   labels: data.evalSet.map(\.label), classes: modelLabels.count, seed: seed)
        let report = GateReport(publish: decision.publish, tolerance: gate.tolerance, confidence: gate.confidence,
                                resamples: gate.resamples, seed: seed, examples: data.evalSet.count,
                                minExamples: plan.minEvalLabels, splitFingerprint: data.split,
                                comparisons: decision.comparisons)
        try runs.recordEvaluation(id: id, championMetricsJSON: EvalMetrics(champion.metrics, precision: championPrecision).json(),
                                  candidateMetricsJSON: EvalMetrics(candidateMetrics, precision: options.precision).json(),
                                  championF1: champion.metrics.macroF1, candidateF1: candidateMetrics.macroF1,
                                  gateJSON: String(decoding: try JSONEncoder.sorted.encode(report), as: UTF8.self))
        logger.notice("gate", metadata: ["run": "\(id)", "publish": "\(decision.publish)", "reason": "\(decision.reason)",
                                         "champion_precision": "\(championPrecision.rawValue)",
                                         "candidate_precision": "\(options.precision.rawValue)"])
        return Verdict(championMetrics: champion.metrics, candidateMetrics: candidateMetrics,
                       candidatePredictions: candidatePredictions, decision: decision)
    }

    /// The gate said no: staging is emptied and the run recorded as rejected, with the reason.
    func reject(_ verdict: Verdict) throws {
        RunPaths.clean(models, run: id)
        try runs.finish(id: id, status: .rejected, decision: .rejected, reason: verdict.decision.reason,
                        candidateVersion: nil, error: nil)
    }

    /// Manifest, then one rename into models/ (unless the run was stopped or another version serves meanwhile), then
    /// the records: the published version joins the split's record and the run is marked published.
    func publish(_ candidateFolder: URL, data: RunData, verdict: Verdict) throws {
        let candidate = verdict.candidateMetrics
        try CheckpointManifest.write(into: candidateFolder, parent: options.baseVersion, run: Int(id),
                                     dataFingerprint: data.fingerprint,
                                     metrics: ["eval_macro_f1": candidate.macroF1, "eval_accuracy": candidate.accuracy,
                                               "eval_macro_recall": candidate.macroRecall,
                                               "champion_eval_macro_f1": verdict.championMetrics.macroF1])
        if let why = stopReason() { throw TrainWorkerError.stopped(why) }
        guard try runs.run(id: id)?.status == .running else {
            throw TrainWorkerError.stopped("the run was ended by the daemon before publishing")
        }
        TestHooks.pause("before-publish")
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
        TestHooks.pause("after-publish")
        RunPaths.clean(models, run: id)
        // Published: from now on the version the gate's later runs must not fall below.
        try? runs.recordSplitEvaluation(SplitEvaluation(splitFingerprint: data.split, version: version, runID: id,
                                                        examples: data.evalSet.count, macroF1: candidate.macroF1,
                                                        predictions: verdict.candidatePredictions))
        try runs.finish(id: id, status: .published, decision: .published, reason: verdict.decision.reason,
                        candidateVersion: version, error: nil)
        logger.notice("candidate published", metadata: ["run": "\(id)", "model_version": "\(version)"])
    }
}
