import Foundation
import SentimentCheckpoint
import SentimentEngine

/// The LoRA side of a TrainableModel in LoRA mode: the adapters being trained, their gradients, the
/// LoRA branch's dropout and its scratch buffers. The base's weights are only read.
///
/// Where the branches sit (forward, per layer l; backward mirrors them):
///   qkv      += s·(D(x) A_qᵀ) B_qᵀ | … k | … v     x: the layer input (T, C); compact last layer: q for first tokens only
///   attnOut  += s·(D(ctx) Aᵀ) Bᵀ                    before the bias/dropout/residual LayerNorm
///   ffnUp    += s·(D(ln1) Aᵀ) Bᵀ                    before bias + GELU
///   ffnDown  += s·(D(gelu) Aᵀ) Bᵀ                   before the bias/dropout/residual LayerNorm
/// D is the LoRA dropout, one independent mask per (layer, target) as peft has one nn.Dropout per
/// module. The backward pass recomputes h = D(x) Aᵀ from the inputs the encoder's backward already
/// has at hand (saved or recomputed), so LoRA keeps no activations of its own.
final class LoRATrainingState {
    let weights: LoRAWeights
    let grads: LoRAWeights
    let dropout: Float
    let config: ModelConfig
    private(set) var mask: DropoutMask = .off
    private var tokenCapacity = 0
    private var sequenceCapacity = 0
    /// (T, r) each: h = D(x) Aᵀ, and dh.
    private var h = FloatBuffer(count: 0)
    private var dh = FloatBuffer(count: 0)
    /// (T, max(C, I)): the dropped input; in the backward pass also dh A before its mask.
    private var dropped: FloatBuffer?
    /// (B, C) each: first-token rows of the compact last layer's query.
    private var rowsIn = FloatBuffer(count: 0)
    private var rowsOut = FloatBuffer(count: 0)
    private var rowsGrad = FloatBuffer(count: 0)

    init(weights: LoRAWeights, dropout: Float, config: ModelConfig) {
        precondition(dropout >= 0 && dropout < 1, "LoRA dropout must be in [0, 1)")
        self.weights = weights
        self.grads = weights.zeros()
        self.dropout = dropout
        self.config = config
    }

    /// The dropout masks of one forward/backward pass derive from its key (the pass's one draw).
    func beginStep(key: UInt64, tokens: Int, sequences: Int) {
        mask = dropout > 0 ? DropoutMask(p: dropout, key: key) : .off
        if tokens > tokenCapacity || sequences > sequenceCapacity {
            let t = max(tokens, tokenCapacity), b = max(sequences, sequenceCapacity)
            let r = weights.config.r, c = config.hiddenSize
            h = FloatBuffer(count: t * r)
            dh = FloatBuffer(count: t * r)
            dropped = dropout > 0 ? FloatBuffer(count: t * max(c, config.intermediateSize)) : nil
            rowsIn = FloatBuffer(count: b * c)
            rowsOut = FloatBuffer(count: b * c)
            rowsGrad = FloatBuffer(count: b * c)
            tokenCapacity = t
            sequenceCapacity = b
        }
    }

    private func site(_ l: Int, _ t: LoRATarget) -> DropoutMask {
        mask.isActive ? mask.site(2_000_000 + 8 * l + t.rawValue) : .off
    }

    /// The trainable tensors under the names peft gives them inside the model.
    var parameters: [TrainableParameter] {
        zip(weights.namedTensors, grads.namedTensors).map { w, g in
            TrainableParameter(name: w.name, shape: w.shape, value: w.buffer, grad: g.buffer, decays: true)
        }
    }

    // MARK: forward

    /// out (N, ldOut) += the branch of target t in layer l (nothing when t is not adapted).
    func forward(_ l: Int, _ t: LoRATarget, out: UnsafeMutablePointer<Float>, ldOut: Int, inp: UnsafePointer<Float>, rows: Int) {
        guard let p = weights.pair(l, t) else { return }
        loraForward(out: out, ldOut: ldOut, inp: inp, rows: rows, pair: p, scale: weights.scale, mask: site(l, t),
                    h: h.pointer, dropped: dropped?.pointer)
    }

