import Foundation
import SentimentCore
import SentimentEngine

/// How the loss weighs the classes.
public enum ClassWeighting: Sendable, Equatable, Codable {
    /// Every example counts the same.
    case none
    /// scikit-learn's "balanced": w_c = n / (classes · n_c) over the training examples (1 for a class
    /// with no training example).
    case balanced
    /// One weight per label, in id2label order.
    case explicit([Float])

    /// The weights for `labels` (class indices of the training set), or nil for `.none`.
    public func weights(labels: [Int], classCount: Int) -> [Float]? {
        switch self {
        case .none: return nil
        case let .explicit(w): return w
        case .balanced:
            var counts = [Int](repeating: 0, count: classCount)
            for l in labels { counts[l] += 1 }
            return counts.map { $0 == 0 ? 1 : Float(Double(labels.count) / (Double(classCount) * Double($0))) }
        }
    }

    // JSON: "none", "balanced", or the list of weights.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let w = try? c.decode([Float].self) { self = .explicit(w); return }
        switch try c.decode(String.self) {
        case "none": self = .none
        case "balanced": self = .balanced
        case let other:
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "class weighting \"\(other)\" is not none, balanced or a list")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .none: try c.encode("none")
        case .balanced: try c.encode("balanced")
        case let .explicit(w): try c.encode(w)
        }
    }
}

/// Every hyper-parameter of a fine-tuning run. Defaults are the guide's recipe (HF Trainer defaults
/// where the guide says nothing).
public struct TrainingRecipe: Sendable, Equatable, Codable {
    public var epochs: Int = 3
    /// Examples per forward/backward pass (HF `per_device_train_batch_size`).
    public var batchSize: Int = 16
    /// Passes whose gradients are summed into one optimizer step (the effective batch is
    /// batchSize × gradientAccumulation).
    public var gradientAccumulation: Int = 1
    public var learningRate: Float = 2e-5
    /// Longest token sequence, specials included (clipped to the model's position limit).
    public var maxLength: Int = 128
    /// Warm-up steps = ceil(warmupRatio × total optimizer steps), as the HF Trainer.
    public var warmupRatio: Double = 0.06
    public var weightDecay: Float = 0.01
    public var adamBeta1: Float = 0.9
    public var adamBeta2: Float = 0.999
    public var adamEpsilon: Float = 1e-8
    /// Global gradient-norm clip; 0 turns clipping off (the norm is still measured and logged).
    public var maxGradNorm: Float = 1.0
    public var seed: UInt64 = 42
    /// The guide's USE_SUBSET: train on the first N examples only.
    public var subset: Int? = nil
    /// nil: the config's hidden_dropout_prob (0.1 when absent).
    public var dropout: Float? = nil
    public var freezeEmbeddings: Bool = false
    /// Layers 0..<freezeLayers are not trained.
    public var freezeLayers: Int = 0
    public var classWeighting: ClassWeighting = .none
    /// Stop when validation macro-F1 has not improved for this many epochs (nil: never).
    public var patience: Int? = nil
    /// Batches are formed from examples of similar length inside windows of this many batches.
    public var bucketWindowBatches: Int = 100
    /// Sequences per inference pass during evaluation.
    public var evalBatchSize: Int = 64
    /// A resumable checkpoint every N optimizer steps (0: only at the end of each epoch and on interrupt).
    public var checkpointEvery: Int = 500
    /// nil: the inference default (cardiffnlp normalisation for RoBERTa, none for BERT).
    public var normalizeTweets: Bool? = nil
    public var method: TrainingMethod = .full
    /// LoRA settings for `method == .lora`; nil: LoRAConfig's defaults for a new adapter, or the
    /// adapter's own settings when an adapter is trained further.
    public var lora: LoRAConfig? = nil

    public init() {}

    /// The numeric settings a recipe holds (`TrainingSetting` order, the order `validate` checks them in).
    public static var numericSettings: [TrainingSetting] { TrainingSetting.allCases.filter { field($0) != nil } }

    /// A numeric setting's value (nil when it is unset, or not a numeric setting of the recipe).
    public func value(of setting: TrainingSetting) -> Double? {
        Self.field(setting)?.get(self)
    }

