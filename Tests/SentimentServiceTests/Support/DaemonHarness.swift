import Foundation
@testable import SentimentBench
import SentimentProtocol
import SentimentTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Paths of the repository, the built executables and the test model.
enum TestPaths {
    static let repositoryRoot = TestFixtures.repositoryRoot

    /// A built executable (`BuiltProducts`); the test is skipped when it is not built.
    static func executable(_ name: String) throws -> URL { try BuiltProducts.executable(name) }

    /// The tiny RoBERTa checkpoint of the ML tests' fixtures.
    static let tinyRoberta = TestFixtures.root.appendingPathComponent("models/tiny-roberta")

    static func requireTinyRoberta() throws -> URL {
        guard FileManager.default.fileExists(atPath: tinyRoberta.appendingPathComponent("config.json").path) else {
            throw XCTSkip("the tiny-roberta fixture is missing at \(tinyRoberta.path)")
        }
        return tinyRoberta
    }

    /// Files of a fixture folder that make a checkpoint (the fixtures also hold reference outputs).
    static let checkpointFiles: Set<String> = [
        "config.json", "model.safetensors", "vocab.json", "merges.txt", "vocab.txt", "tokenizer.json",
        "tokenizer_config.json", "special_tokens_map.json",
    ]

    /// Copies a checkpoint into `models/<version>` via a temporary name and a rename, as a publisher would.
    static func installModel(from source: URL, into models: URL, version: String) throws {
        let fm = FileManager.default
        let staging = models.appendingPathComponent(".staging-\(version)-\(UUID().uuidString)")
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        for name in try fm.contentsOfDirectory(atPath: source.path) where checkpointFiles.contains(name) {
            try fm.copyItem(at: source.appendingPathComponent(name), to: staging.appendingPathComponent(name))
        }
        try fm.moveItem(at: staging, to: models.appendingPathComponent(version))
    }
}

/// The test targets' one temporary folder (SentimentTestSupport), named here so that every file of these tests
/// has it without importing the support module.
typealias TemporaryDirectory = SentimentTestSupport.TemporaryDirectory

/// A sentimentd process started from the built binary, with its own folder: config, models/, database, socket.
final class DaemonProcess {
    let directory: TemporaryDirectory
    let socketPath: String
    /// The HTTP front end's Unix socket (`server.http_socket`).
    let httpSocketPath: String
    let modelsDirectory: URL
    let configPath: String
    private(set) var process: Process?
    private var stderrPipe = Pipe()
    private let stderrBuffer = LockedData()

    var pid: Int32 { process?.processIdentifier ?? -1 }

