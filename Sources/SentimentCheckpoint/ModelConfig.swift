import Foundation
import SentimentCore

/// The encoder families sentimentd runs.
public enum ModelFamily: String, Sendable, Codable {
    case roberta
    case bert
}

/// The fields of a Hugging Face `config.json` that the encoder and its heads need.
public struct ModelConfig: Sendable, Equatable {
    public var family: ModelFamily
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var intermediateSize: Int
    public var maxPositionEmbeddings: Int
    public var typeVocabSize: Int
    public var layerNormEps: Float
    public var padTokenId: Int
    public var hiddenAct: String
    /// Label names by class index; `numLabels == id2label.count`.
    public var id2label: [String]
    /// The full JSON object as read, so that a checkpoint we write keeps every key we do not interpret.
    public var raw: [String: JSONValue]

    public var numLabels: Int { id2label.count }
    public var headDim: Int { hiddenSize / numHeads }

    public init(family: ModelFamily, vocabSize: Int, hiddenSize: Int, numLayers: Int, numHeads: Int,
                intermediateSize: Int, maxPositionEmbeddings: Int, typeVocabSize: Int, layerNormEps: Float,
                padTokenId: Int, hiddenAct: String = "gelu", id2label: [String], raw: [String: JSONValue] = [:]) {
        self.family = family
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.numLayers = numLayers
        self.numHeads = numHeads
        self.intermediateSize = intermediateSize
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps
        self.padTokenId = padTokenId
        self.hiddenAct = hiddenAct
        self.id2label = id2label
        self.raw = raw
    }

    /// Label index by name, as `label2id` of the config (falls back to `id2label` reversed).
    public var label2id: [String: Int] {
        var map: [String: Int] = [:]
        for (i, name) in id2label.enumerated() { map[name] = i }
        return map
    }
}

public enum ConfigError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case notJSONObject(path: String)
    case missingField(path: String, field: String)
    case badField(path: String, field: String, expected: String)
    case unsupportedModelType(path: String, modelType: String)
    case unsupportedActivation(path: String, activation: String)
    case inconsistent(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): cannot read config: \(reason)"
        case let .notJSONObject(path): return "\(path): config is not a JSON object"
        case let .missingField(path, field): return "\(path): required field \"\(field)\" is missing"
        case let .badField(path, field, expected): return "\(path): field \"\(field)\" must be \(expected)"
        case let .unsupportedModelType(path, t):
            return "\(path): model_type \"\(t)\" is not supported (supported: roberta, bert)"
        case let .unsupportedActivation(path, a):
            return "\(path): hidden_act \"\(a)\" is not supported (supported: gelu)"
        case let .inconsistent(path, reason): return "\(path): \(reason)"
        }
    }
}

