import Foundation
import SentimentCheckpoint

/// One adapted Linear: y = x Wᵀ + b + scale · (x Aᵀ) Bᵀ, never merged into W.
/// A is (r, in) and B is (out, r): peft's `lora_A.weight` and `lora_B.weight`.
public struct LoRAPair: @unchecked Sendable {
    public let a: FloatBuffer
    public let b: FloatBuffer
    public let rank: Int
    public let inFeatures: Int
    public let outFeatures: Int

    public init(a: FloatBuffer, b: FloatBuffer, rank: Int, inFeatures: Int, outFeatures: Int) {
        precondition(a.count == rank * inFeatures && b.count == outFeatures * rank, "LoRA pair shapes")
        self.a = a
        self.b = b
        self.rank = rank
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    /// A pair of zero buffers of the same shapes (gradients).
    package func zeros() -> LoRAPair {
        LoRAPair(a: FloatBuffer(count: a.count), b: FloatBuffer(count: b.count), rank: rank,
                 inFeatures: inFeatures, outFeatures: outFeatures)
    }
}

/// The low-rank updates of an encoder: for each layer, one pair per adapted dense layer.
/// Only these (and the head) belong to an adapter; the base's weights are shared, read-only.
public final class LoRAWeights: @unchecked Sendable {
    /// r, alpha, targets (and the dropout a training run uses).
    public let config: LoRAConfig
    public let family: ModelFamily
    /// alpha / r.
    public let scale: Float
    /// layers[l][target.rawValue]; nil where the target is not adapted.
    public let layers: [[LoRAPair?]]

    public init(config: LoRAConfig, family: ModelFamily, layers: [[LoRAPair?]]) {
        precondition(layers.allSatisfy { $0.count == LoRATarget.allCases.count })
        self.config = config
        self.family = family
        self.scale = config.scale
        self.layers = layers
    }

    public func pair(_ layer: Int, _ target: LoRATarget) -> LoRAPair? { layers[layer][target.rawValue] }

    /// The first layer with an adapter (layers.count when none).
    public var firstAdaptedLayer: Int {
        layers.firstIndex { $0.contains { $0 != nil } } ?? layers.count
    }

    public var parameterCount: Int {
        layers.reduce(0) { $0 + $1.reduce(0) { $0 + ($1.map { $0.a.count + $0.b.count } ?? 0) } }
    }

    /// Same shapes, every value zero (gradients).
    package func zeros() -> LoRAWeights {
        LoRAWeights(config: config, family: family, layers: layers.map { $0.map { $0?.zeros() } })
    }

    /// A new adapter as peft initialises one (`init_lora_weights=True`): A from torch's
    /// kaiming_uniform_(a=√5), i.e. uniform(±1/√in), B zero, so the adapted model starts equal to the base.
    public static func initialized(config: LoRAConfig, model: ModelConfig, seed: UInt64) -> LoRAWeights {
        var rng = SeededRandom(seed: seed)
        let layers = (0..<model.numLayers).map { l -> [LoRAPair?] in
            let adapted = Set(config.adaptedTargets(layer: l, family: model.family))
            return LoRATarget.allCases.map { t -> LoRAPair? in
                guard adapted.contains(t) else { return nil }
                let (inp, out) = t.dimensions(model)
                let bound = 1 / Float(inp).squareRoot()
                let a = FloatBuffer(count: config.r * inp)
                for i in 0..<a.count { a.pointer[i] = (2 * rng.nextUniform() - 1) * bound }
                return LoRAPair(a: a, b: FloatBuffer(count: out * config.r), rank: config.r, inFeatures: inp, outFeatures: out)
            }
        }
        return LoRAWeights(config: config, family: model.family, layers: layers)
    }

    /// The module name of a target in layer `l` (`roberta.encoder.layer.0.attention.self.query`).
    static func moduleName(_ family: ModelFamily, layer l: Int, _ t: LoRATarget) -> String {
        ParameterNames(family: family).module(t.module, layer: l)
    }

