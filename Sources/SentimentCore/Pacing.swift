import Foundation

/// Spreads a background job's work over time, so it never holds a core for long. Inside `Pacing.run(pause:)`,
/// every `Pacing.point()` the job passes sleeps `pause ×` the CPU time the thread used since the previous point:
/// with `pause` 3 the job runs a quarter of the time, in bursts of at most a few milliseconds.
///
/// Why: on this kind of machine, any runnable work slows the serving threads' fork-join kernels, even at
/// SCHED_IDLE (an idle-priority thread still gets every gap at a barrier, and the serving thread it displaces
/// comes back to colder caches). Loading a model while serving costs the requests in flight about the same
/// however long it takes; spread out, each request overlaps a smaller share of it.
///
/// Points sit where loading does its work in pieces: every 4 MiB read from a checkpoint, every packed matrix,
/// every weight scanned, every encoder layer of a forward pass. Outside `run` a point costs one thread-local read.
public enum Pacing {
    final class State {
        let pause: Double
        var last: Double
        init(pause: Double) {
            self.pause = pause
            last = Pacing.threadCPUSeconds()
        }
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Runs `body` on the calling thread with pacing `pause` (0 runs it flat out).
    public static func run<T>(pause: Double, _ body: () throws -> T) rethrows -> T {
        guard pause > 0 else { return try body() }
        let state = State(pause: pause)
        let was = pthread_getspecific(key)
        pthread_setspecific(key, Unmanaged.passUnretained(state).toOpaque())
        defer { pthread_setspecific(key, was) }
        return try withExtendedLifetime(state) { try body() }
    }

    /// Whether the calling thread runs inside `run` with a pause (a background job that must stay on its thread).
    public static var isActive: Bool { pthread_getspecific(key) != nil }

    /// Sleeps for the paced share of the work done since the previous point (nothing outside `run`).
    @inline(__always)
    public static func point() {
        guard let raw = pthread_getspecific(key) else { return }
        pace(Unmanaged<State>.fromOpaque(raw).takeUnretainedValue())
    }

    @inline(never)
    private static func pace(_ state: State) {
        let now = threadCPUSeconds()
        let worked = now - state.last
        guard worked > 0.000_5 else { return }   // pieces under half a millisecond add up first
        let sleep = min(worked * state.pause, 1)
        usleep(UInt32(sleep * 1e6))
        state.last = threadCPUSeconds()
    }

    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}

/// Seconds on CLOCK_MONOTONIC, for durations: the kernel pool's spin, training and benchmark timings.
package func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
