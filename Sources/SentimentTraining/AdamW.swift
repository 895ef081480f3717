import Foundation
import SentimentCheckpoint
import SentimentEngine

/// Adam's two moment buffers for one parameter (same shape as the parameter).
public struct AdamWMoments: @unchecked Sendable {
    public let m: FloatBuffer
    public let v: FloatBuffer
    public init(m: FloatBuffer, v: FloatBuffer) {
        precondition(m.count == v.count)
        self.m = m
        self.v = v
    }
}

public enum AdamWStateError: Error, Equatable, CustomStringConvertible {
    case missingTensor(name: String)
    case shapeMismatch(name: String, expected: Int, found: Int)
    case badStepCount(Int)

    public var description: String {
        switch self {
        case let .missingTensor(name): return "optimizer state: tensor \"\(name)\" is missing"
        case let .shapeMismatch(name, expected, found):
            return "optimizer state: tensor \"\(name)\" has \(found) values, the parameter has \(expected)"
        case let .badStepCount(n): return "optimizer state: step count \(n) must be >= 0"
        }
    }
}

/// torch.optim.AdamW (amsgrad off), step t:
///   p ← p · (1 - lr·wd)                      (decoupled decay; wd = 0 for parameters with decays == false)
///   m ← m + (1 - β1)(g - m)                   (torch's lerp)
///   v ← β2 v + (1 - β2) g²
///   p ← p - lr / (1 - β1^t) · m / (√v / √(1 - β2^t) + ε)
/// One fused pass per element, SIMD, chunks of all tensors spread over the workers.
/// Resumable: `state` (moments by parameter name) and `stepCount` are the whole optimizer state;
/// `stateTensors`/`restore` convert them to and from named tensors for a checkpoint.
public struct AdamW {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    public var weightDecay: Float
    /// Optimizer steps taken (t of the last step).
    public var stepCount: Int = 0
    /// Moments by parameter name, created (zero) at a parameter's first step.
    public var state: [String: AdamWMoments] = [:]

    public init(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }

    public mutating func step(_ params: [TrainableParameter]) {
        step(params, learningRate: learningRate)
    }

    public mutating func step(_ params: [TrainableParameter], learningRate lr: Float) {
        stepCount += 1
        let t = Double(stepCount)
        let bc1 = 1 - pow(Double(beta1), t)
        let bc2 = 1 - pow(Double(beta2), t)
        let stepSize = Float(Double(lr) / bc1)
        let bc2Sqrt = Float(bc2.squareRoot())
        var moments: [AdamWMoments] = []
        moments.reserveCapacity(params.count)
        for p in params {
            if let s = state[p.name], s.m.count == p.count {
                moments.append(s)
            } else {
                // Pages stay unallocated until a nonzero gradient reaches them (sparse embedding rows).
                let s = AdamWMoments(m: ZeroPages.buffer(count: p.count), v: ZeroPages.buffer(count: p.count))
                state[p.name] = s
                moments.append(s)
            }
        }
        // Jobs of up to 64 Ki elements over all tensors.
        let chunk = 65_536
        var jobs: [(param: Int, start: Int, end: Int)] = []
        for (i, p) in params.enumerated() {
            var s = 0
            while s < p.count { jobs.append((i, s, min(p.count, s + chunk))); s += chunk }
        }
        let b1 = beta1, b2 = beta2, eps = eps, wd = weightDecay
        jobs.withUnsafeBufferPointer { jp in
            params.withUnsafeBufferPointer { pp in
                moments.withUnsafeBufferPointer { mp in
                    Parallel.forRanges(jp.count, grain: 4) { range in
                        for j in range {
                            let job = jp[j]
                            let p = pp[job.param], s = mp[job.param]
                            let decay = p.decays ? Float(1 - Double(lr) * Double(wd)) : 1
                            adamWKernel(p: p.value.pointer + job.start, g: p.grad.pointer + job.start,
                                        m: s.m.pointer + job.start, v: s.v.pointer + job.start, count: job.end - job.start,
                                        decay: decay, beta1: b1, beta2: b2, eps: eps, stepSize: stepSize, bc2Sqrt: bc2Sqrt)
                        }
                    }
                }
            }
        }
    }

