/// Token + position + token-type embeddings followed by LayerNorm (BERT and RoBERTa).
/// word (V, C), position (P, C), tokenType (TV, C).
public struct EmbeddingParams: @unchecked Sendable {
    public let word: FloatBuffer
    public let position: FloatBuffer
    public let tokenType: FloatBuffer
    public let norm: LayerNormParams
    public let width: Int
}

/// Position ids as `transformers` computes them. RoBERTa: padding_idx + 1 + running count of non-pad
/// tokens, and padding_idx itself at pad tokens; BERT: 0, 1, 2, ….
func positionIds(_ ids: [Int32], family: ModelFamily, padTokenId: Int) -> [Int32] {
    switch family {
    case .bert:
        return (0..<ids.count).map { Int32($0) }
    case .roberta:
        var running: Int32 = 0
        return ids.map { id in
            if Int(id) == padTokenId { return Int32(padTokenId) }
            running += 1
            return Int32(padTokenId) + running
        }
    }
}

/// out is (T, C); ids and positions are (T); token type 0 for every token.
/// sum, when given, receives the pre-LayerNorm sum (T, C) with mean/rstd (T) for the backward pass.
func embeddingsForward(out: UnsafeMutablePointer<Float>, ids: [Int32], positions: [Int32], params: EmbeddingParams,
                       sum: UnsafeMutablePointer<Float>? = nil,
                       mean: UnsafeMutablePointer<Float>? = nil, rstd: UnsafeMutablePointer<Float>? = nil) {
    let c = params.width
    let t = ids.count
    let word = params.word.pointer, pos = params.position.pointer, type0 = params.tokenType.pointer
    ids.withUnsafeBufferPointer { idp in
        positions.withUnsafeBufferPointer { pp in
            Parallel.forRanges(t, grain: 64) { rows in
                for r in rows {
                    let o = out + r * c
                    let w = word + Int(idp[r]) * c
                    let p = pos + Int(pp[r]) * c
                    for j in 0..<c { o[j] = w[j] + p[j] + type0[j] }
                }
            }
        }
    }
    layerNormForward(out: out, inp: out, residual: nil, inpBias: nil, rows: t, params: params.norm,
                     sum: sum, mean: mean, rstd: rstd)
}
