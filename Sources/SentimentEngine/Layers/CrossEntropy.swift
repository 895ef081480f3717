import Foundation

/// Cross-entropy of logits (B, K) against labels (B), as torch.nn.functional.cross_entropy:
/// loss = Σ_b w[y_b] · nll_b / Σ_b w[y_b], with w = 1 for every class when no weights are given (the mean).
/// probs (B, K) receives softmax(logits) for the backward pass. Sums run in Double.
package func crossEntropyForward(probs: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, labels: [Int],
                                 classes k: Int, classWeights: [Float]?) -> Float {
    var num = 0.0, den = 0.0
    for (b, y) in labels.enumerated() {
        precondition(y >= 0 && y < k, "label \(y) outside 0..<\(k)")
        let z = logits + b * k
        var mx = -Double.infinity
        for j in 0..<k { mx = max(mx, Double(z[j])) }
        var s = 0.0
        for j in 0..<k { s += exp(Double(z[j]) - mx) }
        let logSum = mx + log(s)
        for j in 0..<k { probs[b * k + j] = Float(exp(Double(z[j]) - logSum)) }
        let w = Double(classWeights?[y] ?? 1)
        num += w * (logSum - Double(z[y]))
        den += w
    }
    return Float(num / den)
}

/// dlogits (B, K) = scale · w[y_b] / Σ_b' w[y_b'] · (probs_b - onehot(y_b)) (overwritten): the gradient of
/// `scale` times the loss above. probs (B, K) is what the forward pass returned.
package func crossEntropyBackward(dlogits: UnsafeMutablePointer<Float>, probs: UnsafePointer<Float>, labels: [Int],
                                  classes k: Int, classWeights: [Float]?, scale: Float) {
    var den = 0.0
    for y in labels { den += Double(classWeights?[y] ?? 1) }
    for (b, y) in labels.enumerated() {
        let f = Double(scale) * Double(classWeights?[y] ?? 1) / den
        for j in 0..<k {
            let target: Double = j == y ? 1 : 0
            dlogits[b * k + j] = Float(f * (Double(probs[b * k + j]) - target))
        }
    }
}
