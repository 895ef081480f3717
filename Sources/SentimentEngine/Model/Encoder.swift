import Foundation
import SentimentCore
import SentimentCheckpoint

/// Inference forward pass of a BERT/RoBERTa encoder over a packed (padding-free) batch.
/// Dense layers run over the concatenated real tokens of all sequences; attention runs per
/// sequence and head. Each call allocates its own activations, so one encoder may serve
/// several threads at once.
public final class TransformerEncoder: @unchecked Sendable {
    public let weights: EncoderWeights
    /// LoRA updates computed beside the (shared, unmodified) dense layers; nil for a plain model.
    public let lora: LoRAWeights?
    /// The dense weights packed for the few-row AVX2 kernel (see `PackedWeights`), one per layer; nil: OpenBLAS
    /// only. Copies taken once: the weights must not change afterwards (a trainer's encoder passes nil).
    public let packed: [PackedEncoderLayer]?
    /// The dense weights in int8 (see `Precision`), one per layer: when set, every dense layer of the encoder
    /// blocks runs on the int8 kernels' `int8Path` and `packed` is not used.
    public let quantized: [QuantizedEncoderLayer]?
    public let int8Path: Int8KernelPath
    public var config: ModelConfig { weights.config }
    public var precision: Precision { quantized == nil ? .fp32 : .int8 }

    public init(weights: EncoderWeights, lora: LoRAWeights? = nil, packed: [PackedEncoderLayer]? = nil,
                quantized: [QuantizedEncoderLayer]? = nil, int8Path: Int8KernelPath = .active) {
        precondition(lora.map { $0.layers.count == weights.layers.count } ?? true, "LoRA layers must match the encoder's")
        precondition(packed.map { $0.count == weights.layers.count } ?? true, "packed layers must match the encoder's")
        precondition(quantized.map { $0.count == weights.layers.count } ?? true, "quantized layers must match the encoder's")
        self.weights = weights
        self.lora = lora
        self.packed = quantized == nil ? packed : nil
        self.quantized = quantized
        self.int8Path = int8Path
    }

    /// The longest sequence the position table allows (RoBERTa reserves padding_idx + 1 slots).
    public var maxSequenceLength: Int {
        switch config.family {
        case .bert: return config.maxPositionEmbeddings
        case .roberta: return config.maxPositionEmbeddings - config.padTokenId - 1
        }
    }

    /// Last hidden state, (T, C) over the packed batch, and the batch layout.
    /// `onlyFirstTokens` computes the last layer's dense part for the first token of each sequence
    /// only (what the classification heads read); the returned rows are then one per sequence.
    public func forward(_ sequences: [[Int32]], onlyFirstTokens: Bool = false) -> (hidden: FloatBuffer, batch: PackedBatch) {
        let cfg = config
        let c = cfg.hiddenSize, inter = cfg.intermediateSize
        let batch = PackedBatch(lengths: sequences.map { $0.count })
        let t = batch.tokens
        for s in sequences { precondition(s.count <= maxSequenceLength && !s.isEmpty, "sequence length out of range") }

        var ids: [Int32] = []
        var positions: [Int32] = []
        ids.reserveCapacity(t)
        positions.reserveCapacity(t)
        for s in sequences {
            ids.append(contentsOf: s)
            positions.append(contentsOf: positionIds(s, family: cfg.family, padTokenId: cfg.padTokenId))
        }

        let x = FloatBuffer(count: t * c)
        let qkv = FloatBuffer(count: t * 3 * c)
        let ctx = FloatBuffer(count: t * c)
        let tmp = FloatBuffer(count: t * c)
        let up = FloatBuffer(count: t * inter)

        embeddingsForward(out: x.pointer, ids: ids, positions: positions, params: weights.embeddings)

        for (li, layer) in weights.layers.enumerated() {
            Pacing.point()
            let pk = packed?[li], qk = quantized?[li], path = int8Path
            denseForward(out: qkv.pointer, inp: x.pointer, rows: t, layer: layer.qkv, packed: pk?.qkv, quantized: qk?.qkv, path: path)
            if let lora {
                for (j, target) in [LoRATarget.query, .key, .value].enumerated() {
                    lora.apply(li, target, out: qkv.pointer + j * c, ldOut: 3 * c, inp: x.pointer, rows: t)
                }
            }
            attentionForward(ctx: ctx.pointer, qkv: qkv.pointer, batch: batch, heads: cfg.numHeads, headDim: cfg.headDim)
            var rows = t
            if onlyFirstTokens && li == weights.layers.count - 1 {
                // Gather the first token of each sequence: rows 0..<B of ctx and x.
                for s in 0..<batch.count {
                    let o = batch.offsets[s]
                    if o != s {
                        (ctx.pointer + s * c).update(from: ctx.pointer + o * c, count: c)
                        (x.pointer + s * c).update(from: x.pointer + o * c, count: c)
                    }
                }
                rows = batch.count
            }
            denseForward(out: tmp.pointer, inp: ctx.pointer, rows: rows, layer: layer.attnOut, packed: pk?.attnOut,
                         quantized: qk?.attnOut, path: path, addBias: false)
            lora?.apply(li, .attentionOutput, out: tmp.pointer, ldOut: c, inp: ctx.pointer, rows: rows)
            layerNormForward(out: x.pointer, inp: tmp.pointer, residual: x.pointer, inpBias: layer.attnOut.bias.pointer,
                             rows: rows, params: layer.attnNorm)
            if let lora, lora.pair(li, .intermediate) != nil {
                // The adapter's product joins before the bias and GELU.
                denseForward(out: up.pointer, inp: x.pointer, rows: rows, layer: layer.ffnUp, packed: pk?.ffnUp,
                             quantized: qk?.ffnUp, path: path, addBias: false)
                lora.apply(li, .intermediate, out: up.pointer, ldOut: inter, inp: x.pointer, rows: rows)
                biasGELUForward(up.pointer, bias: layer.ffnUp.bias.pointer, rows: rows, cols: inter)
            } else {
                denseForward(out: up.pointer, inp: x.pointer, rows: rows, layer: layer.ffnUp, packed: pk?.ffnUp,
                             quantized: qk?.ffnUp, path: path, gelu: true)
            }
            denseForward(out: tmp.pointer, inp: up.pointer, rows: rows, layer: layer.ffnDown, packed: pk?.ffnDown,
                         quantized: qk?.ffnDown, path: path, addBias: false)
            lora?.apply(li, .output, out: tmp.pointer, ldOut: c, inp: up.pointer, rows: rows)
            layerNormForward(out: x.pointer, inp: tmp.pointer, residual: x.pointer, inpBias: layer.ffnDown.bias.pointer,
                             rows: rows, params: layer.ffnNorm)
        }
        return (x, batch)
    }

