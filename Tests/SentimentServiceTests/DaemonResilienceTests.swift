import Foundation
import SentimentProtocol
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The real daemon against files that change under it, validations that crash, hang or are interrupted, a version
/// that cannot be restored at start-up, a model whose answers are not finite, and a registry that stops making
/// progress. Fault points are the test hooks of `TestHooks` and `ValidationWorker` (named by version).
final class DaemonResilienceTests: XCTestCase {
    private func status(_ daemon: DaemonProcess) throws -> StatusMethod.Result {
        try daemon.client(timeout: 30).call(StatusMethod.self, NoParams())
    }

    private func model(_ version: String, _ daemon: DaemonProcess) throws -> ModelVersionSummary? {
        try daemon.client(timeout: 30).call(ModelsListMethod.self, NoParams()).models.first { $0.version == version }
    }

    /// A daemon (not started yet) with v1 in its models directory, settle_ms 200 and `models` over it: where each
    /// test starts from, before it breaks something.
    private func daemonWithV1(models: [String: String] = [:]) throws -> DaemonProcess {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess(models: ["settle_ms": "200"].merging(models) { $1 })
        try daemon.installModel(version: "v1")
        return daemon
    }

    /// Waits (generously: idle-priority work may take minutes on a loaded box) until `condition` holds.
    private func waitUntil(_ what: String, _ daemon: DaemonProcess, timeout: TimeInterval = 240,
                           _ condition: () throws -> Bool) throws {
        try pollUntil(what, timeout: timeout, context: "; stderr:\n\(daemon.stderr.suffix(4000))", condition)
    }

    private func waitForFile(_ path: String, _ daemon: DaemonProcess, timeout: TimeInterval = 240) throws {
        try daemon.waitUntilPaused(path, timeout: timeout)
    }

