import Dispatch
import Foundation
import Logging
import SentimentCheckpoint
import SentimentEngine
#if canImport(Glibc)
import Glibc
#endif

/// Why a validation process gave no verdict for reasons that are not the version's fault.
enum ValidationProcessError: Error, CustomStringConvertible {
    /// The daemon is stopping: the process was ended on purpose (a clean stop does not count as an interruption).
    case stopped
    case cannotStart(executable: String, reason: String)

    var description: String {
        switch self {
        case .stopped: return "validation stopped: the daemon is shutting down"
        case let .cannotStart(executable, reason): return "cannot start the validation process \(executable): \(reason)"
        }
    }
}

/// The parent's side of a validation: `sentimentd validate-worker` (the same binary) checks a version folder in a
/// process of its own and answers with one JSON line (`ValidationVerdict`). Whatever a file does to that process
/// (a crash in a parser, an allocation beyond its address-space limit, a loop beyond its CPU limit, a read that
/// never returns) is a rejection that says so, and the daemon goes on serving.
///
/// Limits, and how they are sized:
/// - address space: 1 GiB for the runtime, OpenBLAS and thread stacks, plus 4x the bytes of the folder (fp32
///   weights from fp16 files are twice their bytes; the tokenizer's tables a few times theirs), plus for an adapter
///   4x the largest folder a base could be loaded from (the parent does not parse the folder to find out which);
/// - CPU time: 120 s plus 120 s per GiB (RoBERTa-base takes ~3 s of CPU: hashing, loading, scanning, probing);
/// - no progress for `stallLimit` seconds (blocked, not merely waiting for CPU behind serving at idle priority:
///   see `RegistryWatch`): killed by the parent.
struct ValidationProcess: Sendable {
    let executable: URL
    let modelsDirectory: URL
    let baseDirectories: [URL]
    /// `models.validation_timeout`, seconds.
    let stallLimit: Double

    static let baseAddressSpace = 1 << 30

