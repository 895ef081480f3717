import Dispatch
import Foundation

/// Row-parallel loops for the non-GEMM kernels. GEMMs are threaded by OpenBLAS itself.
public enum Parallel {
    /// Worker count for element-wise kernels; set once at start (defaults to the CPU count).
    nonisolated(unsafe) public static var workers: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Calls `body(i)` for i in 0..<count, concurrently.
    @inline(__always)
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count == 1 { body(0); return }
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }

    /// Calls `body(range)` over contiguous chunks of `0..<count`, in parallel when the work is worth it.
    /// `grain` is the smallest chunk worth a thread hop (rows × cost per row ≈ a few µs).
    @inline(__always)
    public static func forRanges(_ count: Int, grain: Int = 16, _ body: (Range<Int>) -> Void) {
        let w = min(workers, max(1, count / max(grain, 1)))
        if w <= 1 {
            body(0..<count)
            return
        }
        let chunk = (count + w - 1) / w
        DispatchQueue.concurrentPerform(iterations: w) { i in
            let lo = i * chunk
            let hi = min(count, lo + chunk)
            if lo < hi { body(lo..<hi) }
        }
    }
}

