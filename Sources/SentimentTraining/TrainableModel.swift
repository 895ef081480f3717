import Foundation
import SentimentCore
import SentimentCheckpoint
import SentimentEngine

/// One trainable tensor: its Hugging Face name, shape, current value, accumulated gradient, and
/// whether AdamW decays it (not biases and LayerNorm parameters, as the HF Trainer).
/// The fused attention projection is one tensor, named `<prefix>encoder.layer.N.attention.self.qkv.weight`
/// ([3C, C], rows: query | key | value) and `….qkv.bias` ([3C]); WeightMap.stateDict splits it again.
public struct TrainableParameter: @unchecked Sendable {
    public let name: String
    public let shape: [Int]
    public let value: FloatBuffer
    public let grad: FloatBuffer
    public let decays: Bool
    public var count: Int { value.count }
}

/// A BERT/RoBERTa sequence classifier being fine-tuned: forward in train mode over a packed
/// (padding-free) batch, backward into gradient buffers that mirror the parameters, in place.
///
/// Memory: per trainable layer the forward keeps qkv (T, 3C), the attention context (T, C), the two
/// LayerNorm inputs (T, C) with their statistics and the FFN pre-activation (T, I) — about 63 MB per
/// RoBERTa-base layer at T = 2048. Attention probabilities, LayerNorm outputs, GELU outputs and dropout
/// masks are recomputed in the backward pass instead of stored. Buffers are reused between steps and
/// grow to the largest batch seen. The last layer computes its post-attention part only for the first
/// token of each sequence (the only rows the head reads), forward and backward.
/// Not thread-safe: one training loop drives it.
public final class TrainableModel {
    public let weights: EncoderWeights
    public var config: ModelConfig { weights.config }
    public let freezeEmbeddings: Bool
    /// Layers 0..<freezeLayers get no gradient.
    public let freezeLayers: Int
    public private(set) var parameters: [TrainableParameter] = []
    /// Wall time of the last forwardBackward's two halves, seconds.
    public private(set) var lastTimings: (forward: Double, backward: Double) = (0, 0)

    let head: ClassifierHeadLinears
    let headGrads: ClassifierHeadLinears
    let embeddingGrads: EmbeddingParams?
    let layerGrads: [EncoderLayerParams?]
    /// Layers from here on keep activations and pass gradients down (all of them when the embeddings train).
    let firstBackwardLayer: Int
    /// LoRA mode: the adapters being trained (see LoRA/LoRATraining.swift); nil for full fine-tuning.
    let lora: LoRATrainingState?
    private var workspace: TrainingWorkspace?

    /// When set, forwardBackward accumulates the wall time of each kernel kind into `opSeconds`
    /// (for finding where a step's time goes; off by default).
    public var profileOps = false
    public private(set) var opSeconds: [String: Double] = [:]

    @inline(__always)
    private func op(_ name: String, _ body: () -> Void) {
        if !profileOps { body(); return }
        let t0 = monotonicSeconds()
        body()
        opSeconds[name, default: 0] += monotonicSeconds() - t0
    }

    /// Takes ownership of `weights` (which must have a classification head; give a bare encoder one
    /// with RandomInit.head first) and trains them in place.
    public convenience init(weights: EncoderWeights, freezeEmbeddings: Bool = false, freezeLayers: Int = 0) {
        self.init(weights: weights, freezeEmbeddings: freezeEmbeddings, freezeLayers: freezeLayers, lora: nil)
    }

    /// LoRA fine-tuning: every weight of `weights` but the head is frozen and only read (no gradient
    /// buffer, no optimizer state: the encoder's buffers may be shared with other models); gradients
    /// flow through every layer down to the first adapted one, into `lora`'s A and B and the head.
    /// `loraDropout` drops the LoRA branches' inputs in train mode (the base's own dropouts are
    /// forwardBackward's `dropout`). `lora` is trained in place.
    public convenience init(weights: EncoderWeights, lora: LoRAWeights, loraDropout: Float) {
        precondition(lora.layers.count == weights.layers.count && lora.family == weights.config.family,
                     "the adapter does not fit the encoder")
        self.init(weights: weights, freezeEmbeddings: true, freezeLayers: weights.layers.count,
                  lora: LoRATrainingState(weights: lora, dropout: loraDropout, config: weights.config))
    }

