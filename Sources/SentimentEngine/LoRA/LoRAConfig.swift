import Foundation
import SentimentCheckpoint

/// The six dense layers of an encoder block that LoRA can adapt, with their module paths inside a
/// layer (`<family>.encoder.layer.N.<path>`, as `transformers` names them).
public enum LoRATarget: Int, CaseIterable, Sendable {
    case query, key, value, attentionOutput, intermediate, output

    /// The adapted module in the table of parameter names.
    public var module: ParameterNames.LayerModule {
        switch self {
        case .query: return .query
        case .key: return .key
        case .value: return .value
        case .attentionOutput: return .attentionOutput
        case .intermediate: return .intermediate
        case .output: return .output
        }
    }

    public var modulePath: String { module.rawValue }

    /// (in, out) features of the adapted Linear.
    func dimensions(_ config: ModelConfig) -> (inp: Int, out: Int) {
        let c = config.hiddenSize, i = config.intermediateSize
        switch self {
        case .query, .key, .value, .attentionOutput: return (c, c)
        case .intermediate: return (c, i)
        case .output: return (i, c)
        }
    }
}

/// What can be wrong with a LoRA adapter or its settings. Each case names the file and the key or
/// tensor at fault.
public enum LoRAError: Error, Equatable, CustomStringConvertible {
    case notAnAdapter(folder: String)
    case missingFile(folder: String, file: String)
    case unreadable(path: String, reason: String)
    case badField(path: String, key: String, expected: String)
    case unsupportedOption(path: String, key: String, value: String, reason: String)
    case targetMatchesNothing(path: String, targets: String)
    case targetNotSupported(path: String, targets: String, module: String)
    case missingTensor(file: String, name: String)
    case unexpectedTensor(file: String, name: String)
    case shapeMismatch(file: String, name: String, expected: [Int], found: [Int])
    case labelsMismatch(folder: String, labels: [String], headOutputs: Int)
    case baseMismatch(folder: String, reason: String)
    case noHead(folder: String)

    public var description: String {
        switch self {
        case let .notAnAdapter(folder):
            return "\(folder): not a LoRA adapter folder (no adapter_config.json)"
        case let .missingFile(folder, file):
            return "\(folder): \(file) is missing (a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors)"
        case let .unreadable(path, reason): return "\(path): cannot read: \(reason)"
        case let .badField(path, key, expected): return "\(path): \"\(key)\" must be \(expected)"
        case let .unsupportedOption(path, key, value, reason):
            return "\(path): \"\(key)\": \(value) is not supported (\(reason))"
        case let .targetMatchesNothing(path, targets):
            return "\(path): target_modules \(targets) selects none of the encoder's dense layers"
        case let .targetNotSupported(path, targets, module):
            return "\(path): target_modules \(targets) also selects \(module), which sentimentd cannot adapt "
                + "(only attention.self.query/key/value, attention.output.dense, intermediate.dense and output.dense of each layer)"
        case let .missingTensor(file, name): return "\(file): tensor \"\(name)\" is missing"
        case let .unexpectedTensor(file, name):
            return "\(file): tensor \"\(name)\" does not belong to this adapter (adapter_config.json does not target it)"
        case let .shapeMismatch(file, name, expected, found):
            return "\(file): tensor \"\(name)\" has shape \(found), the base model and adapter_config.json imply \(expected)"
        case let .labelsMismatch(folder, labels, outputs):
            return "\(folder): the adapter's classifier has \(outputs) outputs but its labels are \(labels) "
                + "(training_info.json \"labels\", else the base's config.json id2label)"
        case let .baseMismatch(folder, reason): return "\(folder): \(reason)"
        case let .noHead(folder):
            return "\(folder): the adapter saves no classification head (modules_to_save has no \"classifier\") and the base has none"
        }
    }
}

extension LoRAError: LocalizedError {
    public var errorDescription: String? { description }
}

/// LoRA settings: what `peft.LoraConfig` holds for a sequence classifier, restricted to what
/// sentimentd computes (plain LoRA, scale alpha / r, no bias, no DoRA).
///
/// Target modules follow PEFT's rule for a list: a module is adapted when its full name equals an
/// entry or ends with "." + the entry. The default selects exactly the six dense layers of every
/// block in both BERT and RoBERTa ("output.dense" matches both attention.output.dense and the FFN's
/// output.dense; neither the pooler's `pooler.dense` nor `classifier.dense` ends with ".output.dense").
///
/// Modules to save are trained fully and stored whole in the adapter: the classification head.
/// RoBERTa: `classifier` (classifier.dense + classifier.out_proj). BERT: `classifier` and `pooler`: the
/// pooler (dense + tanh on [CLS]) is part of our BERT head and is trained with it, and a bare encoder
/// such as all-MiniLM-L6-v2 has no trained pooler at all, so the adapter must carry it for `peft` to
/// rebuild the same model.
public struct LoRAConfig: Sendable, Equatable, Codable {
    /// Rank of A (r, in) and B (out, r).
    public var r: Int = 8
    /// lora_alpha; the update is scaled by alpha / r.
    public var alpha: Double = 16
    /// Dropout on the LoRA branch's input in train mode (the base's own dropouts are separate).
    public var dropout: Float = 0.05
    public var targetModules: [String] = LoRAConfig.defaultTargetModules
    /// nil: the family's head (`LoRAConfig.headModules`).
    public var modulesToSave: [String]? = nil
    /// The base model the adapter was trained over, as adapter_config.json names it (a name or a path).
    public var baseModelNameOrPath: String? = nil