    /// The settings given are merged over the harness's own (socket, models and database in the temporary folder,
    /// no admin group, settle_ms 200).
    init(serverSettings: [String: String] = [:], batching: [String: String] = [:], models: [String: String] = [:]) throws {
        directory = try TemporaryDirectory()
        socketPath = directory.path("s.sock")
        httpSocketPath = directory.path("h.sock")
        modelsDirectory = directory.url.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: modelsDirectory, withIntermediateDirectories: true)
        configPath = directory.path("sentimentd.conf")
        try writeConfig(serverSettings: serverSettings, batching: batching, models: models)
    }

    /// Extra tables ([labels], [training]) appended to the configuration by `writeConfig`.
    var extraTables: [String: [String: String]] = [:]

    func writeConfig(serverSettings: [String: String] = [:], batching: [String: String] = [:],
                     models: [String: String] = [:], logLevel: String = "info") throws {
        var server = ["socket": "\"\(socketPath)\"", "http_socket": "\"\(httpSocketPath)\"", "admin_group": "\"\""]
        server.merge(serverSettings) { _, new in new }
        var modelSettings = ["directory": "\"\(modelsDirectory.path)\"", "settle_ms": "200"]
        modelSettings.merge(models) { _, new in new }
        func table(_ name: String, _ values: [String: String]) -> String {
            "[\(name)]\n" + values.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)\n" }.joined()
        }
        let text = table("server", server) + table("batching", batching) + table("models", modelSettings)
            + table("store", ["database": "\"\(directory.path("state.sqlite"))\""]) + table("log", ["level": "\"\(logLevel)\""])
            + extraTables.sorted { $0.key < $1.key }.map { table($0.key, $0.value) }.joined()
        let tmp = configPath + ".tmp"
        try text.write(toFile: tmp, atomically: false, encoding: .utf8)
        rename(tmp, configPath)
    }

    func installModel(version: String, from source: URL? = nil) throws {
        try TestPaths.installModel(from: source ?? TestPaths.tinyRoberta, into: modelsDirectory, version: version)
    }

    /// Starts `sentimentd serve --config …` and waits until the socket answers `status`.
    /// `journalStream`: set JOURNAL_STREAM to the device:inode of the daemon's stderr pipe, as systemd does when
    /// stderr goes to the journal, so the daemon logs through sd_journal_send.
    func start(environment extra: [String: String] = [:], arguments: [String] = [], waitForSocket: Bool = true,
               journalStream: Bool = false, timeout: TimeInterval = 60) throws {
        let p = Process()
        p.executableURL = try TestPaths.executable("sentimentd")
        p.arguments = ["serve", "--config", configPath] + arguments
        var env = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID",
                    "JOURNAL_STREAM", "SENTIMENT_MODEL"] {
            env.removeValue(forKey: key)
        }
        env.merge(extra) { _, new in new }
        p.environment = env
        stderrPipe.fileHandleForReading.readabilityHandler = nil
        stderrPipe = Pipe()
        p.standardError = stderrPipe
        if journalStream {
            var st = stat()
            fstat(stderrPipe.fileHandleForWriting.fileDescriptor, &st)
            env["JOURNAL_STREAM"] = "\(st.st_dev):\(st.st_ino)"
            p.environment = env
        }
        p.standardOutput = FileHandle.nullDevice
        let buffer = stderrBuffer
        stderrPipe.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            if !d.isEmpty { buffer.append(d) }
        }
        try p.run()
        process = p
        if waitForSocket { try waitUntilServing(timeout: timeout) }
    }

    func waitUntilServing(timeout: TimeInterval = 60) throws {
        let answered = try poll(timeout: timeout, every: 0.02) { () throws -> Bool? in
            if let process, !process.isRunning {
                throw DaemonTestError.exited(status: process.terminationStatus, stderr: stderr)
            }
            let client = try? UnixSocketClient(path: socketPath, timeoutSeconds: 5)
            return (try? client?.call(StatusMethod.self, NoParams())) != nil ? true : nil
        }
        guard answered == nil else { return }
        throw DaemonTestError.timeout("daemon did not answer on \(socketPath) within \(timeout) s; stderr:\n\(stderr)")
    }

    func client(timeout: Double = 60) throws -> UnixSocketClient {
        try UnixSocketClient(path: socketPath, timeoutSeconds: timeout)
    }

    func signal(_ sig: Int32) {
        if let process, process.isRunning { kill(process.processIdentifier, sig) }
    }

    /// Waits for the process to exit; returns its status.
    @discardableResult
    func waitForExit(timeout: TimeInterval = 30) throws -> Int32 {
        guard let process else { return -1 }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw DaemonTestError.timeout("daemon did not exit within \(timeout) s; stderr:\n\(stderr)")
        }
        return process.terminationStatus
    }

    /// SIGTERM and wait; returns the exit status.
    @discardableResult
    func stop() throws -> Int32 {
        signal(SIGTERM)
        return try waitForExit()
    }

    var stderr: String { String(decoding: stderrBuffer.value, as: UTF8.self) }

    deinit {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        stderrPipe.fileHandleForReading.readabilityHandler = nil
    }
}

enum DaemonTestError: Error, CustomStringConvertible {
    case exited(status: Int32, stderr: String)
    case timeout(String)

    var description: String {
        switch self {
        case let .exited(status, stderr): return "daemon exited with status \(status); stderr:\n\(stderr)"
        case let .timeout(m): return m
        }
    }
}

/// Asks `attempt` every `interval` seconds until it gives a value, for at most `timeout` seconds (nil then): the
/// waiting loop of these tests, which wait for a verdict, never for a fixed time.
func poll<T>(timeout: TimeInterval, every interval: TimeInterval = 0.05, _ attempt: () throws -> T?) rethrows -> T? {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if let value = try attempt() { return value }
        usleep(useconds_t(interval * 1_000_000))
    }
    return nil
}

/// Waits until `condition` holds (see `poll`); otherwise fails the test, saying what did not happen and
/// `context` (a daemon's stderr, say).
func pollUntil(_ what: String, timeout: TimeInterval, context: @autoclosure () -> String = "",
               _ condition: () throws -> Bool) throws {
    if try poll(timeout: timeout, { try condition() ? true : nil }) != nil { return }
    XCTFail("\(what) did not happen within \(timeout) s" + context())
    throw DaemonTestError.timeout(what)
}

extension DaemonProcess {
    /// The environment that holds the daemon (or its validation or training worker) at the test hooks' pause point
    /// `point` (`<role>:<point>`, the table in Sources/SentimentCore/TestHooks.swift), and the file that exists
    /// while it is held there: removing the file lets it go on.
    func pauseHook(at point: String) -> (environment: [String: String], file: String) {
        let file = directory.path("paused")
        return (["SENTIMENTD_TEST_PAUSE_AT": point, "SENTIMENTD_TEST_PAUSE_FILE": file], file)
    }

