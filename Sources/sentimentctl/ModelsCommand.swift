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
        let result = try connection.call(ModelsListMethod.self, NoParams())
        if output.json { try printJSON(result); return }
        if result.models.isEmpty {
            print("no model versions (the models directory is empty)")
            return
        }
        let formatter = ISO8601DateFormatter()
        let rows = result.models.map { m -> [String] in
            [m.version == result.active ? "*" : " ", m.version, m.state,
             (m.lastActivatedAt ?? m.arrivedAt).map { formatter.string(from: $0) } ?? "-", m.reason ?? ""]
        }
        let header = [" ", "VERSION", "STATE", "ACTIVATED/ARRIVED", "REASON"]
        let widths = (0..<header.count).map { i in ([header] + rows).map { $0[i].count }.max() ?? 0 }
        for row in [header] + rows {
            let cells = row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }
            var line = cells.joined(separator: "  ")
            while line.last == " " { line.removeLast() }
            print(line)
        }
    }
}
