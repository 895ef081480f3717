import SentimentCheckpoint

/// One transformer block's parameters. q, k and v are fused into one (3C, C) Linear so that each
/// layer runs one QKV GEMM; checkpoints keep them as three tensors (see WeightNames).
public struct EncoderLayerParams: @unchecked Sendable {
    public let qkv: Linear        // (3C, C): rows 0..<C query, C..<2C key, 2C..<3C value
    public let attnOut: Linear    // (C, C)
    public let attnNorm: LayerNormParams
    public let ffnUp: Linear      // (I, C)
    public let ffnDown: Linear    // (C, I)
    public let ffnNorm: LayerNormParams

    package init(qkv: Linear, attnOut: Linear, attnNorm: LayerNormParams, ffnUp: Linear, ffnDown: Linear,
                 ffnNorm: LayerNormParams) {
        self.qkv = qkv
        self.attnOut = attnOut
        self.attnNorm = attnNorm
        self.ffnUp = ffnUp
        self.ffnDown = ffnDown
        self.ffnNorm = ffnNorm
    }
}

/// Sequence-classification heads of `transformers`.
public enum ClassifierHead: @unchecked Sendable {
    /// RobertaClassificationHead: dense (C, C) + tanh + out_proj (labels, C) on the first token.
    case roberta(dense: Linear, outProj: Linear)
    /// BertForSequenceClassification: pooler (the encoder's, dense + tanh on [CLS]) + classifier (labels, C).
    case bert(classifier: Linear)
}

/// All parameters of an encoder (+ optional pooler and classifier head).
public final class EncoderWeights: @unchecked Sendable {
    public let config: ModelConfig
    public let embeddings: EmbeddingParams
    public let layers: [EncoderLayerParams]
    /// BERT's pooler (dense + tanh on [CLS]); nil for RoBERTa classifiers, which do not use it.
    public let pooler: Linear?
    public let head: ClassifierHead?

    public init(config: ModelConfig, embeddings: EmbeddingParams, layers: [EncoderLayerParams],
                pooler: Linear?, head: ClassifierHead?) {
        self.config = config
        self.embeddings = embeddings
        self.layers = layers
        self.pooler = pooler
        self.head = head
    }

    /// fp32 bytes held by the parameters.
    public var parameterCount: Int {
        var n = embeddings.word.count + embeddings.position.count + embeddings.tokenType.count + 2 * config.hiddenSize
        for l in layers {
            n += l.qkv.weight.count + l.qkv.bias.count + l.attnOut.weight.count + l.attnOut.bias.count
            n += l.ffnUp.weight.count + l.ffnUp.bias.count + l.ffnDown.weight.count + l.ffnDown.bias.count
            n += 4 * config.hiddenSize
        }
        if let p = pooler { n += p.weight.count + p.bias.count }
        switch head {
        case let .roberta(d, o)?: n += d.weight.count + d.bias.count + o.weight.count + o.bias.count
        case let .bert(c)?: n += c.weight.count + c.bias.count
        case nil: break
        }
        return n
    }
}