    init(weights: EncoderWeights, freezeEmbeddings: Bool, freezeLayers: Int, lora: LoRATrainingState?) {
        precondition(weights.head != nil, "TrainableModel needs a classification head (RandomInit.head for a bare encoder)")
        precondition(freezeLayers >= 0, "freezeLayers must be >= 0")
        self.weights = weights
        self.freezeEmbeddings = freezeEmbeddings
        self.lora = lora
        let nLayers = weights.layers.count
        let frozen = min(freezeLayers, nLayers)
        self.freezeLayers = frozen
        head = ClassifierHeadLinears(weights: weights)
        func zeros(_ l: Linear) -> Linear {
            Linear(weight: FloatBuffer(count: l.weight.count), bias: FloatBuffer(count: l.bias.count),
                   inFeatures: l.inFeatures, outFeatures: l.outFeatures)
        }
        func zeros(_ n: LayerNormParams) -> LayerNormParams {
            LayerNormParams(weight: FloatBuffer(count: n.width), bias: FloatBuffer(count: n.width), eps: n.eps)
        }
        headGrads = ClassifierHeadLinears(dense: zeros(head.dense), out: zeros(head.out), inputDropout: head.inputDropout)
        let e = weights.embeddings
        embeddingGrads = freezeEmbeddings ? nil : EmbeddingParams(
            word: ZeroPages.buffer(count: e.word.count), position: FloatBuffer(count: e.position.count),
            tokenType: FloatBuffer(count: e.tokenType.count), norm: zeros(e.norm), width: e.width)
        layerGrads = weights.layers.enumerated().map { i, l in
            i < frozen ? nil : EncoderLayerParams(
                qkv: zeros(l.qkv), attnOut: zeros(l.attnOut), attnNorm: zeros(l.attnNorm),
                ffnUp: zeros(l.ffnUp), ffnDown: zeros(l.ffnDown), ffnNorm: zeros(l.ffnNorm))
        }
        firstBackwardLayer = lora?.weights.firstAdaptedLayer ?? (freezeEmbeddings ? frozen : 0)
        parameters = (lora?.parameters ?? []) + buildParameterList()
    }

    /// The trainable tensors under their names (`ParameterNames`): the weights and their gradients are named by
    /// the same walk over the same parts, so the two lists pair up. Frozen parts have no gradient and are left out.
    private func buildParameterList() -> [TrainableParameter] {
        var values = ParameterParts(), grads = ParameterParts()
        if let g = embeddingGrads {
            values.embeddings = weights.embeddings
            grads.embeddings = g
        }
        for (i, layer) in weights.layers.enumerated() {
            guard let g = layerGrads[i] else { continue }
            values.layers.append((i, layer))
            grads.layers.append((i, g))
        }
        // The head as training holds it: RoBERTa dense + out_proj; BERT the pooler + classifier.
        switch weights.head {
        case .roberta?:
            values.head = .roberta(dense: head.dense, outProj: head.out)
            grads.head = .roberta(dense: headGrads.dense, outProj: headGrads.out)
        case .bert?:
            (values.pooler, values.head) = (head.dense, .bert(classifier: head.out))
            (grads.pooler, grads.head) = (headGrads.dense, .bert(classifier: headGrads.out))
        case nil: break
        }
        let names = ParameterNames(family: config.family)
        return zip(values.named(names), grads.named(names)).map { value, grad in
            precondition(value.name == grad.name && value.buffer.count == grad.buffer.count
                         && value.buffer.count == value.shape.reduce(1, *))
            // HF Trainer.get_decay_parameter_names: no decay for biases and LayerNorm parameters.
            let decays = !(value.name.hasSuffix("bias") || value.name.contains("LayerNorm"))
            return TrainableParameter(name: value.name, shape: value.shape, value: value.buffer, grad: grad.buffer, decays: decays)
        }
    }

