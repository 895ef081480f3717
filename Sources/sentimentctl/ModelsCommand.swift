import ArgumentParser
import Foundation
import SentimentProtocol

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List model versions: active, available, rejected (with the reason) and rolled back."
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
            var table = TextTable([" ", "VERSION", "STATE", "ACTIVATED/ARRIVED", "REASON"])
            for m in result.models {
                table.add([m.version == result.active ? "*" : " ", m.version, m.state,
                           (m.lastActivatedAt ?? m.arrivedAt).map { formatter.string(from: $0) } ?? "-", m.reason ?? ""])
            }
            print(table.render())
        }
    }
}
