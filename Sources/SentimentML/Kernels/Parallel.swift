import Dispatch
import Foundation

/// Row-parallel loops for the non-GEMM kernels. GEMMs are threaded by OpenBLAS itself.
public enum Parallel {
    nonisolated(unsafe) private static var configuredWorkers: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Worker count for element-wise kernels and split GEMMs; set once at start (defaults to the CPU count).
    /// Inside `serially` it is 1 on the calling thread.
    public static var workers: Int {
        get { isSerialThread ? 1 : configuredWorkers }
        set { configuredWorkers = max(1, newValue) }
    }

    /// A pthread key whose value is non-nil on threads running `serially`.
    private static let serialKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    private static var isSerialThread: Bool { pthread_getspecific(serialKey) != nil }

    /// Runs `body` on the calling thread with every kernel it calls kept on that thread (no fan-out to the
    /// shared workers): background work such as validating a new model version then takes one core and leaves
    /// the others to serving.
    public static func serially<T>(_ body: () throws -> T) rethrows -> T {
        let was = pthread_getspecific(serialKey)
        pthread_setspecific(serialKey, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(serialKey, was) }
        return try body()
    }

    /// Calls `body(i)` for i in 0..<count, concurrently (in order on the calling thread inside `serially`).
    @inline(__always)
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count == 1 { body(0); return }
        if isSerialThread {
            for i in 0..<count { body(i) }
            return
        }
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

