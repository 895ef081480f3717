import Foundation
import SentimentCore

// MARK: - Training runs

/// Evaluation of one model on the frozen eval split (or a run's validation data).
public struct EvalMetrics: Codable, Sendable, Equatable {
    public var examples: Int
    public var accuracy: Double
    public var macroF1: Double
    public var macroRecall: Double
    public var macroPrecision: Double
    /// Per label, in the run's label order.
    public var f1: [Double]
    public var recall: [Double]
    public var loss: Double?
    /// `confusion[t][p]`: examples of true class t predicted as p, in the run's label order (nil for evaluations
    /// recorded before it was kept).
    public var confusion: [[Int]]?
    /// `fp32` or `int8`: the precision the model was evaluated in (a run's champion and candidate are evaluated in
    /// the precision each serves in); nil for a training epoch's metrics and for runs before int8 existed.
    public var precision: String?

    enum CodingKeys: String, CodingKey {
        case examples, accuracy
        case macroF1 = "macro_f1"
        case macroRecall = "macro_recall"
        case macroPrecision = "macro_precision"
        case f1, recall, loss, confusion, precision
    }

    public init(examples: Int, accuracy: Double, macroF1: Double, macroRecall: Double, macroPrecision: Double,
                f1: [Double], recall: [Double], loss: Double?, confusion: [[Int]]? = nil) {
        self.examples = examples
        self.accuracy = accuracy
        self.macroF1 = macroF1
        self.macroRecall = macroRecall
        self.macroPrecision = macroPrecision
        self.f1 = f1
        self.recall = recall
        self.loss = loss
        self.confusion = confusion
    }
}

/// Hyper-parameters a run uses. Absent fields take the `[training]` configuration's values.
public struct RunRecipe: Codable, Sendable, Equatable {
    /// "full" or "lora".
    public var method: String?
    public var epochs: Int?
    public var batchSize: Int?
    public var learningRate: Double?
    public var maxLength: Int?
    public var warmupRatio: Double?
    public var weightDecay: Double?
    public var replayRatio: Double?
    public var seed: UInt64?

    enum CodingKeys: String, CodingKey {
        case method, epochs
        case batchSize = "batch_size"
        case learningRate = "learning_rate"
        case maxLength = "max_length"
        case warmupRatio = "warmup_ratio"
        case weightDecay = "weight_decay"
        case replayRatio = "replay_ratio"
        case seed
    }

    public init(method: String? = nil, epochs: Int? = nil, batchSize: Int? = nil, learningRate: Double? = nil,
                maxLength: Int? = nil, warmupRatio: Double? = nil, weightDecay: Double? = nil,
                replayRatio: Double? = nil, seed: UInt64? = nil) {
        self.method = method
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.maxLength = maxLength
        self.warmupRatio = warmupRatio
        self.weightDecay = weightDecay
        self.replayRatio = replayRatio
        self.seed = seed
    }
}

/// One training run as `runs` lists it.
public struct RunSummary: Codable, Sendable, Equatable {
    /// queued, running, published, rejected (by the gate), failed or cancelled.
    public var id: Int64
    public var status: String
    /// schedule or manual.
    public var trigger: String
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// The version that was active (the champion) when the run started.
    public var baseVersion: String?
    /// The candidate's version name in models/ (once published; otherwise its staging name).
    public var candidateVersion: String?
    public var method: String
    public var step: Int?
    public var totalSteps: Int?
    public var epoch: Int?
    public var loss: Double?
    public var learningRate: Double?
    public var examplesPerSecond: Double?
    public var etaSeconds: Double?
    public var trainExamples: Int?
    public var newExamples: Int?
    public var replayExamples: Int?
    public var evalExamples: Int?
    public var championF1: Double?
    public var candidateF1: Double?
    /// published or rejected, once the gate decided.
    public var decision: String?
    /// Why: the gate's comparison, the cancellation, or the failure.
    public var reason: String?