    public static let defaultTargetModules = ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"]

    public init(r: Int = 8, alpha: Double = 16, dropout: Float = 0.05,
                targetModules: [String] = LoRAConfig.defaultTargetModules, modulesToSave: [String]? = nil,
                baseModelNameOrPath: String? = nil) {
        self.r = r
        self.alpha = alpha
        self.dropout = dropout
        self.targetModules = targetModules
        self.modulesToSave = modulesToSave
        self.baseModelNameOrPath = baseModelNameOrPath
    }

    /// The update's scale, alpha / r.
    public var scale: Float { Float(alpha / Double(r)) }

    /// The classification head's modules for `family`.
    public static func headModules(_ family: ModelFamily) -> [String] {
        family == .roberta ? ["classifier"] : ["classifier", "pooler"]
    }

    public func resolvedModulesToSave(_ family: ModelFamily) -> [String] {
        modulesToSave ?? Self.headModules(family)
    }

    /// Whether PEFT would save module `name` (full name, e.g. "bert.pooler") whole: its name equals an
    /// entry or ends with "." + an entry.
    func savesModule(_ name: String, family: ModelFamily) -> Bool {
        resolvedModulesToSave(family).contains { name == $0 || name.hasSuffix("." + $0) }
    }

    /// PEFT's list rule (`check_target_module_exists` for a list of names).
    func targets(_ moduleName: String) -> Bool {
        targetModules.contains { moduleName == $0 || moduleName.hasSuffix("." + $0) }
    }

    /// Which of the six dense layers of layer `index` are adapted.
    public func adaptedTargets(layer index: Int, family: ModelFamily) -> [LoRATarget] {
        LoRATarget.allCases.filter { targets("\(family.rawValue).encoder.layer.\(index).\($0.modulePath)") }
    }

    /// Checks ranges and that the targets select only the six dense layers of the blocks (and at
    /// least one); `path` names the file or option in messages.
    /// Ranks accepted from a file: far above any useful adapter (LoRA ranks are 4-64), far below overflow.
    public static let ranks = 1...4_096

    public func validate(for config: ModelConfig, path: String) throws {
        if !Self.ranks.contains(r) {
            throw LoRAError.badField(path: path, key: "r", expected: "an integer from \(Self.ranks.lowerBound) to \(Self.ranks.upperBound)")
        }
        if !(alpha.isFinite && alpha > 0) { throw LoRAError.badField(path: path, key: "lora_alpha", expected: "a positive number") }
        if !(dropout >= 0 && dropout < 1) { throw LoRAError.badField(path: path, key: "lora_dropout", expected: "in [0, 1)") }
        if targetModules.isEmpty || targetModules.contains(where: \.isEmpty) {
            throw LoRAError.badField(path: path, key: "target_modules", expected: "a non-empty list of module names")
        }
        let listed = "[" + targetModules.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
        for module in Self.otherLinearModules(config) where targets(module) {
            throw LoRAError.targetNotSupported(path: path, targets: listed, module: module)
        }
        let any = (0..<config.numLayers).contains { !adaptedTargets(layer: $0, family: config.family).isEmpty }
        if !any { throw LoRAError.targetMatchesNothing(path: path, targets: listed) }
    }

    /// Modules of a *ForSequenceClassification model besides the blocks' dense layers that a target
    /// could name (embeddings, LayerNorms, pooler, head): none of them can be adapted here.
    static func otherLinearModules(_ config: ModelConfig) -> [String] {
        let names = ParameterNames(family: config.family)
        let adaptable = Set((0..<config.numLayers).flatMap { i in LoRATarget.allCases.map { names.module($0.module, layer: i) } })
        // The pooler is a module of RoBERTa checkpoints too, but not one their head uses.
        return names.allModules(layers: config.numLayers).filter {
            !adaptable.contains($0) && (config.family == .bert || $0 != names.pooler)
        }
    }

    // JSON (a recipe's `lora` section): every key optional, defaults as above.
    enum CodingKeys: String, CodingKey { case r, alpha, dropout, targetModules, modulesToSave, baseModelNameOrPath }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        r = try c.decodeIfPresent(Int.self, forKey: .r) ?? 8
        alpha = try c.decodeIfPresent(Double.self, forKey: .alpha) ?? 16
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? 0.05
        targetModules = try c.decodeIfPresent([String].self, forKey: .targetModules) ?? Self.defaultTargetModules
        modulesToSave = try c.decodeIfPresent([String].self, forKey: .modulesToSave)
        baseModelNameOrPath = try c.decodeIfPresent(String.self, forKey: .baseModelNameOrPath)
    }
}
