import Foundation
import SentimentProtocol
#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket standing in for systemd's NOTIFY_SOCKET: timestamps every state string the daemon sends.
final class ServingBenchNotifyListener: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var messages: [(time: Double, text: String)] = []
    private var running = true
    private let finished = DispatchSemaphore(value: 0)

    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServingBenchError.notifySocket(path: path, reason: String(cString: strerror(errno))) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            Glibc.close(fd)
            throw ServingBenchError.notifySocket(path: path, reason: "the path is too long for a Unix socket address")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw ServingBenchError.notifySocket(path: path, reason: reason)
        }
        var tv = timeval(tv_sec: 0, tv_usec: 50_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let thread = Thread { [self] in receiveLoop() }
        thread.start()
    }

    private func receiveLoop() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while lock.withLock({ running }) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                let now = BenchClock.now()
                let text = String(decoding: buffer[..<n], as: UTF8.self)
                lock.withLock { messages.append((now, text)) }
            }
        }
        finished.signal()
    }

    var count: Int { lock.withLock { messages.count } }

    /// Every message so far, in order of arrival (the daemon tests' listener is this one).
    var texts: [String] { lock.withLock { messages.map(\.text) } }

    /// The time of the first message from index `after` on whose lines include `line` exactly (e.g. READY=1).
    func firstTime(of line: String, after index: Int) -> Double? {
        lock.withLock {
            messages.dropFirst(index).first { $0.text.split(separator: "\n").contains { $0 == line } }?.time
        }
    }

    func close() {
        guard lock.withLock({ let was = running; running = false; return was }) else { return }
        finished.wait()
        Glibc.close(fd)
        unlink(path)
    }

    deinit { close() }
}

/// If the bench is interrupted (SIGINT, SIGTERM, SIGHUP), the daemon it started and its temporary folder go too:
/// the daemon is a child that would otherwise keep serving, and the folder holds ~0.5 GB per model copy.
enum ServingBenchInterruption {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var daemonPID: Int32?
    nonisolated(unsafe) private static var workspace: URL?
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    static func install(workspace url: URL?) {
        lock.withLock { workspace = url }
        signal(SIGPIPE, SIG_IGN)  // a closed stdout (| head) must not kill the bench before it cleans up
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                let (pid, folder) = lock.withLock { (daemonPID, workspace) }
                if let pid {
                    kill(pid, SIGKILL)
                    var status: Int32 = 0
                    waitpid(pid, &status, 0)
                }
                if let folder { try? FileManager.default.removeItem(at: folder) }
                FileHandle.standardError.write(Data("sentimentd bench --serving: interrupted (signal \(sig)); daemon stopped, temporary folder removed\n".utf8))
                exit(128 + sig)
            }
            source.resume()
            lock.withLock { sources.append(source) }
        }
    }

    static func childStarted(_ pid: Int32?) { lock.withLock { daemonPID = pid } }

    /// The workspace is kept (--keep) or already removed: an interruption must leave it alone.
    static func forgetWorkspace() { lock.withLock { workspace = nil } }
}

/// One `sentimentd serve` child of the bench: this same executable, a temporary configuration, NOTIFY_SOCKET set
/// to the bench's listener, stderr to a log file in the bench's folder.
final class ServingBenchDaemon {
    let executable: String
    let configPath: String
    let socketPath: String
    let logPath: String
    let notify: ServingBenchNotifyListener
    private(set) var process: Process?
    /// BenchClock time just before the spawn.
    private(set) var spawnedAt = 0.0
    private var notifyIndex = 0

    init(executable: String, configPath: String, socketPath: String, logPath: String, notify: ServingBenchNotifyListener) {
        self.executable = executable
        self.configPath = configPath
        self.socketPath = socketPath
        self.logPath = logPath
        self.notify = notify
    }

