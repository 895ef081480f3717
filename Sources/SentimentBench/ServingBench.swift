import Foundation
import SentimentCheckpoint
import SentimentEngine
import SentimentProtocol
import SentimentCore
#if canImport(Glibc)
import Glibc
#endif

/// What can stop `sentimentd bench --serving`; each case says what to check.
public enum ServingBenchError: Error, CustomStringConvertible {
    case missingInput(path: String, what: String, option: String)
    case noTweets(path: String)
    case badOption(option: String, reason: String)
    case cannotWrite(path: String, reason: String)
    case notifySocket(path: String, reason: String)
    case cannotStartDaemon(executable: String, reason: String)
    case daemonExited(status: Int32, log: String)
    case daemonTimeout(what: String, seconds: Double, log: String)
    case clientCannotConnect(socket: String, client: Int, reason: String)
    case reloadNotServed(version: String, seconds: Double, state: String, log: String)
    case failedRequests(count: Int, first: String)
    case referenceFailed(reason: String)
    case badHTTPAnswer(status: Int, body: String)

    public var description: String {
        switch self {
        case let .missingInput(path, what, option): return "\(path): no \(what) here (pass \(option))"
        case let .noTweets(path): return "\(path): no tweets (expected one text per line)"
        case let .badOption(option, reason): return "\(option): \(reason)"
        case let .cannotWrite(path, reason): return "\(path): cannot write: \(reason)"
        case let .notifySocket(path, reason): return "\(path): cannot bind the notify socket: \(reason)"
        case let .cannotStartDaemon(executable, reason): return "cannot start \(executable) serve: \(reason)"
        case let .daemonExited(status, log): return "the daemon exited with status \(status); its log ends:\n\(log)"
        case let .daemonTimeout(what, seconds, log): return "no \(what) from the daemon within \(seconds) s; its log ends:\n\(log)"
        case let .clientCannotConnect(socket, client, reason): return "client \(client) cannot connect to \(socket): \(reason)"
        case let .reloadNotServed(version, seconds, state, log):
            return "the copied version \(version) was not served within \(seconds) s (registry: \(state)); the daemon's log ends:\n\(log)"
        case let .referenceFailed(reason): return "in-process reference: \(reason)"
        case let .badHTTPAnswer(status, body): return "the HTTP API answered \(status): \(body)"
        case let .failedRequests(count, first):
            return "\(count) requests failed (the goal is none); the first: \(first)"
        }
    }
}

/// `sentimentd bench --serving`: the real daemon (this executable, `serve`) on a temporary folder, loaded through
/// its socket by closed-loop clients sending single tweets, against the same model called in process.
///
/// Phases: write the model folder (or copy `--model`); in-process b1 latency and b32 throughput; cold starts
/// (spawn to READY=1 on NOTIFY_SOCKET, and to the first answer; SIGTERM between them); load at each client count;
/// hot reloads under load (a copy of the model renamed into models/ as a new version, K times).
public struct ServingBench {
    public var modelFolder: URL?
    public var tokenizerFolder: URL
    public var tweetsFile: URL
    public var clients: [Int] = [1, 8, 32]
    public var seconds = 10.0
    public var warmup = 1.0
    public var coldStarts = 3
    public var reloads = 5
    public var reloadClients = 8
    public var reloadEvery = 5.0
    public var layers = 12
    public var settleMs = 200
    /// The daemon's models.load_priority ("idle" or "low").
    public var loadPriority = "idle"
    /// The daemon's models.precision. With int8, the first version serves fp32 until its int8 check passes (the
    /// bench waits for that after the first start); a reloaded version is checked before it is activated, and a hot
    /// reload's window lasts until it serves int8 (or its check failed).
    public var precision = Precision.fp32
    /// models.int8_min_agreement; nil: 0.5 for the random-weight model (its logits are near ties that int8
    /// rounding flips, which a real model's are not), the daemon's default for --model.
    public var int8MinAgreement: Double?
    /// Longest wait for a version's int8 verdict.
    public var checkTimeout = 3600.0
    public var jsonFile: URL?
    public var keep = false
    var print: (String) -> Void = { Swift.print($0); fflush(stdout) }

    static let baseVersion = "base"

