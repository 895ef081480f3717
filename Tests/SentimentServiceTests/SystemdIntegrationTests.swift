import Foundation
import SentimentProtocol
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The daemon as systemd runs it: sd_notify, socket activation, SO_PEERCRED authorisation, and the unit files.
final class SystemdIntegrationTests: XCTestCase {
    func testNotifySocket_receivesReadyStatusWatchdogReloadingStopping() throws {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess()
        try daemon.installModel(version: "v1")
        let listener = try NotifyListener(path: daemon.directory.path("notify.sock"))
        // WatchdogSec=2: pings come from the serving loop at least every 0.5 s.
        try daemon.start(environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "2000000"])
        let ready = try listener.wait(for: "READY=1")
        XCTAssertTrue(ready.contains("STATUS=serving model v1"), ready)
        XCTAssertTrue(listener.received.contains { $0.contains("STATUS=serving model v1") })
        let before = listener.received.filter { $0 == "WATCHDOG=1" }.count
        Thread.sleep(forTimeInterval: 1.6)
        let pings = listener.received.filter { $0 == "WATCHDOG=1" }.count - before
        XCTAssertGreaterThanOrEqual(pings, 2, "WATCHDOG=1 at least every half interval; got \(listener.received)")

        let mark = listener.received.count
        daemon.signal(SIGHUP)
        let reloading = try listener.wait(for: "RELOADING=1", after: mark)
        XCTAssertTrue(reloading.contains("MONOTONIC_USEC="), reloading)
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let usec = reloading.split(separator: "\n").first { $0.hasPrefix("MONOTONIC_USEC=") }
            .flatMap { UInt64($0.dropFirst("MONOTONIC_USEC=".count)) } ?? 0
        let nowUsec = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        XCTAssertTrue(usec > 0 && usec <= nowUsec && nowUsec - usec < 30_000_000, "MONOTONIC_USEC \(usec) vs now \(nowUsec)")
        let reloadIndex = listener.received.firstIndex { $0.contains("RELOADING=1") }!
        try listener.wait(for: "READY=1", after: reloadIndex + 1)
        // Still serving after the reload.
        XCTAssertEqual(try daemon.client().call(PredictMethod.self, .init(texts: ["ok"])).model, "v1")

