import Foundation

/// The Hugging Face parameter names of a BERT or RoBERTa sequence classifier: the one table that loading
/// (`WeightMap.load`), saving (`WeightMap.stateDict`), training (`TrainableModel`, the resumable checkpoint) and
/// LoRA (target modules, the adapter's saved head) read, so a name is spelled once.
///
/// ```
/// <prefix>embeddings.{word,position,token_type}_embeddings.weight, <prefix>embeddings.LayerNorm.{weight,bias}
/// <prefix>encoder.layer.N.<LayerModule>.{weight,bias}
/// <prefix>pooler.dense.{weight,bias}                       (BERT's head uses it; RoBERTa checkpoints may carry it)
/// classifier.dense.*, classifier.out_proj.*                (RoBERTa head)   |   classifier.*   (BERT head)
/// ```
/// `prefix` is `roberta.` / `bert.` in *ForSequenceClassification checkpoints and empty for a bare encoder (a
/// BertModel as sentence-transformers saves it).
public struct ParameterNames: Sendable, Equatable {
    public let family: ModelFamily
    public let prefix: String

    public init(family: ModelFamily, prefix: String? = nil) {
        self.family = family
        self.prefix = prefix ?? family.rawValue + "."
    }

    /// The modules of one encoder block, by the path `transformers` gives them inside the block.
    public enum LayerModule: String, CaseIterable, Sendable {
        case query = "attention.self.query"
        case key = "attention.self.key"
        case value = "attention.self.value"
        case attentionOutput = "attention.output.dense"
        case attentionNorm = "attention.output.LayerNorm"
        case intermediate = "intermediate.dense"
        case output = "output.dense"
        case outputNorm = "output.LayerNorm"

        /// Query, key and value, in the row order of the fused projection.
        public static let attentionProjections: [LayerModule] = [.query, .key, .value]
    }

    /// Our own name of the fused attention projection ([3C, C], rows query | key | value) while training; files
    /// never hold it (`stateDict` splits it into the three modules above).
    public static let fusedQKV = "attention.self.qkv"

    public var wordEmbeddings: String { prefix + "embeddings.word_embeddings" }
    public var positionEmbeddings: String { prefix + "embeddings.position_embeddings" }
    public var tokenTypeEmbeddings: String { prefix + "embeddings.token_type_embeddings" }
    public var embeddingsNorm: String { prefix + "embeddings.LayerNorm" }
    public var embeddingModules: [String] { [wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings, embeddingsNorm] }

    public func layer(_ index: Int) -> String { prefix + "encoder.layer.\(index)." }
    public func module(_ module: LayerModule, layer index: Int) -> String { layer(index) + module.rawValue }
    public func fusedQKV(layer index: Int) -> String { layer(index) + Self.fusedQKV }

    public var pooler: String { prefix + "pooler.dense" }

    /// The head's modules: RoBERTa `classifier.dense` + `classifier.out_proj`; BERT `classifier` (on the pooler).
    public var headDense: String? { family == .roberta ? "classifier.dense" : nil }
    public var headOutput: String { family == .roberta ? "classifier.out_proj" : "classifier" }
    public var headModules: [String] { (headDense.map { [$0] } ?? []) + [headOutput] }
    /// Every module of the model in state-dict order for the layers `0..<layers`, pooler and head included.
    public func allModules(layers: Int) -> [String] {
        embeddingModules + (0..<layers).flatMap { i in LayerModule.allCases.map { module($0, layer: i) } } + [pooler]
            + headModules
    }
}
