#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import SentimentCore
import SentimentEngine

/// What can stop a run. Each case says what happened and what to do.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
    /// A setting out of its range or at odds with the model; the description names the setting by its key, each
    /// front end in its own words (`sentimentd finetune` by its flag).
    case badSetting(TrainingSetting, reason: String)
    case noTrainingExamples
    case labelsDifferFromHead(folder: String, head: [String], requested: [String])
    case freezeTooMuch(layers: Int, requested: Int)
    case nonFiniteLoss(step: Int, epoch: Int, lastCheckpoint: String?)
    case nonFiniteGradient(step: Int, epoch: Int, lastCheckpoint: String?)
    case noCheckpoint(path: String)
    case checkpointExists(directory: String)
    case checkpointMismatch(path: String, reasons: [String])
    case badCheckpoint(path: String, reason: String)
    case outputExists(path: String)
    case badExampleLabel(set: String, index: Int, label: Int, classes: Int)
    case workDirectoryBusy(path: String)

    public var description: String {
        func resumeHint(_ checkpoint: String?) -> String {
            checkpoint.map { "; the last good checkpoint is kept at \($0) (resume with --resume, perhaps with a lower --lr)" }
                ?? "; no checkpoint was written yet (try a lower --lr)"
        }
        switch self {
        case let .badSetting(setting, reason): return "training setting \(setting.key) \(reason)"
        case .noTrainingExamples: return "there are no training examples"
        case let .labelsDifferFromHead(folder, head, requested):
            return "\(folder): the checkpoint's head is trained for labels \(head) but \(requested) were asked for; "
                + "pass --new-head to train a new head for them"
        case let .freezeTooMuch(layers, requested):
            return "training setting freeze_layers is \(requested), but the model has \(layers) layers"
        case let .nonFiniteLoss(step, epoch, checkpoint):
            return "the training loss became NaN or infinite at step \(step) (epoch \(epoch)); training stopped" + resumeHint(checkpoint)
        case let .nonFiniteGradient(step, epoch, checkpoint):
            return "the gradient norm became NaN or infinite at step \(step) (epoch \(epoch)); training stopped" + resumeHint(checkpoint)
        case let .noCheckpoint(path): return "\(path): no checkpoint to resume from (run without --resume to start afresh)"
        case let .checkpointExists(directory):
            return "\(directory) holds the checkpoint of an earlier run: continue it with --resume, or remove the directory to start afresh"
        case let .checkpointMismatch(path, reasons):
            return "\(path) was written by a different run: " + reasons.joined(separator: "; ")
                + " (use the same options and data to resume, or remove the checkpoint to start afresh)"
        case let .badCheckpoint(path, reason): return "\(path): unusable checkpoint: \(reason)"
        case let .outputExists(path): return "\(path) already exists (choose another --out, or pass --overwrite to replace it)"
        case let .badExampleLabel(set, index, label, classes):
            return "\(set) example \(index): label index \(label) is outside 0..<\(classes)"
        case let .workDirectoryBusy(path):
            return "\(path) is in use by another training run (one run per work directory)"
        }
    }
}

/// An exclusive flock(2) on `<work>/lock` for the duration of a run: two processes never train into
/// one work directory. The kernel drops it when the process dies, so a crash leaves no stale lock.
final class WorkDirectoryLock {
    private var fd: Int32

    init(_ directory: URL) throws {
        let path = directory.appendingPathComponent("lock").path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw TrainingError.badCheckpoint(path: path, reason: "cannot open the lock file: \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw TrainingError.workDirectoryBusy(path: directory.path)
        }
    }

    func release() {
        if fd >= 0 { close(fd); fd = -1 }
    }

    deinit { release() }
}

/// Requests from outside the training loop (a signal handler's queue, the daemon's `train.cancel`),
/// checked between optimizer steps. Thread-safe.
public final class TrainingControl: @unchecked Sendable {
    private let lock = NSLock()
    private var stopReason: String?
    private var cancelled = false

    public init() {}

    /// Finish early but normally: evaluate what has been trained, keep the best epoch, write the output.
    public func requestStop(reason: String = "stopped on request") {
        lock.lock(); defer { lock.unlock() }
        if stopReason == nil { stopReason = reason }
    }