    /// Clears every gradient. The word-embedding gradient is cleared row by row where forwardBackward
    /// wrote (its untouched pages stay unallocated, see ZeroPages).
    public func zeroGrad() {
        let wordGrad = embeddingGrads?.word
        forEachGradientChunk(parameters.filter { $0.grad !== wordGrad }) { g, n in g.update(repeating: 0, count: n) }
        if let wordGrad {
            let c = config.hiddenSize
            for row in touchedWordRows { (wordGrad.pointer + Int(row) * c).update(repeating: 0, count: c) }
            touchedWordRows.removeAll(keepingCapacity: true)
        }
    }

    /// Rows of the word-embedding gradient written since the last zeroGrad.
    private var touchedWordRows = Set<Int32>()

    /// Dropout sites: 0 the embeddings' output; per layer l: 1 + 3l attention probabilities,
    /// 2 + 3l attention output, 3 + 3l FFN output; the head derives its two from `headSite`.
    static let headSite = 1_000_000

    /// Forward and backward over one batch in train mode. Gradients ACCUMULATE into `parameters[i].grad`
    /// (call zeroGrad between optimizer steps). The loss is cross-entropy, class-weighted when
    /// `classWeights` (one per label) is given (torch semantics: Σ w_y nll / Σ w_y); its gradient is
    /// multiplied by `lossScale` (e.g. 1 / accumulation steps). Returns the unscaled mean loss of the batch
    /// and its logits (B, labels). `dropout` applies to hidden states, attention probabilities and the
    /// head, as transformers does with hidden/attention/classifier dropout equal; 0 turns it off. One
    /// UInt64 is drawn from `rng` per call (always, so the stream does not depend on the dropout rate).
    @discardableResult
    public func forwardBackward(_ sequences: [[Int32]], labels: [Int], classWeights: [Float]? = nil,
                                dropout: Float = 0.1, lossScale: Float = 1,
                                rng: inout SeededRandom) -> (loss: Float, logits: [[Float]]) {
        let cfg = config
        precondition(!sequences.isEmpty && labels.count == sequences.count, "one label per sequence")
        precondition(classWeights == nil || classWeights!.count == cfg.numLabels, "one class weight per label")
        let limit = TransformerEncoder(weights: weights).maxSequenceLength
        for s in sequences { precondition(!s.isEmpty && s.count <= limit, "sequence length \(s.count) outside 1...\(limit)") }
        let key = rng.next()
        let mask = dropout > 0 ? DropoutMask(p: dropout, key: key) : DropoutMask.off

        let t0 = monotonicSeconds()
        let batch = PackedBatch(lengths: sequences.map { $0.count })
        var ids: [Int32] = [], positions: [Int32] = []
        ids.reserveCapacity(batch.tokens)
        positions.reserveCapacity(batch.tokens)
        for s in sequences {
            ids.append(contentsOf: s)
            positions.append(contentsOf: positionIds(s, family: cfg.family, padTokenId: cfg.padTokenId))
        }
        let ws = workspace(tokens: batch.tokens, sequences: batch.count)
        lora?.beginStep(key: key, tokens: batch.tokens, sequences: batch.count)
        let loss = forward(batch: batch, ids: ids, positions: positions, labels: labels, classWeights: classWeights,
                           mask: mask, ws: ws)
        let k = cfg.numLabels
        let logits = (0..<batch.count).map { Array(UnsafeBufferPointer(start: ws.logits.pointer + $0 * k, count: k)) }
        let t1 = monotonicSeconds()
        crossEntropyBackward(dlogits: ws.dlogits.pointer, probs: ws.probs.pointer, labels: labels, classes: k,
                             classWeights: classWeights, scale: lossScale)
        backward(batch: batch, ids: ids, positions: positions, mask: mask, ws: ws)
        lastTimings = (t1 - t0, monotonicSeconds() - t1)
        return (loss, logits)
    }