    public init(modelFolder: URL?, tokenizerFolder: URL, tweetsFile: URL) {
        self.modelFolder = modelFolder
        self.tokenizerFolder = tokenizerFolder
        self.tweetsFile = tweetsFile
    }

    public func run() throws {
        try validate()
        let tweets = try Self.readTweets(tweetsFile)
        let workspace = try Self.makeWorkspace()
        ServingBenchInterruption.install(workspace: keep ? nil : workspace)
        var daemon: ServingBenchDaemon?
        var notify: ServingBenchNotifyListener?
        defer {
            daemon?.kill()
            notify?.close()
            ServingBenchInterruption.forgetWorkspace()
            if keep { print("kept \(workspace.path)") } else { try? FileManager.default.removeItem(at: workspace) }
        }
        let models = workspace.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        let base = models.appendingPathComponent(Self.baseVersion)
        let (description, parameters) = try installBaseModel(at: base)

        // In process first, while no daemon runs: the reference the socket numbers are compared with. It runs in a
        // fresh child process on its own thread, as the daemon's batcher does, so nothing this process did before
        // (making 0.5 GB of random weights and freeing them) colours it.
        let reference = try spawnReference(folder: base)
        let (inProcess, meanTokens, modelLayers, labelCount) =
            (reference.inProcess, reference.meanTokens, reference.layers, reference.labelCount)

        let socketPath = workspace.appendingPathComponent("s.sock").path
        let configPath = workspace.appendingPathComponent("sentimentd.conf").path
        try writeConfig(to: configPath, socket: socketPath, models: models.path,
                        database: workspace.appendingPathComponent("state.sqlite").path)
        let listener = try ServingBenchNotifyListener(path: workspace.appendingPathComponent("notify.sock").path)
        notify = listener
        let d = ServingBenchDaemon(executable: CurrentExecutable.url.path, configPath: configPath,
                                   socketPath: socketPath, logPath: workspace.appendingPathComponent("daemon.log").path,
                                   notify: listener)
        daemon = d

        var report = ServingBenchReport(setup: .init(
            model: description, layers: modelLayers, parameters: parameters, tweets: tweets.count, meanTokens: meanTokens,
            maxBatch: 0, maxDelayMs: 0, settleMs: settleMs, loadPriority: loadPriority, seconds: seconds, warmupSeconds: warmup,
            cores: ProcessInfo.processInfo.activeProcessorCount, precision: precision.rawValue))
        report.inProcess = inProcess

        for i in 0..<coldStarts {
            let start = try coldStart(d, probe: tweets[0], kind: i == 0 ? "new database" : "restart")
            report.coldStarts.append(start)
            print(ServingBenchFormat.coldStart(i, start))
            if precision == .int8 {
                // The first start serves fp32 while the version's int8 check runs; restarts load the checked
                // version straight into int8.
                let t0 = BenchClock.now()
                let verdict = try waitForPrecision(socket: socketPath, version: Self.baseVersion, daemon: d)
                let check = ServingBenchReport.Int8Check(
                    start: i, secondsAfterReady: BenchClock.now() - t0, serving: verdict.serving ?? "-",
                    check: verdict.check, reason: verdict.reason, agreement: verdict.figures?.agreement,
                    texts: verdict.figures?.texts, checkSeconds: verdict.figures?.seconds)
                report.int8Checks.append(check)
                print(ServingBenchFormat.int8Check(check))
            }
            if i < coldStarts - 1 { try d.stop() }
        }
        print(ServingBenchFormat.coldStartSummary(report.coldStarts))
        if let status = try? UnixSocketClient(path: socketPath, timeoutSeconds: 30).call(StatusMethod.self, NoParams()) {
            report.setup.maxBatch = status.maxBatch
            report.setup.maxDelayMs = status.maxDelayMilliseconds
        }

        // Each client count through the socket, then at once the same clients through the HTTP API's Unix socket
        // (default http.sock beside the socket), so the two are measured side by side under the same conditions.
        let httpSocket = workspace.appendingPathComponent("http.sock").path
        for n in clients {
            let load = try measureLoad(clients: n, daemon: d, socket: socketPath, tweets: tweets, labelCount: labelCount)
            report.loads.append(load)
            print(ServingBenchFormat.load(load))
            print(ServingBenchFormat.daemonSide(load.daemon))
            let http = try measureLoad(clients: n, daemon: d, socket: socketPath, transport: .http(socket: httpSocket),
                                       tweets: tweets, labelCount: labelCount)
            report.httpLoads.append(http)
            print(ServingBenchFormat.load(http, via: "http"))
            print(ServingBenchFormat.daemonSide(http.daemon))
        }
        for line in ServingBenchFormat.httpBesideSocket(report) { print(line) }

        if reloads > 0 {
            let hot = try measureHotReload(daemon: d, socket: socketPath, models: models, base: base, tweets: tweets,
                                           labelCount: labelCount)
            report.hotReload = hot
            for line in ServingBenchFormat.hotReload(hot) { print(line) }
        }

        let memory = d.memoryMiB()
        report.daemonRssMib = memory.rss
        report.daemonPeakRssMib = memory.peak
        report.drainSeconds = try d.stop()
        print("daemon: RSS \(ServingBenchFormat.n(memory.rss, 0)) MiB at the end, peak \(ServingBenchFormat.n(memory.peak, 0)) MiB; "
              + "SIGTERM to exit 0 in \(ServingBenchFormat.n(report.drainSeconds ?? 0, 3)) s")

        report.goals = goals(report)
        let errors = (report.loads + report.httpLoads).reduce(0) { $0 + $1.errors } + (report.hotReload?.errors ?? 0)
        print("")
        print("summary (\(description), \(tweets.count) tweets, mean \(ServingBenchFormat.n(meanTokens, 1)) tokens, "
              + "max_batch \(report.setup.maxBatch), max_delay_ms \(report.setup.maxDelayMs), "
              + "load_priority \(report.setup.loadPriority), precision \(report.setup.precision ?? "fp32"))")
        for check in report.int8Checks { print(ServingBenchFormat.int8Check(check)) }
        print(ServingBenchFormat.coldStartSummary(report.coldStarts))
        print(ServingBenchFormat.inProcessLoad(inProcess))
        print(ServingBenchFormat.inProcessB1(inProcess))
        print(ServingBenchFormat.inProcessB32(inProcess))
        for load in report.loads {
            print(ServingBenchFormat.load(load))
            print(ServingBenchFormat.daemonSide(load.daemon))
        }
        for load in report.httpLoads { print(ServingBenchFormat.load(load, via: "http")) }
        for line in ServingBenchFormat.httpBesideSocket(report) { print(line) }
        if let hot = report.hotReload { for line in ServingBenchFormat.hotReload(hot) { print(line) } }
        for line in ServingBenchFormat.goals(report.goals, errors: errors) { print(line) }

        if let jsonFile {
            do {
                try AtomicFile.write(try report.jsonData(), to: jsonFile)
            } catch {
                throw ServingBenchError.cannotWrite(path: jsonFile.path, reason: "\(error)")
            }
            print("wrote \(jsonFile.path)")
        }
        if errors > 0 {
            let messages = (report.loads + report.httpLoads).flatMap(\.errorMessages) + (report.hotReload?.errorMessages ?? [])
            throw ServingBenchError.failedRequests(count: errors, first: messages.first ?? "")
        }
    }

