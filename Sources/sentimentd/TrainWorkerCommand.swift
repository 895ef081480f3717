import ArgumentParser
import Foundation
import Logging
import SentimentEngine
import SentimentService

/// The daemon's training worker. Started by sentimentd itself for each run; not meant to be run by hand
/// (but it can be, to debug a run: it only needs the paths below and the run's row in the database).
struct TrainWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-worker",
        abstract: "Run one training run (started by the daemon; see `sentimentctl train`).",
        shouldDisplay: false
    )

    @Option(name: .customLong("run"), help: "The run's id in the database.") var runID: Int64
    @Option(help: "The daemon's SQLite database.") var database: String
    @Option(help: "The models directory.") var models: String
    @Option(help: "The version to fine-tune (the champion).") var base: String
    @Option(help: "Stop when the parent process is no longer this pid.") var parentPid: Int32?
    @Option(help: "Niceness of this process.") var nice: Int = 10
    @Option(help: "Threads for matrix products.") var threads: Int = 1
    @Option(help: "Log level.") var logLevel: String = "info"
    @Option(help: "A folder searched for LoRA adapter bases (repeatable).") var baseDirectory: [String] = []
    @Option(help: "The precision the daemon serves in (models.precision): the evaluations use it.") var precision: Precision = .fp32

    func run() throws {
        LoggingSystem.bootstrap { label in DaemonLogging.makeHandler(label: label) }
        DaemonLogging.level = Logger.Level(rawValue: logLevel) ?? .info
        var logger = Logger(label: "sentimentd.train-worker")
        logger.logLevel = .trace
        let options = TrainWorkerOptions(
            runID: runID, databasePath: URL(fileURLWithPath: database), modelsDirectory: URL(fileURLWithPath: models),
            baseVersion: base, parentPID: parentPid, nice: nice, threads: threads,
            baseDirectories: baseDirectory.map { URL(fileURLWithPath: $0) }, precision: precision)
        let code = TrainWorker.run(options, logger: logger)
        if code != 0 { throw ExitCode(code) }
    }
}