    /// Sets a numeric setting from a number as a surface read it (a config value, an RPC field), checked against
    /// its range first; the error names the setting and each surface says it in its own words.
    public mutating func set(_ setting: TrainingSetting, _ value: Double) throws {
        if let problem = setting.problem(value) { throw TrainingError.badSetting(setting, reason: problem) }
        guard assign(setting, value) else {
            throw TrainingError.badSetting(setting, reason: "is not a numeric setting of a training recipe")
        }
    }

    /// Sets a numeric setting without checking it (a value checked when it was given, read back from a store;
    /// `validate` still judges it before a run). False when `setting` is not a numeric setting of the recipe.
    @discardableResult
    public mutating func assign(_ setting: TrainingSetting, _ value: Double) -> Bool {
        guard let field = Self.field(setting) else { return false }
        field.put(&self, value)
        return true
    }

    /// How a numeric setting reads and writes its field: one row per setting, so `value(of:)`, `set` and
    /// `validate` cannot disagree about which field a setting is.
    private struct NumericField {
        let get: (TrainingRecipe) -> Double?
        let put: (inout TrainingRecipe, Double) -> Void
        /// The value as written in its own type (2e-05, not the Double it widens to), for `resumeConflicts`.
        let show: (TrainingRecipe) -> String

        static func int(_ k: WritableKeyPath<TrainingRecipe, Int>) -> NumericField {
            NumericField(get: { Double($0[keyPath: k]) }, put: { $0[keyPath: k] = Int($1) }, show: { "\($0[keyPath: k])" })
        }
        /// `unset`: what nil means, as `resumeConflicts` shows it.
        static func int(_ k: WritableKeyPath<TrainingRecipe, Int?>, unset: String) -> NumericField {
            NumericField(get: { $0[keyPath: k].map(Double.init) }, put: { $0[keyPath: k] = Int($1) },
                         show: { $0[keyPath: k].map { "\($0)" } ?? unset })
        }
        static func float(_ k: WritableKeyPath<TrainingRecipe, Float>) -> NumericField {
            NumericField(get: { Double($0[keyPath: k]) }, put: { $0[keyPath: k] = Float($1) }, show: { "\($0[keyPath: k])" })
        }
        static func float(_ k: WritableKeyPath<TrainingRecipe, Float?>, unset: String) -> NumericField {
            NumericField(get: { $0[keyPath: k].map(Double.init) }, put: { $0[keyPath: k] = Float($1) },
                         show: { $0[keyPath: k].map { "\($0)" } ?? unset })
        }
        static func double(_ k: WritableKeyPath<TrainingRecipe, Double>) -> NumericField {
            NumericField(get: { $0[keyPath: k] }, put: { $0[keyPath: k] = $1 }, show: { "\($0[keyPath: k])" })
        }
    }

    private static func field(_ setting: TrainingSetting) -> NumericField? {
        switch setting {
        case .epochs: return .int(\.epochs)
        case .batchSize: return .int(\.batchSize)
        case .gradientAccumulation: return .int(\.gradientAccumulation)
        case .learningRate: return .float(\.learningRate)
        case .maxLength: return .int(\.maxLength)
        case .warmupRatio: return .double(\.warmupRatio)
        case .weightDecay: return .float(\.weightDecay)
        case .adamBeta1: return .float(\.adamBeta1)
        case .adamBeta2: return .float(\.adamBeta2)
        case .adamEpsilon: return .float(\.adamEpsilon)
        case .maxGradNorm: return .float(\.maxGradNorm)
        case .subset: return .int(\.subset, unset: "all")
        case .dropout: return .float(\.dropout, unset: "config")
        case .freezeLayers: return .int(\.freezeLayers)
        case .patience: return .int(\.patience, unset: "never")
        case .bucketWindow: return .int(\.bucketWindowBatches)
        case .evalBatchSize: return .int(\.evalBatchSize)
        case .checkpointEvery: return .int(\.checkpointEvery)
        case .method, .replayRatio, .freezeEmbeddings, .classWeights, .normalizeTweets, .labels, .lora, .loraRank,
             .loraAlpha, .loraDropout, .loraTargetModules:
            return nil
        }
    }

