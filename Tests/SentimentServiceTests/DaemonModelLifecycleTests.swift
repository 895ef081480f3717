import Foundation
import SentimentProtocol
@testable import SentimentService
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The real daemon while models come and go: file-by-file arrival, corrupt checkpoints, hot reloads and rollbacks
/// under load, restart.
final class DaemonModelLifecycleTests: XCTestCase {
    private func status(_ daemon: DaemonProcess) throws -> StatusMethod.Result {
        try daemon.client(timeout: 10).call(StatusMethod.self, NoParams())
    }

    private func waitForActive(_ version: String, _ daemon: DaemonProcess, timeout: TimeInterval = 30) throws {
        try daemon.waitForActive(version, timeout: timeout)
    }

    private func summary(_ version: String, _ daemon: DaemonProcess) throws -> ModelVersionSummary? {
        try daemon.client(timeout: 10).call(ModelsListMethod.self, NoParams()).models.first { $0.version == version }
    }

    func testCheckpointCopiedInFileByFile_isPickedUpOnceWhenComplete() throws {
        let source = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess(models: ["settle_ms": "600"])
        try daemon.installModel(version: "v1")
        let listener = try NotifyListener(path: daemon.directory.path("notify.sock"))
        try daemon.start(environment: ["NOTIFY_SOCKET": listener.path])
        let target = daemon.modelsDirectory.appendingPathComponent("v2")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        let files = try FileManager.default.contentsOfDirectory(atPath: source.path)
            .filter { TestPaths.checkpointFiles.contains($0) }.sorted()
        for name in files {
            // Copied in place, in pieces, slower than nothing but faster than settle_ms.
            let data = try Data(contentsOf: source.appendingPathComponent(name))
            let handle = try FileHandle(forWritingTo: { () -> URL in
                let url = target.appendingPathComponent(name)
                _ = FileManager.default.createFile(atPath: url.path, contents: nil)
                return url
            }())
            let half = data.count / 2
            try handle.write(contentsOf: data.prefix(half))
            usleep(150_000)
            try handle.write(contentsOf: data.suffix(from: half))
            try handle.close()
            XCTAssertEqual(try status(daemon).activeModel, "v1", "activated before \(name) was complete")
            usleep(150_000)
        }
        try waitForActive("v2", daemon)
        XCTAssertEqual(try daemon.client().call(PredictMethod.self, .init(texts: ["now v2"])).model, "v2")
        Thread.sleep(forTimeInterval: 1.5)
        let v2Statuses = listener.received.filter { $0.contains("STATUS=serving model v2") }
        XCTAssertEqual(v2Statuses.count, 1, "v2 activated once: \(listener.received)")
        XCTAssertEqual(try summary("v2", daemon)?.state, "active")
        XCTAssertEqual(try daemon.stop(), 0)
    }

    func testCorruptCheckpoints_areRejectedWithAReasonWhileTheOldModelKeepsAnswering() throws {
        let source = try TestPaths.requireTinyRoberta()
        let checkpointFixtures = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/checkpoint")
        let daemon = try DaemonProcess(models: ["settle_ms": "200"])
        try daemon.installModel(version: "v1")
        try daemon.start()
        let fm = FileManager.default

        /// Builds a broken copy in a staging folder and renames it in, as a publisher would.
        func publish(_ version: String, _ breakIt: (URL) throws -> Void) throws {
            let staging = daemon.modelsDirectory.appendingPathComponent(".staging-\(version)")
            try fm.createDirectory(at: staging, withIntermediateDirectories: true)
            for name in try fm.contentsOfDirectory(atPath: source.path) where TestPaths.checkpointFiles.contains(name) {
                try fm.copyItem(at: source.appendingPathComponent(name), to: staging.appendingPathComponent(name))
            }
            try breakIt(staging)
            try fm.moveItem(at: staging, to: daemon.modelsDirectory.appendingPathComponent(version))
        }

        try publish("truncated") { dir in
            let url = dir.appendingPathComponent("model.safetensors")
            let data = try Data(contentsOf: url)
            try data.prefix(data.count / 2).write(to: url)
        }
        try publish("wrong-shape") { dir in
            let url = dir.appendingPathComponent("config.json")
            let text = try String(contentsOf: url, encoding: .utf8)
            try text.replacingOccurrences(of: "\"intermediate_size\": 64", with: "\"intermediate_size\": 48")
                .write(to: url, atomically: false, encoding: .utf8)
        }
        try publish("bad-config") { dir in
            try "{ this is not json".write(to: dir.appendingPathComponent("config.json"), atomically: false, encoding: .utf8)
        }
        try publish("no-tokenizer") { dir in
            try fm.removeItem(at: dir.appendingPathComponent("vocab.json"))
        }
        let evil = checkpointFixtures.appendingPathComponent("evil_os_system.bin")
        if fm.fileExists(atPath: evil.path) {
            try publish("malicious-pickle") { dir in
                try fm.removeItem(at: dir.appendingPathComponent("model.safetensors"))
                try fm.copyItem(at: evil, to: dir.appendingPathComponent("pytorch_model.bin"))
            }
        }
        let broken = ["truncated", "wrong-shape", "bad-config", "no-tokenizer"]
            + (fm.fileExists(atPath: evil.path) ? ["malicious-pickle"] : [])
        let client = try daemon.client()
        let deadline = Date().addingTimeInterval(30)
        var pending = Set(broken)
        while !pending.isEmpty && Date() < deadline {
            // The old model answers throughout.
            XCTAssertEqual(try client.call(PredictMethod.self, .init(texts: ["still here"])).model, "v1")
            let list = try client.call(ModelsListMethod.self, NoParams())
            for m in list.models where pending.contains(m.version) && m.state == "rejected" {
                XCTAssertFalse((m.reason ?? "").isEmpty, "\(m.version) rejected without a reason")
                pending.remove(m.version)
            }
            usleep(50_000)
        }
        XCTAssertEqual(pending, [], "not rejected in time: \(pending); stderr:\n\(daemon.stderr)")
        XCTAssertEqual(try status(daemon).activeModel, "v1")
        for version in broken {
            XCTAssertThrowsError(try client.call(ModelsActivateMethod.self, .init(version: version)), version)
            XCTAssertThrowsError(try client.call(PredictMethod.self, .init(texts: ["x"], model: version)), version)
        }
        XCTAssertEqual(try daemon.stop(), 0)
    }