    /// Buffers for at least `tokens` packed rows and `sequences` sequences, reused between steps.
    private func workspace(tokens: Int, sequences: Int) -> TrainingWorkspace {
        if let ws = workspace, ws.tokenCapacity >= tokens, ws.sequenceCapacity >= sequences { return ws }
        // Round up so that dynamically padded batches do not reallocate at every new maximum; free the
        // old buffers before making the new ones.
        let tCap = max(tokens, ((workspace?.tokenCapacity ?? 0) * 5 / 4 + 255) / 256 * 256)
        let bCap = max(sequences, workspace?.sequenceCapacity ?? 0)
        workspace = nil
        let ws = TrainingWorkspace(config: config, tokens: tCap, sequences: bCap,
                                   savedLayers: firstBackwardLayer..<weights.layers.count,
                                   embeddingsTrain: embeddingGrads != nil)
        workspace = ws
        return ws
    }

    // MARK: forward

    private func forward(batch: PackedBatch, ids: [Int32], positions: [Int32], labels: [Int], classWeights: [Float]?,
                         mask: DropoutMask, ws: TrainingWorkspace) -> Float {
        let cfg = config
        let c = cfg.hiddenSize, t = batch.tokens, b = batch.count
        let x = ws.x.pointer
        op("embeddingsForward") { embeddingsForward(out: x, ids: ids, positions: positions, params: weights.embeddings,
                          sum: ws.embSum?.pointer, mean: ws.embMean?.pointer, rstd: ws.embRstd?.pointer) }
        if mask.isActive { dropoutForward(x, rows: t, cols: c, mask: mask.site(0)) }
        let nLayers = weights.layers.count
        for l in 0..<nLayers {
            if l == firstBackwardLayer { ws.firstInput.pointer.update(from: x, count: t * c) }
            forwardLayer(l, batch: batch, compact: l == nLayers - 1, mask: mask, ws: ws)
        }
        // The last layer left the first token of each sequence in rows 0..<B of x.
        let saved = ws.headActivations
        op("classifierHeadForward") { classifierHeadForward(logits: ws.logits.pointer, x: x, rows: b, head: head, dropout: mask.site(Self.headSite),
                              saved: saved) }
        return crossEntropyForward(probs: ws.probs.pointer, logits: ws.logits.pointer, labels: labels,
                                   classes: cfg.numLabels, classWeights: classWeights)
    }

    /// One encoder layer on x (T, C) in place. `compact`: after attention, only the first token of each
    /// sequence goes on (gathered into rows 0..<B).
    private func forwardLayer(_ l: Int, batch: PackedBatch, compact: Bool, mask: DropoutMask, ws: TrainingWorkspace) {
        let cfg = config
        let c = cfg.hiddenSize, inter = cfg.intermediateSize, t = batch.tokens
        let layer = weights.layers[l]
        let a = ws.layers[l]
        let x = ws.x.pointer, up = ws.up.pointer
        // Frozen layers below the first that backpropagates keep nothing: the backward buffers are free now.
        let qkv = a?.qkv.pointer ?? ws.scratchQKV
        let ctx = a?.ctx.pointer ?? ws.scratchCtx
        if compact {
            op("linearForward qkv") { qkvForwardFirstQueries(qkv: qkv, x: x, batch: batch, layer: layer.qkv, ws: ws) }
        } else {
            op("linearForward qkv") { linearForward(out: qkv, inp: x, rows: t, layer: layer.qkv) }
        }
        if let lora { op("lora") { lora.forwardQKV(l, x: x, qkv: qkv, batch: batch, compact: compact) } }
        // compact: ctx gets one row per sequence.
        op("attentionForwardDropout") { attentionForwardDropout(ctx: ctx, qkv: qkv, batch: batch, heads: cfg.numHeads, headDim: cfg.headDim,
                                dropout: mask.site(1 + 3 * l), firstQueryOnly: compact) }
        var rows = t
        if compact {
            gatherFirstRows(x, batch: batch, cols: c)
            rows = batch.count
        }
        residualOutput(l, .attentionOutput, "linearForward attnOut", dense: layer.attnOut, norm: layer.attnNorm, inp: ctx, rows: rows,
                       dropout: mask.site(2 + 3 * l), ws: ws, sum: a?.sum1, mean: a?.mean1, rstd: a?.rstd1)
        op("linearForward ffnUp") { linearForward(out: up, inp: x, rows: rows, layer: layer.ffnUp, addBias: false) }
        if let lora { op("lora") { lora.forward(l, .intermediate, out: up, ldOut: inter, inp: x, rows: rows) } }
        if let pre = a?.pre.pointer {
            op("biasGELUForward") { biasGELUForwardSaving(up, bias: layer.ffnUp.bias.pointer, pre: pre, rows: rows, cols: inter) }
        } else {
            op("biasGELUForward") { biasGELUForward(up, bias: layer.ffnUp.bias.pointer, rows: rows, cols: inter) }
        }
        residualOutput(l, .output, "linearForward ffnDown", dense: layer.ffnDown, norm: layer.ffnNorm, inp: up, rows: rows,
                       dropout: mask.site(3 + 3 * l), ws: ws, sum: a?.sum2, mean: a?.mean2, rstd: a?.rstd2)
    }

