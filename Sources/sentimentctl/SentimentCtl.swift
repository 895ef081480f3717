import ArgumentParser
import Foundation
import SentimentCore
import SentimentProtocol

@main
struct SentimentCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sentimentctl",
        abstract: "Talk to a running sentimentd: classify texts, switch model versions, send labels, run and compare fine-tuning.",
        discussion: """
        The daemon's socket is --socket, else $SENTIMENTD_SOCKET, else \(ConnectionOptions.defaultSocket).
        Roles (the daemon's configuration says who holds them): a reader (anyone who can open the socket, or \
        server.reader_group) may predict, read status, models, labels stats, runs and metrics; a labeller \
        (server.labeller_group) may also send labels (label, import) to the training split, and list and export \
        that split; an admin (uid 0, the daemon's user, server.admin_group) may also activate, rollback, reload, \
        train, labels draw-eval and rm, models rm, pin and unpin, back up the database, read and write the \
        evaluation split and predict with a version that is not in memory.

        Exit codes:
          0    success
          1    the daemon answered with an error (unknown version, no model
               loaded, labels rejected, ...); train --follow: the run was not
               published (rejected by the gate, failed or cancelled)
          2    usage error (bad arguments, unreadable input file, lines of an
               import file that cannot be parsed)
          3    cannot connect to the daemon (socket missing, refused, permission
               denied)
          4    refused: the caller's role does not allow the request
          5    the connection broke or the answer was not understood (timeout)
          6    status: the daemon answers but serves no model (none valid yet,
               or shutting down), so `sentimentctl status` can be a probe
          130  interrupted (Ctrl-C): an import in progress is aborted; a
               followed training run goes on

        Shell completions: sentimentctl --generate-completion-script bash|zsh|fish
        """,
        version: SentimentVersion.current,
        subcommands: [
            PredictCommand.self, StatusCommand.self, ModelsCommand.self, ActivateCommand.self,
            RollbackCommand.self, ReloadCommand.self, MetricsCommand.self, PullCommand.self,
            LabelCommand.self, ImportCommand.self, LabelsCommand.self, TrainCommand.self, RunsCommand.self,
            CompareCommand.self, BackupCommand.self, TokensCommand.self,
        ]
    )

    /// `sentimentctl --socket P status` as well as `sentimentctl status --socket P`: connection options given before the
    /// subcommand are moved just after it, where the subcommand parses them.
    static func normalisedArguments(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first {
            if first == "--socket" || first == "--timeout", rest.count >= 2 {
                leading += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else if first.hasPrefix("--socket=") || first.hasPrefix("--timeout=") {
                leading.append(first)
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        guard !leading.isEmpty, let subcommand = rest.first else { return arguments }
        // Groups (`labels stats`, `runs show`): the options go after the nested command, which parses them.
        let nested: [String: [String]] = ["labels": ["stats", "list", "export", "rm", "draw-eval"], "runs": ["list", "show"],
                                          "models": ["list", "rm", "pin", "unpin"]]
        if let names = nested[subcommand], rest.count >= 2, names.contains(rest[rest.startIndex + 1]) {
            return Array(rest.prefix(2)) + leading + rest.dropFirst(2)
        }
        return [subcommand] + leading + rest.dropFirst()
    }

    static func main() {
        do {
            var command = try parseAsRoot(normalisedArguments(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch let failure as CtlFailure {
            FileHandle.standardError.write(Data("sentimentctl: \(failure.message)\n".utf8))
            Foundation.exit(failure.exitCode.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                // ArgumentParser's usage errors exit 64 by default; scripts get 2, as documented.
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(CtlExitCode.usage.rawValue)
            }
            exit(withError: error)
        }
    }
}
