import SentimentCheckpoint

/// Parameters initialised as `transformers` does for a new model: Linear and embedding weights
/// normal(0, initializer_range), biases 0, LayerNorm weight 1 and bias 0. Used for new classifier
/// heads and for benchmarks at real model dimensions without real weights.
public enum RandomInit {
    public static func normal(_ count: Int, std: Float, rng: inout SeededRandom) -> FloatBuffer {
        let b = FloatBuffer(count: count)
        for i in 0..<count { b.pointer[i] = rng.nextNormal() * std }
        return b
    }

    public static func linear(out: Int, inp: Int, std: Float, rng: inout SeededRandom) -> Linear {
        Linear(weight: normal(out * inp, std: std, rng: &rng), bias: FloatBuffer(count: out),
               inFeatures: inp, outFeatures: out)
    }

    public static func layerNorm(_ c: Int, eps: Float) -> LayerNormParams {
        let w = FloatBuffer(count: c)
        w.pointer.update(repeating: 1, count: c)
        return LayerNormParams(weight: w, bias: FloatBuffer(count: c), eps: eps)
    }

    /// A classification head for `config` (labels from id2label), as a fresh
    /// *ForSequenceClassification gets it.
    public static func head(config: ModelConfig, std: Float = 0.02, rng: inout SeededRandom) -> ClassifierHead {
        let c = config.hiddenSize
        switch config.family {
        case .roberta:
            return .roberta(dense: linear(out: c, inp: c, std: std, rng: &rng),
                            outProj: linear(out: config.numLabels, inp: c, std: std, rng: &rng))
        case .bert:
            return .bert(classifier: linear(out: config.numLabels, inp: c, std: std, rng: &rng))
        }
    }

    /// A whole model with random weights (benchmarks, tests). `eachLayer` as in `WeightMap.load`.
    public static func weights(config: ModelConfig, std: Float = 0.02, seed: UInt64 = 42, withHead: Bool = true,
                               eachLayer: (EncoderLayerParams) -> EncoderLayerParams = { $0 }) -> EncoderWeights {
        var rng = SeededRandom(seed: seed)
        let c = config.hiddenSize, inter = config.intermediateSize
        let emb = EmbeddingParams(
            word: normal(config.vocabSize * c, std: std, rng: &rng),
            position: normal(config.maxPositionEmbeddings * c, std: std, rng: &rng),
            tokenType: normal(config.typeVocabSize * c, std: std, rng: &rng),
            norm: layerNorm(c, eps: config.layerNormEps), width: c)
        let layers = (0..<config.numLayers).map { _ in
            eachLayer(EncoderLayerParams(
                qkv: linear(out: 3 * c, inp: c, std: std, rng: &rng),
                attnOut: linear(out: c, inp: c, std: std, rng: &rng),
                attnNorm: layerNorm(c, eps: config.layerNormEps),
                ffnUp: linear(out: inter, inp: c, std: std, rng: &rng),
                ffnDown: linear(out: c, inp: inter, std: std, rng: &rng),
                ffnNorm: layerNorm(c, eps: config.layerNormEps)))
        }
        let pooler = config.family == .bert ? linear(out: c, inp: c, std: std, rng: &rng) : nil
        let head = withHead ? self.head(config: config, std: std, rng: &rng) : nil
        return EncoderWeights(config: config, embeddings: emb, layers: layers, pooler: pooler, head: head)
    }
}

extension ModelConfig {
    /// roberta-base dimensions with a 3-label sentiment head (twitter-roberta-base-sentiment-latest's shape).
    public static var robertaBase: ModelConfig {
        ModelConfig(family: .roberta, vocabSize: 50265, hiddenSize: 768, numLayers: 12, numHeads: 12,
                    intermediateSize: 3072, maxPositionEmbeddings: 514, typeVocabSize: 1, layerNormEps: 1e-5,
                    padTokenId: 1, id2label: ["negative", "neutral", "positive"],
                    raw: ["model_type": .string("roberta")])
    }

    /// all-MiniLM-L6-v2 dimensions (BERT, 6 layers, hidden 384, 12 heads, FFN 1536) with a 3-label head:
    /// the encoder of the shipped default model and of the fine-tuning reference run.
    public static var miniLML6: ModelConfig {
        ModelConfig(family: .bert, vocabSize: 30522, hiddenSize: 384, numLayers: 6, numHeads: 12,
                    intermediateSize: 1536, maxPositionEmbeddings: 512, typeVocabSize: 2, layerNormEps: 1e-12,
                    padTokenId: 0, id2label: ["negative", "neutral", "positive"],
                    raw: ["model_type": .string("bert")])
    }
}