    /// A sublayer's way back onto the residual stream x (attention's output projection, the feed-forward's down
    /// projection): `dense` of `inp` without its bias, the LoRA update, dropout (which adds the bias first), then
    /// x = LayerNorm(x + · + bias), keeping LayerNorm's input sum and statistics when the layer backpropagates.
    private func residualOutput(_ l: Int, _ target: LoRATarget, _ denseOp: String, dense: Linear, norm: LayerNormParams,
                                inp: UnsafeMutablePointer<Float>, rows: Int, dropout site: DropoutMask, ws: TrainingWorkspace,
                                sum: FloatBuffer?, mean: FloatBuffer?, rstd: FloatBuffer?) {
        let c = config.hiddenSize
        let x = ws.x.pointer, tmp = ws.tmp.pointer
        op(denseOp) { linearForward(out: tmp, inp: inp, rows: rows, layer: dense, addBias: false) }
        if let lora { op("lora") { lora.forward(l, target, out: tmp, ldOut: c, inp: inp, rows: rows) } }
        if site.isActive {
            op("dropoutForward") { dropoutForward(tmp, rows: rows, cols: c, mask: site, bias: dense.bias.pointer) }
        }
        op("layerNormForward") { layerNormForward(out: x, inp: tmp, residual: x, inpBias: site.isActive ? nil : dense.bias.pointer,
                         rows: rows, params: norm, sum: sum?.pointer, mean: mean?.pointer, rstd: rstd?.pointer) }
    }

    // MARK: backward

    private func backward(batch: PackedBatch, ids: [Int32], positions: [Int32], mask: DropoutMask, ws: TrainingWorkspace) {
        let cfg = config
        let c = cfg.hiddenSize, t = batch.tokens
        let nLayers = weights.layers.count
        // dres: ∂loss/∂(current layer's output), the residual stream's gradient.
        op("classifierHeadBackward") { classifierHeadBackward(dx: ws.dres.pointer, dlogits: ws.dlogits.pointer, rows: batch.count, head: head,
                               grads: headGrads, dropout: mask.site(Self.headSite), saved: ws.headActivations,
                               scratch: ws.tmp.pointer) }
        if firstBackwardLayer >= nLayers { return }
        for l in stride(from: nLayers - 1, through: firstBackwardLayer, by: -1) {
            backwardLayer(l, batch: batch, compact: l == nLayers - 1, mask: mask, ws: ws)
        }
        guard let g = embeddingGrads else { return }
        touchedWordRows.formUnion(ids)
        if mask.isActive { dropoutBackward(ws.dres.pointer, rows: t, cols: c, mask: mask.site(0)) }
        op("embeddingsBackward") { embeddingsBackward(dout: ws.dres.pointer, ids: ids, positions: positions, params: weights.embeddings,
                           sum: ws.embSum!.pointer, mean: ws.embMean!.pointer, rstd: ws.embRstd!.pointer, grads: g,
                           wordPaddingIdx: cfg.padTokenId,
                           positionPaddingIdx: cfg.family == .roberta ? cfg.padTokenId : nil) }
    }

