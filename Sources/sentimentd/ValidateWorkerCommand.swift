import ArgumentParser
import Foundation
import Logging
import SentimentService

/// The daemon's validation worker: checks one arriving version folder in a process of its own (see
/// `ValidationProcess`). Started by sentimentd itself; not meant to be run by hand, but it can be, to see what the
/// daemon would say about a folder: it prints the verdict as one JSON line.
struct ValidateWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate-worker",
        abstract: "Validate one model version folder and print the verdict (started by the daemon).",
        shouldDisplay: false
    )

    @Option(help: "The version folder.") var folder: String
    @Option(help: "The models directory.") var models: String
    @Option(help: "A folder searched for LoRA adapter bases (repeatable).") var baseDirectory: [String] = []
    @Option(help: "Stop when the parent process is no longer this pid.") var parentPid: Int32?
    @Option(help: "Address-space limit in bytes.") var addressSpace: Int = 8 << 30
    @Option(help: "CPU-time limit in seconds.") var cpuSeconds: Int = 600
    @Option(help: "idle or low: paced as models.load_priority; absent: flat out.") var priority: String?

    func run() throws {
        LoggingSystem.bootstrap { label in DaemonLogging.makeHandler(label: label) }
        var logger = Logger(label: "sentimentd.validate-worker")
        logger.logLevel = .trace
        guard priority == nil || LoadPriority(rawValue: priority!) != nil else {
            throw ValidationError("--priority must be idle or low")
        }
        let options = ValidationWorkerOptions(
            folder: URL(fileURLWithPath: folder), modelsDirectory: URL(fileURLWithPath: models),
            baseDirectories: baseDirectory.map { URL(fileURLWithPath: $0) }, parentPID: parentPid,
            addressSpaceBytes: addressSpace, cpuSeconds: cpuSeconds, priority: priority.flatMap(LoadPriority.init))
        let code = ValidationWorker.run(options, logger: logger)
        if code != 0 { throw ExitCode(code) }
    }
}