    /// A file truncated while the daemon reads it: the load fails (it used to be a SIGBUS on the mapped file, which
    /// killed the daemon), the version is rejected, the daemon goes on serving.
    func testFileTruncatedDuringALoad_neverKillsTheDaemon() throws {
        let daemon = try daemonWithV1()
        let (hook, paused) = daemon.pauseHook(at: "daemon:opened v2/model.safetensors")
        try daemon.start(environment: hook)
        let pid = daemon.pid
        try daemon.installModel(version: "v2")
        // The validation process accepted v2; the daemon has opened its weights and waits before reading them.
        try waitForFile(paused, daemon)
        let weights = daemon.modelsDirectory.appendingPathComponent("v2/model.safetensors")
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: weights.path)[.size] as? Int)
        XCTAssertEqual(truncate(weights.path, off_t(size / 3)), 0)
        try FileManager.default.removeItem(atPath: paused)
        try waitUntil("v2 rejected", daemon) { try self.model("v2", daemon)?.state == "rejected" }
        let v2 = try model("v2", daemon)
        XCTAssertTrue(v2?.reason?.contains("model.safetensors") ?? false, "\(String(describing: v2))")
        XCTAssertEqual(daemon.pid, pid)
        XCTAssertEqual(try daemon.client().call(PredictMethod.self, .init(texts: ["still here"])).model, "v1")
        XCTAssertEqual(try daemon.stop(), 0)
    }

    /// The daemon killed twice while validating the same files: they are rejected ("validation was interrupted
    /// twice") instead of killing it at every start. A clean stop in the middle of a validation does not count,
    /// and after one interruption the version is tried once more.
    func testValidationInterruptedTwice_isRejected_aCleanStopDoesNotCount() throws {
        let daemon = try daemonWithV1()
        let (hook, paused) = daemon.pauseHook(at: "validation:validating v2")
        try daemon.start(environment: hook)
        try daemon.installModel(version: "v2")

        // 1. A clean stop while v2 is being validated: the daemon stops at once (the validation process is ended).
        try waitForFile(paused, daemon)
        XCTAssertEqual(try daemon.stop(), 0)
        try? FileManager.default.removeItem(atPath: paused)

        // 2. The next start validates v2 again (before it serves: a version that arrived while the daemon was down
        // is looked at first); the daemon dies meanwhile (first interruption).
        try daemon.start(environment: hook, waitForSocket: false)
        try waitForFile(paused, daemon)
        daemon.signal(SIGKILL)
        _ = try? daemon.waitForExit()
        try? FileManager.default.removeItem(atPath: paused)

        // 3. Tried once more (had the clean stop counted, it would be rejected now); the daemon dies again.
        try daemon.start(environment: hook, waitForSocket: false)
        try waitForFile(paused, daemon)
        daemon.signal(SIGKILL)
        _ = try? daemon.waitForExit()
        try? FileManager.default.removeItem(atPath: paused)

        // 4. Rejected, not validated a third time; v1 serves.
        try daemon.start(environment: hook)
        let v2 = try XCTUnwrap(try model("v2", daemon))
        XCTAssertEqual(v2.state, "rejected")
        XCTAssertTrue(v2.reason?.contains("validation was interrupted twice") ?? false, "\(v2)")
        XCTAssertEqual(try status(daemon).activeModel, "v1")
        usleep(1_000_000)
        XCTAssertFalse(FileManager.default.fileExists(atPath: paused), "v2 was validated a third time")
        XCTAssertTrue(daemon.stderr.contains("its validation was interrupted twice"), daemon.stderr.suffix(3000).description)
        XCTAssertEqual(try daemon.stop(), 0)
    }

    /// The version active before a restart cannot be loaded (here: its config.json became hostile while the daemon
    /// was down, which used to abort every start): the previous good version serves, and status, the log and the
    /// metrics say so.
    func testStartupFallback_servesThePreviousGoodVersion_andSaysSo() throws {
        let daemon = try daemonWithV1()
        try daemon.start()
        try daemon.installModel(version: "v2")
        try waitUntil("v2 active", daemon) { try self.status(daemon).activeModel == "v2" }
        XCTAssertEqual(try daemon.stop(), 0)
        try HostileCheckpoints.setConfigLiteral(daemon.modelsDirectory.appendingPathComponent("v2"), "vocab_size", "8000000000000000")

        try daemon.start()
        let s = try status(daemon)
        XCTAssertEqual(s.activeModel, "v1")
        let fallback = try XCTUnwrap(s.fallback, "status does not say it fell back")
        XCTAssertEqual(fallback.from, "v2")
        XCTAssertEqual(fallback.serving, "v1")
        XCTAssertTrue(fallback.reason.contains("vocab_size"), fallback.reason)
        XCTAssertTrue(daemon.stderr.contains("cannot be served; serving the previous good version instead"), daemon.stderr)
        let metrics = try daemon.client().call(MetricsMethod.self, NoParams()).text
        XCTAssertTrue(metrics.contains(#"sentimentd_startup_fallback{from="v2",serving="v1"} 1"#), metrics)
        XCTAssertEqual(try daemon.client().call(PredictMethod.self, .init(texts: ["hello"])).model, "v1")
        let printed = try runSentimentctl(["status"], socket: daemon.socketPath)
        XCTAssertTrue(printed.out.contains("fallback:") && printed.out.contains("v2 could not be served"), printed.out)
        // Still up a moment later (it used to abort and be restarted, forever).
        usleep(500_000)
        XCTAssertEqual(try status(daemon).activeModel, "v1")
        XCTAssertEqual(try daemon.stop(), 0)
    }

    /// A model whose weights are finite but whose forward pass overflows for some inputs (positions no probe text
    /// reaches): that request gets an error, the log and the metrics record it, other requests are answered.
    func testNonFiniteOutput_isAnsweredWithAnError_loggedAndCounted() throws {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess(models: ["settle_ms": "200"])
        let staging = daemon.directory.url.appendingPathComponent("overflow")
        try HostileCheckpoints.copyTiny(to: staging)
        let url = staging.appendingPathComponent("model.safetensors")
        var file = try SafetensorsFile(url: url)
        let name = try XCTUnwrap(file.names.first { $0.hasSuffix("position_embeddings.weight") })
        let width = try XCTUnwrap(file.shape(name).last)
        var data = file.data(name)
        var huge = Float(3e38).bitPattern.littleEndian
        let value = Data(bytes: &huge, count: 4)
        for row in 100..<file.shape(name)[0] {
            for column in 0..<width {
                let at = (row * width + column) * 4
                data.replaceSubrange(at..<(at + 4), with: value)
            }
        }
        file.replace(name, shape: file.shape(name), data: data)
        try file.write(to: url)
        try FileManager.default.moveItem(at: staging, to: daemon.modelsDirectory.appendingPathComponent("v1"))
        try daemon.start()
        XCTAssertEqual(try status(daemon).activeModel, "v1", "the probes do not reach position 100")

        let client = try daemon.client()
        XCTAssertEqual(try client.call(PredictMethod.self, .init(texts: ["a short text"])).predictions.count, 1)
        let long = String(repeating: "the meeting is at three ", count: 40)
        XCTAssertThrowsError(try client.call(PredictMethod.self, .init(texts: ["fine", long]))) { error in
            let e = error as? RPCErrorObject
            XCTAssertEqual(e?.data?.kind, "non_finite_output", "\(error)")
            XCTAssertTrue(e?.message.contains("texts[1]") ?? false, "\(error)")
        }
        XCTAssertEqual(try client.call(PredictMethod.self, .init(texts: ["still fine"])).predictions.count, 1)
        let metrics = try client.call(MetricsMethod.self, NoParams()).text
        XCTAssertTrue(metrics.contains(#"sentimentd_non_finite_outputs_total{version="v1"} 1"#), metrics)
        XCTAssertTrue(daemon.stderr.contains("the model gave a non-finite probability"), daemon.stderr.suffix(2000).description)
        XCTAssertEqual(try daemon.stop(), 0)
    }

    /// An arrival is validated in a process of its own, which limits itself (address space, CPU time, no file
    /// written), makes itself the OOM killer's first choice and, where the kernel lets it, leaves the network.
    func testValidationProcess_isLimited_andOffTheNetwork() throws {
        let daemon = try daemonWithV1()
        let (hook, paused) = daemon.pauseHook(at: "validation:validating v2")
        try daemon.start(environment: hook)
        try daemon.installModel(version: "v2")
        try waitForFile(paused, daemon)
        // Children are listed by the thread that started them.
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon.pid)/task")) ?? []
        let children = tasks.map { (try? String(contentsOfFile: "/proc/\(daemon.pid)/task/\($0)/children", encoding: .utf8)) ?? "" }
            .joined(separator: " ")
        let workers = children.split(separator: " ").compactMap { Int32($0) }.filter { pid in
            ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").contains("validate-worker")
        }
        let worker = try XCTUnwrap(workers.first, "no validate-worker child of the daemon (children: \(children))")
        let limits = try String(contentsOfFile: "/proc/\(worker)/limits", encoding: .utf8)
        func limit(_ name: String) -> String? {
            limits.split(separator: "\n").first { $0.hasPrefix(name) }.map { String($0.dropFirst(26).prefix(21)).trimmingCharacters(in: .whitespaces) }
        }
        XCTAssertNotEqual(limit("Max address space"), "unlimited", limits)
        XCTAssertNotEqual(limit("Max cpu time"), "unlimited", limits)
        XCTAssertEqual(limit("Max file size"), "0", limits)
        XCTAssertEqual(try String(contentsOfFile: "/proc/\(worker)/oom_score_adj", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines), "1000")
        // Where this machine lets a process make a network namespace (as the test's own probe shows), every thread
        // of the worker is in one of its own.
        let probe = try runProcess("/usr/bin/unshare", ["-Urn", "true"])
        if probe == 0 {
            let daemonNet = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(daemon.pid)/ns/net")
            for task in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(worker)/task") {
                let net = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(worker)/task/\(task)/ns/net")
                XCTAssertNotEqual(net, daemonNet, "thread \(task) of the validation process shares the daemon's network")
            }
        }
        try FileManager.default.removeItem(atPath: paused)
        try waitUntil("v2 active", daemon) { try self.status(daemon).activeModel == "v2" }
        XCTAssertEqual(try daemon.stop(), 0)
    }

    private func runProcess(_ path: String, _ arguments: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// The validation process crashing, running out of its address space, or blocking forever: each a rejection
    /// that names the cause, while the serving version answers and the daemon lives.
    func testValidationProcessCrashLimitOrHang_isARejectionNamingTheCause() throws {
        // "low": flat out at nice +10, so the test does not wait for a quiet machine (SCHED_IDLE would).
        let daemon = try daemonWithV1(models: ["validation_timeout": "\"3s\"", "load_priority": "\"low\""])
        try daemon.start(environment: ["SENTIMENTD_TEST_VALIDATION_FAULT": "crash:crashes,allocate:allocates,hang:hangs"])
        let pid = daemon.pid
        let expected = [
            "crashes": "the validation process crashed (SIGSEGV)",
            "allocates": "address space",
            "hangs": "it made no progress for 3 s",
        ]
        for version in expected.keys.sorted() { try daemon.installModel(version: version) }
        for (version, cause) in expected.sorted(by: { $0.key < $1.key }) {
            try waitUntil("\(version) rejected", daemon) { try self.model(version, daemon)?.state == "rejected" }
            let reason = try XCTUnwrap(try model(version, daemon)?.reason)
            XCTAssertTrue(reason.contains(cause), "\(version): \(reason)")
            XCTAssertEqual(try daemon.client().call(PredictMethod.self, .init(texts: ["x"])).model, "v1")
        }
        XCTAssertEqual(daemon.pid, pid)
        try daemon.installModel(version: "v9")
        try waitUntil("v9 active", daemon) { try self.status(daemon).activeModel == "v9" }
        XCTAssertEqual(try daemon.stop(), 0)
    }

    /// A registry queue blocked in a load (here: held at a test hook, as a read on a hung file system would be):
    /// status says it is stuck, and WATCHDOG=1 stops, so systemd would restart the daemon; once it moves again, the
    /// pings come back.
    func testRegistryMakingNoProgress_stopsTheWatchdog_andStatusSaysSo() throws {
        let daemon = try daemonWithV1(models: ["validation_timeout": "\"2s\""])
        let (hook, paused) = daemon.pauseHook(at: "daemon:opened v2/model.safetensors")
        let listener = try NotifyListener(path: daemon.directory.path("notify.sock"))
        try daemon.start(environment: hook.merging(["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "4000000"]) { $1 })
        _ = try listener.wait(for: "READY=1")
        XCTAssertEqual(try status(daemon).registry?.state, "idle")
        try daemon.installModel(version: "v2")
        try waitForFile(paused, daemon)
        try waitUntil("the registry reported stuck", daemon, timeout: 60) { try self.status(daemon).registry?.state == "stuck" }
        let registry = try XCTUnwrap(try status(daemon).registry)
        XCTAssertEqual(registry.task, "looking at v2")
        XCTAssertGreaterThanOrEqual(registry.noProgressSeconds ?? 0, 2)
        // No ping for three beats in a row (pings come every second while healthy).
        let mark = listener.received.count
        Thread.sleep(forTimeInterval: 3)
        XCTAssertEqual(listener.received[mark...].filter { $0 == "WATCHDOG=1" }.count, 0, "the watchdog was pinged while stuck")
        XCTAssertEqual(try daemon.client().call(PredictMethod.self, .init(texts: ["x"])).model, "v1", "serving goes on")
        let printed = try runSentimentctl(["status"], socket: daemon.socketPath)
        XCTAssertTrue(printed.out.contains("model registry:") && printed.out.contains("stuck"), printed.out)

        try FileManager.default.removeItem(atPath: paused)
        try waitUntil("v2 active", daemon) { try self.status(daemon).activeModel == "v2" }
        let resumed = listener.received.count
        try waitUntil("pings again", daemon, timeout: 30) { listener.received[resumed...].contains("WATCHDOG=1") }
        XCTAssertEqual(try status(daemon).registry?.state, "idle")
        XCTAssertEqual(try daemon.stop(), 0)
    }
}
