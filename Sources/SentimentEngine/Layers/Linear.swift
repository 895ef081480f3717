/// A dense layer as PyTorch's nn.Linear: weight [out, in], bias [out]. An int8 model's encoder blocks keep only the
/// bias (`droppingWeight()`): their products run on `QuantizedWeights`, and the fp32 matrix would cost four times
/// the int8 bytes for nothing.
public struct Linear: @unchecked Sendable {
    public let weight: FloatBuffer
    public let bias: FloatBuffer
    public let inFeatures: Int
    public let outFeatures: Int

    public init(weight: FloatBuffer, bias: FloatBuffer, inFeatures: Int, outFeatures: Int) {
        precondition((weight.count == inFeatures * outFeatures || weight.count == 0) && bias.count == outFeatures)
        self.weight = weight
        self.bias = bias
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    /// False for a layer whose weight was dropped (its product runs in int8).
    public var hasWeight: Bool { weight.count > 0 || inFeatures * outFeatures == 0 }

    /// The same layer with its bias and shape but no weight matrix (the caller holds it as int8).
    public func droppingWeight() -> Linear {
        Linear(weight: FloatBuffer(count: 0), bias: bias, inFeatures: inFeatures, outFeatures: outFeatures)
    }
}

/// out is (N, OUT), inp is (N, IN), weight is (OUT, IN), bias is (OUT).
/// out = inp · weightᵀ (+ bias when `addBias`; callers that fuse the bias into the next kernel pass false).
/// `packed`: the same weight as `PackedWeights`, for the few-row AVX2 kernel (inference only).
package func linearForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, rows n: Int,
                           layer: Linear, packed: PackedWeights? = nil, addBias: Bool = true, gelu: Bool = false) {
    precondition(layer.hasWeight, "a dense layer whose fp32 weight was dropped (int8) has no fp32 product")
    BLAS.linear(m: n, n: layer.outFeatures, k: layer.inFeatures, a: inp, lda: layer.inFeatures,
                w: layer.weight.pointer, packed: packed, bias: addBias ? layer.bias.pointer : nil,
                gelu: gelu, c: out, ldc: layer.outFeatures)
}

/// dout is (N, OUT), inp is (N, IN), weight is (OUT, IN).
/// dweight (OUT, IN) += doutᵀ · inp and dbias (OUT) += Σ_rows dout (gradients accumulate across calls);
/// dinp (N, IN) = dout · weight, or += when `accumulateInput` (a residual stream's gradient).
/// The weight gradient is computed first, so dinp may alias inp. nil skips that gradient.
package func linearBackward(dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?,
                            dbias: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                            rows n: Int, layer: Linear, accumulateInput: Bool = false) {
    let outF = layer.outFeatures, inF = layer.inFeatures
    if n == 0 { return }
    if let dweight {
        BLAS.gemm(transA: true, m: outF, n: inF, k: n, a: dout, lda: outF, b: inp, ldb: inF,
                  beta: 1, c: dweight, ldc: inF)
    }
    if let dbias { addColumnSums(into: dbias, src: dout, rows: n, cols: outF, ld: outF) }
    if let dinp {
        BLAS.gemm(m: n, n: inF, k: outF, a: dout, lda: outF, b: layer.weight.pointer, ldb: inF,
                  beta: accumulateInput ? 1 : 0, c: dinp, ldc: inF)
    }
}