    func testContinuousLoad_throughTenHotReloadsAndThreeRollbacks_noRequestFails() throws {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess(batching: ["max_batch": "8", "max_delay_ms": "1"], models: ["settle_ms": "100"])
        try daemon.installModel(version: "v01")
        try daemon.start()
        let stop = LockedBox(false)
        let failures = LockedBox<[String]>([])
        let answered = LockedBox<[String: Int]>([:])
        let loadGroup = DispatchGroup()
        for client in 0..<4 {
            loadGroup.enter()
            Thread.detachNewThread {
                defer { loadGroup.leave() }
                do {
                    let c = try daemon.client()
                    var i = 0
                    // Bounded: stops when told, or after 20,000 requests at most.
                    while !stop.value && i < 20_000 {
                        i += 1
                        do {
                            let r = try c.call(PredictMethod.self, .init(texts: ["load \(client) \(i)", "second text"]))
                            if r.predictions.count != 2 { failures.withLock { $0.append("short answer") } }
                            answered.withLock { $0[r.model, default: 0] += 1 }
                        } catch {
                            failures.withLock { $0.append("client \(client) request \(i): \(error)") }
                        }
                    }
                } catch {
                    failures.withLock { $0.append("client \(client) could not connect: \(error)") }
                }
            }
        }
        var activated = ["v01"]
        for n in 2...11 {
            let version = String(format: "v%02d", n)
            try daemon.installModel(version: version)
            try waitForActive(version, daemon)
            activated.append(version)
        }
        let admin = try daemon.client()
        var rolledBackTo: [String] = []
        for _ in 0..<3 {
            let before = try status(daemon).activeModel
            let result = try admin.call(RollbackMethod.self, .init())
            XCTAssertEqual(result.previous, before)
            XCTAssertNotEqual(result.active, before)
            XCTAssertEqual(try status(daemon).activeModel, result.active)
            rolledBackTo.append(result.active)
            usleep(200_000)
        }
        // A rescan does not bring a rolled-back version back.
        _ = try admin.call(ReloadMethod.self, NoParams())
        XCTAssertEqual(try status(daemon).activeModel, rolledBackTo.last)
        stop.value = true
        XCTAssertEqual(loadGroup.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(failures.value, [], "requests failed during reloads")
        let total = answered.value.values.reduce(0, +)
        XCTAssertGreaterThan(total, 100)
        XCTAssertGreaterThanOrEqual(answered.value.keys.count, 3, "answers came from several versions: \(answered.value)")
        XCTAssertTrue(Set(answered.value.keys).isSubset(of: Set(activated)))
        XCTAssertEqual(try daemon.stop(), 0)
    }

    func testRestart_servesTheSameVersion() throws {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess(models: ["settle_ms": "100"])
        try daemon.installModel(version: "a")
        try daemon.installModel(version: "b")
        try daemon.start()
        let first = try XCTUnwrap(try status(daemon).activeModel)
        let other = first == "a" ? "b" : "a"
        XCTAssertEqual(try daemon.client().call(ModelsActivateMethod.self, .init(version: other)).active, other)
        XCTAssertEqual(try daemon.stop(), 0)
        try daemon.start()
        XCTAssertEqual(try status(daemon).activeModel, other, "a restart serves the version that was active")
        XCTAssertEqual(try daemon.client().call(PredictMethod.self, .init(texts: ["x"])).model, other)
        XCTAssertEqual(try daemon.stop(), 0)
    }

    func testSentimentModelVariable_outsideTheModelsDirectoryIsPinned() throws {
        let source = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess()
        try daemon.installModel(version: "registered")
        let outside = daemon.directory.url.appendingPathComponent("elsewhere")
        try TestPaths.installModel(from: source, into: daemon.directory.url.appendingPathComponent("x"), version: "pinned")
        try FileManager.default.moveItem(at: daemon.directory.url.appendingPathComponent("x/pinned"), to: outside)
        try daemon.start(environment: ["SENTIMENT_MODEL": outside.path])
        XCTAssertEqual(try status(daemon).activeModel, "elsewhere")
        XCTAssertEqual(try daemon.client().call(PredictMethod.self, .init(texts: ["x"])).model, "elsewhere")
        // Activating a registry version ends the pin.
        XCTAssertEqual(try daemon.client().call(ModelsActivateMethod.self, .init(version: "registered")).active, "registered")
        XCTAssertEqual(try daemon.client().call(PredictMethod.self, .init(texts: ["x"])).model, "registered")
        XCTAssertEqual(try daemon.stop(), 0)

        // A version name in the models directory is activated (and recorded).
        try daemon.installModel(version: "second")
        try daemon.start(environment: ["SENTIMENT_MODEL": "registered"])
        XCTAssertEqual(try status(daemon).activeModel, "registered")
        XCTAssertEqual(try daemon.stop(), 0)
    }
}
