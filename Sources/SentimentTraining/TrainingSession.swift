import Foundation
import SentimentCheckpoint
import SentimentCore
import SentimentEngine

/// One call of `Trainer.run`: the model being trained, the optimizer, the run's state (what a checkpoint holds) and
/// the TensorBoard log, with the loop split into its steps: an epoch of optimizer steps, the end of an epoch
/// (evaluate, keep the best, checkpoint), and the end of the run (the best epoch's weights, the test set).
final class TrainingSession {
    private let trainer: Trainer
    private let recipe: TrainingRecipe
    private let trainIds: [[Int32]]
    private let trainLabels: [Int]
    private let lengths: [Int]
    private let valIds: [[Int32]]?

    private let model: TrainableModel
    /// What checkpoints hold: every weight of a full run; only the trained tensors of a LoRA run (never the frozen,
    /// maybe shared, base).
    private let checkpointBuffers: [NamedBuffer]
    private let params: [TrainableParameter]
    private var adam: AdamW
    private let total: Int
    private let warmup: Int
    private let schedule: LinearWarmupSchedule
    private let classWeights: [Float]?
    private let dropout: Float
    let board: TensorBoardWriter

    private var state: TrainerState
    private var savedAtStep: Int?
    private let sessionStartStep: Int
    private var sessionTrainSeconds = 0.0
    private var sessionExamples = 0

    /// How an epoch's optimizer steps ended.
    private enum EpochEnd {
        /// Cancelled: the state is saved, the run ends `.interrupted`.
        case interrupted
        /// All batches done, or a stop was requested (the epoch is evaluated on what it trained).
        case ended(stopReason: String?)
    }

    /// The model and optimizer, and the state: a fresh one, or (`resume`) the work directory's checkpoint, which must
    /// match this run's data and recipe.
    init(_ trainer: Trainer, resume: Bool) throws {
        self.trainer = trainer
        let recipe = trainer.recipe
        self.recipe = recipe
        let base = trainer.base
        trainIds = trainer.textEncoder.encode(trainer.train.map(\.text))
        trainLabels = trainer.train.map(\.label)
        lengths = trainIds.map(\.count)
        valIds = trainer.validation.map { trainer.textEncoder.encode($0.map(\.text)) }

        if let lora = base.lora {
            model = TrainableModel(weights: base.weights, lora: lora, loraDropout: lora.config.dropout)
        } else {
            model = TrainableModel(weights: base.weights, freezeEmbeddings: recipe.freezeEmbeddings,
                                   freezeLayers: recipe.freezeLayers)
        }
        checkpointBuffers = base.lora == nil ? model.weights.namedBuffers : TrainingCheckpoint.trainedBuffers(model.parameters)
        params = model.parameters
        adam = AdamW(learningRate: recipe.learningRate, beta1: recipe.adamBeta1, beta2: recipe.adamBeta2,
                     eps: recipe.adamEpsilon, weightDecay: recipe.weightDecay)
        total = Trainer.stepsPerEpoch(examples: trainer.train.count, recipe: recipe) * recipe.epochs
        warmup = Int((Double(total) * recipe.warmupRatio).rounded(.up))

        if resume {
            let (resumed, file) = try Self.resumedState(trainer, total: total, buffers: checkpointBuffers,
                                                        optimizer: &adam, parameters: params)
            state = resumed
            trainer.emit(.message("resuming from \(file) at step \(state.step) of \(total) "
                + "(epoch \(min(state.epoch + 1, recipe.epochs)))"))
            savedAtStep = state.step
        } else {
            if TrainingCheckpoint.exists(in: trainer.workDirectory) {
                throw TrainingError.checkpointExists(directory: trainer.workDirectory.path)
            }
            state = TrainerState(
                recipe: recipe, labels: base.config.id2label, baseFolder: base.folder.path, headCreated: base.headCreated,
                trainFingerprint: trainer.trainFingerprint, trainCount: trainer.train.count,
                validationFingerprint: trainer.validationFingerprint,
                step: 0, totalSteps: total, warmupSteps: warmup, epoch: 0, epochBatches: [], batchCursor: 0,
                microStep: 0, epochLossSum: 0, epochExamples: 0, epochTrainSeconds: 0, history: [], bestEpoch: nil,
                bestMacroF1: nil, epochsWithoutImprovement: 0, trainSeconds: 0, evalSeconds: 0, examplesSeen: 0,
                sessions: 1, stoppedEarly: nil)
        }
        sessionStartStep = state.step

        board = try TensorBoardWriter(directory: trainer.logDirectory)
        schedule = LinearWarmupSchedule(peak: recipe.learningRate, warmupSteps: warmup, totalSteps: total)
        classWeights = recipe.classWeighting.weights(labels: trainLabels, classCount: base.config.numLabels)
        dropout = recipe.dropout ?? Float(base.config.raw["hidden_dropout_prob"]?.doubleValue ?? 0.1)
    }

