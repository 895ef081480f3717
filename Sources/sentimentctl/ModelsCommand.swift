import ArgumentParser
import Foundation
import SentimentCore
import SentimentProtocol

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List model versions (state, disk use, why each is kept); remove, pin or unpin one (admin).",
        subcommands: [ModelsListCommand.self, ModelsRemoveCommand.self, ModelsPinCommand.self, ModelsUnpinCommand.self],
        defaultSubcommand: ModelsListCommand.self
    )
}

struct ModelsListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List model versions: active, available, rejected (with the reason), rolled back; disk use and retention.",
        discussion: """
        SIZE is the folder's disk use (as du counts it). RUN is the training run that published a version. KEPT \
        says why retention keeps it (active, rollback target, pinned, a base an adapter needs, the base of a run \
        in progress, the gate's best on the current eval split, among the newest models.keep runs, copied in by \
        hand) or what it will do (a run's version beyond models.keep is removed; a folder that stays rejected \
        moves to .quarantine/).
        """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try output.show(ModelsListMethod.self, NoParams(), via: connection) { result in
            if result.models.isEmpty {
                print("no model versions (the models directory is empty)")
                return
            }
            let formatter = ISO8601DateFormatter()
            var table = TextTable([" ", "VERSION", "STATE", "PRECISION", "SIZE", "RUN", "KEPT", "ACTIVATED/ARRIVED", "REASON"],
                                  rightAligned: [4, 5])
            for m in result.models {
                table.add([m.version == result.active ? "*" : " ", m.version, m.state, m.precision?.column ?? "-",
                           m.diskBytes.map(Show.bytes) ?? "-", m.run.map(String.init) ?? "-",
                           (m.retention ?? []).joined(separator: "; "),
                           (m.lastActivatedAt ?? m.arrivedAt).map { formatter.string(from: $0) } ?? "-",
                           m.reason ?? m.precision?.reason ?? ""])
            }
            var out = [table.render()]
            if let total = result.diskBytes {
                var line = "\(Show.bytes(total)) in version folders"
                if let keep = result.keep { line += "; training runs' versions kept: the newest \(keep) (models.keep)" }
                if let q = result.quarantineBytes, q > 0 { line += "; \(Show.bytes(q)) in .quarantine/" }
                out.append(line)
            }
            let checks = result.models.compactMap { m in m.precision?.figures.map { (m.version, $0) } }
            if !checks.isEmpty {
                out.append("\nint8 checks (int8 against fp32):")
                out += checks.map { version, figures in "  \(version): \(figures.summary)" }
            }
            print(out.joined(separator: "\n"))
        }
    }
}

struct ModelsRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove a model version's folder (models.remove, admin).",
        discussion: """
        The folder is moved out of the models directory in one rename, then deleted: a crash leaves the whole \
        folder or none. Refused for the active version, a pinned one, a base an adapter needs and the base of a \
        run in progress. The removal is recorded; `models` shows the version as removed.
        """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: ArgumentHelp("The version, as `sentimentctl models` lists it.", valueName: "version"))
    var version: String

    func run() throws {
        try output.show(ModelsRemoveMethod.self, .init(version: version), via: connection) { r in
            var line = "removed \(r.version): \(Show.bytes(r.bytes)) freed"
            if !r.was.isEmpty { line += " (it was the \(r.was.joined(separator: ", ")))" }
            print(line)
        }
    }
}

struct ModelsPinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin",
        abstract: "Pin a model version: retention never removes it (models.pin, admin)."
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: ArgumentHelp("The version.", valueName: "version"))
    var version: String

    @Option(name: .long, help: ArgumentHelp("Why (kept with the pin).", valueName: "text"))
    var note: String?

    func run() throws {
        try output.show(ModelsPinMethod.self, .init(version: version, pinned: true, note: note), via: connection) { r in
            print("pinned \(r.version): retention keeps it until `sentimentctl models unpin \(r.version)`")
        }
    }
}

struct ModelsUnpinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unpin",
        abstract: "Unpin a model version (models.pin, admin); retention may then remove it."
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: ArgumentHelp("The version.", valueName: "version"))
    var version: String

    func run() throws {
        try output.show(ModelsPinMethod.self, .init(version: version, pinned: false), via: connection) { r in
            print("unpinned \(r.version)")
        }
    }
}

extension PrecisionStatus {
    /// The PRECISION column: what the version computes in, and where its int8 check stands.
    var column: String {
        // Not in memory for serving, and checked: a version checked before its activation (a hot reload in int8).
        if self.serving == nil, check == "checking" { return "int8 check running before activation" }
        let serving = self.serving ?? (check == "passed" ? "int8" : "fp32") + " when loaded"
        switch check {
        case "checking"?: return serving + ", int8 check running"
        case "failed"?: return serving + ", int8 check failed"
        default: return serving
        }
    }

    /// `status`'s precision line.
    var statusLine: String {
        var text = column
        if configured == "int8", let reason, serving != "int8" { text += " (\(reason))" }
        if let figures { text += "; " + figures.summary }
        return text
    }
}

extension Int8CheckRecord {
    /// "agreement 99.12 % of 1255 texts (200 eval + 1055 probe), macro-F1 fp32 0.7177 / int8 0.7101 on 200 labelled, 41 s".
    var summary: String {
        var text = String(format: "agreement %.2f %%", 100 * agreement)
            + " of \(texts) texts (\(evalTexts) eval + \(probeTexts) probe)"
        if let a = fp32MacroF1, let b = int8MacroF1 {
            text += String(format: ", macro-F1 fp32 %.4f / int8 %.4f", a, b) + " on \(labelled) labelled"
        }
        text += String(format: ", %.0f s", seconds)
        if !passed, let reason { text += "; failed: \(reason)" }
        return text
    }
}
