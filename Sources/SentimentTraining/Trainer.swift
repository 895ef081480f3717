#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import SentimentCore
import SentimentEngine

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
    /// run's data and recipe); otherwise the work directory must not hold one. The loop is `TrainingSession`'s.
    public func run(resume: Bool = false) throws -> TrainingOutcome {
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        let lock = try WorkDirectoryLock(workDirectory)
        defer { lock.release() }
        let session = try TrainingSession(self, resume: resume)
        defer { session.board.flush() }
        return try session.run()
    }

    func emit(_ event: TrainingEvent) { observer?(event) }

    func logEvaluation(_ board: TensorBoardWriter, _ prefix: String, _ m: ClassificationMetrics, step: Int) throws {
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
