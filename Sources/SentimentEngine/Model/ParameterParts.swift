import SentimentCheckpoint

/// One parameter tensor by name, with the buffer that holds it (no copy).
package struct NamedBuffer {
    package let name: String
    package let shape: [Int]
    package let buffer: FloatBuffer

    package init(name: String, shape: [Int], buffer: FloatBuffer) {
        self.name = name
        self.shape = shape
        self.buffer = buffer
    }
}

/// Parts of a model to name: any subset (frozen parts left out), as weights or as their gradients (which have
/// the same structure, so the two lists pair up entry by entry).
package struct ParameterParts {
    package var embeddings: EmbeddingParams?
    package var layers: [(index: Int, params: EncoderLayerParams)] = []
    package var pooler: Linear?
    package var head: ClassifierHead?

    package init(embeddings: EmbeddingParams? = nil, layers: [(index: Int, params: EncoderLayerParams)] = [],
                 pooler: Linear? = nil, head: ClassifierHead? = nil) {
        self.embeddings = embeddings
        self.layers = layers
        self.pooler = pooler
        self.head = head
    }

    /// Every parameter under its name, the attention projection fused (`attention.self.qkv`), in state-dict order.
    package func named(_ names: ParameterNames) -> [NamedBuffer] {
        var out: [NamedBuffer] = []
        func add(_ name: String, _ l: Linear) {
            out.append(NamedBuffer(name: name + ".weight", shape: [l.outFeatures, l.inFeatures], buffer: l.weight))
            out.append(NamedBuffer(name: name + ".bias", shape: [l.outFeatures], buffer: l.bias))
        }
        func add(_ name: String, _ n: LayerNormParams) {
            out.append(NamedBuffer(name: name + ".weight", shape: [n.width], buffer: n.weight))
            out.append(NamedBuffer(name: name + ".bias", shape: [n.width], buffer: n.bias))
        }
        if let e = embeddings {
            let c = e.width
            out.append(NamedBuffer(name: names.wordEmbeddings + ".weight", shape: [e.word.count / c, c], buffer: e.word))
            out.append(NamedBuffer(name: names.positionEmbeddings + ".weight", shape: [e.position.count / c, c], buffer: e.position))
            out.append(NamedBuffer(name: names.tokenTypeEmbeddings + ".weight", shape: [e.tokenType.count / c, c], buffer: e.tokenType))
            add(names.embeddingsNorm, e.norm)
        }
        for (i, layer) in layers {
            add(names.fusedQKV(layer: i), layer.qkv)
            add(names.module(.attentionOutput, layer: i), layer.attnOut)
            add(names.module(.attentionNorm, layer: i), layer.attnNorm)
            add(names.module(.intermediate, layer: i), layer.ffnUp)
            add(names.module(.output, layer: i), layer.ffnDown)
            add(names.module(.outputNorm, layer: i), layer.ffnNorm)
        }
        if let pooler { add(names.pooler, pooler) }
        switch head {
        case let .roberta(dense, outProj)?:
            add(names.headDense!, dense)
            add(names.headOutput, outProj)
        case let .bert(classifier)?:
            add(names.headOutput, classifier)
        case nil: break
        }
        return out
    }
}

extension EncoderWeights {
    /// Every parameter of the model, frozen ones included.
    package var parts: ParameterParts {
        ParameterParts(embeddings: embeddings, layers: Array(layers.enumerated().map { ($0.offset, $0.element) }),
                       pooler: pooler, head: head)
    }

    /// Every parameter buffer under the names `TrainableModel.parameters` uses (the attention projections fused as
    /// `attention.self.qkv`).
    package var namedBuffers: [NamedBuffer] { parts.named(ParameterNames(family: config.family)) }
}

extension ClassifierHead {
    /// The family whose head this is.
    var family: ModelFamily {
        if case .roberta = self { return .roberta }
        return .bert
    }
}
