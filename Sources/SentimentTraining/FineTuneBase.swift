import Foundation
import SentimentCore
import SentimentCheckpoint
import SentimentTokenizers
import SentimentEngine

/// The model a run starts from: a Hugging Face folder's config, tokenizer and weights, with a
/// classification head for the run's labels — the folder's own, or a new one initialised as
/// `transformers` initialises a fresh `*ForSequenceClassification` head (normal(0, 0.02) weights,
/// zero biases) when the folder is a bare encoder (e.g. all-MiniLM-L6-v2) or `newHead` asks for it.
public struct FineTuneBase {
    public let folder: URL
    /// The config of the model being trained; `id2label` holds the run's labels.
    public let config: ModelConfig
    public let tokenizer: any Tokenizer
    public let weights: EncoderWeights
    /// Why a new head was made, or nil when the folder's head is trained further.
    public let newHeadReason: String?
    /// A BERT pooler had to be created too (an encoder saved without one).
    public let poolerCreated: Bool
    /// LoRA runs (`loadForLoRA`): the adapters being trained, new or read from `adapterFolder`; the
    /// encoder's buffers in `weights` are then the base's, only read. nil for full fine-tuning.
    public var lora: LoRAWeights? = nil
    /// The adapter folder a LoRA run trains further (its base is `folder`).
    public var adapterFolder: URL? = nil

    public var headCreated: Bool { newHeadReason != nil }
    public var labels: LabelSet { LabelSet(config.id2label) }

    /// - labels: the run's label names; nil keeps the head's labels, or for a new head
    ///   negative/neutral/positive.
    /// - newHead: replace an existing head by a new one (needed when `labels` differ from the head's).
    /// - seed: the run's seed (the new head's initialisation derives from it).
    public static func load(folder: URL, labels: [String]? = nil, newHead: Bool = false, seed: UInt64) throws -> FineTuneBase {
        let files = try ModelFolderReader(folder)
        if let labels {
            guard !labels.isEmpty, Set(labels.map { $0.lowercased() }).count == labels.count,
                  !labels.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty || Int($0) != nil }) else {
                throw TrainingError.badSetting(.labels, reason: "needs distinct, non-empty, non-numeric names (got \(labels))")
            }
        }
        var config = try ModelConfig.load(files, hint: "the base must be a Hugging Face model folder",
                                          defaultLabels: labels ?? LabelSet.tweetEval)
        let tokenizer = try TokenizerLoader.load(files, config: config)
        let archive = try CheckpointFiles.openWeights(in: files)
        let loaded = try WeightMap.load(archive, config: config, requireHead: false)

        var reason: String?
        if loaded.head == nil {
            reason = "\(archive.path) has no classification head (a bare encoder)"
        } else if newHead {
            reason = "a new head was asked for (new_head), replacing the checkpoint's head"
        } else if let labels, labels != config.id2label {
            throw TrainingError.labelsDifferFromHead(folder: folder.path, head: config.id2label, requested: labels)
        }
        guard let reason else {
            return FineTuneBase(folder: folder, config: config, tokenizer: tokenizer, weights: loaded,
                                newHeadReason: nil, poolerCreated: false)
        }
        // A new head: the run's labels (the head's own when only --new-head was given on a
        // classifier, TweetEval's three otherwise).
        let names = labels ?? (loaded.head != nil ? config.id2label : LabelSet.tweetEval)
        config.id2label = names
        var rng = SeededRandom(seed: derivedSeed(seed, stream: .headInit, index: 0))
        let range = config.raw["initializer_range"]?.doubleValue ?? 0.02
        guard range > 0, range <= 1 else {
            throw ConfigError.badField(path: files.path("config.json"), field: "initializer_range", expected: "a number in (0, 1]")
        }
        let std = Float(range)
        let head = RandomInit.head(config: config, std: std, rng: &rng)
        var pooler = loaded.pooler
        var poolerCreated = false
        if config.family == .bert && pooler == nil {
            pooler = RandomInit.linear(out: config.hiddenSize, inp: config.hiddenSize, std: std, rng: &rng)
            poolerCreated = true
        }
        let weights = EncoderWeights(config: config, embeddings: loaded.embeddings, layers: loaded.layers,
                                     pooler: pooler, head: head)
        return FineTuneBase(folder: folder, config: config, tokenizer: tokenizer, weights: weights,
                            newHeadReason: reason, poolerCreated: poolerCreated)
    }

    /// A line for the user: which head the run trains.
    public var headDescription: String {
        let labels = config.id2label.joined(separator: ", ")
        guard let newHeadReason else { return "training the checkpoint's classification head (labels: \(labels))" }
        let std = config.raw["initializer_range"]?.doubleValue ?? 0.02
        let kind = config.family == .roberta ? "classifier.dense + classifier.out_proj" : "classifier"
        return "\(newHeadReason): created a new classification head (\(kind)\(poolerCreated ? " and the BERT pooler" : ""); "
            + "weights normal(0, \(std)), biases 0) for labels \(labels)"
    }
}

/// Token ids of texts as the trained model will see them at inference (`SentimentModel.encode`):
/// the cardiffnlp tweet normalisation for RoBERTa unless told otherwise, specials, truncation.
public struct TextEncoder: Sendable {
    public let tokenizer: any Tokenizer
    public let maxLength: Int
    public let normalizesTweets: Bool

    public init(tokenizer: any Tokenizer, config: ModelConfig, maxLength: Int, normalizeTweets: Bool?) {
        self.tokenizer = tokenizer
        let limit = min(512, TransformerEncoder.maxSequenceLength(config))
        self.maxLength = max(2, min(maxLength, limit))
        self.normalizesTweets = normalizeTweets ?? (config.family == .roberta)
    }

    public func encode(_ text: String) -> [Int32] {
        tokenizer.encode(normalizesTweets ? TweetNormalizer.normalize(text) : text, maxLength: maxLength)
    }

    /// All texts, encoded on every core.
    public func encode(_ texts: [String]) -> [[Int32]] {
        var out = [[Int32]](repeating: [], count: texts.count)
        out.withUnsafeMutableBufferPointer { buf in
            let base = buf.baseAddress!
            Parallel.forRanges(texts.count, grain: 64) { range in
                for i in range { (base + i).pointee = encode(texts[i]) }
            }
        }
        return out
    }
}

extension TransformerEncoder {
    /// The longest sequence `config`'s position table allows (see `maxSequenceLength`).
    static func maxSequenceLength(_ config: ModelConfig) -> Int {
        switch config.family {
        case .bert: return config.maxPositionEmbeddings
        case .roberta: return config.maxPositionEmbeddings - config.padTokenId - 1
        }
    }
}