    /// `residualOutput` backward, LayerNorm then dropout: ws.dres becomes ∂/∂(sublayer output + residual) (the
    /// LayerNorm's gradients added to `grads` when it trains); returns ∂/∂(the dense layer's output): ws.dres itself,
    /// or ws.tmp through the dropout mask.
    private func residualOutputBackward(norm: LayerNormParams, grads: LayerNormParams?, sum: FloatBuffer, mean: FloatBuffer,
                                        rstd: FloatBuffer, rows: Int, dropout site: DropoutMask,
                                        ws: TrainingWorkspace) -> UnsafeMutablePointer<Float> {
        let dres = ws.dres.pointer, tmp = ws.tmp.pointer
        op("layerNormBackward") { layerNormBackward(dinp: dres, dout: dres, sum: sum.pointer, mean: mean.pointer, rstd: rstd.pointer,
                          rows: rows, params: norm, dweight: grads?.weight.pointer, dbias: grads?.bias.pointer) }
        guard site.isActive else { return UnsafeMutablePointer(dres) }
        op("dropoutBackward") { dropoutBackward(tmp, rows: rows, cols: config.hiddenSize, mask: site, dy: dres) }
        return tmp
    }

    /// ws.dres holds ∂loss/∂(layer l's output) (B rows when compact, else T); leaves ∂loss/∂(its input).
    private func backwardLayer(_ l: Int, batch: PackedBatch, compact: Bool, mask: DropoutMask, ws: TrainingWorkspace) {
        let cfg = config
        let c = cfg.hiddenSize, inter = cfg.intermediateSize, t = batch.tokens
        let layer = weights.layers[l]
        let a = ws.layers[l]!
        let g = layerGrads[l]
        let rows = compact ? batch.count : t
        let dres = ws.dres.pointer, up = ws.up.pointer, x = ws.x.pointer

        // Output LayerNorm: dres becomes ∂/∂(ffn output + residual).
        let dDown = residualOutputBackward(norm: layer.ffnNorm, grads: g?.ffnNorm, sum: a.sum2, mean: a.mean2, rstd: a.rstd2,
                                           rows: rows, dropout: mask.site(3 + 3 * l), ws: ws)
        // FFN down: its input gelu(pre) is recomputed into `up`, which then receives ∂/∂gelu(pre).
        // gelu'(pre) replaces pre (its last use).
        let geluDerivative = a.pre.pointer
        op("geluRecompute") { geluRecompute(out: up, derivative: geluDerivative, pre: a.pre.pointer, rows: rows, cols: inter) }
        // LoRA on FFN down: its weight gradients read gelu(pre) in `up` before the base's input
        // gradient overwrites it; its input gradient is added after.
        var downAdapted = false
        if let lora { op("lora") { downAdapted = lora.backwardWeights(l, .output, dout: dDown, ldDout: c, inp: up, rows: rows) } }
        op("linearBackward ffnDown") { linearBackward(dinp: up, dweight: g?.ffnDown.weight.pointer, dbias: g?.ffnDown.bias.pointer,
                       dout: dDown, inp: up, rows: rows, layer: layer.ffnDown) }
        if downAdapted, let lora { op("lora") { lora.backwardInput(l, .output, dinp: up, rows: rows) } }
        op("geluBackward") { geluBackward(up, derivative: geluDerivative, rows: rows, cols: inter, dbias: g?.ffnUp.bias.pointer) }
        // FFN up: its input is the attention LayerNorm's output, recomputed into x.
        op("layerNormRecompute") { layerNormRecompute(out: x, sum: a.sum1.pointer, mean: a.mean1.pointer, rstd: a.rstd1.pointer, rows: rows,
                           params: layer.attnNorm) }
        op("linearBackward ffnUp") { linearBackward(dinp: dres, dweight: g?.ffnUp.weight.pointer, dbias: nil, dout: up, inp: x, rows: rows,
                       layer: layer.ffnUp, accumulateInput: true) }
        if let lora { op("lora") { lora.backward(l, .intermediate, dout: up, ldDout: inter, inp: x, dinp: dres, rows: rows) } }
        // Attention LayerNorm.
        let dOut = residualOutputBackward(norm: layer.attnNorm, grads: g?.attnNorm, sum: a.sum1, mean: a.mean1, rstd: a.rstd1,
                                          rows: rows, dropout: mask.site(2 + 3 * l), ws: ws)
        let dctx = ws.dctx
        op("linearBackward attnOut") { linearBackward(dinp: dctx, dweight: g?.attnOut.weight.pointer, dbias: g?.attnOut.bias.pointer,
                       dout: dOut, inp: a.ctx.pointer, rows: rows, layer: layer.attnOut) }
        if let lora { op("lora") { lora.backward(l, .attentionOutput, dout: dOut, ldDout: c, inp: a.ctx.pointer, dinp: dctx, rows: rows) } }
        if compact { scatterFirstRows(dres, batch: batch, cols: c) }
        let dqkv = ws.dqkv
        op("attentionBackward") { attentionBackward(dqkv: dqkv, dctx: dctx, qkv: a.qkv.pointer, batch: batch, heads: cfg.numHeads,
                          headDim: cfg.headDim, dropout: mask.site(1 + 3 * l), firstQueryOnly: compact) }
        // The layer's input: saved for the first layer that backpropagates, else the previous layer's
        // output LayerNorm recomputed.
        let input: UnsafePointer<Float>
        if l == firstBackwardLayer {
            input = UnsafePointer(ws.firstInput.pointer)
        } else {
            let p = ws.layers[l - 1]!
            op("layerNormRecompute") { layerNormRecompute(out: x, sum: p.sum2.pointer, mean: p.mean2.pointer, rstd: p.rstd2.pointer, rows: t,
                               params: weights.layers[l - 1].ffnNorm) }
            input = UnsafePointer(x)
        }
        let needInputGrad = l > firstBackwardLayer || embeddingGrads != nil
        if let lora {
            op("lora") { lora.backwardQKV(l, dqkv: dqkv, input: input, batch: batch, compact: compact,
                                          dinp: needInputGrad ? dres : nil) }
        }
        if compact {
            op("linearBackward qkv") { qkvBackwardFirstQueries(dinp: needInputGrad ? dres : nil, dqkv: dqkv, input: input,
                                                               batch: batch, layer: layer.qkv, grads: g?.qkv, ws: ws) }
            return
        }
        if let g {
            // Query and value biases. The key bias's gradient is exactly zero (it shifts all scores of a
            // query by the same amount, which softmax ignores), so it is left at zero rather than summed
            // from rounding noise.
            op("addColumnSums") { addColumnSums(into: g.qkv.bias.pointer, src: dqkv, rows: t, cols: c, ld: 3 * c) }
            op("addColumnSums") { addColumnSums(into: g.qkv.bias.pointer + 2 * c, src: dqkv + 2 * c, rows: t, cols: c, ld: 3 * c) }
        }
        op("linearBackward qkv") { linearBackward(dinp: needInputGrad ? dres : nil, dweight: g?.qkv.weight.pointer, dbias: nil, dout: dqkv,
                       inp: input, rows: t, layer: layer.qkv, accumulateInput: true) }
    }
}

