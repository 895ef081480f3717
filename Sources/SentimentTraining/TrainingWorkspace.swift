import SentimentCheckpoint
import SentimentEngine

/// What the backward pass needs from one encoder layer's forward: qkv (T, 3C), then for R rows
/// (R = T, or B for the last layer, which goes on with the first tokens only) ctx (R, C), the attention
/// LayerNorm's input sum1 (R, C) with mean1/rstd1 (R), the FFN pre-activation pre (R, I) and the output
/// LayerNorm's input sum2 (R, C) with mean2/rstd2 (R). The backward pass overwrites `pre` with gelu'(pre).
final class LayerActivations {
    let qkv, ctx, sum1, mean1, rstd1, pre, sum2, mean2, rstd2: FloatBuffer

    init(tokens t: Int, rows r: Int, hidden c: Int, intermediate i: Int) {
        qkv = FloatBuffer(count: t * 3 * c)
        ctx = FloatBuffer(count: r * c)
        sum1 = FloatBuffer(count: r * c)
        mean1 = FloatBuffer(count: r)
        rstd1 = FloatBuffer(count: r)
        pre = FloatBuffer(count: r * i)
        sum2 = FloatBuffer(count: r * c)
        mean2 = FloatBuffer(count: r)
        rstd2 = FloatBuffer(count: r)
    }
}

/// All buffers of a training step, allocated once for a capacity of T tokens and B sequences and
/// reused while batches fit. Scratch buffers serve both passes: `x` is the residual stream in the
/// forward pass and holds recomputed LayerNorm outputs in the backward pass. A layer's backward pass
/// runs its FFN part before its attention part, so the attention part's buffers live in memory the FFN
/// part is done with: dqkv in `up`, dctx in `x` (between the FFN-up weight gradient, the last reader of
/// the recomputed LayerNorm output, and the recomputation of the layer's input). Layers that keep no
/// activations run their forward qkv in `up` and ctx in `dres`.
final class TrainingWorkspace {
    let tokenCapacity: Int
    let sequenceCapacity: Int
    let layers: [LayerActivations?]
    /// The input of the first layer that backpropagates (the embeddings' output after dropout for layer 0).
    let firstInput: FloatBuffer
    let embSum, embMean, embRstd: FloatBuffer?
    let x, tmp, dres: FloatBuffer
    /// (T, max(I, 3C)): GELU activations, then their gradient; also dqkv.
    let up: FloatBuffer
    var dqkv: UnsafeMutablePointer<Float> { up.pointer }
    var dctx: UnsafeMutablePointer<Float> { x.pointer }
    /// qkv and ctx of a layer that keeps no activations, in the forward pass.
    var scratchQKV: UnsafeMutablePointer<Float> { up.pointer }
    var scratchCtx: UnsafeMutablePointer<Float> { dres.pointer }
    let headInput, headHidden, headHiddenDropped: FloatBuffer
    /// (B, C) scratch for the last layer's first-token rows.
    let firstRowsA, firstRowsB: FloatBuffer
    let logits, probs, dlogits: FloatBuffer

    init(config: ModelConfig, tokens t: Int, sequences b: Int, savedLayers: Range<Int>, embeddingsTrain: Bool) {
        let c = config.hiddenSize, inter = config.intermediateSize, k = config.numLabels
        tokenCapacity = t
        sequenceCapacity = b
        let last = config.numLayers - 1
        layers = (0..<config.numLayers).map {
            savedLayers.contains($0) ? LayerActivations(tokens: t, rows: $0 == last ? b : t, hidden: c, intermediate: inter) : nil
        }
        firstInput = FloatBuffer(count: savedLayers.isEmpty ? 0 : t * c)
        embSum = embeddingsTrain ? FloatBuffer(count: t * c) : nil
        embMean = embeddingsTrain ? FloatBuffer(count: t) : nil
        embRstd = embeddingsTrain ? FloatBuffer(count: t) : nil
        x = FloatBuffer(count: t * c)
        tmp = FloatBuffer(count: t * c)
        up = FloatBuffer(count: t * max(inter, 3 * c))
        dres = FloatBuffer(count: t * c)
        headInput = FloatBuffer(count: b * c)
        headHidden = FloatBuffer(count: b * c)
        headHiddenDropped = FloatBuffer(count: b * c)
        firstRowsA = FloatBuffer(count: b * c)
        firstRowsB = FloatBuffer(count: b * c)
        logits = FloatBuffer(count: b * k)
        probs = FloatBuffer(count: b * k)
        dlogits = FloatBuffer(count: b * k)
    }

    var headActivations: ClassifierHeadActivations {
        ClassifierHeadActivations(input: headInput.pointer, hidden: headHidden.pointer, hiddenDropped: headHiddenDropped.pointer)
    }
}