extension ModelConfig {
    /// Reads `config.json`. `defaultLabels` names the classes when the config has no `id2label`
    /// (a bare encoder such as all-MiniLM-L6-v2 that a new head is being trained for).
    /// `folder/config.json` (ModelFolderLayout.config); a folder without one is `missingFile`, with `hint` saying
    /// what the folder was meant to be.
    public static func load(folder: URL, hint: String, defaultLabels: [String]? = nil) throws -> ModelConfig {
        let url = folder.appendingPathComponent(ModelFolderLayout.config)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelLoadError.missingFile(folder: folder.path, file: ModelFolderLayout.config, hint: hint)
        }
        return try load(from: url, defaultLabels: defaultLabels)
    }

    public static func load(from url: URL, defaultLabels: [String]? = nil) throws -> ModelConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ConfigError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        let value: JSONValue
        do { value = try JSONValue.parse(data) } catch {
            throw ConfigError.unreadable(path: url.path, reason: "invalid JSON: \(error)")
        }
        guard case let .object(obj) = value else { throw ConfigError.notJSONObject(path: url.path) }
        return try ModelConfig(json: obj, path: url.path, defaultLabels: defaultLabels)
    }

    public init(json obj: [String: JSONValue], path: String, defaultLabels: [String]? = nil) throws {
        func int(_ key: String, default def: Int? = nil) throws -> Int {
            guard let v = obj[key], v != .null else {
                if let def { return def }
                throw ConfigError.missingField(path: path, field: key)
            }
            guard let i = v.intValue, i >= 0 else {
                throw ConfigError.badField(path: path, field: key, expected: "a non-negative integer")
            }
            return i
        }
        guard let mt = obj["model_type"] else { throw ConfigError.missingField(path: path, field: "model_type") }
        guard case let .string(modelType) = mt else {
            throw ConfigError.badField(path: path, field: "model_type", expected: "a string")
        }
        // xlm-roberta and camembert share RoBERTa's architecture and tensor names.
        let family: ModelFamily
        switch modelType {
        case "roberta", "xlm-roberta", "camembert": family = .roberta
        case "bert": family = .bert
        default: throw ConfigError.unsupportedModelType(path: path, modelType: modelType)
        }
        let act: String
        if let a = obj["hidden_act"] {
            guard case let .string(s) = a else {
                throw ConfigError.badField(path: path, field: "hidden_act", expected: "a string")
            }
            act = s
        } else { act = "gelu" }
        guard act == "gelu" else { throw ConfigError.unsupportedActivation(path: path, activation: act) }

        let eps: Float
        if let e = obj["layer_norm_eps"] {
            guard let d = e.doubleValue, d > 0 else {
                throw ConfigError.badField(path: path, field: "layer_norm_eps", expected: "a positive number")
            }
            eps = Float(d)
        } else { eps = 1e-12 }

        let hidden = try int("hidden_size")
        let heads = try int("num_attention_heads")
        guard hidden > 0, heads > 0, hidden % heads == 0 else {
            throw ConfigError.inconsistent(path: path,
                reason: "hidden_size \(hidden) is not a positive multiple of num_attention_heads \(heads)")
        }
        let labels = try ModelConfig.parseLabels(obj, path: path, defaultLabels: defaultLabels)
        self.init(
            family: family,
            vocabSize: try int("vocab_size"),
            hiddenSize: hidden,
            numLayers: try int("num_hidden_layers"),
            numHeads: heads,
            intermediateSize: try int("intermediate_size"),
            maxPositionEmbeddings: try int("max_position_embeddings", default: 512),
            typeVocabSize: try int("type_vocab_size", default: 2),
            layerNormEps: eps,
            padTokenId: try int("pad_token_id", default: family == .roberta ? 1 : 0),
            hiddenAct: act,
            id2label: labels,
            raw: obj)
        if numLayers == 0 || vocabSize == 0 || intermediateSize == 0 {
            throw ConfigError.inconsistent(path: path,
                reason: "vocab_size, num_hidden_layers and intermediate_size must be positive")
        }
        if family == .roberta && maxPositionEmbeddings <= padTokenId + 1 {
            throw ConfigError.inconsistent(path: path,
                reason: "max_position_embeddings \(maxPositionEmbeddings) leaves no positions after pad_token_id \(padTokenId)")
        }
    }

    static func parseLabels(_ obj: [String: JSONValue], path: String, defaultLabels: [String]?) throws -> [String] {
        if let v = obj["id2label"] {
            guard case let .object(map) = v, !map.isEmpty else {
                throw ConfigError.badField(path: path, field: "id2label", expected: "a non-empty object of index -> name")
            }
            var labels = [String?](repeating: nil, count: map.count)
            for (k, name) in map {
                guard let i = Int(k), i >= 0, i < map.count else {
                    throw ConfigError.badField(path: path, field: "id2label",
                        expected: "keys 0..\(map.count - 1) (found \"\(k)\")")
                }
                guard case let .string(s) = name else {
                    throw ConfigError.badField(path: path, field: "id2label[\(k)]", expected: "a string")
                }
                labels[i] = s
            }
            let result = labels.compactMap { $0 }
            guard result.count == map.count else {
                throw ConfigError.badField(path: path, field: "id2label", expected: "one name per index 0..\(map.count - 1)")
            }
            if let n = obj["num_labels"]?.intValue, n != result.count {
                throw ConfigError.inconsistent(path: path, reason: "num_labels \(n) disagrees with id2label (\(result.count) entries)")
            }
            return result
        }
        if let defaultLabels { return defaultLabels }
        let n = obj["num_labels"]?.intValue ?? 2
        return (0..<n).map { "LABEL_\($0)" }
    }

    /// The config as `transformers` writes it, with our architecture fields and labels set.
    public func jsonObject() -> [String: JSONValue] {
        var obj = raw
        obj["model_type"] = .string(raw["model_type"]?.stringValue ?? family.rawValue)
        obj["vocab_size"] = .number(Double(vocabSize))
        obj["hidden_size"] = .number(Double(hiddenSize))
        obj["num_hidden_layers"] = .number(Double(numLayers))
        obj["num_attention_heads"] = .number(Double(numHeads))
        obj["intermediate_size"] = .number(Double(intermediateSize))
        obj["max_position_embeddings"] = .number(Double(maxPositionEmbeddings))
        obj["type_vocab_size"] = .number(Double(typeVocabSize))
        obj["layer_norm_eps"] = .number(Double(layerNormEps))
        obj["pad_token_id"] = .number(Double(padTokenId))
        obj["hidden_act"] = .string(hiddenAct)
        var i2l: [String: JSONValue] = [:]
        var l2i: [String: JSONValue] = [:]
        for (i, name) in id2label.enumerated() {
            i2l[String(i)] = .string(name)
            l2i[name] = .number(Double(i))
        }
        obj["id2label"] = .object(i2l)
        obj["label2id"] = .object(l2i)
        obj.removeValue(forKey: "num_labels")
        let arch = family == .roberta ? "RobertaForSequenceClassification" : "BertForSequenceClassification"
        obj["architectures"] = .array([.string(arch)])
        return obj
    }
}
