import SentimentCore

/// The precision a model's encoder serves in. Training is always fp32.
///
/// int8: the four dense layers of every encoder block (QKV, attention output, feed-forward up and down: about 95 %
/// of a forward pass's arithmetic) run on int8 weights and per-token int8 activations (`Int8Scheme`). Embeddings,
/// attention scores and softmax, LayerNorm, the pooler and the classification head stay fp32: together they are a
/// few percent of the time, and the head decides the label.
public enum Precision: String, CaseIterable, Sendable, Codable {
    case fp32
    case int8
}

/// The int8 dense weights of one encoder layer (biases and LayerNorms stay in `EncoderLayerParams`).
public struct QuantizedEncoderLayer: @unchecked Sendable {
    public let qkv: QuantizedWeights
    public let attnOut: QuantizedWeights
    public let ffnUp: QuantizedWeights
    public let ffnDown: QuantizedWeights

    public init(_ layer: EncoderLayerParams, scheme: Int8Scheme = .standard) {
        qkv = QuantizedWeights(layer.qkv, scheme: scheme)
        Pacing.point()
        attnOut = QuantizedWeights(layer.attnOut, scheme: scheme)
        Pacing.point()
        ffnUp = QuantizedWeights(layer.ffnUp, scheme: scheme)
        Pacing.point()
        ffnDown = QuantizedWeights(layer.ffnDown, scheme: scheme)
        Pacing.point()
    }

    public var byteCount: Int { qkv.byteCount + attnOut.byteCount + ffnUp.byteCount + ffnDown.byteCount }

    /// Quantizes every layer (in parallel over layers unless inside `Parallel.serially`).
    public static func quantizeAll(_ layers: [EncoderLayerParams], scheme: Int8Scheme = .standard) -> [QuantizedEncoderLayer] {
        var out = [QuantizedEncoderLayer?](repeating: nil, count: layers.count)
        out.withUnsafeMutableBufferPointer { slots in
            let slots = slots   // a value copy of the buffer pointer for the concurrent closure
            Parallel.forEach(layers.count) { i in slots[i] = QuantizedEncoderLayer(layers[i], scheme: scheme) }
        }
        return out.map { $0! }
    }
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
