import ArgumentParser
import Foundation
import Logging
import SentimentEngine
import SentimentHTTP
import SentimentService

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve predictions on the Unix socket (the default).",
        discussion: """
        Reads the configuration file (--config, else \(ConfigFile.defaultPath) when it exists, else built-in \
        defaults), binds the socket (or takes it from systemd socket activation), loads the active model \
        version from the models directory and serves until SIGTERM, which drains queued requests and exits 0. \
        SIGHUP re-reads the configuration and rescans the models directory.

        SENTIMENT_MODEL names a model folder (or a version in the models directory) to serve at start.

        Exit status: 0 after a clean shutdown, 1 on a runtime error, 78 when the configuration is invalid \
        (the unit file does not restart on 78).
        """
    )

    @Option(name: .long, help: ArgumentHelp("Configuration file (TOML).", valueName: "file"), completion: .file())
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Models directory (overrides models.directory).", valueName: "dir"),
            completion: .directory)
    var models: String?

    @Option(name: .long, help: ArgumentHelp("Socket path to bind (overrides server.socket).", valueName: "path"),
            completion: .file())
    var socket: String?

    @Option(name: .long, help: ArgumentHelp("SQLite database (overrides store.database).", valueName: "file"),
            completion: .file())
    var database: String?

    /// EX_CONFIG from sysexits.h.
    static let configErrorExit: Int32 = 78

    func run() async throws {
        LoggingSystem.bootstrap { label in DaemonLogging.makeHandler(label: label) }
        var logger = Logger(label: "sentimentd")
        logger.logLevel = .trace // the shared level (log.level) filters

        let configPath: String?
        let fileConfig: DaemonConfig
        do {
            if let config {
                configPath = config
                fileConfig = try ConfigFile.load(path: config)
            } else if FileManager.default.fileExists(atPath: ConfigFile.defaultPath) {
                configPath = ConfigFile.defaultPath
                fileConfig = try ConfigFile.load(path: ConfigFile.defaultPath)
            } else {
                configPath = nil
                fileConfig = DaemonConfig()
            }
        } catch {
            logger.critical("invalid configuration", metadata: ["error": "\(error)"])
            FileHandle.standardError.write(Data("sentimentd: \(error)\n".utf8))
            throw ExitCode(Self.configErrorExit)
        }
        let cwd = FileManager.default.currentDirectoryPath
        func absolute(_ p: String?) -> String? {
            guard let p else { return nil }
            return p.hasPrefix("/") ? p : URL(fileURLWithPath: cwd).appendingPathComponent(p).standardizedFileURL.path
        }
        let overrides = ConfigOverrides(socketPath: absolute(socket), modelsDirectory: absolute(models),
                                        databasePath: absolute(database))
        // The kernels' helper threads take this (normal-priority) thread's priority, not that of whichever
        // thread would run the first parallel loop.
        Parallel.startWorkers()
        let daemon = Daemon(config: fileConfig, configPath: configPath.flatMap(absolute), overrides: overrides,
                            sentimentModel: ProcessInfo.processInfo.environment["SENTIMENT_MODEL"],
                            frontEnds: [{ try HTTPFrontEnd.make($0) }], logger: logger)
        do {
            try await daemon.runUntilSignalled()
        } catch {
            logger.critical("sentimentd stopped on an error", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }
}
