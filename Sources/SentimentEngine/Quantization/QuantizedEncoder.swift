import SentimentCore

/// The int8 dense weights of one encoder layer (biases and LayerNorms stay in `EncoderLayerParams`).
public struct QuantizedEncoderLayer: @unchecked Sendable {
    public let qkv: QuantizedWeights
    public let attnOut: QuantizedWeights
    public let ffnUp: QuantizedWeights
    public let ffnDown: QuantizedWeights

    public init(_ layer: EncoderLayerParams, scheme: Int8Scheme = .standard) {
        self.init(layer, merging: nil, index: 0, scheme: scheme)
    }

    /// Layer `index` of an encoder, with `lora`'s updates merged in before quantizing when given: W + scale · B A,
    /// computed one matrix at a time into a scratch copy (the layer's own weights are only read; they may be a
    /// shared base's).
    ///
    /// Why merge: measured on the shipped adapter (bench/README.md, "LoRA adapters over an int8 base"), the
    /// merged int8 model agrees with fp32 at least as well as the int8 base with the rank-8 path beside it in fp32,
    /// and runs 1.4x faster: the low-rank path is two small fp32 products per adapted layer, a large share of an
    /// int8 forward pass. The price is one int8 copy of the dense weights per adapter instead of one per base.
    public init(_ layer: EncoderLayerParams, merging lora: LoRAWeights?, index: Int, scheme: Int8Scheme = .standard) {
        func quantize(_ linear: Linear, _ parts: [(LoRATarget, rowOffset: Int)]) -> QuantizedWeights {
            let pairs = parts.compactMap { part in lora?.pair(index, part.0).map { ($0, part.rowOffset) } }
            defer { Pacing.point() }
            guard let lora, !pairs.isEmpty else { return QuantizedWeights(linear, scheme: scheme) }
            let merged = FloatBuffer(uninitialized: linear.weight.count)
            merged.pointer.update(from: linear.weight.pointer, count: linear.weight.count)
            for (p, rowOffset) in pairs {
                // W[rows, in] += scale · B (out, r) · A (r, in)
                BLAS.gemm(m: p.outFeatures, n: p.inFeatures, k: p.rank, alpha: lora.scale, a: p.b.pointer, lda: p.rank,
                          b: p.a.pointer, ldb: p.inFeatures, beta: 1,
                          c: merged.pointer + rowOffset * linear.inFeatures, ldc: linear.inFeatures)
            }
            return QuantizedWeights(merged.pointer, rows: linear.outFeatures, columns: linear.inFeatures, scheme: scheme)
        }
        precondition(layer.qkv.hasWeight, "quantizing a layer whose fp32 weights were dropped")
        let c = layer.attnOut.outFeatures
        qkv = quantize(layer.qkv, [(.query, 0), (.key, c), (.value, 2 * c)])
        attnOut = quantize(layer.attnOut, [(.attentionOutput, 0)])
        ffnUp = quantize(layer.ffnUp, [(.intermediate, 0)])
        ffnDown = quantize(layer.ffnDown, [(.output, 0)])
    }

    public var byteCount: Int { qkv.byteCount + attnOut.byteCount + ffnUp.byteCount + ffnDown.byteCount }

    /// Quantizes every layer (in parallel over layers unless inside `Parallel.serially`), merging `lora` when given.
    public static func quantizeAll(_ layers: [EncoderLayerParams], merging lora: LoRAWeights? = nil,
                                   scheme: Int8Scheme = .standard) -> [QuantizedEncoderLayer] {
        var out = [QuantizedEncoderLayer?](repeating: nil, count: layers.count)
        out.withUnsafeMutableBufferPointer { slots in
            let slots = slots   // a value copy of the buffer pointer for the concurrent closure
            Parallel.forEach(layers.count) { i in slots[i] = QuantizedEncoderLayer(layers[i], merging: lora, index: i, scheme: scheme) }
        }
        return out.map { $0! }
    }
}

extension EncoderLayerParams {
    /// The layer without its four dense weight matrices (biases and LayerNorms kept, the same buffers): what an int8
    /// model keeps beside its `QuantizedEncoderLayer`.
    public func droppingDenseWeights() -> EncoderLayerParams {
        EncoderLayerParams(qkv: qkv.droppingWeight(), attnOut: attnOut.droppingWeight(), attnNorm: attnNorm,
                           ffnUp: ffnUp.droppingWeight(), ffnDown: ffnDown.droppingWeight(), ffnNorm: ffnNorm)
    }
}

extension EncoderWeights {
    /// The same parameters (no copy) without the encoder blocks' dense weight matrices.
    public func droppingDenseWeights() -> EncoderWeights {
        EncoderWeights(config: config, embeddings: embeddings, layers: layers.map { $0.droppingDenseWeights() },
                       pooler: pooler, head: head)
    }

    /// Whether the encoder blocks still hold their fp32 dense weights.
    public var hasDenseWeights: Bool { layers.allSatisfy { $0.qkv.hasWeight } }
}

/// One dense layer of the inference forward pass: through the int8 kernel when the layer has quantized weights,
/// else `linearForward` (OpenBLAS, or the fp32 AVX2 kernel over `packed`). out is (N, OUT), inp is (N, IN).
func denseForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, rows n: Int, layer: Linear,
                  packed: PackedWeights?, quantized: QuantizedWeights?, path: Int8KernelPath,
                  addBias: Bool = true, gelu: Bool = false) {
    guard let quantized else {
        linearForward(out: out, inp: inp, rows: n, layer: layer, packed: packed, addBias: addBias, gelu: gelu)
        return
    }
    precondition(quantized.rows == layer.outFeatures && quantized.columns == layer.inFeatures, "quantized weights of another shape")
    QuantizedLinear.forward(m: n, a: inp, lda: layer.inFeatures, weights: quantized,
                            bias: addBias ? layer.bias.pointer : nil, gelu: gelu, c: out, ldc: layer.outFeatures, path: path)
}
