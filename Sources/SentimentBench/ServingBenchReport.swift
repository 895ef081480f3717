import Foundation

/// Everything `sentimentd bench --serving` measured; printed as a table and written with `--json`.
struct ServingBenchReport: Codable {
    struct Setup: Codable {
        var model: String
        var layers: Int
        var parameters: Int?
        var tweets: Int
        var meanTokens: Double
        var maxBatch: Int
        var maxDelayMs: Int
        var settleMs: Int
        var loadPriority: String
        var seconds: Double
        var warmupSeconds: Double
        var cores: Int
        /// The daemon's models.precision (nil in reports from before int8).
        var precision: String?
    }

    /// With precision int8: how a start's version reached its verdict.
    struct Int8Check: Codable {
        /// Which cold start (0: the new database, where the version is checked; later: restarts, restored).
        var start: Int
        /// From READY=1 until the version served int8 (or its check failed).
        var secondsAfterReady: Double
        var serving: String
        var check: String?
        var reason: String?
        var agreement: Double?
        var texts: Int?
        /// The check's own duration, as the daemon recorded it.
        var checkSeconds: Double?
    }

    struct ColdStart: Codable {
        /// Seconds from spawn to READY=1, and to the first answered predict.
        var readySeconds: Double
        var firstPredictSeconds: Double
        /// "new database" for the first start (the folder arrives), "restart" after it (the version is restored).
        var kind: String
        var cpu: ServingBenchCPU.Usage
    }

    struct InProcess: Codable {
        /// `SentimentModel.load` of the same folder in the bench process (what a cold start cannot beat).
        var loadSeconds: Double
        /// model.predict([tweet]) one at a time: latency and the rate it gives.
        var b1: ServingBenchLatency?
        var b1PerSecond: Double
        var b1Cpu: ServingBenchCPU.Usage
        /// model.predict on 32 consecutive tweets at a time.
        var b32PerSecond: Double
        var b32Cpu: ServingBenchCPU.Usage
    }

    struct Load: Codable {
        var clients: Int
        var requests: Int
        var perSecond: Double
        var latency: ServingBenchLatency?
        var errors: Int
        var errorMessages: [String]
        var daemon: DaemonSide
        var cpu: ServingBenchCPU.Usage
    }

    /// What the daemon's own metrics say of a load window (nil when it does not export them).
    struct DaemonSide: Codable {
        /// Texts per forward pass.
        var meanBatch: Double?
        /// Tokenise + forward + softmax of one batch.
        var meanForwardMs: Double?
        /// Time a text waited in the queue before its batch started.
        var meanQueueWaitMs: Double?
        /// Batches by size.
        var batchSizes: [ServingBenchBucket] = []
    }

    struct Reload: Codable {
        var version: String
        /// Copying the folder under a dot-name, then the rename into models/.
        var copySeconds: Double
        /// From the start of the copy until a client got an answer from the new version.
        var toAnswerSeconds: Double
        var latency: ServingBenchLatency?
        /// precision int8: from the start of the copy until the version served int8 (or its check failed).
        var toInt8VerdictSeconds: Double?
    }

    struct HotReload: Codable {
        var clients: Int
        var reloads: [Reload]
        var steady: ServingBenchLatency?
        var duringReload: ServingBenchLatency?
        /// The windows split at the rename: requests overlapping the deploy's copy (before the daemon can see the
        /// version), and requests overlapping [rename, first answer from the new version + 1 s] (the daemon's
        /// validation, load and swap). A request can overlap both.
        var duringCopy: ServingBenchLatency?
        var afterRename: ServingBenchLatency?
        var p99Ratio: Double?
        /// p99 of `afterRename` against steady: the reload as the daemon does it, without the deploy's copy.
        var afterRenameP99Ratio: Double?
        /// precision int8: requests overlapping [first answer from the new version, its int8 verdict]: served by an
        /// unchecked fp32 copy, had the daemon activated the version before its check (it checks first now, so this
        /// spans only the poll that sees the verdict), and their p99 against steady (int8).
        var duringCheck: ServingBenchLatency?
        var duringCheckP99Ratio: Double?
        var errors: Int
        var errorMessages: [String]
        var cpu: ServingBenchCPU.Usage
    }

    struct Goals: Codable {
        /// 1 client p50 against in-process b1 p50 (two processes, one after the other).
        var socketOverheadB1Percent: Double?
        /// 1 client mean latency against the daemon's own mean time per batch in the same window (same process,
        /// same moment): what the socket, JSON and queue add.
        var socketOverheadB1VsForwardPercent: Double?
        var socketThroughputPercentOfBatch: Double?
        var socketThroughputClients: Int?
        var reloadP99Ratio: Double?
        var reloadAfterRenameP99Ratio: Double?
        var coldStartReadyMedianSeconds: Double?
    }