extension TrainableModel {
    /// The last layer's projection: k and v for every row of x (T, C), q only for the first token of
    /// each sequence (the only queries the heads need); other q rows of qkv (T, 3C) are not written.
    func qkvForwardFirstQueries(qkv: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, batch: PackedBatch,
                                layer: Linear, ws: TrainingWorkspace) {
        let c = config.hiddenSize, t = batch.tokens, b = batch.count
        let w = layer.weight.pointer, bias = layer.bias.pointer
        BLAS.gemm(transB: true, m: t, n: 2 * c, k: c, a: x, lda: c, b: w + c * c, ldb: c, c: qkv + c, ldc: 3 * c)
        let xs = ws.firstRowsA.pointer, qs = ws.firstRowsB.pointer
        for s in 0..<b { (xs + s * c).update(from: x + batch.offsets[s] * c, count: c) }
        BLAS.gemm(transB: true, m: b, n: c, k: c, a: xs, lda: c, b: w, ldb: c, c: qs, ldc: c)
        for s in 0..<b {
            let row = qkv + batch.offsets[s] * 3 * c
            row.update(from: qs + s * c, count: c)
            addRow(row, bias, c)
        }
        Parallel.forRanges(t, grain: 64) { rows in
            for r in rows { addRow(qkv + r * 3 * c + c, bias + c, 2 * c) }
        }
    }

