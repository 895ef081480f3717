// sentimentd.conf (ConfigFile over TOMLKit): TOML syntax (toml++), the closed set of tables and keys, every value's
// type and range, and the line of each key (KeyLines). Promises:
// - an error is a DaemonConfigError; one about a key or a table names it and gives a line inside the text, and a
//   syntax error a line and column inside it;
// - a config that loads holds only what the daemon can run with: every setting within its documented bounds
//   (etc/sentimentd.conf), checked here from what the daemon relies on, not from the parser's own ranges;
// - a config that loads survives its own round trip: the table TOMLKit read, written back as TOML, loads to the
//   same configuration (what the parser understood is what the file says);
// - a text with a NUL byte never loads (TOML allows none; toml++ would read only up to it).
import Foundation
import Logging
import SentimentCore
import SentimentEngine
import SentimentTraining
@testable import SentimentService
import TOMLKit

private let base = URL(fileURLWithPath: "/etc/sentimentd")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // The daemon reads the file as UTF-8 (ConfigFile.load refuses anything else before parsing).
    guard let text = String(validating: UnsafeBufferPointer(start: data, count: size), as: UTF8.self) else { return 0 }
    // toml++ counts a lone carriage return as a line break in the positions it reports (found by this target with a
    // file of bare CRs): the bound for a syntax error's line counts both.
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
    let physicalLines = lines + text.utf8.filter { $0 == 0x0D }.count
    let config: DaemonConfig
    do {
        config = try ConfigFile.parse(text, path: "fuzz.conf", baseDirectory: base)
    } catch let error as DaemonConfigError {
        check(error, lines: lines, physicalLines: physicalLines)
        return 0
    } catch {
        fatalError("ConfigFile.parse threw something other than DaemonConfigError: \(error)")
    }
    precondition(!text.utf8.contains(0), "a text with a NUL byte loaded")
    checkBounds(config)

    let written: String
    do {
        // TOMLKit's plainest form: basic strings with escapes, decimal integers.
        written = try TOMLTable(string: text).convert(to: .toml, options: [])
    } catch {
        fatalError("a config that loaded does not parse as TOML again: \(error)")
    }
    do {
        let again = try ConfigFile.parse(written, path: "fuzz.conf", baseDirectory: base)
        precondition(again == config, "a config written back by TOMLKit loads differently:\n\(written)")
    } catch {
        fatalError("a config that loaded does not load once written back by TOMLKit: \(error)\n--- written:\n\(written)")
    }
    return 0
}

private func check(_ error: DaemonConfigError, lines: Int, physicalLines: Int) {
    precondition(!error.description.isEmpty)
    func inside(_ line: Int?, _ what: String) {
        guard let line else { fatalError("\(what) has no line: \(error)") }
        precondition(line >= 1 && line <= lines, "\(what): line \(line) is outside the text's \(lines) lines: \(error)")
    }
    switch error {
    case .unreadable:
        fatalError("parse reads no file, yet: \(error)")
    case let .syntax(_, line, column, message):
        precondition(!message.isEmpty, "a syntax error without a message")
        precondition(line >= 1 && line <= physicalLines + 1 && column >= 1, "syntax error at \(line):\(column), outside the text")
    case let .unknownTable(_, table, line, known):
        precondition(!known.contains(table), "a known table reported unknown: \(error)")
        inside(line, "unknown table [\(table)]")
    case let .unknownKey(_, key, line, _):
        // A key may be empty (`"" = 0` is TOML): it is unknown like any other, and its line is what must be there.
        inside(line, "unknown key \(key)")
    case let .wrongType(_, key, line, expected, found):
        precondition(!key.isEmpty && expected != found, "\(error)")
        inside(line, "wrong type of \(key)")
    case let .badValue(_, key, line, reason):
        precondition(!key.isEmpty && !reason.isEmpty)
        inside(line, "bad value of \(key)")
    }
}