    /// Interrupt: write a resumable checkpoint and return `.interrupted` (SIGINT, `train.cancel`).
    public func requestCancel() {
        lock.lock(); defer { lock.unlock() }
        cancelled = true
    }

    public var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return cancelled }
    public var requestedStop: String? { lock.lock(); defer { lock.unlock() }; return stopReason }
}

/// One optimizer step as seen from outside.
public struct TrainingProgress: Sendable, Equatable {
    /// 1-based epoch in progress, of `epochs`.
    public var epoch: Int
    public var epochs: Int
    /// Optimizer steps completed, of `totalSteps`.
    public var step: Int
    public var totalSteps: Int
    /// Mean loss of this step's examples, and over the epoch so far.
    public var loss: Float
    public var epochLoss: Double
    /// The rate this step used.
    public var learningRate: Float
    /// Global gradient norm before clipping.
    public var gradNorm: Float
    /// Training examples per second of training time (evaluation excluded) in this session.
    public var examplesPerSecond: Double
    /// Seconds of training left at this session's pace (evaluations not included).
    public var etaSeconds: Double
}

/// What a run reports while it works.
public enum TrainingEvent: Sendable {
    case progress(TrainingProgress)
    /// Validation after an epoch (or after a stop request mid-epoch).
    case epochEnd(EpochRecord, isBest: Bool)
    case checkpoint(URL, step: Int)
    /// Human-readable notes: the head that was created, a resume, early stopping.
    case message(String)
}

public enum TrainingOutcome {
    case completed(TrainingResult)
    /// Cancelled: a resumable checkpoint was written.
    case interrupted(checkpoint: URL, step: Int, totalSteps: Int)
}

public struct TrainingResult {
    /// The trained model's weights: the best epoch's when there was validation data, else the last.
    public let weights: EncoderWeights
    public let history: [EpochRecord]
    public let bestEpoch: Int?
    public let test: ClassificationMetrics?
    public let steps: Int
    public let totalSteps: Int
    public let warmupSteps: Int
    /// Set when the run ended before its last epoch, with the reason.
    public let stoppedEarly: String?
    public let trainSeconds: Double
    public let evalSeconds: Double
    public let examplesSeen: Int
    public let sessions: Int
    /// LoRA runs: the trained adapters (over `weights`' frozen encoder, whose head they share).
    public var lora: LoRAWeights? = nil
}

/// The training loop: length-bucketed shuffled batches, gradient accumulation, clipping, AdamW with a
/// linear warm-up/decay schedule, validation after each epoch with the best epoch kept by macro-F1,
/// TensorBoard scalars, resumable checkpoints, and stop/cancel requests honoured between steps.
///
/// Randomness: batch order of epoch e uses stream (seed, epochOrder, e); the dropout of the n-th
/// forward/backward pass of the run uses (seed, dropout, n). A resumed run therefore draws exactly what
/// the uninterrupted run would have drawn, and ends with the same weights.
public final class Trainer {
    public let base: FineTuneBase
    public let recipe: TrainingRecipe
    /// The training examples actually used (after `recipe.subset`).
    public let train: [TrainingExample]
    public let validation: [TrainingExample]?
    public let test: [TrainingExample]?
    public let workDirectory: URL
    public let logDirectory: URL
    public let control: TrainingControl
    public var observer: ((TrainingEvent) -> Void)?

    public let trainFingerprint: String
    public let validationFingerprint: String?
    let textEncoder: TextEncoder

