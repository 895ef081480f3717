import Foundation
import SentimentCore
import SentimentProtocol
@testable import SentimentService
import SentimentStore
import SentimentTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Versions prune themselves, with the real daemon and the real sentimentctl: training runs' versions beyond
/// `models.keep` go, the active version, its rollback target, pinned versions and a base an adapter needs stay;
/// the disk use shown is what `du` says; `models rm` / `pin` / `unpin`; a folder that stays rejected moves to
/// `.quarantine/`, and removals never leave half a folder.
///
/// The runs' versions here are what a training run publishes, made without training: the tiny RoBERTa with a
/// `sentimentd.json` manifest naming the run (how the daemon tells a run's version from a folder copied in).
final class RetentionTests: XCTestCase {
    private func makeDaemon(keep: Int, quarantineAfter: String = "1h") throws -> DaemonProcess {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess()
        daemon.extraTables = ["training": ["enabled": "false"]]
        try daemon.writeConfig(models: ["keep": "\(keep)", "quarantine_after": "\"\(quarantineAfter)\""])
        return daemon
    }

    /// Publishes `version` as run `run` would: staging, manifest naming the run, one rename.
    private func publishRun(_ daemon: DaemonProcess, run: Int, version: String) throws {
        let staging = daemon.modelsDirectory.appendingPathComponent(".staging-\(version)")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: TestPaths.tinyRoberta.path)
        where TestPaths.checkpointFiles.contains(name) {
            try FileManager.default.copyItem(at: TestPaths.tinyRoberta.appendingPathComponent(name),
                                            to: staging.appendingPathComponent(name))
        }
        _ = try CheckpointManifest.write(into: staging, parent: nil, run: run)
        try FileManager.default.moveItem(at: staging, to: daemon.modelsDirectory.appendingPathComponent(version))
    }

    /// An adapter folder (copied in, no manifest) over `base`, a version of the models directory.
    private func copyAdapter(_ daemon: DaemonProcess, as name: String, base: String) throws {
        let source = TestFixtures.root.appendingPathComponent("lora/tiny-roberta/adapter")
        let staging = daemon.modelsDirectory.appendingPathComponent(".staging-\(name)")
        try FileManager.default.copyItem(at: source, to: staging)
        let url = staging.appendingPathComponent("adapter_config.json")
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        json["base_model_name_or_path"] = base
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        try FileManager.default.moveItem(at: staging, to: daemon.modelsDirectory.appendingPathComponent(name))
    }

    private func models(_ daemon: DaemonProcess) throws -> ModelsListMethod.Result {
        let r = try runSentimentctl(["models", "--json"], socket: daemon.socketPath)
        XCTAssertEqual(r.status, 0, r.err)
        return try RPCCoding.decoder().decode(ModelsListMethod.Result.self, from: Data(r.out.utf8))
    }

    private func present(_ daemon: DaemonProcess) throws -> Set<String> {
        Set(try CheckpointFolder.versionNames(in: daemon.modelsDirectory))
    }

    private func waitFor(_ what: String, timeout: TimeInterval = 60, _ condition: () throws -> Bool) throws {
        try pollUntil(what, timeout: timeout, condition)
    }

    private func waitForActive(_ daemon: DaemonProcess, _ version: String) throws {
        try daemon.waitForActive(version)
    }

    /// `du -sB1` of a folder.
    private func du(_ url: URL) throws -> Int64 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/du")
        p.arguments = ["-sB1", url.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return try XCTUnwrap(Int64(String(decoding: data, as: UTF8.self).split(separator: "\t").first ?? ""))
    }

    func testKeep_removesOldRunVersions_butNeverTheActiveItsRollbackTargetPinnedOrAnAdaptersBase() throws {
        let daemon = try makeDaemon(keep: 10)
        try daemon.start()
        // Arrivals, each activated (activate = newest): runs 1-3, an adapter over run 1, a folder copied in, runs 4-5.
        for (run, version) in [(1, "run-1"), (2, "run-2"), (3, "run-3")] {
            try publishRun(daemon, run: run, version: version)
            try waitForActive(daemon, version)
        }
        try copyAdapter(daemon, as: "adapter-a", base: "run-1")
        try waitForActive(daemon, "adapter-a")
        try daemon.installModel(version: "hand")
        try waitForActive(daemon, "hand")
        for (run, version) in [(4, "run-4"), (5, "run-5")] {
            try publishRun(daemon, run: run, version: version)
            try waitForActive(daemon, version)
        }
        XCTAssertEqual(try present(daemon), ["run-1", "run-2", "run-3", "run-4", "run-5", "adapter-a", "hand"])
        let pinned = try runSentimentctl(["models", "pin", "run-2", "--note", "the one in the paper"], socket: daemon.socketPath)
        XCTAssertEqual(pinned.status, 0, pinned.err)

        // The listing: disk use as du counts it, and why each version is kept.
        var listing = try models(daemon)
        XCTAssertEqual(listing.keep, 10)
        for m in listing.models where m.state != "removed" {
            XCTAssertEqual(m.diskBytes, try du(daemon.modelsDirectory.appendingPathComponent(m.version)), "\(m.version)")
        }
        XCTAssertEqual(listing.diskBytes, listing.models.compactMap(\.diskBytes).reduce(0, +))
        func kept(_ version: String) -> [String] { listing.models.first { $0.version == version }?.retention ?? [] }
        XCTAssertTrue(kept("run-5").contains("active"), "\(kept("run-5"))")
        XCTAssertTrue(kept("run-4").contains("rollback target"), "\(kept("run-4"))")
        XCTAssertTrue(kept("run-2").contains("pinned"), "\(kept("run-2"))")
        XCTAssertTrue(kept("run-1").contains("base of adapter adapter-a"), "\(kept("run-1"))")
        XCTAssertEqual(kept("hand"), ["copied in (only models rm removes it)"])
        XCTAssertEqual(listing.models.first { $0.version == "run-3" }?.run, 3)
        let text = try runSentimentctl(["models"], socket: daemon.socketPath)
        XCTAssertTrue(text.out.contains("in version folders; training runs' versions kept: the newest 10"), text.out)

        // keep = 1: only run 3 goes (5 is the newest and active, 4 the rollback target, 2 pinned, 1 a base).
        try daemon.writeConfig(models: ["keep": "1", "quarantine_after": "\"1h\""])
        let reloaded = try runSentimentctl(["reload"], socket: daemon.socketPath)
        XCTAssertEqual(reloaded.status, 0, reloaded.err)
        try waitFor("run-3 to be removed") { try self.present(daemon) == ["run-1", "run-2", "run-4", "run-5", "adapter-a", "hand"] }
        listing = try models(daemon)
        let run3 = try XCTUnwrap(listing.models.first { $0.version == "run-3" })
        XCTAssertEqual(run3.state, "removed")
        XCTAssertTrue(run3.reason?.contains("beyond the newest 1 (models.keep)") == true, "\(run3)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: daemon.modelsDirectory.appendingPathComponent(".trash").path), [],
                       "the removed folder was not deleted")
        XCTAssertEqual(try daemon.client().call(StatusMethod.self, NoParams()).activeModel, "run-5")

        // models rm: never the active version or a pinned one; a rollback target when an admin says so.
        let active = try runSentimentctl(["models", "rm", "run-5"], socket: daemon.socketPath)
        XCTAssertEqual(active.status, 1, "\(active)")
        XCTAssertTrue(active.err.contains("cannot remove model version \"run-5\": it is being served"), active.err)
        let pin = try runSentimentctl(["models", "rm", "run-2"], socket: daemon.socketPath)
        XCTAssertEqual(pin.status, 1, "\(pin)")
        XCTAssertTrue(pin.err.contains("it is pinned (sentimentctl models unpin run-2 first)"), pin.err)
        let base = try runSentimentctl(["models", "rm", "run-1"], socket: daemon.socketPath)
        XCTAssertEqual(base.status, 1, "\(base)")
        XCTAssertTrue(base.err.contains("base of adapter adapter-a"), base.err)
        let target = try runSentimentctl(["models", "rm", "run-4"], socket: daemon.socketPath)
        XCTAssertEqual(target.status, 0, target.err)
        XCTAssertTrue(target.out.contains("removed run-4:") && target.out.contains("(it was the rollback target)"), target.out)
        XCTAssertEqual(try runSentimentctl(["models", "rm", "no-such"], socket: daemon.socketPath).status, 1)
        // The adapter goes, so its base is a run's version beyond keep = 1: retention removes it too.
        XCTAssertEqual(try runSentimentctl(["models", "rm", "adapter-a"], socket: daemon.socketPath).status, 0)
        try waitFor("run-1 to be pruned once no adapter needs it") { try self.present(daemon) == ["run-2", "run-5", "hand"] }
        // Unpinned, run 2 goes as well; a folder copied in stays.
        XCTAssertEqual(try runSentimentctl(["models", "unpin", "run-2"], socket: daemon.socketPath).status, 0)
        try waitFor("run-2 to be pruned once unpinned") { try self.present(daemon) == ["run-5", "hand"] }
        XCTAssertEqual(try daemon.client().call(StatusMethod.self, NoParams()).activeModel, "run-5")

        XCTAssertEqual(try daemon.stop(), 0)
        let removals = try VersionStore(path: URL(fileURLWithPath: daemon.directory.path("state.sqlite"))).removals()
        XCTAssertEqual(Set(removals.map(\.version)), ["run-1", "run-2", "run-3", "run-4", "adapter-a"])
        XCTAssertEqual(removals.first { $0.version == "run-4" }?.action, .removed)
        XCTAssertEqual(removals.first { $0.version == "run-3" }?.action, .pruned)
        XCTAssertTrue(removals.allSatisfy { $0.bytes > 0 })
    }

    func testRejectedFolder_movesToQuarantine_andLeftoversOfARemovalAreDeletedAtStart() throws {
        let daemon = try makeDaemon(keep: 3, quarantineAfter: "1s")
        // What a crash between a removal's rename and its delete leaves.
        let leftover = daemon.modelsDirectory.appendingPathComponent(".trash/run-9")
        try FileManager.default.createDirectory(at: leftover, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: leftover.appendingPathComponent("model.safetensors"))
        try daemon.installModel(version: "v1")
        try daemon.start()
        try waitFor(".trash to be emptied") {
            try FileManager.default.contentsOfDirectory(atPath: daemon.modelsDirectory.appendingPathComponent(".trash").path).isEmpty
        }

        // A folder that cannot be served: config.json only.
        let broken = daemon.modelsDirectory.appendingPathComponent(".staging-broken")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: TestPaths.tinyRoberta.appendingPathComponent("config.json"),
                                        to: broken.appendingPathComponent("config.json"))
        try FileManager.default.moveItem(at: broken, to: daemon.modelsDirectory.appendingPathComponent("broken"))
        let quarantined = daemon.modelsDirectory.appendingPathComponent(".quarantine/broken")
        try waitFor("the rejected folder to move to .quarantine") { FileManager.default.fileExists(atPath: quarantined.path) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: daemon.modelsDirectory.appendingPathComponent("broken").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: quarantined.appendingPathComponent("config.json").path),
                      "the quarantined folder lost its files")
        let listing = try models(daemon)
        let entry = try XCTUnwrap(listing.models.first { $0.version == "broken" })
        XCTAssertEqual(entry.state, "removed")
        XCTAssertTrue(entry.reason?.hasPrefix("moved to .quarantine/broken after staying rejected for 1s:") == true,
                      entry.reason ?? "")
        XCTAssertEqual(listing.quarantineBytes, try du(daemon.modelsDirectory.appendingPathComponent(".quarantine")))
        XCTAssertEqual(try daemon.client().call(StatusMethod.self, NoParams()).activeModel, "v1")
        XCTAssertEqual(try daemon.stop(), 0)
    }
}
