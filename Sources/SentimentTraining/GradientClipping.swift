import SentimentEngine

/// torch.nn.utils.clip_grad_norm_: the global L2 norm over every gradient; when it exceeds `maxNorm`
/// every gradient is multiplied by maxNorm / (norm + 1e-6). Returns the norm before clipping (sums in
/// Double). A non-finite norm is returned as is and the gradients are left untouched, for the caller
/// to stop on.
@discardableResult
public func clipGradientNorm(_ params: [TrainableParameter], maxNorm: Float) -> Float {
    let norm = Float(globalGradientNorm(params))
    guard norm.isFinite else { return norm }
    let coef = maxNorm / (norm + 1e-6)
    if coef < 1 {
        forEachGradientChunk(params) { g, n in
            var i = 0
            while i + 8 <= n {
                let v = UnsafeRawPointer(g + i).loadUnaligned(as: V8.self)
                // Zeros stay zeros unwritten (sparse embedding gradients keep their pages free).
                if !isAllZeroBits(v) { UnsafeMutableRawPointer(g + i).storeBytes(of: v * coef, as: V8.self) }
                i += 8
            }
            while i < n { g[i] *= coef; i += 1 }
        }
    }
    return norm
}

/// √(Σ g²) over every gradient, accumulated in Double per chunk.
public func globalGradientNorm(_ params: [TrainableParameter]) -> Double {
    var jobs: [(UnsafeMutablePointer<Float>, Int)] = []
    for p in params {
        var s = 0
        while s < p.count { jobs.append((p.grad.pointer + s, min(65_536, p.count - s))); s += 65_536 }
    }
    let partial = UnsafeMutablePointer<Double>.allocate(capacity: max(jobs.count, 1))
    defer { partial.deallocate() }
    jobs.withUnsafeBufferPointer { jp in
        Parallel.forRanges(jp.count, grain: 4) { range in
            for j in range {
                let (g, n) = jp[j]
                var acc8 = V8.zero
                var acc = 0.0
                var i = 0
                // Float lanes over 512 elements at most, then into Double.
                while i + 8 <= n {
                    let v = UnsafeRawPointer(g + i).loadUnaligned(as: V8.self)
                    acc8 += v * v
                    i += 8
                    if i % 512 == 0 { acc += Double(acc8.sum()); acc8 = .zero }
                }
                acc += Double(acc8.sum())
                while i < n { acc += Double(g[i]) * Double(g[i]); i += 1 }
                partial[j] = acc
            }
        }
    }
    var total = 0.0
    for j in 0..<jobs.count { total += partial[j] }
    return total.squareRoot()
}

/// body(pointer, count) over chunks of every gradient, in parallel.
func forEachGradientChunk(_ params: [TrainableParameter], _ body: (UnsafeMutablePointer<Float>, Int) -> Void) {
    var jobs: [(UnsafeMutablePointer<Float>, Int)] = []
    for p in params {
        var s = 0
        while s < p.count { jobs.append((p.grad.pointer + s, min(65_536, p.count - s))); s += 65_536 }
    }
    jobs.withUnsafeBufferPointer { jp in
        Parallel.forRanges(jp.count, grain: 4) { range in
            for j in range { body(jp[j].0, jp[j].1) }
        }
    }
}