    /// The checkpoint's state and file, after checking it belongs to this run; the weights and the optimizer's
    /// moments are restored into `buffers` and `optimizer`.
    private static func resumedState(_ trainer: Trainer, total: Int, buffers: [NamedBuffer], optimizer: inout AdamW,
                                     parameters: [TrainableParameter]) throws -> (TrainerState, path: String) {
        let recipe = trainer.recipe, labels = trainer.base.config.id2label
        let (saved, file) = try TrainingCheckpoint.load(directory: trainer.workDirectory)
        var reasons = recipe.resumeConflicts(with: saved.recipe)
        if saved.trainFingerprint != trainer.trainFingerprint || saved.trainCount != trainer.train.count {
            reasons.append("the training data differ (fingerprint \(saved.trainFingerprint.prefix(12))…, now \(trainer.trainFingerprint.prefix(12))…)")
        }
        if saved.validationFingerprint != trainer.validationFingerprint {
            reasons.append("the validation data differ")
        }
        if saved.labels != labels { reasons.append("labels: checkpoint \(saved.labels), now \(labels)") }
        if saved.totalSteps != total { reasons.append("total steps: checkpoint \(saved.totalSteps), now \(total)") }
        if !reasons.isEmpty { throw TrainingError.checkpointMismatch(path: file.path, reasons: reasons) }
        try TrainingCheckpoint.restore(from: file, buffers: buffers, optimizer: &optimizer, parameters: parameters)
        var state = saved
        state.recipe = recipe
        state.sessions += 1
        return (state, file.path)
    }

    /// Epochs until the last, a stop, early stopping or a cancel; then the run's result.
    func run() throws -> TrainingOutcome {
        while state.epoch < recipe.epochs {
            switch try trainEpoch() {
            case .interrupted:
                return .interrupted(checkpoint: trainer.checkpointURL, step: state.step, totalSteps: total)
            case let .ended(stopReason):
                guard try endEpoch(stopReason: stopReason) else { return try finish() }
            }
        }
        return try finish()
    }

    /// The optimizer steps of the current epoch (its batch order planned when it starts), until its last batch, a
    /// stop request, or a cancel (saved first).
    private func trainEpoch() throws -> EpochEnd {
        if state.epochBatches.isEmpty {
            state.epochBatches = BatchPlanner.epochBatches(lengths: lengths, batchSize: recipe.batchSize,
                                                           windowBatches: recipe.bucketWindowBatches,
                                                           seed: recipe.seed, epoch: state.epoch)
            state.batchCursor = 0
        }
        while state.batchCursor < state.epochBatches.count {
            if trainer.control.isCancelled {
                // The state on disk may already be this step's (a periodic checkpoint just before).
                if savedAtStep != state.step || !TrainingCheckpoint.exists(in: trainer.workDirectory) {
                    try saveCheckpoint()
                }
                return .interrupted
            }
            if let reason = trainer.control.requestedStop { return .ended(stopReason: reason) }
            try optimizerStep()
            if recipe.checkpointEvery > 0 && state.step % recipe.checkpointEvery == 0
                && state.batchCursor < state.epochBatches.count {
                try saveCheckpoint()
            }
        }
        return .ended(stopReason: nil)
    }