    /// Checks every setting against its range (`TrainingSetting`, shared with the config file, the RPC and the
    /// command lines). The error names the setting; each front end says it in its own words (flag, key, field).
    public func validate() throws {
        func check(_ setting: TrainingSetting, _ value: Double?) throws {
            if let value, let problem = setting.problem(value) { throw TrainingError.badSetting(setting, reason: problem) }
        }
        for setting in Self.numericSettings { try check(setting, value(of: setting)) }
        if case let .explicit(w) = classWeighting, w.contains(where: { !($0.isFinite && $0 >= 0) }) || !w.contains(where: { $0 > 0 }) {
            throw TrainingError.badSetting(.classWeights, reason: "must be finite, >= 0, and not all 0")
        }
        if method == .lora {
            if freezeEmbeddings || freezeLayers > 0 {
                throw TrainingError.badSetting(freezeEmbeddings ? .freezeEmbeddings : .freezeLayers,
                    reason: "does not apply to method lora (the whole base is frozen; choose the adapted modules with lora target_modules)")
            }
            if let l = lora {
                try check(.loraRank, Double(l.r))
                try check(.loraAlpha, Double(l.alpha))
                try check(.loraDropout, Double(l.dropout))
                if l.targetModules.isEmpty || l.targetModules.contains(where: \.isEmpty) {
                    throw TrainingError.badSetting(.loraTargetModules, reason: "must be a non-empty list of module names")
                }
            }
        } else if lora != nil {
            throw TrainingError.badSetting(.lora, reason: "settings are given but method is full (set method = \"lora\")")
        }
    }

    /// The settings a resumed run may change: evaluation and bookkeeping, nothing that shapes the optimisation.
    static let changeableOnResume: Set<TrainingSetting> = [.patience, .evalBatchSize, .checkpointEvery]

    /// What a resumed run must share with the run that wrote the checkpoint: every setting of `TrainingSetting` the
    /// recipe holds except `changeableOnResume`, and the seed; one line per difference, `key: checkpoint B, now A`.
    public func resumeConflicts(with other: TrainingRecipe) -> [String] {
        var out: [String] = []
        for setting in TrainingSetting.allCases where !Self.changeableOnResume.contains(setting) {
            if let now = shown(setting), let then = other.shown(setting), now != then {
                out.append("\(setting.key): checkpoint \(then), now \(now)")
            }
        }
        // The seed has no range to check, so it is not a TrainingSetting; it orders the data and initialises the head.
        if seed != other.seed { out.append("seed: checkpoint \(other.seed), now \(seed)") }
        // LoRA's settings are compared whole (the adapter's saved modules and base name too), shown by their numbers.
        if lora != other.lora {
            func text(_ l: LoRAConfig?) -> String {
                l.map { "r \($0.r), alpha \($0.alpha), dropout \($0.dropout), targets \($0.targetModules)" } ?? "default"
            }
            out.append("\(TrainingSetting.lora.key): checkpoint \(text(other.lora)), now \(text(lora))")
        }
        return out
    }

    /// A setting's value as `resumeConflicts` shows it; nil for one the recipe does not hold (the replay ratio and
    /// the labels are the daemon's) or that it compares apart (`lora`, with the LoRA numbers in it).
    private func shown(_ setting: TrainingSetting) -> String? {
        if let field = Self.field(setting) { return field.show(self) }
        switch setting {
        case .freezeEmbeddings: return "\(freezeEmbeddings)"
        case .classWeights: return "\(classWeighting)"
        case .normalizeTweets: return normalizeTweets.map { "\($0)" } ?? "auto"
        case .method: return method.rawValue
        case .replayRatio, .labels, .lora, .loraRank, .loraAlpha, .loraDropout, .loraTargetModules:
            return nil
        case .epochs, .batchSize, .gradientAccumulation, .learningRate, .maxLength, .warmupRatio, .weightDecay,
             .adamBeta1, .adamBeta2, .adamEpsilon, .maxGradNorm, .subset, .dropout, .freezeLayers, .patience,
             .bucketWindow, .evalBatchSize, .checkpointEvery:
            return nil  // numeric: `field` above
        }
    }
}
