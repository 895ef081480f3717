import Dispatch
import Foundation
import Synchronization
import SentimentCore

/// Parallel loops for the kernels: split GEMMs and the row-parallel element-wise passes.
///
/// They run on `WorkerPool`: the caller works on every loop and `workers - 1` helper threads of our own join it,
/// claiming iterations one at a time. A forward pass is a chain of short parallel loops (seven per layer,
/// 20-1000 µs each at one sequence); Dispatch's `concurrentPerform`, used before, took 120 µs for two halves of
/// 48 µs on this kind of VM, which at batch 1 was a fifth of the forward pass. When the pool is busy (another
/// thread's loop, or a loop inside a loop), the loop runs on Dispatch instead.
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

    /// Starts the pool's threads now rather than at the first parallel loop. They take the calling thread's
    /// scheduling priority (Linux: nice values are per thread and inherited), so a service calls this from its
    /// main thread before any lower-priority thread can run a loop first.
    public static func startWorkers() {
        _ = pool
    }

    private static let pool = WorkerPool(threads: configuredWorkers - 1)

    /// Runs `body` with the pool's helpers sleeping right after each loop instead of spinning for the next one.
    /// For background work at a low priority (a new model version validated while another serves): a spinning
    /// helper fills the gaps between a forward pass's loops, which are the only time an idle-priority thread
    /// gets a core. Serving's loops then pay a helper's wake-up each (as with Dispatch) until `body` returns.
    public static func withQuietHelpers<T>(_ body: () throws -> T) rethrows -> T {
        pool.quietRequests.wrappingAdd(1, ordering: .relaxed)
        defer { pool.quietRequests.wrappingSubtract(1, ordering: .relaxed) }
        return try body()
    }

    /// Whether some `withQuietHelpers` is running (tests).
    public static var helpersAreQuiet: Bool { pool.quietRequests.load(ordering: .relaxed) > 0 }

    /// Calls `body(i)` for i in 0..<count, concurrently (in order on the calling thread inside `serially`).
    /// Iterations are claimed one at a time, so a thread that joins late takes fewer of them.
    @inline(__always)
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count == 1 { body(0); return }
        if count <= 0 { return }
        if isSerialThread {
            for i in 0..<count { body(i) }
            return
        }
        if !pool.run(count, body) {
            DispatchQueue.concurrentPerform(iterations: count, execute: body)
        }
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
        forEach(w) { i in
            let lo = i * chunk
            let hi = min(count, lo + chunk)
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// A fork-join pool: the caller of a loop works on it too, `threads` helpers join. Between loops each helper
/// spins for `spinSeconds` (0 by default: a few dozen checks), then sleeps on a condition variable until the
/// next loop opens.
///
/// Protocol. `generation` is odd while a loop is open. The caller fills `body`/`count`, resets `next`, and
/// makes `generation` odd; it and the helpers claim iterations from `next`; then it makes `generation` even
/// and waits until `joined` is 0. A helper that sees an odd generation it has not served increments `joined`
/// and reads `generation` again before it touches `body`: with sequentially consistent operations on both
/// sides, either the caller sees the helper in `joined` and waits for it, or the helper sees the loop closed
/// and leaves it alone. Sleeping uses the same pairing on `sleepers`, so no wake-up is lost.
final class WorkerPool: @unchecked Sendable {
    private let generation = Atomic<Int>(0)
    private let joined = Atomic<Int>(0)
    private let next = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    /// While above 0, helpers do not spin between loops (`Parallel.withQuietHelpers`).
    let quietRequests = Atomic<Int>(0)
    private nonisolated(unsafe) var body: ((Int) -> Void)?
    private nonisolated(unsafe) var count = 0
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    let threads: Int
    private let spinSeconds: Double

    /// How long a helper spins for the next loop before it sleeps: `SENTIMENTD_SPIN_US` microseconds, default 0.
    /// Measured on a 2-core VM: 200 µs gave the same batch-1 latency as 0 (the caller never waits for a helper
    /// to wake: it claims the iterations itself meanwhile), and a spinning helper took the idle moments that
    /// other processes next to a busy daemon live on (a deploy's file copy slowed requests twice as much).
    static let defaultSpinMicroseconds: Int = {
        if let text = ProcessInfo.processInfo.environment["SENTIMENTD_SPIN_US"], let us = Int(text), us >= 0 { return us }
        return 0
    }()

    init(threads: Int, spinMicroseconds: Int = WorkerPool.defaultSpinMicroseconds) {
        self.threads = max(0, threads)
        spinSeconds = Double(spinMicroseconds) * 1e-6
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        for i in 0..<self.threads {
            let thread = Thread { [unowned self] in self.helperLoop() }
            thread.name = "sentimentd-kernel-\(i + 1)"
            thread.start()
        }
    }

    /// Runs `body` over 0..<count on the caller and the helpers; false (nothing run) when the pool has no
    /// helpers or is running another loop.
    func run(_ count: Int, _ body: (Int) -> Void) -> Bool {
        if threads == 0 { return false }
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        withoutActuallyEscaping(body) { body in
            self.body = body
            self.count = count
            next.store(0, ordering: .relaxed)
            generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(condition)
                pthread_mutex_unlock(mutex)
            }
            work(body, count)
            generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
            var spins = 0
            while joined.load(ordering: .sequentiallyConsistent) != 0 {
                spins &+= 1
                if spins & 0x3FFF == 0 { sched_yield() }   // a helper was preempted mid-iteration
            }
            self.body = nil
        }
        busy.store(false, ordering: .releasing)
        return true
    }

    @inline(__always)
    private func work(_ body: (Int) -> Void, _ count: Int) {
        while true {
            let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= count { return }
            body(i)
        }
    }

    /// Helpers asleep on the condition variable right now (tests).
    var sleepingHelpers: Int { sleepers.load(ordering: .sequentiallyConsistent) }

    private func isOpen(_ g: Int, after served: Int) -> Bool { g & 1 == 1 && g != served }

    private func helperLoop() {
        var served = 0
        while true {
            var g = generation.load(ordering: .acquiring)
            if !isOpen(g, after: served) { g = waitForLoop(after: served) }
            served = g
            joined.wrappingAdd(1, ordering: .sequentiallyConsistent)
            if generation.load(ordering: .sequentiallyConsistent) == g, let body {
                work(body, count)
            }
            joined.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        }
    }

    /// Spins (unless asked to be quiet), then sleeps, until a loop other than `served` opens; returns its
    /// generation.
    private func waitForLoop(after served: Int) -> Int {
        let deadline = monotonicSeconds() + spinSeconds
        var spins = 0
        while true {
            let g = generation.load(ordering: .acquiring)
            if isOpen(g, after: served) { return g }
            spins &+= 1
            if spins & 63 == 0 && (monotonicSeconds() >= deadline || quietRequests.load(ordering: .relaxed) > 0) { break }
        }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
        defer { sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent) }
        while true {
            let g = generation.load(ordering: .sequentiallyConsistent)
            if isOpen(g, after: served) { return g }
            pthread_cond_wait(condition, mutex)
        }
    }
}