        daemon.signal(SIGTERM)
        try listener.wait(for: "STOPPING=1")
        XCTAssertEqual(try daemon.waitForExit(), 0)
    }

    func testReadyWithoutAModel_saysSoInStatus() throws {
        let daemon = try DaemonProcess()
        let listener = try NotifyListener(path: daemon.directory.path("notify.sock"))
        try daemon.start(environment: ["NOTIFY_SOCKET": listener.path])
        let ready = try listener.wait(for: "READY=1")
        XCTAssertTrue(ready.contains("STATUS=no model loaded"), ready)
        XCTAssertEqual(try daemon.stop(), 0)
    }

    /// systemd-socket-activate, and the tiny model the activated daemon serves; skips when either is missing.
    static func socketActivate() throws -> String {
        guard let activate = ["/usr/bin/systemd-socket-activate", "/bin/systemd-socket-activate"]
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("systemd-socket-activate is not installed (package systemd)")
        }
        _ = try TestPaths.requireTinyRoberta()
        return activate
    }

    /// The socket made by systemd-socket-activate (as sentimentd.socket would): the daemon takes fd 3 and binds nothing.
    func testSocketActivation_withSystemdSocketActivate() throws {
        let activate = try Self.socketActivate()
        let daemon = try DaemonProcess()
        try daemon.installModel(version: "v1")
        let activatedPath = daemon.directory.path("activated.sock")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: activate)
        p.arguments = ["-l", activatedPath, try TestPaths.executable("sentimentd").path, "serve", "--config", daemon.configPath]
        let err = Pipe()
        p.standardError = err
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        try assertServesActivatedSocket(path: activatedPath, daemon: daemon, process: p)
    }

    /// sentimentd.socket passing the JSON-RPC socket and the HTTP Unix socket (told apart by path), and
    /// sentimentd-http.socket passing TCP (`FileDescriptorName=http`): the daemon serves all three and binds nothing.
    func testSocketActivation_httpSocketsArePassedIn() throws {
        let activate = try Self.socketActivate()
        let daemon = try DaemonProcess()
        try daemon.installModel(version: "v1")
        let rpcPath = daemon.directory.path("activated.sock")
        let port = freeTCPPort()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: activate)
        p.arguments = ["-l", rpcPath, "-l", daemon.httpSocketPath, "-l", "127.0.0.1:\(port)",
                       "--fdname=sentimentd.socket:sentimentd.socket:http",
                       try TestPaths.executable("sentimentd").path, "serve", "--config", daemon.configPath]
        p.standardError = Pipe()
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        let client = try waitForClient(path: rpcPath)
        XCTAssertTrue(try client.call(StatusMethod.self, NoParams()).socket.contains("fd 3"))
        let overUnix = try RawHTTPConnection(unixPath: daemon.httpSocketPath).request("GET", "/v2/models/sentiment")
        XCTAssertEqual(overUnix.status, 200, overUnix.text)
        let tcp = try RawHTTPConnection(port: port)
        XCTAssertEqual(try tcp.request("GET", "/v2/health/live").status, 200)
        XCTAssertEqual(try tcp.request("GET", "/v2").status, 401, "TCP without a token")
        XCTAssertFalse(FileManager.default.fileExists(atPath: daemon.socketPath), "an activated daemon binds nothing")
        client.close()
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
    }

    /// The same without systemd tools: fd 3 inherited with LISTEN_FDS=1 and LISTEN_PID set to the daemon's pid (a shell
    /// sets LISTEN_PID=$$ and execs the daemon, so the pid is right).
    func testSocketActivation_withInheritedDescriptor() throws {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess()
        try daemon.installModel(version: "v1")
        let activatedPath = daemon.directory.path("inherited.sock")
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            let b = Array(activatedPath.utf8)
            raw.copyBytes(from: b)
            raw[b.count] = 0
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0)
        XCTAssertEqual(listen(fd, 16), 0)
        defer { close(fd) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fd, 3)
        let binary = try TestPaths.executable("sentimentd").path
        let script = "LISTEN_PID=$$ LISTEN_FDS=1 exec '\(binary)' serve --config '\(daemon.configPath)' 2>/dev/null"
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(script), nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let env: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer { env.forEach { free($0) } }
        XCTAssertEqual(posix_spawn(&pid, "/bin/sh", &actions, nil, argv, env), 0)
        defer { kill(pid, SIGKILL); var s: Int32 = 0; waitpid(pid, &s, 0) }

        let client = try waitForClient(path: activatedPath)
        let status = try client.call(StatusMethod.self, NoParams())
        XCTAssertTrue(status.socket.contains("fd 3"), status.socket)
        XCTAssertEqual(try client.call(PredictMethod.self, .init(texts: ["hello"])).model, "v1")
        XCTAssertFalse(FileManager.default.fileExists(atPath: daemon.socketPath), "an activated daemon binds nothing")
        client.close()
        kill(pid, SIGTERM)
        var wstatus: Int32 = 0
        waitpid(pid, &wstatus, 0)
        XCTAssertEqual((wstatus >> 8) & 0xff, 0, "exit status after SIGTERM")
        XCTAssertEqual(wstatus & 0x7f, 0, "killed by a signal")
    }

    private func waitForClient(path: String, timeout: TimeInterval = 60) throws -> UnixSocketClient {
        if let client = poll(timeout: timeout, every: 0.02, { try? UnixSocketClient(path: path, timeoutSeconds: 60) }) {
            return client
        }
        throw DaemonTestError.timeout("no socket at \(path)")
    }

    private func assertServesActivatedSocket(path: String, daemon: DaemonProcess, process: Process) throws {
        let client = try waitForClient(path: path)
        // The first connection makes systemd-socket-activate exec the daemon, which then accepts it.
        let status = try client.call(StatusMethod.self, NoParams())
        XCTAssertTrue(status.socket.contains("fd 3"), status.socket)
        XCTAssertEqual(try client.call(PredictMethod.self, .init(texts: ["hello"])).model, "v1")
        XCTAssertFalse(FileManager.default.fileExists(atPath: daemon.socketPath), "an activated daemon binds nothing")
        client.close()
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
    }

    /// A caller that is neither root, the daemon's user, nor in the admin group may predict but not roll back.
    /// Needs root: the daemon runs as root and the client is started as `nobody` with setpriv(1).
    func testNonAdminUID_isRefusedRollbackButMayPredict() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root to run a client as another uid") }
        guard let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else { throw XCTSkip("setpriv (util-linux) is not installed") }
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess(serverSettings: ["socket_mode": "\"0666\"", "admin_group": "\"sentimentd-test-admins\""])
        try daemon.installModel(version: "v1")
        try daemon.installModel(version: "v2")
        try daemon.start()
        let ctl = try TestPaths.executable("sentimentctl")
        // The executable must be reachable by nobody: copy it to the daemon's folder (world-readable).
        let ctlCopy = daemon.directory.path("sentimentctl")
        try FileManager.default.copyItem(atPath: ctl.path, toPath: ctlCopy)
        chmod(ctlCopy, 0o755)
        func asNobody(_ args: [String]) throws -> (Int32, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: setpriv)
            p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", ctlCopy] + args + ["--socket", daemon.socketPath]
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            let e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: e, as: UTF8.self))
        }
        let (predictStatus, predictErr) = try asNobody(["predict", "fine"])
        XCTAssertEqual(predictStatus, 0, predictErr)
        let (rollbackStatus, rollbackErr) = try asNobody(["rollback"])
        XCTAssertEqual(rollbackStatus, 4, "exit code for a refusal; stderr: \(rollbackErr)")
        XCTAssertTrue(rollbackErr.contains("uid 65534"), rollbackErr)
        XCTAssertTrue(rollbackErr.contains("sentimentd-test-admins"), rollbackErr)
        let (activateStatus, _) = try asNobody(["activate", "v1"])
        XCTAssertEqual(activateStatus, 4)
        let (reloadStatus, _) = try asNobody(["reload"])
        XCTAssertEqual(reloadStatus, 4)
        // Root (this process) is allowed.
        let active = try daemon.client().call(StatusMethod.self, NoParams()).activeModel
        let target = active == "v1" ? "v2" : "v1"
        XCTAssertEqual(try daemon.client().call(ModelsActivateMethod.self, .init(version: target)).active, target)
        XCTAssertEqual(try daemon.stop(), 0)
    }

    /// With JOURNAL_STREAM naming its stderr, the daemon writes structured entries with sd_journal_send. Where no
    /// journald runs (containers, CI) and we are root, a datagram socket stands in at journald's fixed path.
    func testJournaldLogging_sendsPriorityAndStructuredFields() throws {
        let journalDir = "/run/systemd/journal"
        let journalSocket = journalDir + "/socket"
        guard getuid() == 0 else { throw XCTSkip("needs root to stand in for journald at \(journalSocket)") }
        guard !FileManager.default.fileExists(atPath: journalSocket) else {
            throw XCTSkip("a real journald listens at \(journalSocket); not replacing it")
        }
        _ = try TestPaths.requireTinyRoberta()
        let createdRun = !FileManager.default.fileExists(atPath: "/run/systemd")
        try FileManager.default.createDirectory(atPath: journalDir, withIntermediateDirectories: true)
        defer {
            unlink(journalSocket)
            try? FileManager.default.removeItem(atPath: createdRun ? "/run/systemd" : journalDir)
        }
        let journal = try NotifyListener(path: journalSocket)
        let daemon = try DaemonProcess()
        try daemon.installModel(version: "v1")
        try daemon.start(journalStream: true)
        let entry = try journal.wait(for: "MODEL_VERSION=v1")
        XCTAssertTrue(entry.contains("SYSLOG_IDENTIFIER=sentimentd"), entry)
        XCTAssertTrue(entry.split(separator: "\n").contains { $0.hasPrefix("PRIORITY=") }, entry)
        XCTAssertTrue(entry.contains("MESSAGE="), entry)
        let serving = try journal.wait(for: "MESSAGE=serving")
        XCTAssertTrue(serving.contains("PRIORITY=5"), "notice is priority 5: \(serving)")
        XCTAssertFalse(daemon.stderr.contains("serving"), "with the journal, nothing goes to stderr: \(daemon.stderr)")
        XCTAssertEqual(try daemon.stop(), 0)
        try journal.wait(for: "MESSAGE=stopped")
    }

    // MARK: - Unit files

    /// `systemd-analyze verify` exits 0 even on parse errors, so any line it prints is a failure. It checks that
    /// the programs of Exec*= lines exist: the units are verified in a temporary root with a stub for each of them
    /// and the system's unit directory.
    func testUnitFiles_passSystemdAnalyzeVerifyWithoutAnyOutput() throws {
        let tool = try systemdAnalyze()
        let root = try makeVerifyRoot()
        let output = try run(tool, ["verify", "--man=no", "--root=\(root.url.path)", "sentimentd.service", "sentimentd.socket"])
        XCTAssertEqual(output.status, 0, output.text)
        XCTAssertEqual(output.text.trimmingCharacters(in: .whitespacesAndNewlines), "", "systemd-analyze verify printed:\n\(output.text)")
    }

    /// The verify harness itself must see mistakes: a unit with an unknown key has to produce output.
    func testVerifyHarness_reportsAnUnknownKey() throws {
        let tool = try systemdAnalyze()
        let root = try makeVerifyRoot()
        let unit = root.url.appendingPathComponent("etc/systemd/system/sentimentd.service")
        let text = try String(contentsOf: unit, encoding: .utf8).replacingOccurrences(of: "[Service]\n", with: "[Service]\nNoSuchKey=1\n")
        try text.write(to: unit, atomically: true, encoding: .utf8)
        let output = try run(tool, ["verify", "--man=no", "--root=\(root.url.path)", "sentimentd.service"])
        XCTAssertTrue(output.text.contains("NoSuchKey"), output.text)
    }

    func testServiceUnit_securityExposureIsLow() throws {
        let tool = try systemdAnalyze()
        let root = try makeVerifyRoot()
        let output = try run(tool, ["security", "--offline=true", "--root=\(root.url.path)", "--no-pager", "sentimentd.service"])
        guard let line = output.text.split(separator: "\n").first(where: { $0.contains("Overall exposure level") }),
              let score = line.split(separator: " ").compactMap({ Double($0) }).first else {
            return XCTFail("no exposure level in:\n\(output.text)")
        }
        print("systemd-analyze security: \(line)")
        XCTAssertLessThanOrEqual(score, 1.0, "hardening regressed: \(line)")
    }

    private func systemdAnalyze() throws -> String {
        guard let tool = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        }) else { throw XCTSkip("systemd-analyze is not installed") }
        return tool
    }

    private func makeVerifyRoot() throws -> TemporaryDirectory {
        let root = try TemporaryDirectory("sd-units")
        let fm = FileManager.default
        let units = root.url.appendingPathComponent("etc/systemd/system")
        try fm.createDirectory(at: units, withIntermediateDirectories: true)
        for name in ["sentimentd.service", "sentimentd.socket"] {
            try fm.copyItem(at: TestPaths.repositoryRoot.appendingPathComponent("systemd/\(name)"), to: units.appendingPathComponent(name))
        }
        for system in ["/usr/lib/systemd/system", "/lib/systemd/system"] where fm.fileExists(atPath: system) {
            let target = root.url.appendingPathComponent("usr/lib/systemd")
            try fm.createDirectory(at: target, withIntermediateDirectories: true)
            try fm.copyItem(atPath: system, toPath: target.appendingPathComponent("system").path)
            break
        }
        for executable in try Self.programsStarted(by: units.appendingPathComponent("sentimentd.service")) {
            let url = root.url.appendingPathComponent(executable)
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try "#!/bin/sh\n".write(to: url, atomically: true, encoding: .utf8)
            chmod(url.path, 0o755)
        }
        return root
    }

    /// The program of each Exec*= line (its first word, past systemd's prefixes such as "-"), as in
    /// scripts/verify-units.sh.
    static func programsStarted(by unit: URL) throws -> Set<String> {
        let lines = try String(contentsOf: unit, encoding: .utf8).split(separator: "\n")
        return Set(lines.compactMap { line -> String? in
            guard line.hasPrefix("Exec"), let equals = line.firstIndex(of: "=") else { return nil }
            let command = line[line.index(after: equals)...].drop { "-@:+!".contains($0) }
            return command.split(separator: " ").first.map(String.init)
        })
    }

    private func run(_ tool: String, _ args: [String]) throws -> (status: Int32, text: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
