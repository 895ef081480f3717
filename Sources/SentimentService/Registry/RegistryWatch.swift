import Foundation
import SentimentProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Whether the registry's queue is making progress, for the watchdog and `status`.
///
/// Policy: the queue may be busy for a long time legitimately (a version validated at idle priority beside busy
/// clients takes minutes on a loaded box: its threads are runnable but not running). It is stuck only when the
/// work in progress neither uses CPU nor is runnable for `stallLimit` seconds (`models.validation_timeout`):
/// blocked on a read that never returns, a lock never released, a child that never answers. Each piece of work
/// names what does it: the queue thread itself, the background thread a load runs on, or the validation
/// process (all of its threads). Samples come from /proc (CPU ticks and run state).
///
/// When it is stuck, the watchdog stops pinging (systemd then restarts the daemon; the version whose validation
/// it was stays marked, so the restart counts the interruption: see `VersionStore.recoverInterruptedValidations`),
/// and `status` says what it is stuck on.
public final class RegistryWatch: @unchecked Sendable {
    enum Worker: Equatable {
        case thread(Int32)
        case process(pid_t)
    }

    private struct Work {
        var task: String
        var since: Date
        var workers: [Worker]
        var lastProgress: Date
        var lastTicks: UInt64?
    }

    /// Seconds without progress that make the queue stuck.
    public let stallLimit: Double
    private let lock = NSLock()
    private var work: Work?

    public init(stallLimit: Double) { self.stallLimit = stallLimit }

    /// The queue thread starts `task` (it does the work itself until `handOver`).
    func begin(_ task: String) {
        let now = Date()
        lock.withLock { work = Work(task: task, since: now, workers: [.thread(ProcessLimits.threadID)], lastProgress: now) }
    }

    func end() { lock.withLock { work = nil } }

    /// Runs `body` while `worker` (a thread or a child process) does the current work; the queue thread waits.
    func handOver<T>(to worker: Worker, _ body: () throws -> T) rethrows -> T {
        lock.withLock {
            work?.workers.append(worker)
            work?.lastTicks = nil
        }
        defer {
            lock.withLock {
                if let i = work?.workers.lastIndex(of: worker) { work?.workers.remove(at: i) }
                work?.lastTicks = nil
            }
        }
        return try body()
    }

    /// Samples the current work and returns the queue's health. Called on every watchdog beat (about once a second).
    public func check(now: Date = Date()) -> RegistryStatus {
        lock.lock()
        defer { lock.unlock() }
        guard var current = work else { return RegistryStatus(state: "idle") }
        if let worker = current.workers.last {
            let sample: (ticks: UInt64, runnable: Bool)?
            switch worker {
            case let .thread(tid): sample = ProcessLimits.progressSample(pid: getpid(), thread: tid)
            case let .process(pid): sample = ProcessLimits.progressSample(pid: pid)
            }
            if let sample, sample.runnable || (current.lastTicks != nil && sample.ticks != current.lastTicks) {
                current.lastProgress = now
            }
            if sample == nil { current.lastProgress = now }   // gone: the waiter is about to move on
            current.lastTicks = sample?.ticks
        }
        work = current
        let idle = now.timeIntervalSince(current.lastProgress)
        return RegistryStatus(state: idle >= stallLimit ? "stuck" : "working", task: current.task,
                              busySeconds: now.timeIntervalSince(current.since), noProgressSeconds: idle)
    }
}