    var setup: Setup
    var coldStarts: [ColdStart] = []
    var inProcess: InProcess?
    var loads: [Load] = []
    /// The same client counts through the HTTP API (Open Inference Protocol v2, binary tensors) on its Unix socket.
    var httpLoads: [Load] = []
    var hotReload: HotReload?
    var int8Checks: [Int8Check] = []
    var daemonRssMib: Double?
    var daemonPeakRssMib: Double?
    var drainSeconds: Double?
    var goals = Goals()

    func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        var data = try encoder.encode(self)
        data.append(0x0A)
        return data
    }
}

/// The lines `sentimentd bench --serving` prints.
enum ServingBenchFormat {
    static func n(_ v: Double, _ decimals: Int = 2, width: Int = 0) -> String {
        String(format: "%\(width).\(decimals)f", v)
    }

    static func cpu(_ u: ServingBenchCPU.Usage) -> String {
        "other_cores=\(n(u.otherCores)) daemon_cores=\(n(u.daemonCores)) bench_cores=\(n(u.benchCores))"
    }

    static func latency(_ l: ServingBenchLatency?) -> String {
        guard let l else { return "no samples" }
        return "p50 \(n(l.p50Ms, width: 7))  p90 \(n(l.p90Ms, width: 7))  p99 \(n(l.p99Ms, width: 7))  max \(n(l.maxMs, width: 7)) ms"
    }

    static func coldStart(_ i: Int, _ c: ServingBenchReport.ColdStart) -> String {
        "cold start \(i + 1) (\(c.kind)): READY=1 \(n(c.readySeconds, 3)) s, first predict \(n(c.firstPredictSeconds, 3)) s  (\(cpu(c.cpu)))"
    }

    static func coldStartSummary(_ starts: [ServingBenchReport.ColdStart]) -> String {
        let ready = starts.map(\.readySeconds).sorted(), first = starts.map(\.firstPredictSeconds).sorted()
        guard !ready.isEmpty else { return "cold start: not measured" }
        return "cold start x\(starts.count): READY=1 min \(n(ready[0], 3)) s median \(n(ready[ready.count / 2], 3)) s; "
            + "first predict min \(n(first[0], 3)) s median \(n(first[first.count / 2], 3)) s  "
            + "(max other_cores=\(n(starts.map(\.cpu.otherCores).max() ?? 0)))"
    }

    static func inProcessLoad(_ p: ServingBenchReport.InProcess) -> String {
        "in-process load   \(n(p.loadSeconds, 3)) s  (SentimentModel.load of the same folder, page cache warm)"
    }

    static func inProcessB1(_ p: ServingBenchReport.InProcess) -> String {
        "in-process b1      \(n(p.b1PerSecond, width: 7)) tweets/s  \(latency(p.b1))  mean \(n(p.b1?.meanMs ?? 0, width: 7)) ms  (\(cpu(p.b1Cpu)))"
    }

    static func inProcessB32(_ p: ServingBenchReport.InProcess) -> String {
        "in-process b32     \(n(p.b32PerSecond, width: 7)) tweets/s  (\(cpu(p.b32Cpu)))"
    }

    static func load(_ l: ServingBenchReport.Load, via transport: String = "socket") -> String {
        let batch = l.daemon.meanBatch.map { n($0, 1, width: 5) } ?? "    -"
        let label = "\(transport.padding(toLength: 6, withPad: " ", startingAt: 0)) \(l.clients < 10 ? " " : "")\(l.clients) client\(l.clients == 1 ? " " : "s")"
        return "\(label) \(n(l.perSecond, width: 7)) req/s     \(latency(l.latency))  mean \(n(l.latency?.meanMs ?? 0, width: 7)) ms  "
            + "batch \(batch)  errors \(l.errors)  (\(cpu(l.cpu)))"
    }

    /// HTTP beside the socket at the same client counts: the per-request overhead at one client (median latency
    /// difference) and the throughput ratio.
    static func httpBesideSocket(_ report: ServingBenchReport) -> [String] {
        var lines: [String] = []
        for http in report.httpLoads {
            guard let socket = report.loads.first(where: { $0.clients == http.clients }), socket.perSecond > 0 else { continue }
            let ratio = http.perSecond / socket.perSecond
            var line = "http vs socket, \(http.clients) client\(http.clients == 1 ? "" : "s"): \(n(http.perSecond)) vs "
                + "\(n(socket.perSecond)) req/s = \(n(ratio, 3))x"
            if let h = http.latency, let s = socket.latency {
                line += "; p50 \(n(h.p50Ms)) vs \(n(s.p50Ms)) ms (\(h.p50Ms >= s.p50Ms ? "+" : "")\(n(h.p50Ms - s.p50Ms, 3)) ms per request)"
            }
            lines.append(line)
        }
        return lines
    }

