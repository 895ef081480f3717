import ArgumentParser
import Foundation
import SentimentProtocol

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what the daemon is serving.",
        discussion: """
        Exits 0 only while a model is served (state serving), so it can be a readiness probe: 6 when the daemon \
        answers but serves no model (no valid version yet, or shutting down), 3 when it cannot be reached. The \
        status is printed either way.
        """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let status = try output.show(StatusMethod.self, NoParams(), via: connection) { s in
            var lines: [(String, String)] = [
                ("state", s.state),
                ("active model", s.activeModel ?? "none"),
            ]
            if let since = s.activeSince { lines.append(("active since", ISO8601DateFormatter().string(from: since))) }
            if let f = s.fallback {
                lines.append(("fallback", "\(f.from) could not be served at start-up (\(f.reason)); "
                              + (f.serving.map { "serving \($0), the previous good version" } ?? "nothing could be served")))
            }
            if let labels = s.labels { lines.append(("labels", labels.joined(separator: ", "))) }
            if let maxTokens = s.maxTokens { lines.append(("max tokens", String(maxTokens))) }
            if let precision = s.precision { lines.append(("precision", precision.statusLine)) }
            lines += [
                ("policy", s.policy),
                ("models directory", s.modelsDirectory),
                ("socket", s.socket),
                ("config file", s.configFile ?? "none (defaults)"),
                ("daemon", "sentimentd \(s.daemonVersion), pid \(s.pid), uid \(s.uid), up \(formatDuration(s.uptimeSeconds))"),
                ("connections", String(s.connections)),
                ("queued texts", String(s.queuedTexts)),
                ("requests served", String(s.requestsServed)),
                ("texts predicted", String(s.textsPredicted)),
                ("batching", "max_batch \(s.maxBatch), max_delay_ms \(s.maxDelayMilliseconds)"),
            ]
            if let r = s.registry {
                var text = r.state
                if let task = r.task { text += ": \(task) for \(formatDuration(r.busySeconds ?? 0))" }
                if r.state == "stuck" {
                    text += ", no progress for \(formatDuration(r.noProgressSeconds ?? 0)) (the watchdog is no longer pinged)"
                }
                lines.append(("model registry", text))
            }
            let width = lines.map(\.0.count).max() ?? 0
            let text = lines.map { $0.0 + ":" + String(repeating: " ", count: width - $0.0.count + 1) + $0.1 }
                .joined(separator: "\n")
            print(text)
        }
        if status.state != "serving" { throw CtlFailure.notServing(state: status.state) }
    }
}

func formatDuration(_ seconds: Double) -> String {
    let s = Int(seconds)
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m\(s % 60)s" }
    if s < 86400 { return "\(s / 3600)h\((s % 3600) / 60)m" }
    return "\(s / 86400)d\((s % 86400) / 3600)h"
}
