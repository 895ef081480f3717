import ArgumentParser
import Foundation
import SentimentProtocol

struct ActivateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "activate",
        abstract: "Serve a model version (needs uid 0, the daemon's user or its admin group)."
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: ArgumentHelp("The version to serve, as `sentimentctl models` lists it.", valueName: "version"))
    var version: String

    func run() throws {
        try output.show(ModelsActivateMethod.self, .init(version: version), via: connection) { result in
            print("active: \(result.active)" + (result.previous.map { " (was \($0))" } ?? ""))
        }
    }
}

struct RollbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Go back to the previous model version, or to --to VERSION.",
        discussion: "The version rolled back from is marked so that a rescan does not activate it again."
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: ArgumentHelp("The version to go back to.", valueName: "version"))
    var to: String?

    func run() throws {
        try output.show(RollbackMethod.self, .init(to: to), via: connection) { result in
            print("active: \(result.active)" + (result.previous.map { " (rolled back from \($0))" } ?? ""))
        }
    }
}

struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Re-read the configuration file and rescan the models directory (like systemctl reload)."
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try output.show(ReloadMethod.self, NoParams(), via: connection) { result in
            print("reloaded \(result.configFile ?? "(no configuration file: defaults)"); active: \(result.active ?? "none")")
            if !result.needsRestart.isEmpty {
                print("changed but only effective after a restart: \(result.needsRestart.joined(separator: ", "))")
            }
        }
    }
}

struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Print the daemon's metrics in Prometheus text format."
    )

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let result = try connection.call(MetricsMethod.self, NoParams())
        FileHandle.standardOutput.write(Data(result.text.utf8))
    }
}