    // MARK: - set-up

    func validate() throws {
        guard !clients.isEmpty, clients.allSatisfy({ $0 >= 1 && $0 <= 200 }) else {
            throw ServingBenchError.badOption(option: "--clients", reason: "list client counts between 1 and 200, e.g. 1,8,32")
        }
        guard seconds > 0, warmup >= 0 else {
            throw ServingBenchError.badOption(option: "--seconds", reason: "must be more than 0")
        }
        guard coldStarts >= 1 else { throw ServingBenchError.badOption(option: "--cold-starts", reason: "must be at least 1") }
        guard reloads >= 0, reloadClients >= 1 else {
            throw ServingBenchError.badOption(option: "--reloads", reason: "must be 0 or more, with at least 1 client")
        }
        guard ["idle", "low"].contains(loadPriority) else {
            throw ServingBenchError.badOption(option: "--load-priority", reason: "must be idle or low")
        }
        if let int8MinAgreement, !(0.5...1).contains(int8MinAgreement) {
            throw ServingBenchError.badOption(option: "--int8-min-agreement", reason: "must be between 0.5 and 1")
        }
        guard (1...48).contains(layers) else { throw ServingBenchError.badOption(option: "--layers", reason: "must be 1...48") }
        let fm = FileManager.default
        guard fm.fileExists(atPath: tweetsFile.path) else {
            throw ServingBenchError.missingInput(path: tweetsFile.path, what: "tweets file", option: "--tweets FILE")
        }
        if let modelFolder {
            guard fm.fileExists(atPath: modelFolder.appendingPathComponent("config.json").path) else {
                throw ServingBenchError.missingInput(path: modelFolder.path, what: "config.json", option: "--model DIR, a model folder")
            }
        } else {
            for name in ["vocab.json", "merges.txt"] where !fm.fileExists(atPath: tokenizerFolder.appendingPathComponent(name).path) {
                throw ServingBenchError.missingInput(path: tokenizerFolder.appendingPathComponent(name).path,
                                                     what: "RoBERTa tokenizer file", option: "--tokenizer DIR")
            }
        }
    }

