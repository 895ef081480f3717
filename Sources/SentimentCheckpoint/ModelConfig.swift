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

/// The sizes sentimentd accepts in a `config.json`, checked before anything is computed or allocated from them.
///
/// Why: a config's sizes become loop bounds, products and buffer lengths; a file may say anything (a vocabulary
/// of 8e15 rows, -1 labels). Each bound is far above every encoder of the families served (RoBERTa-large:
/// hidden 1024, 24 layers, intermediate 4096, 514 positions; XLM-R: a 250,002-token vocabulary), and far below
/// what would overflow the arithmetic. The weights file bounds the rest: every tensor the config implies must be
/// in it with that shape, and the tensors a load reads may not need more bytes than the file holds.
public enum ModelLimits {
    public static let vocabSize = 1...4_194_304
    public static let hiddenSize = 1...16_384
    public static let layers = 1...256
    public static let intermediateSize = 1...131_072
    public static let positions = 1...131_072
    public static let typeVocabSize = 1...1_024
    public static let labels = 1...10_000
    /// Characters of one label name.
    public static let labelNameLength = 1_000
}

public enum ConfigError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case notJSONObject(path: String)
    case missingField(path: String, field: String)
    case badField(path: String, field: String, expected: String)
    /// A size outside `ModelLimits` (`value` as written in the file).
    case outOfRange(path: String, field: String, value: String, accepted: ClosedRange<Int>)
    case unsupportedModelType(path: String, modelType: String)
    case unsupportedActivation(path: String, activation: String)
    case inconsistent(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): cannot read config: \(reason)"
        case let .notJSONObject(path): return "\(path): config is not a JSON object"
        case let .missingField(path, field): return "\(path): required field \"\(field)\" is missing"
        case let .badField(path, field, expected): return "\(path): field \"\(field)\" must be \(expected)"
        case let .outOfRange(path, field, value, accepted):
            return "\(path): field \"\(field)\" is \(value); sentimentd accepts \(accepted.lowerBound)...\(accepted.upperBound)"
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
        try load(try ModelFolderReader(folder), hint: hint, defaultLabels: defaultLabels)
    }

    /// `load(folder:hint:)` through the folder's reader.
    public static func load(_ files: ModelFolderReader, hint: String, defaultLabels: [String]? = nil) throws -> ModelConfig {
        guard files.exists(ModelFolderLayout.config) else {
            throw ModelLoadError.missingFile(folder: files.url.path, file: ModelFolderLayout.config, hint: hint)
        }
        return try load(from: files, name: ModelFolderLayout.config, defaultLabels: defaultLabels)
    }

    public static func load(from url: URL, defaultLabels: [String]? = nil) throws -> ModelConfig {
        try load(from: ModelFolderReader(url.deletingLastPathComponent()), name: url.lastPathComponent, defaultLabels: defaultLabels)
    }

    /// Reads `config.json` (or `name`) of a model folder through its reader.
    public static func load(from folder: ModelFolderReader, name: String = "config.json",
                            defaultLabels: [String]? = nil) throws -> ModelConfig {
        let url = folder.url.appendingPathComponent(name)
        let data: Data
        do { data = try folder.contents(name, limit: 16 << 20) } catch let error as CheckpointError {
            throw ConfigError.unreadable(path: url.path, reason: "\(error)")
        }
        let value: JSONValue
        do { value = try JSONValue.parse(data) } catch {
            throw ConfigError.unreadable(path: url.path, reason: "invalid JSON: \(error)")
        }
        guard case let .object(obj) = value else { throw ConfigError.notJSONObject(path: url.path) }
        return try ModelConfig(json: obj, path: url.path, defaultLabels: defaultLabels)
    }

    public init(json obj: [String: JSONValue], path: String, defaultLabels: [String]? = nil) throws {
        /// An integer size within `accepted`: anything else (negative, fractional, a string, 1e300) is refused
        /// naming the field and the value.
        func int(_ key: String, default def: Int? = nil, in accepted: ClosedRange<Int>) throws -> Int {
            guard let v = obj[key], v != .null else {
                guard let def else { throw ConfigError.missingField(path: path, field: key) }
                // A default is held to the same bounds: a RoBERTa config without pad_token_id means 1, which a
                // one-token vocabulary does not have (and the config written back, with the 1 in it, is refused).
                guard accepted.contains(def) else {
                    throw ConfigError.outOfRange(path: path, field: key, value: "\(def) (the default: the field is absent)",
                                                 accepted: accepted)
                }
                return def
            }
            return try ModelConfig.size(v, field: key, path: path, in: accepted)
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
            // Above 1 it would swamp the variance of any trained activation; Float() of 1e300 is infinity.
            guard let d = e.doubleValue, d > 0, d < 1, Float(d) > 0 else {
                throw ConfigError.badField(path: path, field: "layer_norm_eps", expected: "a number between 0 and 1")
            }
            eps = Float(d)
        } else { eps = 1e-12 }

        let hidden = try int("hidden_size", in: ModelLimits.hiddenSize)
        let heads = try int("num_attention_heads", in: 1...hidden)
        guard hidden % heads == 0 else {
            throw ConfigError.inconsistent(path: path,
                reason: "hidden_size \(hidden) is not a multiple of num_attention_heads \(heads)")
        }
        let labels = try ModelConfig.parseLabels(obj, path: path, defaultLabels: defaultLabels)
        let vocab = try int("vocab_size", in: ModelLimits.vocabSize)
        self.init(
            family: family,
            vocabSize: vocab,
            hiddenSize: hidden,
            numLayers: try int("num_hidden_layers", in: ModelLimits.layers),
            numHeads: heads,
            intermediateSize: try int("intermediate_size", in: ModelLimits.intermediateSize),
            maxPositionEmbeddings: try int("max_position_embeddings", default: 512, in: ModelLimits.positions),
            typeVocabSize: try int("type_vocab_size", default: 2, in: ModelLimits.typeVocabSize),
            layerNormEps: eps,
            padTokenId: try int("pad_token_id", default: family == .roberta ? 1 : 0, in: 0...(vocab - 1)),
            hiddenAct: act,
            id2label: labels,
            raw: obj)
        if family == .roberta && maxPositionEmbeddings <= padTokenId + 1 {
            throw ConfigError.inconsistent(path: path,
                reason: "max_position_embeddings \(maxPositionEmbeddings) leaves no positions after pad_token_id \(padTokenId)")
        }
    }

    /// A size field: an integer (written as one; 3.0 is accepted as JSON does) within `accepted`.
    static func size(_ v: JSONValue, field: String, path: String, in accepted: ClosedRange<Int>) throws -> Int {
        guard let d = v.doubleValue else {
            throw ConfigError.badField(path: path, field: field, expected: "an integer (found \(Self.render(v)))")
        }
        guard d.isFinite, d == d.rounded() else {
            throw ConfigError.badField(path: path, field: field, expected: "an integer (found \(Self.render(v)))")
        }
        guard d >= Double(accepted.lowerBound), d <= Double(accepted.upperBound) else {
            throw ConfigError.outOfRange(path: path, field: field, value: Self.render(v), accepted: accepted)
        }
        return Int(d)
    }

    static func render(_ v: JSONValue) -> String {
        switch v {
        case let .int(i): return String(i)
        case let .double(d): return d == d.rounded() && abs(d) < 1e18 ? String(Int64(d)) : String(d)
        case let .string(s): return "\"\(s.prefix(40))\""
        case .null: return "null"
        case let .bool(b): return String(b)
        case .array: return "a list"
        case .object: return "an object"
        }
    }

    static func parseLabels(_ obj: [String: JSONValue], path: String, defaultLabels: [String]?) throws -> [String] {
        var declared: Int?
        if let n = obj["num_labels"], n != .null {
            declared = try size(n, field: "num_labels", path: path, in: ModelLimits.labels)
        }
        if let v = obj["id2label"] {
            guard case let .object(map) = v, !map.isEmpty else {
                throw ConfigError.badField(path: path, field: "id2label", expected: "a non-empty object of index -> name")
            }
            guard map.count <= ModelLimits.labels.upperBound else {
                throw ConfigError.outOfRange(path: path, field: "id2label", value: "\(map.count) entries",
                                             accepted: ModelLimits.labels)
            }
            var labels = [String?](repeating: nil, count: map.count)
            for (k, name) in map {
                guard let i = Int(k), i >= 0, i < map.count else {
                    throw ConfigError.badField(path: path, field: "id2label",
                        expected: "keys 0..\(map.count - 1) (found \"\(k)\")")
                }
                guard case let .string(s) = name, !s.isEmpty, s.count <= ModelLimits.labelNameLength else {
                    throw ConfigError.badField(path: path, field: "id2label[\(k)]",
                                               expected: "a label name of 1 to \(ModelLimits.labelNameLength) characters")
                }
                labels[i] = s
            }
            let result = labels.compactMap { $0 }
            guard result.count == map.count else {
                throw ConfigError.badField(path: path, field: "id2label", expected: "one name per index 0..\(map.count - 1)")
            }
            if let n = declared, n != result.count {
                throw ConfigError.inconsistent(path: path, reason: "num_labels \(n) disagrees with id2label (\(result.count) entries)")
            }
            return result
        }
        if let defaultLabels { return defaultLabels }
        return (0..<(declared ?? 2)).map { "LABEL_\($0)" }
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