    /// One optimizer step: forward/backward over `gradientAccumulation` batches, clipping, AdamW, then the step's
    /// scalars and progress.
    private func optimizerStep() throws {
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
                throw TrainingError.nonFiniteLoss(step: state.step + 1, epoch: state.epoch + 1, lastCheckpoint: lastCheckpoint)
            }
            lossSum += Double(loss) * Double(batch.count)
        }
        let norm = recipe.maxGradNorm > 0 ? clipGradientNorm(params, maxNorm: recipe.maxGradNorm)
                                          : Float(globalGradientNorm(params))
        guard norm.isFinite else {
            throw TrainingError.nonFiniteGradient(step: state.step + 1, epoch: state.epoch + 1, lastCheckpoint: lastCheckpoint)
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
        trainer.emit(.progress(TrainingProgress(
            epoch: state.epoch + 1, epochs: recipe.epochs, step: state.step, totalSteps: total, loss: stepLoss,
            epochLoss: state.epochLossSum / Double(max(1, state.epochExamples)), learningRate: lr, gradNorm: norm,
            examplesPerSecond: Double(sessionExamples) / max(sessionTrainSeconds, 1e-9),
            etaSeconds: pace * Double(total - state.step))))
    }

    /// The epoch is over (or stopped): evaluate, keep the best, log, checkpoint. False when training ends here (a stop
    /// request, early stopping, or a stop before the epoch trained anything).
    private func endEpoch(stopReason: String?) throws -> Bool {
        let partial = state.batchCursor < state.epochBatches.count
        if partial && state.epochExamples == 0 {
            state.stoppedEarly = stopReason
            return false
        }
        var record = EpochRecord(epoch: state.epoch + 1, step: state.step,
                                 trainLoss: state.epochLossSum / Double(max(1, state.epochExamples)),
                                 validation: nil, trainSeconds: state.epochTrainSeconds, evalSeconds: 0,
                                 examplesPerSecond: Double(state.epochExamples) / max(state.epochTrainSeconds, 1e-9),
                                 partial: partial)
        var isBest = false
        if let valIds, let validation = trainer.validation {
            let t0 = monotonicSeconds()
            let metrics = trainer.evaluate(model.weights, encoded: valIds, labels: validation.map(\.label))
            record.evalSeconds = monotonicSeconds() - t0
            state.evalSeconds += record.evalSeconds
            record.validation = metrics
            if state.bestMacroF1 == nil || metrics.macroF1 > state.bestMacroF1! {
                isBest = true
                state.bestMacroF1 = metrics.macroF1
                state.bestEpoch = record.epoch
                state.epochsWithoutImprovement = 0
                try TrainingCheckpoint.saveBest(directory: trainer.workDirectory, buffers: checkpointBuffers,
                                                epoch: record.epoch, macroF1: metrics.macroF1)
            } else {
                state.epochsWithoutImprovement += 1
            }
            try trainer.logEvaluation(board, "eval", metrics, step: state.step)
        }
        try board.scalar("train/epoch_loss", Float(record.trainLoss), step: state.step)
        state.history.append(record)
        trainer.emit(.epochEnd(record, isBest: isBest))

        state.epoch += 1
        state.epochBatches = []
        state.batchCursor = 0
        state.epochLossSum = 0
        state.epochExamples = 0
        state.epochTrainSeconds = 0
        if let stopReason {
            state.stoppedEarly = stopReason
            trainer.emit(.message("stopping after \(state.step) of \(total) steps: \(stopReason)"))
            return false
        }
        if let patience = recipe.patience, state.epochsWithoutImprovement >= patience, state.epoch < recipe.epochs {
            state.stoppedEarly = "validation macro-F1 did not improve for \(patience) epoch\(patience == 1 ? "" : "s")"
            trainer.emit(.message("early stopping: \(state.stoppedEarly!)"))
            try saveCheckpoint()
            return false
        }
        try saveCheckpoint()
        return true
    }

    /// The best epoch's weights become the model's (unless the last evaluated epoch is the best), the test set is
    /// evaluated, and the result reported.
    private func finish() throws -> TrainingOutcome {
        if let best = state.bestEpoch, best != state.history.last(where: { $0.validation != nil })?.epoch {
            try TrainingCheckpoint.loadBest(directory: trainer.workDirectory, into: checkpointBuffers, epoch: best)
            trainer.emit(.message("keeping epoch \(best), the best by validation macro-F1 (\(String(format: "%.4f", state.bestMacroF1 ?? 0)))"))
        }
        var testMetrics: ClassificationMetrics?
        if let test = trainer.test {
            let t0 = monotonicSeconds()
            testMetrics = trainer.evaluate(model.weights, encoded: trainer.textEncoder.encode(test.map(\.text)),
                                           labels: test.map(\.label))
            state.evalSeconds += monotonicSeconds() - t0
            try trainer.logEvaluation(board, "test", testMetrics!, step: state.step)
        }
        return .completed(TrainingResult(
            weights: model.weights, history: state.history, bestEpoch: state.bestEpoch, test: testMetrics,
            steps: state.step, totalSteps: total, warmupSteps: warmup, stoppedEarly: state.stoppedEarly,
            trainSeconds: state.trainSeconds, evalSeconds: state.evalSeconds, examplesSeen: state.examplesSeen,
            sessions: state.sessions, lora: trainer.base.lora))
    }

    private func saveCheckpoint() throws {
        try TrainingCheckpoint.save(directory: trainer.workDirectory, state: state, buffers: checkpointBuffers,
                                    optimizer: adam, parameters: params)
        savedAtStep = state.step
        board.flush()
        trainer.emit(.checkpoint(trainer.checkpointURL, step: state.step))
    }

    /// The checkpoint a failure can be resumed from, for its message.
    private var lastCheckpoint: String? {
        TrainingCheckpoint.exists(in: trainer.workDirectory) ? trainer.checkpointURL.path : nil
    }
}