    static func readTweets(_ url: URL) throws -> [String] {
        let text = try String(contentsOf: url, encoding: .utf8)
        let tweets = text.split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard !tweets.isEmpty else { throw ServingBenchError.noTweets(path: url.path) }
        return tweets
    }

    static func makeWorkspace() throws -> URL {
        let tmp = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(tmp)/sentimentd-serving-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else {
            throw ServingBenchError.cannotWrite(path: tmp, reason: String(cString: strerror(errno)))
        }
        return URL(fileURLWithPath: String(cString: p))
    }

    /// Writes the random-weight model (or copies `--model`) to models/base; returns a description and the
    /// parameter count when known.
    func installBaseModel(at base: URL) throws -> (String, Int?) {
        let t0 = BenchClock.now()
        if let modelFolder {
            _ = try Self.deploy(from: modelFolder, to: base)
            print("model: copied \(modelFolder.path) in \(ServingBenchFormat.n(BenchClock.now() - t0)) s")
            return ("model \(modelFolder.lastPathComponent)", nil)
        }
        var config = ModelConfig.robertaBase
        config.numLayers = layers
        let weights = RandomInit.weights(config: config, seed: 0)
        let made = BenchClock.now()
        try ModelFolderWriter.write(weights: weights, tokenizerSource: tokenizerFolder, to: base)
        let description = "roberta-base dims" + (layers == 12 ? "" : ", \(layers) layers") + ", random weights"
        print("model: \(description), \(ServingBenchFormat.n(Double(weights.parameterCount) / 1e6))M params, "
              + "random init \(ServingBenchFormat.n(made - t0, 1)) s, written in \(ServingBenchFormat.n(BenchClock.now() - made, 1)) s")
        return (description, weights.parameterCount)
    }

    /// Copies one file inside the kernel (`sendfile`; `cp` uses copy_file_range), as a deploy script's `cp` would:
    /// no user-space buffer to push 500 MB through while the daemon serves.
    static func copyFile(from source: URL, to destination: URL) throws {
        func failure(_ path: String) -> Error {
            ServingBenchError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        let input = open(source.path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw failure(source.path) }
        defer { close(input) }
        let output = open(destination.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw failure(destination.path) }
        defer { close(output) }
        while true {
            let n = sendfile(output, input, nil, 1 << 30)
            if n == 0 { return }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(destination.path)
            }
        }
    }

