import ArgumentParser
import SentimentCore

@main
struct SentimentDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sentimentd",
        abstract: "Sentiment classification service: serves a transformer model over a Unix socket.",
        discussion: """
        Without a subcommand, sentimentd serves (see `sentimentd serve --help`). Clients use sentimentctl.
        """,
        version: SentimentVersion.current,
        // One subcommand per file; add new ones here.
        subcommands: [ServeCommand.self, PredictCommand.self, BenchCommand.self, FinetuneCommand.self, TrainWorkerCommand.self,
                      ValidateWorkerCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}