    /// Every tensor under the name peft gives it inside the model (`….lora_A.weight`, `….lora_B.weight`),
    /// without the "base_model.model." prefix of adapter_model.safetensors.
    package var namedTensors: [(name: String, shape: [Int], buffer: FloatBuffer)] {
        var out: [(String, [Int], FloatBuffer)] = []
        for (l, pairs) in layers.enumerated() {
            for t in LoRATarget.allCases {
                guard let p = pairs[t.rawValue] else { continue }
                let m = Self.moduleName(family, layer: l, t)
                out.append((m + ".lora_A.weight", [p.rank, p.inFeatures], p.a))
                out.append((m + ".lora_B.weight", [p.outFeatures, p.rank], p.b))
            }
        }
        return out
    }
}

// MARK: kernels

/// out is (N, ldOut) (the first `pair.outFeatures` columns are written), inp is (N, in):
/// out += scale · (D(inp) Aᵀ) Bᵀ, D = `mask` applied to the input (the identity when inactive).
/// h (N, r) and, when the mask is active, dropped (N, in) are scratch.
package func loraForward(out: UnsafeMutablePointer<Float>, ldOut: Int, inp: UnsafePointer<Float>, rows n: Int,
                         pair p: LoRAPair, scale: Float, mask: DropoutMask, h: UnsafeMutablePointer<Float>,
                         dropped: UnsafeMutablePointer<Float>?) {
    if n == 0 { return }
    let x = loraInput(inp, rows: n, cols: p.inFeatures, mask: mask, dropped: dropped)
    BLAS.gemm(transB: true, m: n, n: p.rank, k: p.inFeatures, a: x, lda: p.inFeatures,
              b: p.a.pointer, ldb: p.inFeatures, c: h, ldc: p.rank)
    BLAS.gemm(transB: true, m: n, n: p.outFeatures, k: p.rank, alpha: scale, a: h, lda: p.rank,
              b: p.b.pointer, ldb: p.rank, beta: 1, c: out, ldc: ldOut)
}

/// The weight half of the backward pass. dout is (N, ldDout) (the output's gradient in its first
/// `outFeatures` columns), inp (N, in) the forward's input. Accumulates
///   dB (out, r) += scale · doutᵀ h,   dA (r, in) += dhᵀ D(inp),   with h = D(inp) Aᵀ,
/// and leaves dh = scale · dout B (N, r) for `loraBackwardInput`. Scratch as in `loraForward`.
package func loraBackwardWeights(dout: UnsafePointer<Float>, ldDout: Int, inp: UnsafePointer<Float>, rows n: Int,
                                 pair p: LoRAPair, grads g: LoRAPair, scale: Float, mask: DropoutMask,
                                 h: UnsafeMutablePointer<Float>, dh: UnsafeMutablePointer<Float>,
                                 dropped: UnsafeMutablePointer<Float>?) {
    if n == 0 { return }
    let x = loraInput(inp, rows: n, cols: p.inFeatures, mask: mask, dropped: dropped)
    BLAS.gemm(transB: true, m: n, n: p.rank, k: p.inFeatures, a: x, lda: p.inFeatures,
              b: p.a.pointer, ldb: p.inFeatures, c: h, ldc: p.rank)
    BLAS.gemm(transA: true, m: p.outFeatures, n: p.rank, k: n, alpha: scale, a: dout, lda: ldDout,
              b: h, ldb: p.rank, beta: 1, c: g.b.pointer, ldc: p.rank)
    BLAS.gemm(m: n, n: p.rank, k: p.outFeatures, alpha: scale, a: dout, lda: ldDout,
              b: p.b.pointer, ldb: p.rank, c: dh, ldc: p.rank)
    BLAS.gemm(transA: true, m: p.rank, n: p.inFeatures, k: n, a: dh, lda: p.rank,
              b: x, ldb: p.inFeatures, beta: 1, c: g.a.pointer, ldc: p.inFeatures)
}

/// The input half: dinp (N, in) += D'(dh A), dh (N, r) from `loraBackwardWeights`. With an active
/// mask, scratch (N, in) holds dh A before the mask.
package func loraBackwardInput(dinp: UnsafeMutablePointer<Float>, rows n: Int, pair p: LoRAPair, mask: DropoutMask,
                               dh: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>?) {
    if n == 0 { return }
    let c = p.inFeatures
    guard mask.isActive, let scratch else {
        BLAS.gemm(m: n, n: c, k: p.rank, a: dh, lda: p.rank, b: p.a.pointer, ldb: c, beta: 1, c: dinp, ldc: c)
        return
    }
    BLAS.gemm(m: n, n: c, k: p.rank, a: dh, lda: p.rank, b: p.a.pointer, ldb: c, c: scratch, ldc: c)
    Parallel.forRanges(n, grain: max(1, 16_384 / max(c, 1))) { rows in
        for r in rows {
            dropoutApply(scratch + r * c, count: c, index: r * c, mask: mask)
            addRow(dinp + r * c, scratch + r * c, c)
        }
    }
}

/// D(inp): inp itself, or the dropped copy written into `dropped` when the mask is active.
private func loraInput(_ inp: UnsafePointer<Float>, rows n: Int, cols c: Int, mask: DropoutMask,
                       dropped: UnsafeMutablePointer<Float>?) -> UnsafePointer<Float> {
    guard mask.isActive else { return inp }
    guard let dropped else { preconditionFailure("LoRA dropout needs a scratch buffer") }
    Parallel.forRanges(n, grain: max(1, 16_384 / max(c, 1))) { rows in
        for r in rows { dropoutApply(dropped + r * c, count: c, index: r * c, mask: mask, source: inp + r * c) }
    }
    return UnsafePointer(dropped)
}

// MARK: inference

extension LoRAWeights {
    /// Inference (no dropout): out (N, ldOut) += scale · (inp Aᵀ) Bᵀ for target `t` of layer `l`, when
    /// it is adapted. Allocates its own scratch, so concurrent calls are safe.
    func apply(_ l: Int, _ t: LoRATarget, out: UnsafeMutablePointer<Float>, ldOut: Int, inp: UnsafePointer<Float>, rows: Int) {
        guard let p = pair(l, t), rows > 0 else { return }
        let h = FloatBuffer(count: rows * p.rank)
        loraForward(out: out, ldOut: ldOut, inp: inp, rows: rows, pair: p, scale: scale, mask: .off,
                    h: h.pointer, dropped: nil)
    }
}
