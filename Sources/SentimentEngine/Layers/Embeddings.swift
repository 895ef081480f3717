import SentimentCheckpoint

/// Token + position + token-type embeddings followed by LayerNorm (BERT and RoBERTa).
/// word (V, C), position (P, C), tokenType (TV, C).
public struct EmbeddingParams: @unchecked Sendable {
    public let word: FloatBuffer
    public let position: FloatBuffer
    public let tokenType: FloatBuffer
    public let norm: LayerNormParams
    public let width: Int

    package init(word: FloatBuffer, position: FloatBuffer, tokenType: FloatBuffer, norm: LayerNormParams, width: Int) {
        self.word = word
        self.position = position
        self.tokenType = tokenType
        self.norm = norm
        self.width = width
    }
}

/// Position ids as `transformers` computes them. RoBERTa: padding_idx + 1 + running count of non-pad
/// tokens, and padding_idx itself at pad tokens; BERT: 0, 1, 2, ….
package func positionIds(_ ids: [Int32], family: ModelFamily, padTokenId: Int) -> [Int32] {
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
package func embeddingsForward(out: UnsafeMutablePointer<Float>, ids: [Int32], positions: [Int32], params: EmbeddingParams,
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

/// dout is (T, C): ∂loss/∂(embeddings output) in, overwritten with ∂loss/∂(pre-LayerNorm sum).
/// ids and positions are (T); sum (T, C), mean and rstd (T) are what embeddingsForward saved.
/// grads mirrors params (word (V, C), position (P, C), tokenType (TV, C), norm); everything accumulates.
/// As nn.Embedding(padding_idx:), the rows of `wordPaddingIdx` and `positionPaddingIdx` get no gradient.
package func embeddingsBackward(dout: UnsafeMutablePointer<Float>, ids: [Int32], positions: [Int32], params: EmbeddingParams,
                                sum: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                grads: EmbeddingParams, wordPaddingIdx: Int?, positionPaddingIdx: Int?) {
    let c = params.width
    let t = ids.count
    layerNormBackward(dinp: dout, dout: dout, sum: sum, mean: mean, rstd: rstd, rows: t, params: params.norm,
                      dweight: grads.norm.weight.pointer, dbias: grads.norm.bias.pointer)
    let dword = grads.word.pointer, dpos = grads.position.pointer, dtype0 = grads.tokenType.pointer
    let wordPad = wordPaddingIdx.map { Int32($0) } ?? -1
    let posPad = positionPaddingIdx.map { Int32($0) } ?? -1
    // Tokens may repeat an id, so threads split the columns, not the tokens: no row is written twice at once.
    let blocks = (c + 63) / 64
    ids.withUnsafeBufferPointer { idp in
        positions.withUnsafeBufferPointer { pp in
            Parallel.forRanges(blocks, grain: max(1, blocks / Parallel.workers)) { range in
                let j0 = range.lowerBound * 64, j1 = min(c, range.upperBound * 64)
                for r in 0..<t {
                    let g = dout + r * c
                    if idp[r] != wordPad { addRow(dword + Int(idp[r]) * c + j0, g + j0, j1 - j0) }
                    if pp[r] != posPad { addRow(dpos + Int(pp[r]) * c + j0, g + j0, j1 - j0) }
                    addRow(dtype0 + j0, g + j0, j1 - j0)
                }
            }
        }
    }
}