    /// Backward of qkvForwardFirstQueries: dqkv (T, 3C) holds dk, dv for every row and dq at the
    /// first-token rows; input (T, C) is the layer's input. Gradients accumulate; dinp (T, C) += ∂/∂input.
    func qkvBackwardFirstQueries(dinp: UnsafeMutablePointer<Float>?, dqkv: UnsafePointer<Float>, input: UnsafePointer<Float>,
                                 batch: PackedBatch, layer: Linear, grads: Linear?, ws: TrainingWorkspace) {
        let c = config.hiddenSize, t = batch.tokens, b = batch.count
        let w = layer.weight.pointer
        // k and v rows of the weight, every token. The key bias's gradient is exactly zero (see backwardLayer).
        if let grads {
            BLAS.gemm(transA: true, m: 2 * c, n: c, k: t, a: dqkv + c, lda: 3 * c, b: input, ldb: c,
                      beta: 1, c: grads.weight.pointer + c * c, ldc: c)
            addColumnSums(into: grads.bias.pointer + 2 * c, src: dqkv + 2 * c, rows: t, cols: c, ld: 3 * c)
        }
        if let dinp {
            BLAS.gemm(m: t, n: c, k: 2 * c, a: dqkv + c, lda: 3 * c, b: w + c * c, ldb: c, beta: 1, c: dinp, ldc: c)
        }
        // q rows, first tokens only.
        let dq = ws.firstRowsA.pointer, xs = ws.firstRowsB.pointer
        for s in 0..<b {
            (dq + s * c).update(from: dqkv + batch.offsets[s] * 3 * c, count: c)
            (xs + s * c).update(from: input + batch.offsets[s] * c, count: c)
        }
        if let grads {
            BLAS.gemm(transA: true, m: c, n: c, k: b, a: dq, lda: c, b: xs, ldb: c, beta: 1, c: grads.weight.pointer, ldc: c)
            addColumnSums(into: grads.bias.pointer, src: dq, rows: b, cols: c, ld: c)
        }
        if let dinp {
            BLAS.gemm(m: b, n: c, k: c, a: dq, lda: c, b: w, ldb: c, c: xs, ldc: c)
            for s in 0..<b { addRow(dinp + batch.offsets[s] * c, xs + s * c, c) }
        }
    }
}

/// Rows offsets[s] of buf (T, C) moved to rows s (the first token of each sequence, in place).
func gatherFirstRows(_ buf: UnsafeMutablePointer<Float>, batch: PackedBatch, cols c: Int) {
    for s in 0..<batch.count where batch.offsets[s] != s {
        (buf + s * c).update(from: buf + batch.offsets[s] * c, count: c)
    }
}

/// The inverse of gatherFirstRows for gradients: rows s of buf move to rows offsets[s]; every other row
/// of the (T, C) result is zero.
func scatterFirstRows(_ buf: UnsafeMutablePointer<Float>, batch: PackedBatch, cols c: Int) {
    for s in stride(from: batch.count - 1, through: 0, by: -1) where batch.offsets[s] != s {
        (buf + batch.offsets[s] * c).update(from: buf + s * c, count: c)
    }
    for s in 0..<batch.count {
        let lo = batch.offsets[s] + 1, hi = batch.offsets[s + 1]
        if hi > lo { (buf + lo * c).update(repeating: 0, count: (hi - lo) * c) }
    }
}