    enum CodingKeys: String, CodingKey {
        case id, status, trigger
        case createdAt = "created_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case baseVersion = "base_version"
        case candidateVersion = "candidate_version"
        case method, step
        case totalSteps = "total_steps"
        case epoch, loss
        case learningRate = "learning_rate"
        case examplesPerSecond = "examples_per_second"
        case etaSeconds = "eta_seconds"
        case trainExamples = "train_examples"
        case newExamples = "new_examples"
        case replayExamples = "replay_examples"
        case evalExamples = "eval_examples"
        case championF1 = "champion_f1"
        case candidateF1 = "candidate_f1"
        case decision, reason
    }

    public init(id: Int64, status: String, trigger: String, createdAt: Date, method: String) {
        self.id = id
        self.status = status
        self.trigger = trigger
        self.createdAt = createdAt
        self.method = method
    }

    public var isFinished: Bool { !["queued", "running"].contains(status) }
}

/// One epoch of a run: training loss and the candidate's metrics on the eval split at the epoch's end.
public struct RunEpoch: Codable, Sendable, Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var metrics: EvalMetrics?
    enum CodingKeys: String, CodingKey {
        case epoch
        case trainLoss = "train_loss"
        case metrics
    }
    public init(epoch: Int, trainLoss: Double, metrics: EvalMetrics?) {
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.metrics = metrics
    }
}

/// The gate's comparison of a run's candidate with one reference version, text by text on the same frozen eval
/// split (see the README, "The promotion gate").
public struct GateComparison: Codable, Sendable, Equatable {
    /// The reference version.
    public var version: String
    /// Why it is a reference: `champion` (the version the run started from), `best` (the best version published so
    /// far on this split), or `champion, best`.
    public var role: String
    public var referenceF1: Double
    public var candidateF1: Double
    /// candidateF1 - referenceF1.
    public var difference: Double
    /// One-sided bounds of the difference at the gate's confidence (paired bootstrap over the split's texts).
    public var lowerBound: Double
    public var upperBound: Double
    /// Texts that exactly one of the two models classifies correctly.
    public var discordant: Int

    enum CodingKeys: String, CodingKey {
        case version, role, difference, discordant
        case referenceF1 = "reference_f1"
        case candidateF1 = "candidate_f1"
        case lowerBound = "lower_bound"
        case upperBound = "upper_bound"
    }

    public init(version: String, role: String, referenceF1: Double, candidateF1: Double, difference: Double,
                lowerBound: Double, upperBound: Double, discordant: Int) {
        self.version = version
        self.role = role
        self.referenceF1 = referenceF1
        self.candidateF1 = candidateF1
        self.difference = difference
        self.lowerBound = lowerBound
        self.upperBound = upperBound
        self.discordant = discordant
    }
}

/// Everything the gate decided a run with.
public struct GateReport: Codable, Sendable, Equatable {
    public var publish: Bool
    public var tolerance: Double
    public var confidence: Double
    public var resamples: Int
    public var seed: UInt64
    /// Texts of the eval split the models were compared on, and the least the gate accepts.
    public var examples: Int
    public var minExamples: Int
    /// Identity of the eval split (its texts and labels, in order): scores compare only on the same split.
    public var splitFingerprint: String
    public var comparisons: [GateComparison]

    enum CodingKeys: String, CodingKey {
        case publish, tolerance, confidence, resamples, seed, examples, comparisons
        case minExamples = "min_examples"
        case splitFingerprint = "split_fingerprint"
    }

    public init(publish: Bool, tolerance: Double, confidence: Double, resamples: Int, seed: UInt64, examples: Int,
                minExamples: Int, splitFingerprint: String, comparisons: [GateComparison]) {
        self.publish = publish
        self.tolerance = tolerance
        self.confidence = confidence
        self.resamples = resamples
        self.seed = seed
        self.examples = examples
        self.minExamples = minExamples
        self.splitFingerprint = splitFingerprint
        self.comparisons = comparisons
    }
}

