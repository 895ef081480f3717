import Dispatch
import Foundation
import Logging
import SentimentCheckpoint
import SentimentCore
import SentimentEngine
#if canImport(Glibc)
import Glibc
#endif

/// What `sentimentd validate-worker` is started with (by `ValidationProcess`; the worker reads no config).
public struct ValidationWorkerOptions: Sendable {
    public var folder: URL
    public var modelsDirectory: URL
    public var baseDirectories: [URL]
    /// The daemon's pid: when the worker's parent is no longer this process, it exits.
    public var parentPID: pid_t?
    public var addressSpaceBytes: Int
    public var cpuSeconds: Int
    /// Paced at this priority (a version arriving while another serves); nil: flat out.
    public var priority: LoadPriority?

    public init(folder: URL, modelsDirectory: URL, baseDirectories: [URL], parentPID: pid_t?, addressSpaceBytes: Int,
                cpuSeconds: Int, priority: LoadPriority?) {
        self.folder = folder
        self.modelsDirectory = modelsDirectory
        self.baseDirectories = baseDirectories
        self.parentPID = parentPID
        self.addressSpaceBytes = addressSpaceBytes
        self.cpuSeconds = cpuSeconds
        self.priority = priority
    }
}

/// The validation process: limits itself, checks one version folder (`CheckpointInspection`), and writes the
/// verdict as one JSON line on standard output. A rejection is a verdict (exit 0); anything else (a crash, a
/// limit, a hang) the parent turns into a rejection naming it.
public enum ValidationWorker {
    public static func run(_ options: ValidationWorkerOptions, logger: Logger) -> Int32 {
        TestHooks.role = "validation"
        // Before anything touches the folder: the limits and the OOM score (the network was left before main).
        let unset = ProcessLimits.limitValidation(addressSpaceBytes: options.addressSpaceBytes, cpuSeconds: options.cpuSeconds)
        if !unset.isEmpty { logger.warning("validation limits not set", metadata: ["limits": "\(unset.joined(separator: "; "))"]) }
        ProcessLimits.preferOOMKill()
        if let why = ProcessLimits.networkIsolationFailure {
            logger.debug("validation stays in the service's network namespace", metadata: ["reason": "\(why)"])
        }
        // The priority before any other thread exists: threads started later inherit it.
        options.priority?.applyToCurrentThread()
        watchParent(options.parentPID)
        injectFault(version: options.folder.lastPathComponent)

        let verdict: ValidationVerdict
        do {
            let folder = try CheckpointFolder.read(version: options.folder.lastPathComponent,
                                                   in: options.folder.deletingLastPathComponent())
            let loader = ModelLoader(modelsDirectory: options.modelsDirectory, baseDirectories: options.baseDirectories)
            // Unpacked: the packed copy is the serving process's, and the probes run as well without it.
            let inspect = {
                CheckpointInspection.verdict(folder) { url, listed in
                    try loader.load(url, options: ModelLoadOptions(packWeights: false), expecting: listed)
                }
            }
            if let priority = options.priority {
                verdict = Parallel.serially { Pacing.run(pause: priority.pacing, inspect) }
            } else {
                verdict = inspect()
            }
        } catch {
            verdict = .rejected("\(error)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var line = try? encoder.encode(verdict) else { return 1 }
        line.append(0x0A)
        FileHandle.standardOutput.write(line)
        return 0
    }

    /// Exits when the daemon that started this process is gone (an orphan has no one to answer).
    static func watchParent(_ parent: pid_t?) {
        guard let parent else { return }
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + 0.5, repeating: 0.5)
        timer.setEventHandler {
            if getppid() != parent { _exit(3) }
        }
        timer.resume()
        orphanWatch = timer
    }

    nonisolated(unsafe) static var orphanWatch: DispatchSourceTimer?

    /// Test faults (`TestHooks`): what a hostile file could make a parser do, on demand.
    static func injectFault(version: String) {
        TestHooks.pause("validating \(version)")
        switch TestHooks.validationFault(version: version) {
        case .crash?:
            // A wild read, as a parser bug would make (raise() would return once the runtime's handler has run).
            let wild = UnsafeMutablePointer<Int>(bitPattern: 0x10)!
            wild.pointee += 1
        case .allocate?:
            // Touches memory until the address-space limit stops it.
            var blocks: [UnsafeMutableRawPointer] = []
            while true {
                guard let block = malloc(64 << 20) else { fatalError("out of memory: failed to allocate 64 MiB") }
                memset(block, 1, 64 << 20)
                blocks.append(block)
            }
        case .hang?:
            while true { sleep(3600) }
        default:
            break
        }
    }
}