    /// The moments as named tensors ("<name>.exp_avg", "<name>.exp_avg_sq", torch's names) with the
    /// parameters' shapes, for a resumable checkpoint; store `stepCount` beside them.
    public func stateTensors(for params: [TrainableParameter]) -> [(name: String, tensor: Tensor)] {
        var out: [(String, Tensor)] = []
        for p in params {
            guard let s = state[p.name] else { continue }
            out.append((p.name + ".exp_avg", Tensor(shape: p.shape, values: s.m.array)))
            out.append((p.name + ".exp_avg_sq", Tensor(shape: p.shape, values: s.v.array)))
        }
        return out
    }

    /// Restores what `stateTensors` wrote. Every parameter needs both moments unless `stepCount` is 0.
    public mutating func restore(tensors: [String: Tensor], stepCount: Int, for params: [TrainableParameter]) throws {
        guard stepCount >= 0 else { throw AdamWStateError.badStepCount(stepCount) }
        var restored: [String: AdamWMoments] = [:]
        if stepCount > 0 {
            for p in params {
                let names = (p.name + ".exp_avg", p.name + ".exp_avg_sq")
                guard let m = tensors[names.0] else { throw AdamWStateError.missingTensor(name: names.0) }
                guard let v = tensors[names.1] else { throw AdamWStateError.missingTensor(name: names.1) }
                for (n, tns) in [(names.0, m), (names.1, v)] where tns.count != p.count {
                    throw AdamWStateError.shapeMismatch(name: n, expected: p.count, found: tns.count)
                }
                restored[p.name] = AdamWMoments(m: FloatBuffer(m.values), v: FloatBuffer(v.values))
            }
        }
        state = restored
        self.stepCount = stepCount
    }
}

/// p, g, m, v are (n). One AdamW update in place (see AdamW).
@inline(__always)
func adamWKernel(p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
                 v: UnsafeMutablePointer<Float>, count n: Int, decay: Float, beta1: Float, beta2: Float,
                 eps: Float, stepSize: Float, bc2Sqrt: Float) {
    let oneMinusB1 = 1 - beta1, oneMinusB2 = 1 - beta2
    var i = 0
    while i + 8 <= n {
        let gv = UnsafeRawPointer(g + i).loadUnaligned(as: V8.self)
        var pv = UnsafeRawPointer(p + i).loadUnaligned(as: V8.self) * decay
        var mv = UnsafeRawPointer(m + i).loadUnaligned(as: V8.self)
        var vv = UnsafeRawPointer(v + i).loadUnaligned(as: V8.self)
        if isAllZeroBits(gv) && isAllZeroBits(mv) && isAllZeroBits(vv) {
            // m and v stay 0 and the update term is 0 / (0 + eps) = 0: only the decay applies. Not
            // writing m and v keeps never-touched embedding rows from allocating memory.
            UnsafeMutableRawPointer(p + i).storeBytes(of: pv, as: V8.self)
            i += 8
            continue
        }
        mv = mv + oneMinusB1 * (gv - mv)
        vv = vv * beta2 + oneMinusB2 * (gv * gv)
        let denom = simdSqrt(vv) / bc2Sqrt + eps
        pv = pv - stepSize * (mv / denom)
        UnsafeMutableRawPointer(p + i).storeBytes(of: pv, as: V8.self)
        UnsafeMutableRawPointer(m + i).storeBytes(of: mv, as: V8.self)
        UnsafeMutableRawPointer(v + i).storeBytes(of: vv, as: V8.self)
        i += 8
    }
    while i < n {
        let gi = g[i]
        m[i] = m[i] + oneMinusB1 * (gi - m[i])
        v[i] = v[i] * beta2 + oneMinusB2 * (gi * gi)
        p[i] = p[i] * decay - stepSize * (m[i] / (v[i].squareRoot() / bc2Sqrt + eps))
        i += 1
    }
}
