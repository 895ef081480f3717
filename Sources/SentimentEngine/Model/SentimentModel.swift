import Foundation
import SentimentCore
import SentimentCheckpoint
import SentimentTokenizers

/// One text's classification: the winning label and every label's probability (indexed like `id2label`).
public struct Prediction: Sendable, Equatable {
    public let labelIndex: Int
    public let label: String
    public let probabilities: [Float]

    public init(labelIndex: Int, label: String, probabilities: [Float]) {
        self.labelIndex = labelIndex
        self.label = label
        self.probabilities = probabilities
    }
}

/// How a model folder is turned into a classifier.
public struct ModelLoadOptions: Sendable {
    /// Apply the cardiffnlp tweet normalisation (`@name` -> `@user`, `http…` -> `http`) before tokenising.
    /// nil: on for RoBERTa models (the reference twitter-roberta checkpoints expect it), off for BERT.
    public var normalizeTweets: Bool?
    /// Longest token sequence (specials included); nil: the model's position limit, at most 512.
    public var maxLength: Int?
    /// Keep a copy of the dense weights packed for the few-row AVX2 kernel (`PackedWeights`), when this CPU
    /// runs it: single texts and small batches get 15-30 % faster GEMMs, for as much memory again as the
    /// encoder's dense weights (RoBERTa-base: 324 MiB). `SENTIMENTD_KERNELS=openblas` turns it off process-wide.
    public var packWeights: Bool
    /// The dense layers' precision (see `Precision`). int8 quantizes the encoder's dense weights once, at load
    /// (or takes a shared base's), and packs no fp32 copy (`packWeights` is then not used).
    public var precision: Precision

    public init(normalizeTweets: Bool? = nil, maxLength: Int? = nil, packWeights: Bool = true, precision: Precision = .fp32) {
        self.normalizeTweets = normalizeTweets
        self.maxLength = maxLength
        self.packWeights = packWeights
        self.precision = precision
    }
}

/// A Hugging Face sequence-classification folder loaded for inference: config, tokenizer, weights.
/// Immutable and thread-safe: concurrent `predict` calls each use their own activations.
public final class SentimentModel: Sendable {
    public let config: ModelConfig
    public let folder: URL
    public let tokenizer: any Tokenizer
    public let encoder: TransformerEncoder
    public let maxLength: Int
    public let normalizesTweets: Bool
    /// Set for a LoRA adapter (see `load(adapterFolder:base:options:)`), in int8 too, where it is merged.
    public let adapter: LoRAConfig?

    public var labels: [String] { config.id2label }
    public var precision: Precision { encoder.precision }

    /// `lora`: updates computed beside `weights`' dense layers (which stay shared and unmodified).
    /// `packed`: `weights`' layers already packed (a shared base's); else packed here when
    /// `options.packWeights`. The weights must not change after this (the model is immutable).
    ///
    /// int8 (`options.precision`): the dense layers are quantized here, an adapter's update merged in first (see
    /// `QuantizedEncoderLayer.init(_:merging:index:scheme:)`), unless `quantized` brings them (then `lora`, if any,
    /// runs beside them in fp32). The model keeps no reference to the fp32 dense matrices: once whoever passed
    /// `weights` lets go of them, their memory is freed.
    public init(config: ModelConfig, folder: URL, tokenizer: any Tokenizer, weights: EncoderWeights,
                options: ModelLoadOptions = .init(), lora: LoRAWeights? = nil, packed: [PackedEncoderLayer]? = nil,
                quantized: [QuantizedEncoderLayer]? = nil) {
        self.config = config
        self.folder = folder
        self.tokenizer = tokenizer
        self.adapter = lora?.config
        var weights = weights, lora = lora, quantized = quantized
        switch options.precision {
        case .int8:
            if quantized == nil {
                quantized = QuantizedEncoderLayer.quantizeAll(weights.layers, merging: lora)
                lora = nil
            }
            if weights.hasDenseWeights { weights = weights.droppingDenseWeights() }
        case .fp32:
            precondition(weights.hasDenseWeights, "an fp32 model needs its dense weights")
            quantized = nil
        }
        let packed = options.packWeights && quantized == nil ? packed ?? PackedEncoderLayer.packAll(weights.layers) : nil
        self.encoder = TransformerEncoder(weights: weights, lora: lora, packed: packed, quantized: quantized)
        let limit = min(512, encoder.maxSequenceLength)
        self.maxLength = max(2, min(options.maxLength ?? limit, limit))
        self.normalizesTweets = options.normalizeTweets ?? (config.family == .roberta)
    }