    /// Waits until a process is held at its pause point (`pauseHook`'s file exists).
    func waitUntilPaused(_ file: String, timeout: TimeInterval = 240) throws {
        try pollUntil("the pause point (\(file))", timeout: timeout, context: "; stderr:\n\(stderr.suffix(4000))") {
            FileManager.default.fileExists(atPath: file)
        }
    }

    /// One call on a new connection, given a minute to answer (a loaded machine is slow).
    func call<M: RPCMethod>(_ method: M.Type, _ params: M.Params) throws -> M.Result {
        try client(timeout: 60).call(method, params)
    }

    /// Waits until `version` serves (`status`'s active model); the failure names the last one seen and the
    /// daemon's stderr.
    func waitForActive(_ version: String, timeout: TimeInterval = 60) throws {
        var last: String?
        let served = try poll(timeout: timeout) { () throws -> Bool? in
            last = try call(StatusMethod.self, NoParams()).activeModel
            return last == version ? true : nil
        }
        guard served == nil else { return }
        XCTFail("\(version) did not become active within \(timeout) s (active: \(last ?? "none")); stderr:\n\(stderr.suffix(4000))")
        throw DaemonTestError.timeout("waiting for \(version) to serve")
    }

    /// Waits until run `id` (nil: the newest run) is as `done` wants it, and returns it; the failure names the
    /// run as last seen and the daemon's stderr.
    @discardableResult
    func waitForRun(id: Int64?, timeout: TimeInterval, until done: (RunSummary) -> Bool) throws -> RunSummary {
        var last: RunSummary?
        let reached = try poll(timeout: timeout, every: 0.1) { () throws -> RunSummary? in
            last = try id.map { try call(RunsShowMethod.self, .init(id: $0)).run }
                ?? call(RunsListMethod.self, .init(limit: 1)).runs.first
            return last.flatMap { done($0) ? $0 : nil }
        }
        if let reached { return reached }
        XCTFail("run \(id.map(String.init) ?? "(newest)") did not reach the expected state within \(timeout) s; last: "
                + "\(String(describing: last)); stderr:\n\(stderr.suffix(4000))")
        throw DaemonTestError.timeout("run state")
    }
}

typealias LockedData = SentimentTestSupport.LockedData

/// A datagram socket standing in for systemd's NOTIFY_SOCKET (or journald's): `sentimentd bench`'s listener, which
/// times the daemon's READY=1 the same way, with what the tests wait on.
final class NotifyListener {
    private let socket: ServingBenchNotifyListener

    init(path: String) throws { socket = try ServingBenchNotifyListener(path: path) }

    var path: String { socket.path }

    /// Every message so far, in order of arrival.
    var received: [String] { socket.texts }

    /// Waits until some message from index `index` on contains `needle`; returns that message.
    @discardableResult
    func wait(for needle: String, after index: Int = 0, timeout: TimeInterval = 30) throws -> String {
        let found = poll(timeout: timeout, every: 0.01) { () -> String? in
            let all = received
            return index < all.count ? all[index...].first(where: { $0.contains(needle) }) : nil
        }
        if let found { return found }
        throw DaemonTestError.timeout("no notify message containing \(needle) within \(timeout) s; got: \(received)")
    }

    func close() { socket.close() }
}

/// Runs `body` on `count` threads at once and waits for all.
func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let t = Thread {
            body(i)
            group.leave()
        }
        t.stackSize = 1 << 20
        t.start()
    }
    group.wait()
}

/// Runs the real sentimentctl against `socket`; returns its exit status, stdout and stderr.
func runSentimentctl(_ args: [String], socket: String, stdin: String? = nil,
                     environment extra: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
    try runExecutable("sentimentctl", args, stdin: stdin, environment: extra.merging(["SENTIMENTD_SOCKET": socket]) { n, _ in n })
}

/// Runs one of the built executables to its end; returns its exit status, stdout and stderr.
func runExecutable(_ name: String, _ args: [String], stdin: String? = nil,
                   environment extra: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
    try runProgram(try TestPaths.executable(name), args, stdin: stdin, environment: extra)
}

/// Runs `program` to its end (`runToEnd`); returns its exit status, stdout and stderr.
func runProgram(_ program: URL, _ args: [String], stdin: String? = nil,
                environment extra: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
    let run = try runToEnd(program, args, stdin: stdin, environment: extra)
    return (run.status, run.out, run.err)
}

/// Binds `fd` (an AF_UNIX socket) to `path`, creating the socket file there.
func bindUnixSocket(_ fd: Int32, to path: String) throws {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw POSIXError(.ENAMETOOLONG) }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard rc == 0 else { throw POSIXError(.EADDRINUSE) }
}