    /// Row index of each sequence's first token in `forward`'s output.
    static func firstTokenRows(_ batch: PackedBatch, onlyFirstTokens: Bool) -> [Int] {
        onlyFirstTokens ? Array(0..<batch.count) : Array(batch.offsets.dropLast())
    }

    /// BERT pooler output (dense + tanh on [CLS]) per sequence, (B, C).
    public func pooled(hidden: FloatBuffer, rows: [Int]) -> [[Float]] {
        guard let pooler = weights.pooler else { return [] }
        return denseTanh(hidden: hidden, rows: rows, layer: pooler)
    }

    func denseTanh(hidden: FloatBuffer, rows: [Int], layer: Linear) -> [[Float]] {
        let c = config.hiddenSize
        let gathered = FloatBuffer(count: rows.count * c)
        for (i, r) in rows.enumerated() { (gathered.pointer + i * c).update(from: hidden.pointer + r * c, count: c) }
        let out = FloatBuffer(count: rows.count * layer.outFeatures)
        linearForward(out: out.pointer, inp: gathered.pointer, rows: rows.count, layer: layer)
        for i in 0..<out.count { out.pointer[i] = tanhf(out.pointer[i]) }
        return (0..<rows.count).map { Array(UnsafeBufferPointer(start: out.pointer + $0 * layer.outFeatures, count: layer.outFeatures)) }
    }

    /// Classification logits (B, labels). Requires a head.
    public func logits(_ sequences: [[Int32]]) -> [[Float]] {
        guard let head = weights.head else { preconditionFailure("logits() needs a classification head") }
        if sequences.isEmpty { return [] }
        let (hidden, batch) = forward(sequences, onlyFirstTokens: true)
        let rows = Self.firstTokenRows(batch, onlyFirstTokens: true)
        let features: [[Float]]
        let final: Linear
        switch head {
        case let .roberta(dense, outProj):
            features = denseTanh(hidden: hidden, rows: rows, layer: dense)
            final = outProj
        case let .bert(classifier):
            features = denseTanh(hidden: hidden, rows: rows, layer: weights.pooler!)
            final = classifier
        }
        let c = config.hiddenSize
        let inp = FloatBuffer(features.flatMap { $0 })
        let out = FloatBuffer(count: features.count * final.outFeatures)
        precondition(inp.count == features.count * c)
        linearForward(out: out.pointer, inp: inp.pointer, rows: features.count, layer: final)
        return (0..<features.count).map { Array(UnsafeBufferPointer(start: out.pointer + $0 * final.outFeatures, count: final.outFeatures)) }
    }
}

/// Softmax of one logit vector, in Double for exact normalisation.
public func softmax(_ logits: [Float]) -> [Float] {
    guard let m = logits.max() else { return [] }
    let e = logits.map { exp(Double($0 - m)) }
    let s = e.reduce(0, +)
    return e.map { Float($0 / s) }
}