/// What the rest of the daemon takes for granted of a loaded configuration (each bound as etc/sentimentd.conf
/// documents it).
private func checkBounds(_ c: DaemonConfig) {
    func path(_ p: String, _ key: String) {
        precondition(!p.isEmpty && !p.contains("\0"), "\(key) is \"\(p)\"")
        precondition(p.hasPrefix("/"), "\(key) \"\(p)\" was not resolved against the file's folder")
    }
    func positive(_ n: Int, _ key: String) { precondition(n >= 1, "\(key) is \(n)") }
    func seconds(_ s: Double, _ key: String, atLeast low: Double = 0) {
        precondition(s.isFinite && s >= low, "\(key) is \(s) s")
    }
    func group(_ g: String?, _ key: String) {
        if let g { precondition(!g.isEmpty && !g.contains("\0") && !g.contains(":"), "\(key) is \"\(g)\"") }
    }
    path(c.socketPath, "server.socket")
    precondition(c.socketMode <= 0o777, "server.socket_mode is \(String(c.socketMode, radix: 8))")
    if let h = c.httpSocket {
        precondition(!h.isEmpty && !h.contains("\0"), "server.http_socket is \"\(h)\"")
        if h.contains("/") { path(h, "server.http_socket") }
        path(c.httpSocketPath ?? "", "the HTTP socket's path")
    }
    if let a = c.httpListen {
        precondition((1...65535).contains(a.port) && !a.host.isEmpty, "server.http_listen is \(a)")
        // What status and the log print must read back as the same address.
        guard case let .success(again) = TCPAddress.parse(a.description), again == a else {
            fatalError("server.http_listen \(a) does not read back")
        }
    }
    for (n, key) in [(c.maxConnections, "max_connections"), (c.adminConnections, "admin_connections"),
                     (c.maxConnectionsPerUID, "max_connections_per_uid"), (c.maxTexts, "max_texts"),
                     (c.maxTextChars, "max_text_chars"), (c.maxPipelined, "max_pipelined"),
                     (c.maxPipelinedPerUID, "max_pipelined_per_uid")] {
        positive(n, "server.\(key)")
    }
    precondition(c.requestLineBytes >= 1024, "server.request_line_bytes is \(c.requestLineBytes)")
    seconds(c.idleTimeoutSeconds, "server.idle_timeout_seconds", atLeast: 0.1)
    group(c.readerGroup, "server.reader_group")
    group(c.labellerGroup, "server.labeller_group")
    group(c.adminGroup, "server.admin_group")

    positive(c.maxBatch, "batching.max_batch")
    precondition(c.maxDelayMilliseconds >= 0, "batching.max_delay_ms is \(c.maxDelayMilliseconds)")
    positive(c.maxQueuedTexts, "batching.max_queued_texts")

    path(c.modelsDirectory, "models.directory")
    precondition(!c.baseDirectories.contains { $0.isEmpty || $0.contains("\0") || !$0.hasPrefix("/") },
                 "models.base_directories is \(c.baseDirectories)")
    precondition(c.settleMilliseconds >= 0 && c.keepVersions >= 0, "models.settle_ms / keep")
    seconds(c.quarantineAfterSeconds, "models.quarantine_after")
    seconds(c.validationTimeoutSeconds, "models.validation_timeout", atLeast: 1)
    let t = c.int8Tolerance
    precondition(t.minimumAgreement.isFinite && (0...1).contains(t.minimumAgreement)
                 && t.maximumMacroF1Drop.isFinite && (0...1).contains(t.maximumMacroF1Drop) && t.minimumLabelled >= 1,
                 "models.int8_* is \(t)")

    path(c.databasePath, "store.database")

    let names = c.labelNames
    precondition(names.count >= 2 && !names.contains(where: \.isEmpty), "labels.names is \(names)")
    precondition(Set(names.map { $0.lowercased() }).count == names.count, "labels.names repeats a name: \(names)")
    precondition(c.evalFraction.isFinite && (0...0.5).contains(c.evalFraction), "labels.eval_fraction is \(c.evalFraction)")
    positive(c.maxImportItems, "labels.max_import_items")
    precondition(c.maxImportBytes >= 1024, "labels.max_import_bytes is \(c.maxImportBytes)")
    positive(c.maxOpenImportsPerUID, "labels.max_open_imports_per_uid")
    seconds(c.importIdleTimeoutSeconds, "labels.import_idle_timeout_seconds", atLeast: 1)

    let tr = c.training
    seconds(tr.everySeconds, "training.every", atLeast: 1)
    positive(tr.minNewLabels, "training.min_new_labels")
    if let q = tr.quietHours {
        precondition((0..<1440).contains(q.start) && (0..<1440).contains(q.end) && q.start != q.end,
                     "training.quiet_hours is \(q)")
    }
    // The recipe passes the trainer's own check, as a run would start with it.
    do { try tr.recipe.validate() } catch { fatalError("the [training] recipe does not validate: \(error)") }
    let a = tr.newAdapter
    precondition(LoRAConfig.ranks.contains(a.r) && a.alpha.isFinite && a.alpha > 0 && a.dropout >= 0 && a.dropout < 1,
                 "training.lora_* is r \(a.r), alpha \(a.alpha), dropout \(a.dropout)")
    precondition(tr.replayRatio.isFinite && tr.replayRatio >= 0, "training.replay_ratio is \(tr.replayRatio)")
    precondition(tr.gateTolerance.isFinite && (0...1).contains(tr.gateTolerance), "training.gate_tolerance")
    precondition(tr.gateConfidence.isFinite && tr.gateConfidence >= 0.5 && tr.gateConfidence < 1,
                 "training.gate_confidence is \(tr.gateConfidence)")
    positive(tr.minEvalLabels, "training.min_eval_labels")
    precondition((0...19).contains(tr.nice), "training.nice is \(tr.nice)")
    positive(tr.threads, "training.threads")
    seconds(tr.cancelGraceSeconds, "training.cancel_grace_seconds", atLeast: 1)
}