    var pid: Int32? { process.map(\.processIdentifier) }

    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["serve", "--config", configPath]
        var env = ProcessInfo.processInfo.environment
        for key in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM",
                    "SENTIMENT_MODEL"] {
            env.removeValue(forKey: key)
        }
        env["NOTIFY_SOCKET"] = notify.path
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)  // opening it below reports a failure
        }
        guard let log = FileHandle(forWritingAtPath: logPath) else {
            throw ServingBenchError.cannotWrite(path: logPath, reason: "cannot open the daemon's log file")
        }
        log.seekToEndOfFile()
        p.standardError = log
        notifyIndex = notify.count
        spawnedAt = BenchClock.now()
        do {
            try p.run()
        } catch {
            throw ServingBenchError.cannotStartDaemon(executable: executable, reason: "\(error)")
        }
        try? log.close()
        process = p
        ServingBenchInterruption.childStarted(p.processIdentifier)
    }

    /// Seconds from the spawn to READY=1 on the notify socket.
    func waitReady(timeout: Double) throws -> Double {
        let deadline = spawnedAt + timeout
        while BenchClock.now() < deadline {
            if let t = notify.firstTime(of: "READY=1", after: notifyIndex) { return t - spawnedAt }
            try checkRunning()
            usleep(1_000)
        }
        throw ServingBenchError.daemonTimeout(what: "READY=1 on NOTIFY_SOCKET", seconds: timeout, log: logTail())
    }

    /// Seconds from the spawn until a predict of `text` is answered.
    func waitFirstPrediction(_ text: String, timeout: Double) throws -> Double {
        let deadline = spawnedAt + timeout
        var last = ""
        while BenchClock.now() < deadline {
            do {
                let client = try UnixSocketClient(path: socketPath, timeoutSeconds: timeout)
                _ = try client.call(PredictMethod.self, .init(texts: [text]))
                return BenchClock.now() - spawnedAt
            } catch {
                last = "\(error)"
            }
            try checkRunning()
            usleep(2_000)
        }
        throw ServingBenchError.daemonTimeout(what: "a first prediction (last error: \(last))", seconds: timeout, log: logTail())
    }

    private func checkRunning() throws {
        if let process, !process.isRunning {
            throw ServingBenchError.daemonExited(status: process.terminationStatus, log: logTail())
        }
    }

    /// SIGTERM, then waits; returns the seconds the drain took. A non-zero exit status is an error.
    @discardableResult
    func stop(timeout: Double = 60) throws -> Double {
        guard let process else { return 0 }
        let t0 = BenchClock.now()
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGTERM) }
        while process.isRunning && BenchClock.now() - t0 < timeout { usleep(5_000) }
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            self.process = nil
            ServingBenchInterruption.childStarted(nil)
            throw ServingBenchError.daemonTimeout(what: "exit after SIGTERM", seconds: timeout, log: logTail())
        }
        process.waitUntilExit()
        self.process = nil
        ServingBenchInterruption.childStarted(nil)
        guard process.terminationStatus == 0 else {
            throw ServingBenchError.daemonExited(status: process.terminationStatus, log: logTail())
        }
        return BenchClock.now() - t0
    }

    /// SIGKILL (error paths: the bench is leaving and must not leave a daemon behind).
    func kill() {
        if let process, process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        process = nil
        ServingBenchInterruption.childStarted(nil)
    }

    /// VmRSS and VmHWM of the running daemon, MiB.
    func memoryMiB() -> (rss: Double, peak: Double) {
        guard let pid, let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return (0, 0) }
        func field(_ name: String) -> Double {
            for line in s.split(separator: "\n") where line.hasPrefix(name) {
                return (line.split(separator: " ").compactMap { Double($0) }.first ?? 0) / 1024
            }
            return 0
        }
        return (field("VmRSS:"), field("VmHWM:"))
    }

    /// The last lines of the daemon's log (for error messages).
    func logTail(lines: Int = 15) -> String {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return "(no log at \(logPath))" }
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    deinit { kill() }
}