    /// Loads `folder/config.json`, the tokenizer files and `model.safetensors` (or `pytorch_model.bin`),
    /// validating every tensor's presence and shape. Errors name the file and what is wrong. In int8 each encoder
    /// layer is quantized as it is read and its fp32 matrices dropped, so the load never holds the whole fp32
    /// encoder (RoBERTa-base: 324 MiB of dense weights).
    public static func load(folder: URL, options: ModelLoadOptions = .init()) throws -> SentimentModel {
        try load(try ModelFolderReader(folder), options: options)
    }

    /// `load(folder:)` with the folder's files read through `files`, which keeps their digests (and checks them
    /// against the digests it expects, when it has some).
    public static func load(_ files: ModelFolderReader, options: ModelLoadOptions = .init()) throws -> SentimentModel {
        let config = try ModelConfig.load(files, hint: "a model folder is a Hugging Face checkpoint directory")
        let tokenizer = try TokenizerLoader.load(files, config: config)
        let archive = try CheckpointFiles.openWeights(in: files)
        guard options.precision == .int8 else {
            let weights = try WeightMap.load(archive, config: config, requireHead: true)
            return SentimentModel(config: config, folder: files.url, tokenizer: tokenizer, weights: weights, options: options)
        }
        var quantized: [QuantizedEncoderLayer] = []
        let weights = try WeightMap.load(archive, config: config, requireHead: true) { layer in
            quantized.append(QuantizedEncoderLayer(layer))
            return layer.droppingDenseWeights()
        }
        return SentimentModel(config: config, folder: files.url, tokenizer: tokenizer, weights: weights, options: options,
                              quantized: quantized)
    }

    /// This model in int8: its dense layers quantized (an adapter merged in first), everything else shared (the
    /// same buffers: embeddings, biases, LayerNorms, head, tokenizer). The copy holds no reference to this model's
    /// fp32 dense weights. What a version's int8 check compares against the fp32 model it starts from.
    public func int8Model() -> SentimentModel {
        if precision == .int8 { return self }
        return SentimentModel(config: config, folder: folder, tokenizer: tokenizer, weights: encoder.weights,
                              options: ModelLoadOptions(normalizeTweets: normalizesTweets, maxLength: maxLength, precision: .int8),
                              lora: encoder.lora)
    }

    /// Token ids of one text as the model sees it: normalised if configured, with specials, truncated.
    public func encode(_ text: String) -> [Int32] {
        tokenizer.encode(normalizesTweets ? TweetNormalizer.normalize(text) : text, maxLength: maxLength)
    }

    /// Logits for already-encoded texts (B, labels).
    public func logits(encoded: [[Int32]]) -> [[Float]] {
        encoder.logits(encoded)
    }

    public func predict(encoded: [[Int32]]) -> [Prediction] {
        logits(encoded: encoded).map { row in
            let p = softmax(row)
            var best = 0
            for i in p.indices where p[i] > p[best] { best = i }
            return Prediction(labelIndex: best, label: config.id2label[best], probabilities: p)
        }
    }

    public func predict(_ texts: [String]) -> [Prediction] {
        predict(encoded: texts.map(encode))
    }

    /// The name of the first weight tensor (Hugging Face name; LoRA factors as `lora.<layer>.<index>.A/B`)
    /// that holds a NaN or an infinity, nil when every weight is finite. One SIMD pass over the weights on
    /// the calling thread (about 0.1 s for RoBERTa-base): it finds a broken value anywhere, which probe
    /// texts only find in the rows and positions they happen to use.
    /// Throws `ModelLoadError.nonFiniteWeights` naming the first weight that holds a NaN or an infinity: what
    /// every command that serves or predicts with a folder checks before the first prediction.
    public func requireFiniteWeights() throws {
        if let tensor = firstNonFiniteWeight() { throw ModelLoadError.nonFiniteWeights(folder: folder.path, tensor: tensor) }
    }

    public func firstNonFiniteWeight() -> String? {
        var buffers = encoder.weights.namedBuffers.map { ($0.name, $0.buffer) }
        if let lora = encoder.lora {
            for (l, pairs) in lora.layers.enumerated() {
                for (i, pair) in pairs.enumerated() {
                    guard let pair else { continue }
                    buffers.append(("lora.\(l).\(i).A", pair.a))
                    buffers.append(("lora.\(l).\(i).B", pair.b))
                }
            }
        }
        return buffers.first { named in
            Pacing.point()
            return !allFinite(named.1.pointer, count: named.1.count)
        }?.0
    }
}
