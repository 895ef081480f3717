import Foundation
import SentimentProtocol
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Paths of the repository, the built executables and the test model.
enum TestPaths {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The build products folder: the test bundle sits in it, next to the executables.
    static var productsDirectory: URL {
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            return bundle.bundleURL.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }

    static func executable(_ name: String) throws -> URL {
        let url = productsDirectory.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw XCTSkip("\(name) is not built next to the tests (\(url.path)); run `swift build` first")
        }
        return url
    }

    /// The tiny RoBERTa checkpoint of the ML tests' fixtures.
    static let tinyRoberta = repositoryRoot.appendingPathComponent("Tests/Fixtures/models/tiny-roberta")

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

/// A temporary folder removed at deinit.
final class TemporaryDirectory {
    let url: URL

    init(prefix: String = "sd") throws {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw POSIXError(.EIO) }
        url = URL(fileURLWithPath: String(cString: p))
        chmod(url.path, 0o755)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

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
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let process, !process.isRunning {
                throw DaemonTestError.exited(status: process.terminationStatus, stderr: stderr)
            }
            if let client = try? UnixSocketClient(path: socketPath, timeoutSeconds: 5),
               (try? client.call(StatusMethod.self, NoParams())) != nil {
                return
            }
            usleep(20_000)
        }
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

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ d: Data) { lock.lock(); data.append(d); lock.unlock() }
    var value: Data { lock.lock(); defer { lock.unlock() }; return data }
}

/// A datagram socket standing in for systemd's NOTIFY_SOCKET: collects every state string the daemon sends.
final class NotifyListener {
    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var messages: [String] = []
    private var thread: Thread?
    private var running = true

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        try bindUnixSocket(fd, to: path)
        var tv = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let t = Thread { [unowned self] in self.receiveLoop() }
        thread = t
        t.start()
    }

    private func receiveLoop() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while lock.withLock({ running }) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                let message = String(decoding: buffer[..<n], as: UTF8.self)
                lock.withLock { messages.append(message) }
            }
        }
    }

    var received: [String] { lock.withLock { messages } }

    /// Waits until some message contains `needle`; returns that message.
    @discardableResult
    func wait(for needle: String, after index: Int = 0, timeout: TimeInterval = 30) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let all = received
            if index < all.count, let m = all[index...].first(where: { $0.contains(needle) }) { return m }
            usleep(10_000)
        }
        throw DaemonTestError.timeout("no notify message containing \(needle) within \(timeout) s; got: \(received)")
    }

    func close() {
        lock.withLock { running = false }
        thread = nil
    }

    deinit {
        lock.withLock { running = false }
        usleep(150_000) // let the receive loop see the flag before the descriptor goes away
        Glibc.close(fd)
        unlink(path)
    }
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

/// Runs `program` to its end; returns its exit status, stdout and stderr.
func runProgram(_ program: URL, _ args: [String], stdin: String? = nil,
                environment extra: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = program
    p.arguments = args
    var env = ProcessInfo.processInfo.environment
    env.merge(extra) { _, n in n }
    p.environment = env
    let out = Pipe(), err = Pipe(), input = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = input
    try p.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    // Read both pipes concurrently so a chatty stderr cannot block the child.
    let errData = LockedData()
    let errDone = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        errData.append(err.fileHandleForReading.readDataToEndOfFile())
        errDone.signal()
    }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    errDone.wait()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: errData.value, as: UTF8.self))
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
