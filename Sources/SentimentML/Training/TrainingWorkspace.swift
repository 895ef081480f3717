/// What the backward pass needs from one encoder layer's forward (capacity T rows; the last layer
/// fills only B rows after attention): qkv (T, 3C), ctx (T, C), the attention LayerNorm's input sum1
/// (T, C) with mean1/rstd1 (T), the FFN pre-activation pre (T, I), the output LayerNorm's input sum2
/// (T, C) with mean2/rstd2 (T).
final class LayerActivations {
    let qkv, ctx, sum1, mean1, rstd1, pre, sum2, mean2, rstd2: FloatBuffer

    init(tokens t: Int, hidden c: Int, intermediate i: Int) {
        qkv = FloatBuffer(count: t * 3 * c)
        ctx = FloatBuffer(count: t * c)
        sum1 = FloatBuffer(count: t * c)
        mean1 = FloatBuffer(count: t)
        rstd1 = FloatBuffer(count: t)
        pre = FloatBuffer(count: t * i)
        sum2 = FloatBuffer(count: t * c)
        mean2 = FloatBuffer(count: t)
        rstd2 = FloatBuffer(count: t)
    }
}

/// All buffers of a training step, allocated once for a capacity of T tokens and B sequences and
/// reused while batches fit. Scratch buffers serve both passes: `x` is the residual stream in the
/// forward pass and holds recomputed LayerNorm outputs in the backward pass. `dqkv` and `dctx` live in
/// the memory of `up` and `geluDerivative`, which are dead whenever those are live (the attention part
/// of a layer's backward pass runs after its FFN part); in the forward pass they hold the qkv/ctx of
/// layers that keep no activations.
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
    /// (T, max(I, C)): gelu'(pre) of the layer being differentiated; also dctx.
    let geluDerivative: FloatBuffer
    var dqkv: UnsafeMutablePointer<Float> { up.pointer }
    var dctx: UnsafeMutablePointer<Float> { geluDerivative.pointer }
    let headInput, headHidden, headHiddenDropped: FloatBuffer
    /// (B, C) scratch for the last layer's first-token rows.
    let firstRowsA, firstRowsB: FloatBuffer
    let logits, probs, dlogits: FloatBuffer

    init(config: ModelConfig, tokens t: Int, sequences b: Int, savedLayers: Range<Int>, embeddingsTrain: Bool) {
        let c = config.hiddenSize, inter = config.intermediateSize, k = config.numLabels
        tokenCapacity = t
        sequenceCapacity = b
        layers = (0..<config.numLayers).map { savedLayers.contains($0) ? LayerActivations(tokens: t, hidden: c, intermediate: inter) : nil }
        firstInput = FloatBuffer(count: savedLayers.isEmpty ? 0 : t * c)
        embSum = embeddingsTrain ? FloatBuffer(count: t * c) : nil
        embMean = embeddingsTrain ? FloatBuffer(count: t) : nil
        embRstd = embeddingsTrain ? FloatBuffer(count: t) : nil
        x = FloatBuffer(count: t * c)
        tmp = FloatBuffer(count: t * c)
        up = FloatBuffer(count: t * max(inter, 3 * c))
        geluDerivative = FloatBuffer(count: t * max(inter, c))
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
