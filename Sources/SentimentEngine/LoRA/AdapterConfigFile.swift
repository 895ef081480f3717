import Foundation
import SentimentCore
import SentimentCheckpoint

/// adapter_config.json as peft (0.21) reads and writes it, for LoRA on a sequence classifier.
enum AdapterConfigFile {
    static let name = "adapter_config.json"

    /// Keys whose value only describes the file or the run that wrote it.
    static let informational: Set<String> = [
        "auto_mapping", "revision", "peft_version", "inference_mode", "megatron_core", "qalora_group_size",
    ]

    /// Reads and checks the file: LoRA for SEQ_CLS, plain scale alpha / r, no bias, no DoRA, no per-layer
    /// patterns. Any other option that is set (not null, false, {} or []) is refused by name, because
    /// it would change what the adapter computes.
    static func read(_ folder: ModelFolderReader) throws -> LoRAConfig {
        let path = folder.path(name)
        let data: Data
        do { data = try folder.contents(name, limit: 16 << 20) } catch {
            throw LoRAError.unreadable(path: path, reason: "\(error)")
        }
        let value: JSONValue
        do { value = try JSONValue.parse(data) } catch {
            throw LoRAError.unreadable(path: path, reason: "invalid JSON: \(error)")
        }
        guard case let .object(obj) = value else { throw LoRAError.badField(path: path, key: "(top level)", expected: "a JSON object") }
        return try parse(obj, path: path)
    }

    static func parse(_ obj: [String: JSONValue], path: String) throws -> LoRAConfig {
        func bad(_ key: String, _ expected: String) -> LoRAError { .badField(path: path, key: key, expected: expected) }
        func unsupported(_ key: String, _ v: JSONValue, _ reason: String) -> LoRAError {
            .unsupportedOption(path: path, key: key, value: render(v), reason: reason)
        }
        var handled: Set<String> = []
        func take(_ key: String) -> JSONValue? { handled.insert(key); return obj[key] }
        func requireFlag(_ key: String, equals expected: JSONValue, _ reason: String) throws {
            guard let v = take(key), v != .null else { return }
            if v != expected { throw unsupported(key, v, reason) }
        }

        guard let type = take("peft_type") else { throw bad("peft_type", "\"LORA\" (the key is missing)") }
        guard type == .string("LORA") else { throw unsupported("peft_type", type, "sentimentd reads LoRA adapters only") }
        if let task = take("task_type"), task != .string("SEQ_CLS") {
            throw unsupported("task_type", task, "sentimentd serves sequence classifiers: task_type must be \"SEQ_CLS\"")
        }
        var config = LoRAConfig()
        if let b = take("base_model_name_or_path"), b != .null {
            guard let s = b.stringValue else { throw bad("base_model_name_or_path", "a string") }
            config.baseModelNameOrPath = s
        }
        guard let r = take("r") else { throw bad("r", "an integer >= 1 (the key is missing)") }
        guard let rank = r.intValue, LoRAConfig.ranks.contains(rank) else {
            throw bad("r", "an integer from \(LoRAConfig.ranks.lowerBound) to \(LoRAConfig.ranks.upperBound)")
        }
        config.r = rank
        if let a = take("lora_alpha") {
            guard let alpha = a.doubleValue else { throw bad("lora_alpha", "a number") }
            config.alpha = alpha
        } else { config.alpha = 8 }  // peft's default
        if let d = take("lora_dropout") {
            guard let p = d.doubleValue else { throw bad("lora_dropout", "a number") }
            config.dropout = Float(p)
        } else { config.dropout = 0 }
        guard let targets = take("target_modules"), targets != .null else {
            throw bad("target_modules", "a list of module names (the key is missing)")
        }
        switch targets {
        case let .array(items):
            config.targetModules = try items.map {
                guard let s = $0.stringValue else { throw bad("target_modules", "a list of strings") }
                return s
            }
        case .string:
            throw unsupported("target_modules", targets,
                              "a single string is a regular expression or \"all-linear\" in peft; sentimentd needs a list of module names")
        default: throw bad("target_modules", "a list of module names")
        }
        if let m = take("modules_to_save"), m != .null {
            guard case let .array(items) = m else { throw bad("modules_to_save", "a list of module names or null") }
            var names: [String] = []
            for item in items {
                guard let s = item.stringValue else { throw bad("modules_to_save", "a list of strings") }
                if !names.contains(s) { names.append(s) }
            }
            config.modulesToSave = names
        } else {
            // peft's PeftModelForSequenceClassification saves its classifier names whatever the config says.
            config.modulesToSave = ["classifier", "score"]
        }
        try requireFlag("bias", equals: .string("none"), "LoRA bias terms are not supported: \"bias\" must be \"none\"")
        try requireFlag("fan_in_fan_out", equals: .bool(false), "the encoder's Linear layers store (out, in) weights")
        try requireFlag("use_rslora", equals: .bool(false), "only the scale lora_alpha / r is supported")
        try requireFlag("use_dora", equals: .bool(false), "DoRA is not supported")
        try requireFlag("lora_bias", equals: .bool(false), "LoRA bias terms are not supported")
        if let v = take("init_lora_weights"), case let .string(s) = v {
            // These initialisations rewrite the base weights; an adapter trained with them needs that
            // modified base (or peft's conversion on save).
            for prefix in ["pissa", "olora", "corda", "loftq"] where s.lowercased().hasPrefix(prefix) {
                throw unsupported("init_lora_weights", v, "\(prefix) changes the base model's weights")
            }
        }
        for key in ["rank_pattern", "alpha_pattern", "loftq_config"] {
            if let v = take(key), !isUnset(v) { throw unsupported(key, v, "per-module ranks, scales and LoftQ are not supported") }
        }
        for (key, v) in obj.sorted(by: { $0.key < $1.key }) where !handled.contains(key) && !informational.contains(key) {
            if !isUnset(v) {
                throw unsupported(key, v, "this option changes what the adapter computes and sentimentd does not implement it")
            }
        }
        return config
    }