    /// Copies the checkpoint files at the top of `source` into a dot-named sibling of `destination`, then renames
    /// it into place: how a deploy publishes a folder so the watcher sees it whole. Returns the seconds it took.
    @discardableResult
    static func deploy(from source: URL, to destination: URL) throws -> Double {
        let t0 = BenchClock.now()
        let fm = FileManager.default
        let staging = destination.deletingLastPathComponent()
            .appendingPathComponent(".deploy-\(destination.lastPathComponent)-\(getpid())")
        do {
            try? fm.removeItem(at: staging)
            try fm.createDirectory(at: staging, withIntermediateDirectories: true)
            for name in try fm.contentsOfDirectory(atPath: source.path) where !name.hasPrefix(".") {
                var isDirectory: ObjCBool = false
                let from = source.appendingPathComponent(name)
                guard fm.fileExists(atPath: from.path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
                try copyFile(from: from, to: staging.appendingPathComponent(name))
            }
        } catch {
            try? fm.removeItem(at: staging)
            throw ServingBenchError.cannotWrite(path: staging.path, reason: "\(error)")
        }
        guard rename(staging.path, destination.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? fm.removeItem(at: staging)
            throw ServingBenchError.cannotWrite(path: destination.path, reason: reason)
        }
        return BenchClock.now() - t0
    }

    func writeConfig(to path: String, socket: String, models: String, database: String) throws {
        func quoted(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        let text = """
            # Written by sentimentd bench --serving for one run.
            [server]
            socket = \(quoted(socket))
            admin_group = ""
            [models]
            directory = \(quoted(models))
            settle_ms = \(settleMs)
            load_priority = "\(loadPriority)"
            precision = "\(precision.rawValue)"
            \(precision == .int8 ? "int8_min_agreement = \(int8MinAgreement ?? (modelFolder == nil ? 0.5 : 0.98))" : "")
            [store]
            database = \(quoted(database))
            [log]
            level = "info"

            """
        do {
            try AtomicFile.write(Data(text.utf8), to: URL(fileURLWithPath: path))
        } catch {
            throw ServingBenchError.cannotWrite(path: path, reason: "\(error)")
        }
    }

    // MARK: - daemon phases

    func coldStart(_ daemon: ServingBenchDaemon, probe: String, kind: String) throws -> ServingBenchReport.ColdStart {
        let c0 = ServingBenchCPU.snapshot(daemon: nil)
        try daemon.start()
        let ready = try daemon.waitReady(timeout: 300)
        let first = try daemon.waitFirstPrediction(probe, timeout: 300)
        let c1 = ServingBenchCPU.snapshot(daemon: daemon.pid)
        // The daemon did not exist at c0: all its time since the spawn is in c1.
        var usage = ServingBenchCPU.usage(from: c0, to: c1)
        usage.otherCores = max(0, usage.otherCores)
        return ServingBenchReport.ColdStart(readySeconds: ready, firstPredictSeconds: first, kind: kind, cpu: usage)
    }

    func measureLoad(clients n: Int, daemon: ServingBenchDaemon, socket: String,
                     transport: ServingBenchLoad.Transport = .jsonRPC, tweets: [String],
                     labelCount: Int) throws -> ServingBenchReport.Load {
        let load = ServingBenchLoad(socketPath: socket, transport: transport, tweets: tweets, clients: n,
                                    labelCount: labelCount, sightings: ServingBenchSightings())
        try load.start()
        Self.sleep(warmup)
        let m0 = ServingBenchMetrics(socket: socket)
        let c0 = ServingBenchCPU.snapshot(daemon: daemon.pid)
        Self.sleep(seconds)
        let c1 = ServingBenchCPU.snapshot(daemon: daemon.pid)
        let m1 = ServingBenchMetrics(socket: socket)
        let samples = load.stop()
        let window = samples.filter { $0.end >= c0.time && $0.end <= c1.time }
        let ok = window.filter(\.ok)
        var daemon = ServingBenchReport.DaemonSide()
        if let m0, let m1 {
            daemon.meanBatch = ServingBenchMetrics.mean("sentimentd_batch_size", from: m0, to: m1)
            daemon.meanForwardMs = ServingBenchMetrics.mean("sentimentd_batch_duration_seconds", from: m0, to: m1).map { $0 * 1e3 }
            daemon.meanQueueWaitMs = ServingBenchMetrics.mean("sentimentd_queue_wait_seconds", from: m0, to: m1).map { $0 * 1e3 }
            daemon.batchSizes = ServingBenchMetrics.buckets("sentimentd_batch_size", from: m0, to: m1)
        }
        return ServingBenchReport.Load(
            clients: n, requests: ok.count, perSecond: Double(ok.count) / (c1.time - c0.time),
            latency: ServingBenchLatency(seconds: ok.map(\.latency)), errors: load.errorCount,
            errorMessages: load.errorMessages, daemon: daemon, cpu: ServingBenchCPU.usage(from: c0, to: c1))
    }

    /// `reloadClients` clients run throughout; after a steady stretch of `seconds`, K times: copy the model into
    /// models/reload-k (dot-name, then rename), wait until a client is answered by reload-k, keep the window open
    /// one more second. Requests overlapping a window count as "during reload", all others as steady.
    func measureHotReload(daemon: ServingBenchDaemon, socket: String, models: URL, base: URL, tweets: [String],
                          labelCount: Int) throws -> ServingBenchReport.HotReload {
        let sightings = ServingBenchSightings()
        let load = ServingBenchLoad(socketPath: socket, tweets: tweets, clients: reloadClients, labelCount: labelCount,
                                    sightings: sightings)
        try load.start()
        var stopped = false
        defer { if !stopped { load.stop() } }
        Self.sleep(warmup)
        let c0 = ServingBenchCPU.snapshot(daemon: daemon.pid)
        Self.sleep(seconds)
        var windows: [(start: Double, end: Double)] = []
        var renames: [Double] = []
        var reloadsDone: [(version: String, copy: Double, toAnswer: Double, toVerdict: Double?)] = []
        var checks: [(start: Double, end: Double)] = []
        var nextAt = BenchClock.now()
        let timeout = 300.0
        for k in 1...reloads {
            Self.sleep(nextAt - BenchClock.now())
            let version = "reload-\(k)"
            let tc = BenchClock.now()
            let copy = try Self.deploy(from: base, to: models.appendingPathComponent(version))
            var seen = sightings.firstSeen(version)
            // int8: the new version is checked before it is activated, so its first answer comes after its check.
            let answerTimeout = precision == .int8 ? max(timeout, checkTimeout) : timeout
            while seen == nil {
                if BenchClock.now() - tc > answerTimeout {
                    load.stop()
                    stopped = true
                    throw ServingBenchError.reloadNotServed(version: version, seconds: answerTimeout,
                                                            state: Self.registryState(socket: socket, version: version),
                                                            log: daemon.logTail())
                }
                usleep(1_000)
                seen = sightings.firstSeen(version)
            }
            // int8: the window lasts until the new version serves int8 (or its check failed). The daemon checks a new
            // version before activating it, so this is its first answer; a daemon that activated it first served an
            // fp32 copy meanwhile (`duringCheck`).
            var verdictAt: Double?
            if precision == .int8 {
                _ = try waitForPrecision(socket: socket, version: version, daemon: daemon)
                verdictAt = BenchClock.now()
                checks.append((seen!, verdictAt!))
            }
            let end = (verdictAt ?? seen!) + 1
            windows.append((tc, end))
            renames.append(tc + copy)
            reloadsDone.append((version, copy, seen! - tc, verdictAt.map { $0 - tc }))
            Self.sleep(end - BenchClock.now())
            nextAt = max(tc + reloadEvery, end + 1)
        }
        // A steady second after the last window too.
        Self.sleep(1)
        let c1 = ServingBenchCPU.snapshot(daemon: daemon.pid)
        let samples = load.stop()
        stopped = true

        let measured = samples.filter { $0.end >= c0.time }
        func overlaps(_ s: ServingBenchSample, _ w: (start: Double, end: Double)) -> Bool { s.start < w.end && s.end > w.start }
        /// Latency of the answered requests that overlap one of `parts` (or, `inside: false`, none of them).
        func latency(overlapping parts: [(start: Double, end: Double)], inside: Bool = true) -> ServingBenchLatency? {
            ServingBenchLatency(seconds: measured.filter { s in s.ok && parts.contains { overlaps(s, $0) } == inside }.map(\.latency))
        }
        let steadyLatency = latency(overlapping: windows, inside: false)
        let duringLatency = latency(overlapping: windows)
        let copies = zip(windows, renames).map { (start: $0.start, end: $1) }
        let afterRenames = zip(windows, renames).map { (start: $1, end: $0.end) }
        var result = ServingBenchReport.HotReload(
            clients: reloadClients, reloads: [], steady: steadyLatency, duringReload: duringLatency,
            duringCopy: latency(overlapping: copies), afterRename: latency(overlapping: afterRenames), p99Ratio: nil,
            errors: load.errorCount, errorMessages: load.errorMessages, cpu: ServingBenchCPU.usage(from: c0, to: c1))
        if let s = steadyLatency, let d = duringLatency, s.p99Ms > 0 { result.p99Ratio = d.p99Ms / s.p99Ms }
        if let s = steadyLatency, let d = result.afterRename, s.p99Ms > 0 { result.afterRenameP99Ratio = d.p99Ms / s.p99Ms }
        if !checks.isEmpty {
            result.duringCheck = latency(overlapping: checks)
            if let s = steadyLatency, let d = result.duringCheck, s.p99Ms > 0 { result.duringCheckP99Ratio = d.p99Ms / s.p99Ms }
        }
        for (i, r) in reloadsDone.enumerated() {
            let reload = ServingBenchReport.Reload(version: r.version, copySeconds: r.copy, toAnswerSeconds: r.toAnswer,
                                                   latency: latency(overlapping: [windows[i]]), toInt8VerdictSeconds: r.toVerdict)
            result.reloads.append(reload)
            print(ServingBenchFormat.reload(i, reload))
        }
        return result
    }

    func goals(_ report: ServingBenchReport) -> ServingBenchReport.Goals {
        var g = ServingBenchReport.Goals()
        if let one = report.loads.first(where: { $0.clients == 1 })?.latency, let b1 = report.inProcess?.b1, b1.p50Ms > 0 {
            g.socketOverheadB1Percent = (one.p50Ms / b1.p50Ms - 1) * 100
        }
        if let one = report.loads.first(where: { $0.clients == 1 }), let latency = one.latency,
           let forward = one.daemon.meanForwardMs, forward > 0 {
            g.socketOverheadB1VsForwardPercent = (latency.meanMs / forward - 1) * 100
        }
        if let most = report.loads.max(by: { $0.clients < $1.clients }), let batch = report.inProcess?.b32PerSecond, batch > 0 {
            g.socketThroughputPercentOfBatch = most.perSecond / batch * 100
            g.socketThroughputClients = most.clients
        }
        g.reloadP99Ratio = report.hotReload?.p99Ratio
        g.reloadAfterRenameP99Ratio = report.hotReload?.afterRenameP99Ratio
        let ready = report.coldStarts.map(\.readySeconds).sorted()
        if !ready.isEmpty { g.coldStartReadyMedianSeconds = ready[ready.count / 2] }
        return g
    }

    // MARK: - helpers

    static func sleep(_ seconds: Double) {
        guard seconds > 0 else { return }
        Thread.sleep(forTimeInterval: seconds)
    }

    /// Polls `models.list` until `version` serves in int8 or its int8 check failed (then it serves fp32); returns
    /// its precision as listed then.
    func waitForPrecision(socket: String, version: String, daemon: ServingBenchDaemon) throws -> PrecisionStatus {
        let t0 = BenchClock.now()
        var last: PrecisionStatus?
        while BenchClock.now() - t0 < checkTimeout {
            if let list = try? UnixSocketClient(path: socket, timeoutSeconds: 30).call(ModelsListMethod.self, NoParams()),
               let entry = list.models.first(where: { $0.version == version }) {
                last = entry.precision
                if list.active == version, let p = entry.precision, p.serving == "int8" || p.check == "failed" { return p }
            }
            usleep(200_000)
        }
        throw ServingBenchError.daemonTimeout(what: "int8 verdict for \(version) (last: \(last?.reason ?? last?.check ?? "none"))",
                                              seconds: checkTimeout, log: daemon.logTail())
    }

    /// What models.list says of a version (for the error when a reload is not served).
    static func registryState(socket: String, version: String) -> String {
        guard let list = try? UnixSocketClient(path: socket, timeoutSeconds: 30).call(ModelsListMethod.self, NoParams()) else {
            return "models.list did not answer"
        }
        guard let v = list.models.first(where: { $0.version == version }) else {
            return "\(version) not listed; active \(list.active ?? "none")"
        }
        return "\(v.state)" + (v.reason.map { ": \($0)" } ?? "")
    }
}
