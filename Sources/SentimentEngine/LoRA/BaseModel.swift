import Foundation
import SentimentCheckpoint
import SentimentTokenizers

/// A base model loaded once and shared, read-only, by every LoRA adapter served over it: config,
/// tokenizer and weights. A classification head is optional (a bare encoder such as
/// all-MiniLM-L6-v2 is a valid base: its adapters bring their own head).
public final class BaseModel: @unchecked Sendable {
    public let folder: URL
    public let config: ModelConfig
    public let tokenizer: any Tokenizer
    /// Never written after loading; adapters reference these buffers, they do not copy them.
    public let weights: EncoderWeights
    /// Used by `classifier()` when it is given no options.
    public let options: ModelLoadOptions
    private let packLock = NSLock()
    private var packedLayers: [PackedEncoderLayer]?

    /// The base's dense weights packed for the AVX2 kernel, made on first use and shared by every model
    /// served over this base (nil when the kernel does not run here).
    public func packed() -> [PackedEncoderLayer]? {
        packLock.lock()
        defer { packLock.unlock() }
        if packedLayers == nil { packedLayers = PackedEncoderLayer.packAll(weights.layers) }
        return packedLayers
    }

    /// What a model served over this base with `options` shares of it: the packed fp32 dense weights. An int8
    /// model shares none of the dense layers: it quantizes its own, with its adapter merged in.
    func sharedPacked(_ options: ModelLoadOptions) -> [PackedEncoderLayer]? {
        options.precision == .fp32 && options.packWeights ? packed() : nil
    }

    public init(folder: URL, config: ModelConfig, tokenizer: any Tokenizer, weights: EncoderWeights,
                options: ModelLoadOptions = .init()) {
        self.folder = folder
        self.config = config
        self.tokenizer = tokenizer
        self.weights = weights
        self.options = options
    }

    /// Loads a Hugging Face model folder (config.json, tokenizer files, model.safetensors or
    /// pytorch_model.bin), with or without a classification head.
    public static func load(folder: URL, options: ModelLoadOptions = .init()) throws -> BaseModel {
        try load(try ModelFolderReader(folder), options: options)
    }

    /// `load(folder:)` through a reader (which keeps the files' digests).
    public static func load(_ files: ModelFolderReader, options: ModelLoadOptions = .init()) throws -> BaseModel {
        let config = try ModelConfig.load(files, hint: "the base of a LoRA adapter is a Hugging Face model folder")
        let tokenizer = try TokenizerLoader.load(files, config: config)
        let weights = try WeightMap.load(try CheckpointFiles.openWeights(in: files), config: config, requireHead: false)
        return BaseModel(folder: files.url, config: config, tokenizer: tokenizer, weights: weights, options: options)
    }

    public var hasHead: Bool { weights.head != nil }

    /// The base itself as a classifier (same buffers, no copy); it needs a head.
    public func classifier(options: ModelLoadOptions? = nil) throws -> SentimentModel {
        guard weights.head != nil else {
            throw ModelLoadError.noClassifierHead(file: folder.path, family: config.family)
        }
        let options = options ?? self.options
        return SentimentModel(config: config, folder: folder, tokenizer: tokenizer, weights: weights,
                              options: options, packed: sharedPacked(options))
    }
}

extension SentimentModel {
    /// A LoRA adapter folder served over `base`. In fp32 the model shares the base's weight buffers (several
    /// adapters over one base cost only their own tensors) and computes each adapted layer unmerged,
    /// y = x Wᵀ + b + (alpha / r) · (x Aᵀ) Bᵀ, with the adapter's head (its `modules_to_save`). In int8 the
    /// update is merged into the dense weights as they are quantized (the base's fp32 buffers are only read).
    /// Labels: see `AdapterFolder`. Tokenizer: the adapter folder's own files when it has any, else the base's.
    public static func load(adapterFolder: URL, base: BaseModel, options: ModelLoadOptions = .init()) throws -> SentimentModel {
        try load(adapter: try ModelFolderReader(adapterFolder), base: base, options: options)
    }

    /// `load(adapterFolder:base:)` with the adapter's files read through `files`.
    public static func load(adapter files: ModelFolderReader, base: BaseModel, options: ModelLoadOptions = .init()) throws -> SentimentModel {
        let adapter = try AdapterFolder.load(files, base: base.config)
        let weights = try adapterWeights(adapter, base: base)
        let hasTokenizer = ModelFolderWriter.tokenizerFiles.contains { files.exists($0) }
        let tokenizer = hasTokenizer ? try TokenizerLoader.load(files, config: weights.config) : base.tokenizer
        return SentimentModel(config: weights.config, folder: files.url, tokenizer: tokenizer, weights: weights,
                              options: options, lora: adapter.lora, packed: base.sharedPacked(options))
    }

    /// The base's embeddings and layers (the same buffers) with the adapter's head and labels.
    static func adapterWeights(_ adapter: LoRAAdapter, base: BaseModel) throws -> EncoderWeights {
        var config = base.config
        config.id2label = adapter.labels
        guard let head = adapter.head ?? base.weights.head else { throw LoRAError.noHead(folder: adapter.folder.path) }
        let pooler = adapter.pooler ?? base.weights.pooler
        if config.family == .bert && pooler == nil {
            throw LoRAError.baseMismatch(folder: adapter.folder.path,
                reason: "the base \(base.folder.path) has no pooler and the adapter saves none (modules_to_save has no \"pooler\")")
        }
        let outputs: Int
        switch head {
        case let .roberta(_, outProj): outputs = outProj.outFeatures
        case let .bert(classifier): outputs = classifier.outFeatures
        }
        guard outputs == adapter.labels.count else {
            throw LoRAError.labelsMismatch(folder: adapter.folder.path, labels: adapter.labels, headOutputs: outputs)
        }
        return EncoderWeights(config: config, embeddings: base.weights.embeddings, layers: base.weights.layers,
                              pooler: config.family == .bert ? pooler : nil, head: head)
    }
}
