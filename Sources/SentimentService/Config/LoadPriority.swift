import Foundation

/// `models.load_priority`: how the thread validating a new version shares the CPU with serving.
public enum LoadPriority: String, Sendable, Equatable, CaseIterable {
    /// SCHED_IDLE, and paced (`Pacing`) to work a quarter of the time: runs only on CPU time the serving threads
    /// leave unused, yields to them at once, and never for more than a few milliseconds in a row, so the requests
    /// served during a hot reload are barely slower. A load takes about four times its CPU time (RoBERTa-base:
    /// ~4 s on a quiet machine, 15-60 s beside 8 busy clients on 2 cores); on a machine kept 100 % busy a new
    /// version waits for a lull.
    case idle
    /// Niceness +10: about a tenth of a busy core, so a new version loads within seconds under any load, at the
    /// cost of the serving threads' latency while it loads (fork-join kernels wait for their slowest thread).
    case low

    /// Sets the calling thread's scheduling (on Linux, policy and nice value are per thread). A failure leaves
    /// it at the niceness, or at the process's priority: lowering one's own priority needs no privilege, and
    /// the unit's system-call filter allows both calls.
    func applyToCurrentThread() {
        #if os(Linux)
        // 0 names the calling thread.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        if self == .idle {
            var param = sched_param(sched_priority: 0)
            _ = sched_setscheduler(0, Self.schedIdle, &param)
        }
        #endif
    }

    /// `Pacing` of the validation: "idle" works a quarter of the time, "low" flat out.
    var pacing: Double { self == .idle ? 3 : 0 }

    /// SCHED_IDLE from <sched.h>, which Swift's Glibc module does not export (it needs _GNU_SOURCE).
    static let schedIdle: Int32 = 5
}