    public init(base: FineTuneBase, recipe: TrainingRecipe, train: [TrainingExample], validation: [TrainingExample]?,
                test: [TrainingExample]? = nil, workDirectory: URL, logDirectory: URL? = nil,
                control: TrainingControl = TrainingControl(), observer: ((TrainingEvent) -> Void)? = nil) throws {
        try recipe.validate()
        if (recipe.method == .lora) != (base.lora != nil) {
            throw TrainingError.badSetting(.method, reason: recipe.method == .lora
                ? "lora needs a base loaded with FineTuneBase.loadForLoRA"
                : "full cannot train a base loaded for LoRA")
        }
        if recipe.freezeLayers > base.config.numLayers {
            throw TrainingError.freezeTooMuch(layers: base.config.numLayers, requested: recipe.freezeLayers)
        }
        if case let .explicit(w) = recipe.classWeighting, w.count != base.config.numLabels {
            throw TrainingError.badSetting(.classWeights,
                                          reason: "needs one weight per label (\(base.config.numLabels): \(base.config.id2label.joined(separator: ", ")))")
        }
        let used = recipe.subset.map { Array(train.prefix($0)) } ?? train
        guard !used.isEmpty else { throw TrainingError.noTrainingExamples }
        let k = base.config.numLabels
        for (name, set) in [("training", used), ("validation", validation ?? []), ("test", test ?? [])] {
            if let i = set.firstIndex(where: { !(0..<k).contains($0.label) }) {
                throw TrainingError.badExampleLabel(set: name, index: i, label: set[i].label, classes: k)
            }
        }
        self.base = base
        self.recipe = recipe
        self.train = used
        self.validation = validation?.isEmpty == true ? nil : validation
        self.test = test?.isEmpty == true ? nil : test
        self.workDirectory = workDirectory
        self.logDirectory = logDirectory ?? workDirectory.appendingPathComponent("logs")
        self.control = control
        self.observer = observer
        trainFingerprint = DataFingerprint.of(used, labels: base.labels)
        validationFingerprint = self.validation.map { DataFingerprint.of($0, labels: base.labels) }
        textEncoder = TextEncoder(tokenizer: base.tokenizer, config: base.config, maxLength: recipe.maxLength,
                                  normalizeTweets: recipe.normalizeTweets)
    }

    public var checkpointURL: URL { workDirectory.appendingPathComponent(TrainingCheckpoint.fileName) }

    /// Optimizer steps of one epoch of `count` examples.
    public static func stepsPerEpoch(examples count: Int, recipe: TrainingRecipe) -> Int {
        let batches = (count + recipe.batchSize - 1) / recipe.batchSize
        return (batches + recipe.gradientAccumulation - 1) / recipe.gradientAccumulation
    }