    static func daemonSide(_ d: ServingBenchReport.DaemonSide) -> String {
        guard let batch = d.meanBatch else { return "    daemon: no batch metrics" }
        let sizes = d.batchSizes.map { "\($0.sizes):\($0.count)" }.joined(separator: " ")
        return "    daemon: \(n(batch, 1)) texts/batch, forward \(n(d.meanForwardMs ?? 0)) ms/batch, "
            + "queue wait \(n(d.meanQueueWaitMs ?? 0)) ms/text; batches by size \(sizes)"
    }

    static func reload(_ i: Int, _ r: ServingBenchReport.Reload) -> String {
        "reload \(i + 1) -> \(r.version): copy \(n(r.copySeconds)) s, new version answering after \(n(r.toAnswerSeconds)) s"
            + (r.toInt8VerdictSeconds.map { ", int8 verdict after \(n($0, 1)) s" } ?? "") + "; window \(latency(r.latency))"
    }

    static func int8Check(_ c: ServingBenchReport.Int8Check) -> String {
        var text = "int8, start \(c.start + 1): serving \(c.serving) \(n(c.secondsAfterReady, 1)) s after READY=1"
        if let check = c.check { text += ", check \(check)" }
        if let a = c.agreement, let t = c.texts { text += " (agreement \(n(100 * a)) % of \(t) texts" + (c.checkSeconds.map { ", \(n($0, 1)) s" } ?? "") + ")" }
        if let reason = c.reason, c.serving != "int8" { text += ": \(reason)" }
        return text
    }

    static func hotReload(_ h: ServingBenchReport.HotReload) -> [String] {
        [
            "hot reload, \(h.clients) clients, steady:        \(latency(h.steady))  (n=\(h.steady?.count ?? 0))",
            "hot reload, \(h.clients) clients, during reload: \(latency(h.duringReload))  (n=\(h.duringReload?.count ?? 0))  "
                + "errors \(h.errors)  (\(cpu(h.cpu)))",
            "    of which during the copy:       \(latency(h.duringCopy))  (n=\(h.duringCopy?.count ?? 0))",
            "    of which rename to answer + 1 s: \(latency(h.afterRename))  (n=\(h.afterRename?.count ?? 0))",
        ] + (h.duringCheck == nil ? [] : [
            "    of which from the first answer to the int8 verdict: \(latency(h.duringCheck))  (n=\(h.duringCheck?.count ?? 0))"
                + (h.duringCheckP99Ratio.map { ", p99 \(n($0))x steady" } ?? ""),
        ])
    }

    static func goals(_ g: ServingBenchReport.Goals, errors: Int) -> [String] {
        func verdict(_ ok: Bool) -> String { ok ? "meets" : "misses" }
        var lines: [String] = []
        if let v = g.socketOverheadB1Percent {
            lines.append("goal  socket overhead at b1 (1 client p50 vs in-process b1 p50): \(v >= 0 ? "+" : "")\(n(v, 1)) %  "
                         + "(goal <= 2 %: \(verdict(v <= 2)))")
        }
        if let v = g.socketOverheadB1VsForwardPercent {
            lines.append("goal  socket overhead at b1 (1 client mean vs the daemon's own mean forward time, same window): "
                         + "\(v >= 0 ? "+" : "")\(n(v, 1)) %  (goal <= 2 %: \(verdict(v <= 2)))")
        }
        if let v = g.socketThroughputPercentOfBatch, let c = g.socketThroughputClients {
            lines.append("goal  socket throughput at \(c) clients vs in-process b32: \(n(v, 1)) %  (goal >= 90 %: \(verdict(v >= 90)))")
        }
        if let v = g.reloadP99Ratio {
            lines.append("goal  p99 during hot reload vs steady, windows from the start of the deploy's copy: \(n(v))x  "
                         + "(goal <= 1.2x: \(verdict(v <= 1.2)))")
        }
        if let v = g.reloadAfterRenameP99Ratio {
            lines.append("goal  p99 during hot reload vs steady, windows from the rename (the daemon's part): \(n(v))x  "
                         + "(goal <= 1.2x: \(verdict(v <= 1.2)))")
        }
        if let v = g.coldStartReadyMedianSeconds {
            lines.append("goal  cold start to READY=1 (median): \(n(v, 3)) s  (goal <= 1.5 s: \(verdict(v <= 1.5)))")
        }
        lines.append("goal  failed requests: \(errors)  (goal 0: \(verdict(errors == 0)))")
        return lines
    }
}
