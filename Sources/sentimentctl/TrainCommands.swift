import ArgumentParser
import Foundation
import SentimentCore
import SentimentProtocol

extension TrainingMethod: ExpressibleByArgument {}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Start a fine-tuning run now, follow it, or cancel the running one (uid 0, the daemon's user or its admin group).",
        discussion: """
        A run fine-tunes the active model on the labels that are new since the last run plus a replay sample \
        of older ones, evaluates the result and the active model on the frozen eval split, and publishes the \
        result only if its macro-F1 is not below the active model's by more than the gate tolerance. Options \
        not given take the values of the daemon's [training] configuration. Only one run at a time.

        Without --follow the run id is printed and the command returns at once; `sentimentctl runs show N` \
        shows the run later. With --follow, a progress line (step, epoch, loss, learning rate, examples per \
        second, time left) is drawn on standard error while the run goes on, and the per-epoch metrics and the \
        gate's decision are printed at the end. Ctrl-C stops following; the run goes on. \
        --json prints the run as the daemon answered (with --follow: its final runs.show detail).

        Exit codes with --follow: 0 the candidate was published, 1 it was rejected by the gate, or the run failed \
        or was cancelled (the reason is printed); the other codes are as for every command (sentimentctl --help).
        """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Flag(name: .long, help: "Wait for the run to end, with a progress line; exit 0 only if it was published.")
    var follow = false

    @Flag(name: .long, help: "Cancel the queued or running run instead of starting one (train.cancel).")
    var cancel = false

    @Option(name: .long, help: ArgumentHelp("Passes over the training data.", valueName: "n"))
    var epochs: Int?

    @Option(name: .long, help: ArgumentHelp("Examples per optimizer step.", valueName: "n"))
    var batchSize: Int?

    @Option(name: .long, help: ArgumentHelp("Peak learning rate (e.g. 2e-5).", valueName: "x"))
    var learningRate: Double?

    @Option(name: .long, help: ArgumentHelp("full (every weight) or lora (low-rank adapters).", valueName: "method"))
    var method: TrainingMethod?

    @Option(name: .long, help: ArgumentHelp("Tokens per text, longer texts are cut.", valueName: "n"))
    var maxLength: Int?

    @Option(name: .long, help: ArgumentHelp("Fraction of the steps spent warming the learning rate up (0...1).", valueName: "x"))
    var warmupRatio: Double?

    @Option(name: .long, help: ArgumentHelp("AdamW weight decay.", valueName: "x"))
    var weightDecay: Double?

    @Option(name: .long, help: ArgumentHelp("Older labels replayed per new label.", valueName: "x"))
    var replayRatio: Double?

    @Option(name: .long, help: ArgumentHelp("Seed of the data order and initialisation.", valueName: "n"))
    var seed: UInt64?

    var recipe: RunRecipe {
        RunRecipe(method: method?.rawValue, epochs: epochs, batchSize: batchSize, learningRate: learningRate,
                  maxLength: maxLength, warmupRatio: warmupRatio, weightDecay: weightDecay,
                  replayRatio: replayRatio, seed: seed)
    }

    func validate() throws {
        if cancel {
            if follow { throw ValidationError("--cancel and --follow do not go together") }
            if recipe != RunRecipe() { throw ValidationError("--cancel takes no recipe options") }
            return
        }
        // The daemon's ranges (`TrainingSetting`), said as the flags: a bad value fails here, before the call.
        // Each option is the setting's key as a flag (learning_rate: --learning-rate).
        for (setting, value) in recipe.numericSettings {
            if let problem = setting.problem(value) {
                throw ValidationError("--\(setting.key.replacingOccurrences(of: "_", with: "-")) \(problem)")
            }
        }
    }

    func run() throws {
        if cancel {
            let run = try connection.call(TrainCancelMethod.self, NoParams())
            if output.json { try printJSON(run); return }
            print("run \(run.id): \(run.status)" + (run.reason.map { " (\($0))" } ?? ""))
            return
        }
        let client = try connection.connect()
        defer { client.close() }
        let started = try client.checkedCall(TrainMethod.self, .init(recipe: recipe == RunRecipe() ? nil : recipe))
        guard follow else {
            if output.json { try printJSON(started); return }
            print("run \(started.id) \(started.status) (\(started.trigger), method \(started.method)"
                + (started.baseVersion.map { ", from \($0)" } ?? "") + ")")
            print("follow it with `sentimentctl runs show \(started.id)`; stop it with `sentimentctl train --cancel`")
            return
        }
        if !output.json { printError("run \(started.id) \(started.status)") }
        let detail = try RunFollower(client: client, id: started.id).follow()
        if output.json { try printJSON(detail) } else { print(RunReport(detail).render()) }
        guard detail.run.status == "published" else { throw ExitCode(1) }
    }
}

/// Polls runs.show once a second until the run ends, drawing its progress on standard error.
struct RunFollower {
    let client: UnixSocketClient
    let id: Int64
    var interval: TimeInterval = 1

    func follow() throws -> RunDetail {
        let line = StatusLine()
        let interrupt = InterruptRequest(message: nil)
        defer { interrupt.cancel() }
        var lastLogged = ""
        while true {
            let detail: RunDetail
            do {
                detail = try client.call(RunsShowMethod.self, .init(id: id))
            } catch {
                line.clear()
                throw CtlFailure.from(error)
            }
            let run = detail.run
            if run.isFinished {
                line.clear()
                return detail
            }
            let progress = RunProgress.line(run, totalEpochs: detail.recipe.epochs)
            let text = "run \(id) \(run.status)" + (progress.map { "  " + $0 } ?? "")
            if standardErrorIsTerminal {
                line.draw(text, force: true)
            } else {
                // Not a terminal (a log, a pipe): one line whenever the status or the epoch changes.
                let key = "\(run.status) \(run.epoch.map(String.init) ?? "")"
                if key != lastLogged { printError(text); lastLogged = key }
            }
            let until = Date().addingTimeInterval(interval)
            while Date() < until {
                if interrupt.requested {
                    line.clear()
                    printError("run \(id) goes on: `sentimentctl runs show \(id)` shows it, `sentimentctl train --cancel` stops it")
                    throw ExitCode(130)
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }
}