    /// The q, k, v branches into qkv (T, 3C) from the layer input x (T, C). `compact`: q is needed (and
    /// was computed) only at the first token of each sequence.
    func forwardQKV(_ l: Int, x: UnsafePointer<Float>, qkv: UnsafeMutablePointer<Float>, batch: PackedBatch, compact: Bool) {
        let c = config.hiddenSize, t = batch.tokens
        forward(l, .key, out: qkv + c, ldOut: 3 * c, inp: x, rows: t)
        forward(l, .value, out: qkv + 2 * c, ldOut: 3 * c, inp: x, rows: t)
        guard compact else {
            forward(l, .query, out: qkv, ldOut: 3 * c, inp: x, rows: t)
            return
        }
        guard weights.pair(l, .query) != nil else { return }
        let b = batch.count
        for s in 0..<b { (rowsIn.pointer + s * c).update(from: x + batch.offsets[s] * c, count: c) }
        rowsOut.pointer.update(repeating: 0, count: b * c)
        forward(l, .query, out: rowsOut.pointer, ldOut: c, inp: rowsIn.pointer, rows: b)
        for s in 0..<b { addRow(qkv + batch.offsets[s] * 3 * c, rowsOut.pointer + s * c, c) }
    }

    // MARK: backward

    /// Gradients of A and B of target t from dout (N, ldDout) and the forward's input inp (N, in);
    /// leaves dh for `backwardInput`. Returns false when t is not adapted.
    @discardableResult
    func backwardWeights(_ l: Int, _ t: LoRATarget, dout: UnsafePointer<Float>, ldDout: Int, inp: UnsafePointer<Float>,
                         rows: Int) -> Bool {
        guard let p = weights.pair(l, t), let g = grads.pair(l, t) else { return false }
        loraBackwardWeights(dout: dout, ldDout: ldDout, inp: inp, rows: rows, pair: p, grads: g, scale: weights.scale,
                            mask: site(l, t), h: h.pointer, dh: dh.pointer, dropped: dropped?.pointer)
        return true
    }

    /// dinp (N, in) += the branch's input gradient, from the dh the last `backwardWeights` left.
    func backwardInput(_ l: Int, _ t: LoRATarget, dinp: UnsafeMutablePointer<Float>, rows: Int) {
        guard let p = weights.pair(l, t) else { return }
        loraBackwardInput(dinp: dinp, rows: rows, pair: p, mask: site(l, t), dh: dh.pointer, scratch: dropped?.pointer)
    }

    /// Both halves; dinp nil: the input gradient is not needed.
    func backward(_ l: Int, _ t: LoRATarget, dout: UnsafePointer<Float>, ldDout: Int, inp: UnsafePointer<Float>,
                  dinp: UnsafeMutablePointer<Float>?, rows: Int) {
        if backwardWeights(l, t, dout: dout, ldDout: ldDout, inp: inp, rows: rows), let dinp {
            backwardInput(l, t, dinp: dinp, rows: rows)
        }
    }

    /// The q, k, v branches: dqkv (T, 3C) (compact: dq valid at first-token rows only), input (T, C) the
    /// layer's input; dinp (T, C) += their input gradient when given.
    func backwardQKV(_ l: Int, dqkv: UnsafePointer<Float>, input: UnsafePointer<Float>, batch: PackedBatch, compact: Bool,
                     dinp: UnsafeMutablePointer<Float>?) {
        let c = config.hiddenSize, t = batch.tokens
        backward(l, .key, dout: dqkv + c, ldDout: 3 * c, inp: input, dinp: dinp, rows: t)
        backward(l, .value, dout: dqkv + 2 * c, ldDout: 3 * c, inp: input, dinp: dinp, rows: t)
        guard compact else {
            backward(l, .query, dout: dqkv, ldDout: 3 * c, inp: input, dinp: dinp, rows: t)
            return
        }
        guard weights.pair(l, .query) != nil else { return }
        let b = batch.count
        for s in 0..<b {
            (rowsOut.pointer + s * c).update(from: dqkv + batch.offsets[s] * 3 * c, count: c)
            (rowsIn.pointer + s * c).update(from: input + batch.offsets[s] * c, count: c)
        }
        backwardWeights(l, .query, dout: rowsOut.pointer, ldDout: c, inp: rowsIn.pointer, rows: b)
        guard let dinp else { return }
        rowsGrad.pointer.update(repeating: 0, count: b * c)
        backwardInput(l, .query, dinp: rowsGrad.pointer, rows: b)
        for s in 0..<b { addRow(dinp + batch.offsets[s] * c, rowsGrad.pointer + s * c, c) }
    }
}
