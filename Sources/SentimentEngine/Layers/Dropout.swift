/// Inverted dropout as torch.nn.Dropout in train mode: each element is zeroed with probability p and
/// the survivors are scaled by 1 / (1 - p); p = 0 is the identity (eval mode).
///
/// The mask is counter-based: element i of a site is kept when hash(site key, i) >= p * 2^32. The
/// forward and the backward pass recompute the same mask from (key, i) instead of storing it, in any
/// thread order and chunking. One mask per dropout site: `site(_:)` derives a distinct key.
public struct DropoutMask: Sendable {
    public let p: Float
    let key: UInt64
    let threshold: UInt32
    /// 1 / (1 - p); 0 when p = 1 (everything dropped, as torch).
    let scale: Float

    public static let off = DropoutMask(p: 0, key: 0)

    /// `key` seeds the masks; draw it from the run's SeededRandom once per forward pass.
    public init(p: Float, key: UInt64) {
        precondition(p >= 0 && p <= 1, "dropout probability \(p) outside [0, 1]")
        self.p = p
        self.key = key
        threshold = p >= 1 ? .max : UInt32((Double(p) * 4_294_967_296).rounded(.down))
        scale = p >= 1 ? 0 : 1 / (1 - p)
    }

    public var isActive: Bool { p > 0 }

    /// The mask of dropout site number `s` (a different key per site).
    public func site(_ s: Int) -> DropoutMask {
        var z = key &+ UInt64(truncatingIfNeeded: s &+ 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return DropoutMask(p: p, key: z ^ (z >> 31))
    }

    /// Whether element `index` of this site survives (for tests and scalar tails).
    func keeps(_ index: Int) -> Bool {
        hash(SIMD8<UInt32>(repeating: UInt32(truncatingIfNeeded: index)))[0] >= threshold
    }

    /// 32 uniform bits per lane from (key, counter): two rounds of a 32-bit avalanche mixer.
    @inline(__always)
    func hash(_ counter: SIMD8<UInt32>) -> SIMD8<UInt32> {
        let lo = UInt32(truncatingIfNeeded: key), hi = UInt32(truncatingIfNeeded: key >> 32)
        return Self.mix(Self.mix(counter ^ lo) &+ hi)
    }

    @inline(__always)
    static func mix(_ v: SIMD8<UInt32>) -> SIMD8<UInt32> {
        var x = v
        x ^= x &>> 16
        x &*= 0x7FEB_352D
        x ^= x &>> 15
        x &*= 0x846C_A68B
        x ^= x &>> 16
        return x
    }
}

private let laneOffsets = SIMD8<UInt32>(0, 1, 2, 3, 4, 5, 6, 7)

/// x is (n) at site-wide element index `index`: x = dropout(x [+ bias]) in place. bias (n), when given,
/// is added first (a Linear's bias fused into the dropout that follows it). The backward pass of
/// dropout is the same call on the gradient (without bias): dx = mask * scale * dy.
/// `source`, when given, is read instead of x (x = dropout(source), no copy first).
@inline(__always)
func dropoutApply(_ x: UnsafeMutablePointer<Float>, count n: Int, index: Int, mask: DropoutMask,
                  bias: UnsafePointer<Float>? = nil, source: UnsafePointer<Float>? = nil) {
    let thr = SIMD8<UInt32>(repeating: mask.threshold)
    let scale = V8(repeating: mask.scale)
    let src = source ?? UnsafePointer(x)
    var j = 0
    while j + 8 <= n {
        var v = UnsafeRawPointer(src + j).loadUnaligned(as: V8.self)
        if let bias { v += UnsafeRawPointer(bias + j).loadUnaligned(as: V8.self) }
        let u = mask.hash(SIMD8<UInt32>(repeating: UInt32(truncatingIfNeeded: index + j)) &+ laneOffsets)
        // All-ones lanes where kept: the comparison's mask bits, reinterpreted.
        let keep = unsafeBitCast(u .>= thr, to: SIMD8<UInt32>.self)
        let kept = unsafeBitCast(unsafeBitCast(v * scale, to: SIMD8<UInt32>.self) & keep, to: V8.self)
        UnsafeMutableRawPointer(x + j).storeBytes(of: kept, as: V8.self)
        j += 8
    }
    while j < n {
        var v = src[j]
        if let bias { v += bias[j] }
        x[j] = mask.keeps(index + j) ? v * mask.scale : 0
        j += 1
    }
}

/// x is (N, C), the whole site (element (r, j) has index r * C + j): x = dropout(x + bias) in place,
/// row-parallel. bias (C) is optional.
package func dropoutForward(_ x: UnsafeMutablePointer<Float>, rows n: Int, cols c: Int, mask: DropoutMask,
                            bias: UnsafePointer<Float>? = nil) {
    Parallel.forRanges(n, grain: max(1, 16_384 / max(c, 1))) { rows in
        for r in rows { dropoutApply(x + r * c, count: c, index: r * c, mask: mask, bias: bias) }
    }
}

/// dx is (N, C): the gradient of dropout's output in, of its input out (in place): dx *= mask * scale.
/// With `dy` (N, C), dx = mask * scale * dy instead (dy is left as it is).
package func dropoutBackward(_ dx: UnsafeMutablePointer<Float>, rows n: Int, cols c: Int, mask: DropoutMask,
                             dy: UnsafePointer<Float>? = nil) {
    Parallel.forRanges(n, grain: max(1, 16_384 / max(c, 1))) { rows in
        for r in rows { dropoutApply(dx + r * c, count: c, index: r * c, mask: mask, source: dy.map { $0 + r * c }) }
    }
}
