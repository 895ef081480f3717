/// A dense layer as PyTorch's nn.Linear: weight [out, in], bias [out].
public struct Linear: @unchecked Sendable {
    public let weight: FloatBuffer
    public let bias: FloatBuffer
    public let inFeatures: Int
    public let outFeatures: Int

    public init(weight: FloatBuffer, bias: FloatBuffer, inFeatures: Int, outFeatures: Int) {
        precondition(weight.count == inFeatures * outFeatures && bias.count == outFeatures)
        self.weight = weight
        self.bias = bias
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }
}

/// out is (N, OUT), inp is (N, IN), weight is (OUT, IN), bias is (OUT).
/// out = inp · weightᵀ (+ bias when `addBias`; callers that fuse the bias into the next kernel pass false).
func linearForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, rows n: Int,
                   layer: Linear, addBias: Bool = true) {
    let outF = layer.outFeatures
    BLAS.gemm(transB: true, m: n, n: outF, k: layer.inFeatures,
              a: inp, lda: layer.inFeatures, b: layer.weight.pointer, ldb: layer.inFeatures,
              c: out, ldc: outF)
    if addBias {
        let bias = layer.bias.pointer
        Parallel.forRanges(n, grain: max(1, 32_768 / max(outF, 1))) { rows in
            for r in rows {
                let row = out + r * outF
                for j in 0..<outF { row[j] += bias[j] }
            }
        }
    }
}