    /// Validates `folder`. `priority`: run paced at that priority (a version arriving while another serves), nil:
    /// flat out on every core (start-up). Returns the verdict; throws only `ValidationProcessError`.
    func validate(_ folder: CheckpointFolder, priority: LoadPriority?, watch: RegistryWatch?, logger: Logger,
                  isStopping: @escaping @Sendable () -> Bool) throws -> ValidationVerdict {
        let folderBytes = folder.files.reduce(0) { $0 + Int($1.size) }
        let adapter = folder.files.contains { $0.name == AdapterFolder.configFile }
        let baseBytes = adapter ? largestCandidateBase() : 0
        let addressSpace = Self.baseAddressSpace + 4 * folderBytes + 4 * baseBytes
        let cpuSeconds = 120 + 120 * (folderBytes + baseBytes) / (1 << 30)

        let process = Process()
        process.executableURL = executable
        var arguments = ["validate-worker", "--folder", folder.url.path, "--models", modelsDirectory.path,
                         "--parent-pid", "\(getpid())", "--address-space", "\(addressSpace)",
                         "--cpu-seconds", "\(cpuSeconds)"]
        for base in baseDirectories { arguments += ["--base-directory", base.path] }
        if let priority { arguments += ["--priority", priority.rawValue] }
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        // Only the daemon talks to systemd.
        for key in ["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            environment.removeValue(forKey: key)
        }
        // One OpenBLAS thread: the probes are a few short texts, and OpenBLAS starts its threads when it is loaded,
        // which would keep the worker from entering a namespace of its own (see CLinux's process.c).
        environment["OPENBLAS_NUM_THREADS"] = "1"
        // A crash is reported by its signal and the runtime's one-line message; the runtime's backtrace would take
        // seconds of CPU at idle priority for nothing anyone reads (run `sentimentd validate-worker --folder DIR`
        // by hand to get one).
        environment["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = environment
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }

        // Both pipes are drained on threads of their own, so a chatty child never blocks on a full pipe.
        let verdictLine = LockedBox(Data())
        let lastWords = LockedBox(Data())
        let readers = DispatchGroup()
        do {
            try process.run()
        } catch {
            throw ValidationProcessError.cannotStart(executable: executable.path, reason: "\(error)")
        }
        let pid = process.processIdentifier
        DispatchQueue.global().async(group: readers) {
            verdictLine.value = Self.readAll(output.fileHandleForReading, keepingAtMost: 64 << 20)
        }
        DispatchQueue.global().async(group: readers) {
            lastWords.value = Self.readAll(errors.fileHandleForReading, keepingAtMost: 64 << 10)
        }

        var killedBecause: String?
        var stopped = false
        let work = { () -> Void in
            var lastTicks: UInt64?
            var lastProgress = Date()
            while exited.wait(timeout: .now() + 0.25) == .timedOut {
                if isStopping() {
                    stopped = true
                    kill(pid, SIGKILL)
                    continue
                }
                let now = Date()
                if let sample = ProcessLimits.progressSample(pid: pid) {
                    if sample.runnable || (lastTicks != nil && sample.ticks != lastTicks) { lastProgress = now }
                    lastTicks = sample.ticks
                }
                if killedBecause == nil, now.timeIntervalSince(lastProgress) >= stallLimit {
                    killedBecause = "it made no progress for \(Int(stallLimit)) s (blocked, not waiting for CPU; models.validation_timeout)"
                    kill(pid, SIGKILL)
                }
            }
        }
        if let watch { watch.handOver(to: .process(pid), work) } else { work() }
        readers.wait()
        if stopped { throw ValidationProcessError.stopped }

        let words = String(decoding: lastWords.value, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if !words.isEmpty {
            logger.debug("validation process output", metadata: ["version": "\(folder.version)", "stderr": "\(words)"])
        }
        if process.terminationReason == .exit, process.terminationStatus == 0,
           let verdict = try? JSONDecoder().decode(ValidationVerdict.self, from: verdictLine.value) {
            return verdict
        }
        return .rejected(Self.failure(process, killedBecause: killedBecause, addressSpace: addressSpace,
                                      cpuSeconds: cpuSeconds, lastWords: words))
    }

    /// The rejection reason of a validation process that gave no verdict.
    static func failure(_ process: Process, killedBecause: String?, addressSpace: Int, cpuSeconds: Int,
                        lastWords: String) -> String {
        // The Swift runtime's own line ("Fatal error: …", "*** Program crashed: …"), else the last error logged.
        let lines = lastWords.split(separator: "\n")
        let lastLine = (lines.first { $0.contains("Fatal error") || $0.contains("Program crashed") }
            ?? lines.last { $0.contains("error") }).map { String($0.prefix(300)) }
        let said = lastLine.map { " (its last words: \($0))" } ?? ""
        if let killedBecause { return "the validation process was stopped: \(killedBecause)" }
        guard process.terminationReason == .uncaughtSignal else {
            return "the validation process exited with status \(process.terminationStatus) without a verdict\(said)"
        }
        let signal = process.terminationStatus
        let limits = "its limits: \(addressSpace >> 20) MiB of address space, \(cpuSeconds) s of CPU"
        switch signal {
        case SIGXCPU:
            return "the validation process used up its CPU time limit of \(cpuSeconds) s (SIGXCPU)\(said)"
        case SIGKILL:
            return "the validation process was killed (SIGKILL: out of memory, its CPU limit, or by hand; \(limits))\(said)"
        default:
            let name = Self.signalNames[signal] ?? "signal \(signal)"
            let memory = lastWords.contains("failed to allocate") || lastWords.contains("out of memory")
                ? " after running out of its \(addressSpace >> 20) MiB address space" : ""
            return "the validation process crashed (\(name))\(memory) reading this version\(said)"
        }
    }

    static let signalNames: [Int32: String] = [
        SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP", SIGABRT: "SIGABRT",
        SIGFPE: "SIGFPE", SIGTERM: "SIGTERM",
    ]

    /// Reads to the end of the pipe, keeping the last `limit` bytes.
    static func readAll(_ handle: FileHandle, keepingAtMost limit: Int) -> Data {
        var kept = Data()
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            kept.append(chunk)
            if kept.count > limit { kept.removeFirst(kept.count - limit) }
        }
        return kept
    }

    /// Bytes of the largest folder an adapter's base could be loaded from (sizes only; nothing is read).
    func largestCandidateBase() -> Int {
        let fm = FileManager.default
        var largest = 0
        for root in baseDirectories + [modelsDirectory] {
            for name in (try? fm.contentsOfDirectory(atPath: root.path)) ?? [] where !name.hasPrefix(".") {
                let folder = root.appendingPathComponent(name)
                let bytes = ((try? fm.contentsOfDirectory(atPath: folder.path)) ?? []).reduce(0) { sum, file in
                    var st = stat()
                    guard lstat(folder.appendingPathComponent(file).path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return sum }
                    return sum + Int(st.st_size)
                }
                largest = max(largest, bytes)
            }
        }
        return largest
    }
}