    /// Trains. `resume`: continue from the work directory's checkpoint (which must exist and match this
    /// run's data and recipe); otherwise the work directory must not hold one.
    public func run(resume: Bool = false) throws -> TrainingOutcome {
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        let lock = try WorkDirectoryLock(workDirectory)
        defer { lock.release() }
        let cfg = base.config
        let k = cfg.numLabels
        let trainIds = textEncoder.encode(train.map(\.text))
        let trainLabels = train.map(\.label)
        let lengths = trainIds.map(\.count)
        let valIds = validation.map { textEncoder.encode($0.map(\.text)) }

        let model: TrainableModel
        if let lora = base.lora {
            model = TrainableModel(weights: base.weights, lora: lora, loraDropout: lora.config.dropout)
        } else {
            model = TrainableModel(weights: base.weights, freezeEmbeddings: recipe.freezeEmbeddings,
                                   freezeLayers: recipe.freezeLayers)
        }
        // LoRA: checkpoints hold the trained tensors only, never the frozen (maybe shared) base.
        // What checkpoints hold: every weight of a full run; only the trained tensors of a LoRA run.
        let checkpointBuffers = base.lora == nil ? model.weights.namedBuffers : TrainingCheckpoint.trainedBuffers(model.parameters)
        var adam = AdamW(learningRate: recipe.learningRate, beta1: recipe.adamBeta1, beta2: recipe.adamBeta2,
                         eps: recipe.adamEpsilon, weightDecay: recipe.weightDecay)
        let perEpoch = Self.stepsPerEpoch(examples: train.count, recipe: recipe)
        let total = perEpoch * recipe.epochs
        let warmup = Int((Double(total) * recipe.warmupRatio).rounded(.up))

        var state: TrainerState
        if resume {
            let (saved, file) = try TrainingCheckpoint.load(directory: workDirectory)
            var reasons = recipe.resumeConflicts(with: saved.recipe)
            if saved.trainFingerprint != trainFingerprint || saved.trainCount != train.count {
                reasons.append("the training data differ (fingerprint \(saved.trainFingerprint.prefix(12))…, now \(trainFingerprint.prefix(12))…)")
            }
            if saved.validationFingerprint != validationFingerprint {
                reasons.append("the validation data differ")
            }
            if saved.labels != cfg.id2label { reasons.append("labels: checkpoint \(saved.labels), now \(cfg.id2label)") }
            if saved.totalSteps != total { reasons.append("total steps: checkpoint \(saved.totalSteps), now \(total)") }
            if !reasons.isEmpty { throw TrainingError.checkpointMismatch(path: file.path, reasons: reasons) }
            try TrainingCheckpoint.restore(from: file, buffers: checkpointBuffers, optimizer: &adam, parameters: model.parameters)
            state = saved
            state.recipe = recipe
            state.sessions += 1
            emit(.message("resuming from \(file.path) at step \(state.step) of \(total) (epoch \(min(state.epoch + 1, recipe.epochs)))"))
        } else {
            if TrainingCheckpoint.exists(in: workDirectory) {
                throw TrainingError.checkpointExists(directory: workDirectory.path)
            }
            state = TrainerState(
                recipe: recipe, labels: cfg.id2label, baseFolder: base.folder.path, headCreated: base.headCreated,
                trainFingerprint: trainFingerprint, trainCount: train.count, validationFingerprint: validationFingerprint,
                step: 0, totalSteps: total, warmupSteps: warmup, epoch: 0, epochBatches: [], batchCursor: 0,
                microStep: 0, epochLossSum: 0, epochExamples: 0, epochTrainSeconds: 0, history: [], bestEpoch: nil,
                bestMacroF1: nil, epochsWithoutImprovement: 0, trainSeconds: 0, evalSeconds: 0, examplesSeen: 0,
                sessions: 1, stoppedEarly: nil)
        }

        let board = try TensorBoardWriter(directory: logDirectory)
        defer { board.flush() }
        let schedule = LinearWarmupSchedule(peak: recipe.learningRate, warmupSteps: warmup, totalSteps: total)
        let classWeights = recipe.classWeighting.weights(labels: trainLabels, classCount: k)
        let dropout = recipe.dropout ?? Float(cfg.raw["hidden_dropout_prob"]?.doubleValue ?? 0.1)
        let params = model.parameters

        let sessionStartStep = state.step
        var sessionTrainSeconds = 0.0
        var sessionExamples = 0

        var savedAtStep: Int? = resume ? state.step : nil
        func saveCheckpoint() throws {
            try TrainingCheckpoint.save(directory: workDirectory, state: state, buffers: checkpointBuffers,
                                        optimizer: adam, parameters: params)
            savedAtStep = state.step
            board.flush()
            emit(.checkpoint(checkpointURL, step: state.step))
        }
        let lastCheckpoint = { TrainingCheckpoint.exists(in: self.workDirectory) ? self.checkpointURL.path : nil }

        epochs: while state.epoch < recipe.epochs {
            if state.epochBatches.isEmpty {
                state.epochBatches = BatchPlanner.epochBatches(lengths: lengths, batchSize: recipe.batchSize,
                                                               windowBatches: recipe.bucketWindowBatches,
                                                               seed: recipe.seed, epoch: state.epoch)
                state.batchCursor = 0
            }
            var stopReason: String?
            while state.batchCursor < state.epochBatches.count {
                if control.isCancelled {
                    // The state on disk may already be this step's (a periodic checkpoint just before).
                    if savedAtStep != state.step || !TrainingCheckpoint.exists(in: workDirectory) { try saveCheckpoint() }
                    return .interrupted(checkpoint: checkpointURL, step: state.step, totalSteps: total)
                }
                if let reason = control.requestedStop { stopReason = reason; break }

                let t0 = monotonicSeconds()
                let group = state.epochBatches[state.batchCursor..<min(state.epochBatches.count,
                                                                       state.batchCursor + recipe.gradientAccumulation)]
                let groupExamples = group.reduce(0) { $0 + $1.count }
                model.zeroGrad()
                var lossSum = 0.0
                for batch in group {
                    var rng = SeededRandom(seed: derivedSeed(recipe.seed, stream: .dropout, index: state.microStep))
                    state.microStep += 1
                    let (loss, _) = model.forwardBackward(batch.map { trainIds[$0] }, labels: batch.map { trainLabels[$0] },
                                                          classWeights: classWeights, dropout: dropout,
                                                          lossScale: Float(batch.count) / Float(groupExamples), rng: &rng)
                    guard loss.isFinite else {
                        throw TrainingError.nonFiniteLoss(step: state.step + 1, epoch: state.epoch + 1, lastCheckpoint: lastCheckpoint())
                    }
                    lossSum += Double(loss) * Double(batch.count)
                }
                let norm = recipe.maxGradNorm > 0 ? clipGradientNorm(params, maxNorm: recipe.maxGradNorm)
                                                  : Float(globalGradientNorm(params))
                guard norm.isFinite else {
                    throw TrainingError.nonFiniteGradient(step: state.step + 1, epoch: state.epoch + 1, lastCheckpoint: lastCheckpoint())
                }
                let lr = schedule.learningRate(atStep: state.step)
                adam.step(params, learningRate: lr)
                state.step += 1
                state.batchCursor += group.count
                state.epochLossSum += lossSum
                state.epochExamples += groupExamples
                state.examplesSeen += groupExamples
                let dt = monotonicSeconds() - t0
                state.trainSeconds += dt
                state.epochTrainSeconds += dt
                sessionTrainSeconds += dt
                sessionExamples += groupExamples

                let stepLoss = Float(lossSum / Double(groupExamples))
                try board.scalar("train/loss", stepLoss, step: state.step)
                try board.scalar("train/learning_rate", lr, step: state.step)
                try board.scalar("train/grad_norm", norm, step: state.step)
                let pace = sessionTrainSeconds / Double(max(1, state.step - sessionStartStep))
                emit(.progress(TrainingProgress(
                    epoch: state.epoch + 1, epochs: recipe.epochs, step: state.step, totalSteps: total, loss: stepLoss,
                    epochLoss: state.epochLossSum / Double(max(1, state.epochExamples)), learningRate: lr, gradNorm: norm,
                    examplesPerSecond: Double(sessionExamples) / max(sessionTrainSeconds, 1e-9),
                    etaSeconds: pace * Double(total - state.step))))

                if recipe.checkpointEvery > 0 && state.step % recipe.checkpointEvery == 0
                    && state.batchCursor < state.epochBatches.count {
                    try saveCheckpoint()
                }
            }

            // The epoch is over (or stopped): evaluate, keep the best, log.
            let partial = state.batchCursor < state.epochBatches.count
            if partial && state.epochExamples == 0 {
                state.stoppedEarly = stopReason
                break epochs
            }
            var record = EpochRecord(epoch: state.epoch + 1, step: state.step,
                                     trainLoss: state.epochLossSum / Double(max(1, state.epochExamples)),
                                     validation: nil, trainSeconds: state.epochTrainSeconds, evalSeconds: 0,
                                     examplesPerSecond: Double(state.epochExamples) / max(state.epochTrainSeconds, 1e-9),
                                     partial: partial)
            var isBest = false
            if let valIds, let validation {
                let t0 = monotonicSeconds()
                let metrics = evaluate(model.weights, encoded: valIds, labels: validation.map(\.label))
                record.evalSeconds = monotonicSeconds() - t0
                state.evalSeconds += record.evalSeconds
                record.validation = metrics
                if state.bestMacroF1 == nil || metrics.macroF1 > state.bestMacroF1! {
                    isBest = true
                    state.bestMacroF1 = metrics.macroF1
                    state.bestEpoch = record.epoch
                    state.epochsWithoutImprovement = 0
                    try TrainingCheckpoint.saveBest(directory: workDirectory, buffers: checkpointBuffers, epoch: record.epoch,
                                                    macroF1: metrics.macroF1)
                } else {
                    state.epochsWithoutImprovement += 1
                }
                try logEvaluation(board, "eval", metrics, step: state.step)
            }
            try board.scalar("train/epoch_loss", Float(record.trainLoss), step: state.step)
            state.history.append(record)
            emit(.epochEnd(record, isBest: isBest))

            state.epoch += 1
            state.epochBatches = []
            state.batchCursor = 0
            state.epochLossSum = 0
            state.epochExamples = 0
            state.epochTrainSeconds = 0
            if let stopReason {
                state.stoppedEarly = stopReason
                emit(.message("stopping after \(state.step) of \(total) steps: \(stopReason)"))
                break epochs
            }
            if let patience = recipe.patience, state.epochsWithoutImprovement >= patience, state.epoch < recipe.epochs {
                state.stoppedEarly = "validation macro-F1 did not improve for \(patience) epoch\(patience == 1 ? "" : "s")"
                emit(.message("early stopping: \(state.stoppedEarly!)"))
                try saveCheckpoint()
                break epochs
            }
            try saveCheckpoint()
        }

        // The best epoch's weights become the model's, unless the last evaluated epoch is the best.
        if let best = state.bestEpoch, best != state.history.last(where: { $0.validation != nil })?.epoch {
            try TrainingCheckpoint.loadBest(directory: workDirectory, into: checkpointBuffers, epoch: best)
            emit(.message("keeping epoch \(best), the best by validation macro-F1 (\(String(format: "%.4f", state.bestMacroF1 ?? 0)))"))
        }
        var testMetrics: ClassificationMetrics?
        if let test {
            let t0 = monotonicSeconds()
            testMetrics = evaluate(model.weights, encoded: textEncoder.encode(test.map(\.text)), labels: test.map(\.label))
            state.evalSeconds += monotonicSeconds() - t0
            try logEvaluation(board, "test", testMetrics!, step: state.step)
        }
        return .completed(TrainingResult(
            weights: model.weights, history: state.history, bestEpoch: state.bestEpoch, test: testMetrics,
            steps: state.step, totalSteps: total, warmupSteps: warmup, stoppedEarly: state.stoppedEarly,
            trainSeconds: state.trainSeconds, evalSeconds: state.evalSeconds, examplesSeen: state.examplesSeen,
            sessions: state.sessions, lora: base.lora))
    }

