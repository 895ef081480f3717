import Foundation

/// The settings of a fine-tuning run and the one range each may take.
///
/// Four surfaces set them: the config file's `[training]` table, the `train` RPC's `recipe`, `sentimentctl train`
/// and `sentimentd finetune`; the trainer's `TrainingRecipe` is what they all translate into. Each surface checks a
/// value here and reports a problem in its own words: the config its key and line, the RPC its field, a command its
/// flag. So the messages here name the setting's meaning, never a flag or a key; `key` is the snake_case name the
/// config file, the RPC and the run records share.
public enum TrainingSetting: String, CaseIterable, Sendable {
    case method
    case epochs
    case batchSize = "batch_size"
    case gradientAccumulation = "gradient_accumulation"
    case learningRate = "learning_rate"
    case maxLength = "max_length"
    case warmupRatio = "warmup_ratio"
    case weightDecay = "weight_decay"
    case adamBeta1 = "adam_beta1"
    case adamBeta2 = "adam_beta2"
    case adamEpsilon = "adam_epsilon"
    case maxGradNorm = "max_grad_norm"
    case replayRatio = "replay_ratio"
    case subset
    case dropout
    case freezeEmbeddings = "freeze_embeddings"
    case freezeLayers = "freeze_layers"
    case classWeights = "class_weights"
    case patience
    case bucketWindow = "bucket_window"
    case evalBatchSize = "eval_batch_size"
    case checkpointEvery = "checkpoint_every"
    case normalizeTweets = "normalize_tweets"
    case labels
    case lora
    case loraRank = "lora_rank"
    case loraAlpha = "lora_alpha"
    case loraDropout = "lora_dropout"
    case loraTargetModules = "lora_target_modules"

    /// The snake_case name shared by the config file, the RPC and the stored recipe.
    public var key: String { rawValue }

    /// The allowed values of a numeric setting (nil for the others).
    public var range: TrainingSettingRange? {
        switch self {
        case .epochs: return .integers(1...100)
        case .batchSize: return .integers(1...4096)
        case .gradientAccumulation: return .integers(1...4096)
        case .learningRate: return TrainingSettingRange(0...1, lowerOpen: true)
        case .maxLength: return .integers(3...8192)
        case .warmupRatio: return TrainingSettingRange(0...1)
        case .weightDecay: return TrainingSettingRange(0...10)
        case .adamBeta1, .adamBeta2: return TrainingSettingRange(0...1, upperOpen: true)
        case .adamEpsilon: return TrainingSettingRange(0...1, lowerOpen: true)
        case .maxGradNorm: return TrainingSettingRange(0...1e6)
        case .replayRatio: return TrainingSettingRange(0...100)
        case .subset: return .integers(1...Int(Int32.max))
        case .dropout, .loraDropout: return TrainingSettingRange(0...1, upperOpen: true)
        case .freezeLayers: return .integers(0...1024)
        case .patience: return .integers(1...1000)
        case .bucketWindow: return .integers(1...1_000_000)
        case .evalBatchSize: return .integers(1...4096)
        case .checkpointEvery: return .integers(0...Int(Int32.max))
        case .loraRank: return .integers(1...1024)
        case .loraAlpha: return TrainingSettingRange(0...1e6, lowerOpen: true)
        case .method, .freezeEmbeddings, .classWeights, .normalizeTweets, .labels, .lora, .loraTargetModules:
            return nil
        }
    }

    /// Whether the trainer holds the setting as a 32-bit float (`TrainingRecipe`, `LoRAConfig`): a value is judged
    /// as it will be trained with, so 1e-50 is refused as a learning rate where it is said, not by the run.
    public var isSinglePrecision: Bool {
        switch self {
        case .learningRate, .weightDecay, .adamBeta1, .adamBeta2, .adamEpsilon, .maxGradNorm, .dropout, .loraDropout:
            return true
        default:
            return false
        }
    }

    /// Why `value` is not allowed ("must be a whole number in 1...100"), or nil when it is.
    public func problem(_ value: Double) -> String? {
        guard let range else { return nil }
        guard range.contains(value) else { return "must be " + range.description }
        if isSinglePrecision, !range.contains(Double(Float(value))) {
            return "must be " + range.description + " (\(value) is \(Float(value)) in single precision)"
        }
        return nil
    }

    public func problem(_ value: Int) -> String? { problem(Double(value)) }

    public func problem(_ value: Float) -> String? { problem(Double(value)) }
}

/// A closed, half-open or open interval of numbers, or of whole numbers.
public struct TrainingSettingRange: Sendable, Equatable, CustomStringConvertible {
    public var bounds: ClosedRange<Double>
    public var lowerOpen: Bool
    public var upperOpen: Bool
    public var integersOnly: Bool

    public init(_ bounds: ClosedRange<Double>, lowerOpen: Bool = false, upperOpen: Bool = false, integersOnly: Bool = false) {
        self.bounds = bounds
        self.lowerOpen = lowerOpen
        self.upperOpen = upperOpen
        self.integersOnly = integersOnly
    }

    public static func integers(_ bounds: ClosedRange<Int>) -> TrainingSettingRange {
        TrainingSettingRange(Double(bounds.lowerBound)...Double(bounds.upperBound), integersOnly: true)
    }

    public func contains(_ value: Double) -> Bool {
        guard value.isFinite, !integersOnly || value == value.rounded() else { return false }
        let aboveLower = lowerOpen ? value > bounds.lowerBound : value >= bounds.lowerBound
        let belowUpper = upperOpen ? value < bounds.upperBound : value <= bounds.upperBound
        return aboveLower && belowUpper
    }

    public var description: String {
        func number(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : "\(x)" }
        if integersOnly { return "a whole number in \(number(bounds.lowerBound))...\(number(bounds.upperBound))" }
        return (lowerOpen ? "in (" : "in [") + number(bounds.lowerBound) + ", " + number(bounds.upperBound)
            + (upperOpen ? ")" : "]")
    }
}

/// What a run trains: every weight (`full`), or LoRA adapters and the head over a frozen base (`lora`).
/// JSON: "full" / "lora"; a recipe written before the key existed decodes as `full`.
public enum TrainingMethod: String, Sendable, Equatable, Codable, CaseIterable {
    case full
    case lora
}

extension KeyedDecodingContainer {
    /// A missing `method` is `full` (recipes and checkpoints from before LoRA).
    public func decode(_ type: TrainingMethod.Type, forKey key: Key) throws -> TrainingMethod {
        try decodeIfPresent(type, forKey: key) ?? .full
    }
}
