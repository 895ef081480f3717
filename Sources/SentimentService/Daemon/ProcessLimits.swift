import CLinux
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What sentimentd's child processes (the training worker, the validation worker) do to themselves so that their
/// failure can never take serving down. One file owns these system calls (setrlimit, oom_score_adj, unshare,
/// /proc reads of thread states).
///
/// - Out of memory: the unit's memory limit (MemoryMax=) covers the daemon and its children together. A child
///   raises its own `oom_score_adj` to 1000 at start, so when the cgroup runs out the kernel kills the child,
///   not the daemon (OOMPolicy=continue keeps systemd from stopping the service over it). Raising one's own
///   score needs no privilege.
/// - The validation worker also limits itself (`limitValidation`) before it opens the folder it checks.
enum ProcessLimits {
    /// The kernel's out-of-memory killer takes this process first (1000: the highest score).
    @discardableResult
    static func preferOOMKill() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/oom_score_adj") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data("1000\n".utf8))) != nil
    }

    /// The validation worker's limits, set before it touches the folder: address space (a checkpoint that makes
    /// it allocate without end hits this, not the machine), CPU seconds (a parser that loops forever), no file
    /// may be written to, no core dump. Each failure is returned by name (the worker goes on: the parent's timeout
    /// and the unit's limits still hold).
    static func limitValidation(addressSpaceBytes: Int, cpuSeconds: Int) -> [String] {
        var failed: [String] = []
        func set(_ resource: Int32, _ name: String, soft: UInt64, hard: UInt64) {
            var limit = rlimit(rlim_cur: rlim_t(soft), rlim_max: rlim_t(hard))
            var current = rlimit()
            // Lowering a limit is always allowed; never ask for more than the hard limit already in force.
            if getrlimit(__rlimit_resource_t(UInt32(resource)), &current) == 0 {
                limit.rlim_max = min(limit.rlim_max, current.rlim_max)
                limit.rlim_cur = min(limit.rlim_cur, limit.rlim_max)
            }
            if setrlimit(__rlimit_resource_t(UInt32(resource)), &limit) != 0 {
                failed.append("\(name): \(String(cString: strerror(errno)))")
            }
        }
        set(Int32(RLIMIT_AS.rawValue), "RLIMIT_AS", soft: UInt64(addressSpaceBytes), hard: UInt64(addressSpaceBytes))
        // SIGXCPU at the soft limit; SIGKILL five seconds of CPU later if it is ignored.
        set(Int32(RLIMIT_CPU.rawValue), "RLIMIT_CPU", soft: UInt64(cpuSeconds), hard: UInt64(cpuSeconds + 5))
        // No file may grow by a byte. Except when standard output is itself a file (the worker run by hand with
        // `> verdict.json`): the verdict could not be written, and the runtime would die trying.
        var output = stat()
        if fstat(STDOUT_FILENO, &output) != 0 || (output.st_mode & S_IFMT) != S_IFREG {
            set(Int32(RLIMIT_FSIZE.rawValue), "RLIMIT_FSIZE", soft: 0, hard: 0)
        }
        set(Int32(RLIMIT_CORE.rawValue), "RLIMIT_CORE", soft: 0, hard: 0)
        return failed
    }

    /// Whether this validation worker left the host's network (it does so before main, see CLinux's process.c):
    /// nil when it did, else why not (under the shipped unit, RestrictNamespaces= refuses it and the unit's
    /// PrivateNetwork= and RestrictAddressFamilies=AF_UNIX keep the whole service off the network instead).
    static var networkIsolationFailure: String? {
        let code = sentimentd_network_isolation()
        switch code {
        case 0: return nil
        case -1: return "not a validation worker"
        default: return "unshare: \(String(cString: strerror(code)))"
        }
    }

    /// The calling thread's id, as in /proc/self/task.
    static var threadID: Int32 { sentimentd_thread_id() }

    /// CPU time used so far (clock ticks) and whether any thread is runnable, over the threads in `taskDirectory`
    /// (`/proc/<pid>/task`, or one thread's `/proc/self/task/<tid>` given as `single`). nil when gone.
    static func progressSample(pid: pid_t, thread: Int32? = nil) -> (ticks: UInt64, runnable: Bool)? {
        let tasks: [String]
        if let thread {
            tasks = ["/proc/\(pid)/task/\(thread)"]
        } else {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return nil }
            tasks = names.map { "/proc/\(pid)/task/\($0)" }
        }
        var ticks: UInt64 = 0
        var runnable = false
        var seen = false
        for task in tasks {
            // "pid (comm) S ppid ...": the command may hold spaces and parentheses, so split after the last ')'.
            guard let text = try? String(contentsOfFile: task + "/stat", encoding: .utf8),
                  let close = text.lastIndex(of: ")") else { continue }
            let fields = text[text.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { continue }
            seen = true
            ticks += user + system
            if fields[0] == "R" { runnable = true }
        }
        return seen ? (ticks, runnable) : nil
    }
}