    private func emit(_ event: TrainingEvent) { observer?(event) }

    private func logEvaluation(_ board: TensorBoardWriter, _ prefix: String, _ m: ClassificationMetrics, step: Int) throws {
        if let loss = m.loss { try board.scalar("\(prefix)/loss", Float(loss), step: step) }
        try board.scalar("\(prefix)/accuracy", Float(m.accuracy), step: step)
        try board.scalar("\(prefix)/macro_f1", Float(m.macroF1), step: step)
        try board.scalar("\(prefix)/macro_recall", Float(m.macroRecall), step: step)
        try board.scalar("\(prefix)/macro_precision", Float(m.macroPrecision), step: step)
        for (i, name) in base.config.id2label.enumerated() {
            try board.scalar("\(prefix)/f1_\(name)", Float(m.f1[i]), step: step)
        }
        board.flush()
    }

    /// Inference with the current weights, batches of similar length.
    func evaluate(_ weights: EncoderWeights, encoded: [[Int32]], labels: [Int]) -> ClassificationMetrics {
        Self.evaluate(weights, lora: base.lora, encoded: encoded, labels: labels, batchSize: recipe.evalBatchSize)
    }

    public static func evaluate(_ weights: EncoderWeights, lora: LoRAWeights? = nil, encoded: [[Int32]], labels: [Int],
                                batchSize: Int = 64) -> ClassificationMetrics {
        let encoder = TransformerEncoder(weights: weights, lora: lora)
        let order = encoded.indices.sorted { encoded[$0].count < encoded[$1].count }
        var logits = [[Float]](repeating: [], count: encoded.count)
        var i = 0
        while i < order.count {
            let chunk = Array(order[i..<min(order.count, i + batchSize)])
            for (j, row) in encoder.logits(chunk.map { encoded[$0] }).enumerated() { logits[chunk[j]] = row }
            i += batchSize
        }
        return ClassificationMetrics(logits: logits, labels: labels, classCount: weights.config.numLabels)
    }
}