    /// null, false, {} and [] leave an option at its default.
    static func isUnset(_ v: JSONValue) -> Bool {
        switch v {
        case .null: return true
        case let .bool(b): return !b
        case let .array(a): return a.isEmpty
        case let .object(o): return o.isEmpty
        default: return false
        }
    }

    static func render(_ v: JSONValue) -> String {
        String(decoding: {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return (try? enc.encode(v)) ?? Data("?".utf8)
        }(), as: UTF8.self)
    }

    /// The file as peft 0.21's `save_pretrained` writes it (every key it writes, defaults where
    /// sentimentd has nothing to say), for `config` over a model of `family`.
    static func serialized(_ config: LoRAConfig, family: ModelFamily) -> Data {
        // Decimal text of the Float (0.05, not 0.05000000074505806).
        let dropout = Double("\(config.dropout)") ?? Double(config.dropout)
        var modules = config.resolvedModulesToSave(family)
        if !modules.contains("score") { modules.append("score") }  // what peft adds for SEQ_CLS
        let obj: [String: JSONValue] = [
            "alora_invocation_tokens": .null,
            "alpha_pattern": .object([:]),
            "arrow_config": .null,
            "auto_mapping": .null,
            "base_model_name_or_path": config.baseModelNameOrPath.map { .string($0) } ?? .null,
            "bias": .string("none"),
            "corda_config": .null,
            "ensure_weight_tying": .bool(false),
            "eva_config": .null,
            "exclude_modules": .null,
            "fan_in_fan_out": .bool(false),
            "inference_mode": .bool(true),
            "init_lora_weights": .bool(true),
            "kasa_config": .null,
            "layer_replication": .null,
            "layers_pattern": .null,
            "layers_to_transform": .null,
            "loftq_config": .object([:]),
            "lora_alpha": .number(config.alpha),
            "lora_bias": .bool(false),
            "lora_dropout": .number(dropout),
            "lora_ga_config": .null,
            "megatron_config": .null,
            "megatron_core": .string("megatron.core"),
            "modules_to_save": .array(modules.map { .string($0) }),
            "monteclora_config": .null,
            "peft_type": .string("LORA"),
            "qalora_group_size": .number(16),
            "r": .number(Double(config.r)),
            "rank_pattern": .object([:]),
            "revision": .null,
            "target_modules": .array(config.targetModules.map { .string($0) }),
            "target_parameters": .null,
            "task_type": .string("SEQ_CLS"),
            "trainable_token_indices": .null,
            "use_bdlora": .null,
            "use_dora": .bool(false),
            "use_qalora": .bool(false),
            "use_rslora": .bool(false),
            "velora_config": .null,
        ]
        var data = JSONValue.object(obj).serialized()
        data.append(0x0A)
        return data
    }
}
