import Foundation

/// A fixed-size fp32 buffer with a stable address: weights, activations and gradients that kernels
/// read and write through raw pointers without copy-on-write. Freed when the last reference goes; a
/// large one (1 MiB and more) on a background thread (see `BackgroundRelease`).
public final class FloatBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public convenience init(count: Int) {
        self.init(uninitialized: count)
        pointer.initialize(repeating: 0, count: count)
    }

    /// A buffer whose contents the caller writes in full before anything reads it. For weights read from
    /// a checkpoint: zeroing first would touch every page twice, and on a fresh page the first touch (the
    /// kernel's page fault) is the expensive one.
    public init(uninitialized count: Int) {
        self.count = count
        // 64-byte alignment: whole cache lines for the SIMD kernels and OpenBLAS.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(uninitialized: values.count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.initialize(from: base, count: values.count) }
        }
    }

    deinit {
        if count >= BackgroundRelease.minimumFloats {
            BackgroundRelease.deallocate(UnsafeMutableRawPointer(pointer))
        } else {
            UnsafeMutableRawPointer(pointer).deallocate()
        }
    }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
}

/// Frees large buffers on a low-priority thread of its own. Whoever drops the last reference to a model —
/// in the daemon, the batcher thread finishing the last batch on a version that was just swapped out —
/// would otherwise pay for returning hundreds of MB to the kernel (munmap of every page) inside a request's
/// latency. The memory is back within milliseconds either way.
enum BackgroundRelease {
    /// Buffers of at least this many floats (1 MiB) go to the thread.
    static let minimumFloats = 1 << 18

    private static let condition = NSCondition()
    nonisolated(unsafe) private static var pending: [UnsafeMutableRawPointer] = []
    nonisolated(unsafe) private static var started = false

    static func deallocate(_ pointer: UnsafeMutableRawPointer) {
        condition.lock()
        pending.append(pointer)
        if !started {
            started = true
            let thread = Thread { run() }
            thread.name = "sentimentd-free"
            thread.start()
        }
        condition.broadcast()
        condition.unlock()
    }

    /// Returns once every buffer handed over so far has been freed (tests, memory measurements).
    static func waitUntilIdle() {
        condition.lock()
        while !pending.isEmpty || freeing { condition.wait() }
        condition.unlock()
    }

    nonisolated(unsafe) private static var freeing = false

    private static func run() {
        #if os(Linux)
        // The nice value is per thread on Linux; 0 names the calling thread.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
        #endif
        while true {
            condition.lock()
            while pending.isEmpty { condition.wait() }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            freeing = true
            condition.unlock()
            for pointer in batch { pointer.deallocate() }
            condition.lock()
            freeing = false
            condition.broadcast()
            condition.unlock()
        }
    }
}