/// How many of a run's training examples one uid labelled (the uid that wrote each label's current value).
public struct LabelAuthorship: Codable, Sendable, Equatable {
    public var uid: UInt32
    public var examples: Int
    public init(uid: UInt32, examples: Int) {
        self.uid = uid
        self.examples = examples
    }
}

public struct RunDetail: Codable, Sendable, Equatable {
    public var run: RunSummary
    public var recipe: RunRecipe
    public var labels: [String]?
    public var dataFingerprint: String?
    public var epochs: [RunEpoch]
    public var champion: EvalMetrics?
    public var candidate: EvalMetrics?
    public var gateTolerance: Double?
    /// Whose labels the run trained on, most examples first (nil for runs recorded before this was kept).
    public var labelAuthors: [LabelAuthorship]?
    /// The gate's numbers, once it decided (nil for runs judged before the paired gate).
    public var gate: GateReport?
    /// The training curve, by step (nil for runs recorded before it was kept).
    public var curve: [TrainingCurvePoint]?

    enum CodingKeys: String, CodingKey {
        case run, recipe, labels
        case dataFingerprint = "data_fingerprint"
        case epochs, champion, candidate
        case gateTolerance = "gate_tolerance"
        case labelAuthors = "label_authors"
        case gate, curve
    }

    public init(run: RunSummary, recipe: RunRecipe, labels: [String]?, dataFingerprint: String?, epochs: [RunEpoch],
                champion: EvalMetrics?, candidate: EvalMetrics?, gateTolerance: Double?) {
        self.run = run
        self.recipe = recipe
        self.labels = labels
        self.dataFingerprint = dataFingerprint
        self.epochs = epochs
        self.champion = champion
        self.candidate = candidate
        self.gateTolerance = gateTolerance
    }
}

public enum TrainMethod: RPCMethod {
    public static let name = "train"
    public static let requiredRole = Role.admin

    public struct Params: Codable, Sendable, Equatable {
        /// Overrides of the configured recipe for this run.
        public var recipe: RunRecipe?
        public init(recipe: RunRecipe? = nil) { self.recipe = recipe }
    }
    public typealias Result = RunSummary
}

public enum TrainCancelMethod: RPCMethod {
    public static let name = "train.cancel"
    public static let requiredRole = Role.admin
    public typealias Params = NoParams
    /// The cancelled run, as it is after cancellation.
    public typealias Result = RunSummary
}

public enum RunsListMethod: RPCMethod {
    public static let name = "runs.list"
    public static let requiredRole = Role.reader

    public struct Params: Codable, Sendable, Equatable {
        public var limit: Int?
        public init(limit: Int? = nil) { self.limit = limit }
    }

    public struct Result: Codable, Sendable, Equatable {
        /// Newest first.
        public var runs: [RunSummary]
        public init(runs: [RunSummary]) { self.runs = runs }
    }
}

public enum RunsShowMethod: RPCMethod {
    public static let name = "runs.show"
    public static let requiredRole = Role.reader

    public struct Params: Codable, Sendable, Equatable {
        public var id: Int64
        public init(id: Int64) { self.id = id }
    }
    public typealias Result = RunDetail
}

extension RunRecipe {
    /// The numeric fields given, each as the training setting it sets (`TrainingSetting`: one key, one range), so
    /// the daemon and `sentimentctl train` check and map the same fields.
    public var numericSettings: [(TrainingSetting, Double)] {
        let fields: [(TrainingSetting, Double?)] = [
            (.epochs, epochs.map(Double.init)), (.batchSize, batchSize.map(Double.init)), (.learningRate, learningRate),
            (.maxLength, maxLength.map(Double.init)), (.warmupRatio, warmupRatio), (.weightDecay, weightDecay),
            (.replayRatio, replayRatio),
        ]
        return fields.compactMap { setting, value in value.map { (setting, $0) } }
    }
}
