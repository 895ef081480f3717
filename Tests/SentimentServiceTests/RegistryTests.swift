import Foundation
import SentimentEngine
import SentimentStore
import XCTest
@testable import SentimentService
import SentimentCore

/// The registry end to end: real inotify, real SQLite, the real model loader on copies of the tiny checkpoints.
final class RegistryTests: XCTestCase {
    private var harness: RegistryHarness!

    override func setUpWithError() throws {
        harness = try RegistryHarness()
    }

    override func tearDown() async throws {
        await harness?.shutdownAll()
        harness?.remove()
    }

    private func state(_ registry: ModelRegistry, _ version: String) -> ModelVersionInfo.State? {
        registry.list().first { $0.version == version }?.state
    }

    private func info(_ registry: ModelRegistry, _ version: String) -> ModelVersionInfo? {
        registry.list().first { $0.version == version }
    }

    /// The active model answers with a well-formed prediction.
    private func assertAnswers(_ registry: ModelRegistry, version: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let active = registry.active else {
            return XCTFail("no active model; versions: \(registry.list())", file: file, line: line)
        }
        XCTAssertEqual(active.version, version, "versions: \(registry.list())", file: file, line: line)
        let predictions = active.model.predict(["what a lovely day", "this is awful"])
        XCTAssertEqual(predictions.count, 2, file: file, line: line)
        for p in predictions {
            XCTAssertEqual(p.probabilities.reduce(0, +), 1, accuracy: 1e-4, file: file, line: line)
        }
    }

    // MARK: Start

    func testStart_withEmptyModelsDirectory_servesNothing() async throws {
        let registry = try harness.makeRegistry()
        try await registry.start()
        XCTAssertNil(registry.active)
        XCTAssertEqual(registry.list(), [])
        XCTAssertEqual(try harness.store().activations(), [])
    }

    func testStart_whenModelsDirectoryIsAFile_failsNamingIt() async throws {
        try FileManager.default.removeItem(at: harness.models)
        try Data("x".utf8).write(to: harness.models)
        let registry = try harness.makeRegistry()
        do {
            try await registry.start()
            XCTFail("started on a file")
        } catch let error as RegistryError {
            guard case let .modelsDirectoryUnavailable(path, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, harness.models.path)
        }
    }

    func testStart_firstStartUnderNewest_servesTheFolderFoundAsAnArrival() async throws {
        try harness.publish("v1")
        let registry = try harness.makeRegistry(policy: .newest)
        try await registry.start()
        assertAnswers(registry, version: "v1")
        let history = try harness.store().activations()
        XCTAssertEqual(history.map(\.version), ["v1"])
        XCTAssertEqual(history.map(\.reason), ["arrival"])
        XCTAssertEqual(history.first?.uid, UInt32(getuid()))
        let v1 = try XCTUnwrap(info(registry, "v1"))
        XCTAssertEqual(v1.state, .active)
        XCTAssertEqual(v1.family, "roberta")
        XCTAssertEqual(v1.labels, ["negative", "neutral", "positive"])
        XCTAssertNil(v1.manifestSHA256)
        XCTAssertNotNil(v1.lastActivatedAt)
    }

    func testStart_firstStartUnderManual_servesTheNewestValidFolderForReasonStartup() async throws {
        try harness.publish("a-bert", from: "tiny-bert")
        try harness.publish("b-broken", edit: CheckpointDamage.badConfig)
        let registry = try harness.makeRegistry(policy: .manual)
        try await registry.start()
        assertAnswers(registry, version: "a-bert")
        XCTAssertEqual(try harness.store().activations().map(\.reason), ["startup"])
        XCTAssertEqual(state(registry, "b-broken"), .rejected)
    }

    // MARK: Arrivals

    func testArrival_renamedIn_becomesActive_andTheOldModelIsFreedWhenTheLastHolderLetsGo() async throws {
        try harness.publish("v1")
        let registry = try harness.makeRegistry(policy: .newest)
        let activations = LoadCounter()
        registry.onActivation { activations.add($0) }
        try await registry.start()

        weak var oldModel: SentimentModel?
        do {
            let held = try XCTUnwrap(registry.active)  // what a batch in flight holds
            oldModel = held.model
            try harness.publish("v2", from: "tiny-bert")
            let swapped = await eventually { registry.active?.version == "v2" }
            XCTAssertTrue(swapped, "v2 was not activated")
            XCTAssertNotNil(oldModel, "a batch still holds v1")
            XCTAssertEqual(held.model.predict(["still answering"]).count, 1)
        }
        XCTAssertNil(oldModel, "v1 stayed in memory after the last holder let go")
        assertAnswers(registry, version: "v2")
        XCTAssertEqual(try harness.store().activations().map(\.version), ["v2", "v1"])
        XCTAssertEqual(activations.count("v1"), 1)
        // The handlers are told after the pointer swap: wait for them rather than race them.
        let told = await eventually { activations.count("v2") == 1 }
        XCTAssertTrue(told, "the activation handlers were not told about v2")
        XCTAssertEqual(state(registry, "v1"), .available)
    }

    func testArrival_underManual_isRecordedButNotActivated() async throws {
        try harness.publish("v1")
        let registry = try harness.makeRegistry(policy: .manual)
        try await registry.start()
        try harness.publish("v2")
        let recorded = await eventually { self.state(registry, "v2") == .available }
        XCTAssertTrue(recorded)
        assertAnswers(registry, version: "v1")
        XCTAssertEqual(try harness.store().activations().count, 1)
    }

    func testArrival_copiedInFileByFile_isValidatedOnceAfterItIsComplete() async throws {
        try harness.publish("v1")
        let registry = try harness.makeRegistry(policy: .newest, settleMilliseconds: 700)
        try await registry.start()

        // cp file by file, straight into models/ (no staging): the folder is incomplete for a while.
        let target = harness.folder("v2")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        for file in try RegistryFixture.files("tiny-roberta") {
            try FileManager.default.copyItem(at: file, to: target.appendingPathComponent(file.lastPathComponent))
            try await Task.sleep(nanoseconds: 60_000_000)  // far under the settle time
            XCTAssertEqual(registry.active?.version, "v1", "activated before the copy was complete")
        }
        let activated = await eventually { registry.active?.version == "v2" }
        XCTAssertTrue(activated)
        try await Task.sleep(nanoseconds: 1_000_000_000)  // a second arrival would show up here
        XCTAssertEqual(harness.loads.count("v2"), 1, "the folder was loaded more than once")
        XCTAssertEqual(try harness.store().activations().filter { $0.version == "v2" }.count, 1)
        XCTAssertEqual(state(registry, "v2"), .active)
        assertAnswers(registry, version: "v2")
    }

    func testArrival_corruptCheckpoints_areRejectedWithReasons_whileTheOldModelKeepsAnswering() async throws {
        try harness.publish("good")
        let registry = try harness.makeRegistry(policy: .newest)
        try await registry.start()
        let held = try XCTUnwrap(registry.active)

        let cases: [(String, String, (URL) throws -> Void, String)] = [
            ("truncated", "tiny-roberta", CheckpointDamage.truncateSafetensors, "model.safetensors"),
            ("wrong-shape", "tiny-roberta", CheckpointDamage.wrongClassifierShape, "classifier"),
            ("bad-config", "tiny-roberta", CheckpointDamage.badConfig, "hidden_size"),
            ("no-tokenizer", "tiny-roberta", CheckpointDamage.missingTokenizer, "merges.txt"),
            ("no-vocab", "tiny-bert", CheckpointDamage.missingTokenizer, "vocab.txt"),
            ("evil-pickle", "tiny-roberta", CheckpointDamage.maliciousPickle, "pytorch_model.bin"),
            ("nan-weights", "tiny-roberta", CheckpointDamage.nanClassifierBias, "classifier.out_proj.bias\" holds NaN"),
            ("nan-position", "tiny-roberta", CheckpointDamage.nanLastPosition, "position_embeddings.weight\" holds NaN"),
        ]
        for (version, fixture, damage, mention) in cases {
            try harness.publish(version, from: fixture, edit: damage)
            let rejected = await eventually { self.state(registry, version) == .rejected }
            XCTAssertTrue(rejected, "\(version) was not rejected: \(String(describing: info(registry, version)))")
            let reason = info(registry, version)?.reason ?? ""
            XCTAssertTrue(reason.contains(mention), "\(version): reason \"\(reason)\" does not mention \(mention)")
            XCTAssertEqual(try harness.store().version(version)?.reason, reason, "reason not kept in SQLite")
            assertAnswers(registry, version: "good")
            XCTAssertTrue(registry.active?.model === held.model, "the serving model was replaced")
            XCTAssertNil(registry.model(version: version), "a rejected version was served")
        }
        XCTAssertEqual(try harness.store().activations().map(\.version), ["good"])
    }

    func testArrival_withManifest_isVerified_andADigestMismatchIsRejected() async throws {
        let registry = try harness.makeRegistry(policy: .newest)
        try await registry.start()

        try harness.publish("signed") { try CheckpointManifest.write(into: $0, parent: nil, run: 1) }
        let accepted = await eventually { registry.active?.version == "signed" }
        XCTAssertTrue(accepted)
        let manifest = try Data(contentsOf: harness.folder("signed").appendingPathComponent("sentimentd.json"))
        XCTAssertEqual(info(registry, "signed")?.manifestSHA256, SHA256Hasher.hex(of: manifest))

        try harness.publish("tampered") { folder in
            try CheckpointManifest.write(into: folder)
            // Same size, one byte different: only the digest can tell.
            let url = folder.appendingPathComponent("vocab.json")
            var bytes = try Data(contentsOf: url)
            bytes[bytes.count / 2] ^= 0x01
            try bytes.write(to: url)
        }
        let rejected = await eventually { self.state(registry, "tampered") == .rejected }
        XCTAssertTrue(rejected)
        let reason = info(registry, "tampered")?.reason ?? ""
        XCTAssertTrue(reason.contains("vocab.json: SHA-256 is"), reason)
        XCTAssertEqual(harness.loads.count("tampered"), 0, "a folder failing its manifest must not be loaded")
        assertAnswers(registry, version: "signed")
    }

    func testChangedFiles_ofTheActiveVersion_failing_keepTheLoadedCopyServing() async throws {
        try harness.publish("v1")
        let registry = try harness.makeRegistry(policy: .newest)
        try await registry.start()
        let held = try XCTUnwrap(registry.active)

        try CheckpointDamage.badConfig(harness.folder("v1"))
        let rejected = await eventually { (try? self.harness.store().version("v1")?.status) == .rejected }
        XCTAssertTrue(rejected)
        XCTAssertTrue(registry.active?.model === held.model)
        assertAnswers(registry, version: "v1")
        let v1 = try XCTUnwrap(info(registry, "v1"))
        XCTAssertEqual(v1.state, .active)
        XCTAssertTrue(v1.reason?.contains("serving the copy loaded before") == true, v1.reason ?? "")
        XCTAssertTrue(v1.reason?.contains("hidden_size") == true, v1.reason ?? "")
    }

    func testChangedFiles_ofAnAvailableVersion_areANewArrival() async throws {
        try harness.publish("v1")
        try harness.publish("v2")
        let registry = try harness.makeRegistry(policy: .newest)
        try await registry.start()
        try await registry.activate(version: "v1", reason: .manual, byUID: 0)
        let loadsBefore = harness.loads.count("v2")

        // Rewrite one file of v2 in place (new mtime): v2 arrives again and, under newest, is served.
        let config = harness.folder("v2").appendingPathComponent("config.json")
        try Data(contentsOf: config).write(to: config)
        let reactivated = await eventually { registry.active?.version == "v2" }
        XCTAssertTrue(reactivated)
        XCTAssertEqual(harness.loads.count("v2"), loadsBefore + 1)
        XCTAssertEqual(try harness.store().activations().first?.reason, "arrival")
    }

    func testFolderRemoved_isMarkedRemoved_andTheActiveCopyKeepsServing() async throws {
        try harness.publish("v1")
        try harness.publish("v2")
        let registry = try harness.makeRegistry(policy: .manual)
        try await registry.start()
        let active = try XCTUnwrap(registry.active?.version)
        let other = active == "v1" ? "v2" : "v1"

        try FileManager.default.removeItem(at: harness.folder(other))
        let removed = await eventually { self.state(registry, other) == .removed }
        XCTAssertTrue(removed)
        do {
            try await registry.activate(version: other, reason: .manual, byUID: 0)
            XCTFail("activated a removed version")
        } catch let error as RegistryError {
            XCTAssertEqual(error, .removed(version: other))
        }

        try FileManager.default.removeItem(at: harness.folder(active))
        let activeRemoved = await eventually {
            (try? self.harness.store().version(active)?.status) == .removed
        }
        XCTAssertTrue(activeRemoved)
        assertAnswers(registry, version: active)
        XCTAssertTrue(info(registry, active)?.reason?.contains("removed") == true)
    }

    // MARK: Activation and rollback

    func testActivate_manual_recordsTheUID_andErrorsSayWhy() async throws {
        try harness.publish("v1")
        try harness.publish("v2")
        try harness.publish("bad", edit: CheckpointDamage.truncateSafetensors)
        let registry = try harness.makeRegistry(policy: .manual)
        try await registry.start()
        let other = registry.active?.version == "v1" ? "v2" : "v1"

        try await registry.activate(version: other, reason: .manual, byUID: 1234)
        assertAnswers(registry, version: other)
        let last = try XCTUnwrap(harness.store().latestActivation())
        XCTAssertEqual(last.version, other)
        XCTAssertEqual(last.reason, "manual")
        XCTAssertEqual(last.uid, 1234)

        // Activating what is active is a no-op, not a new history entry.
        try await registry.activate(version: other, reason: .manual, byUID: 1234)
        XCTAssertEqual(try harness.store().activations().count, 2)

        for (version, expected) in [("nope", RegistryError.unknownVersion("nope"))] {
            do {
                try await registry.activate(version: version, reason: .manual, byUID: 0)
                XCTFail("activated \(version)")
            } catch let error as RegistryError {
                XCTAssertEqual(error, expected)
            }
        }
        do {
            try await registry.activate(version: "bad", reason: .manual, byUID: 0)
            XCTFail("activated a rejected version")
        } catch let error as RegistryError {
            guard case let .rejected(version, reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(version, "bad")
            XCTAssertTrue(reason.contains("model.safetensors"), reason)
            XCTAssertTrue(error.description.contains("was rejected"))
        }
        assertAnswers(registry, version: other)
    }

    func testRollback_reactivatesThePrevious_andARescanDoesNotBringTheRolledBackOneBack() async throws {
        try harness.publish("v1")
        let registry = try harness.makeRegistry(policy: .newest)
        try await registry.start()
        try harness.publish("v2")
        let v2Active = await eventually { registry.active?.version == "v2" }
        XCTAssertTrue(v2Active)

        let now = try await registry.rollback(to: nil, byUID: 0)
        XCTAssertEqual(now, "v1")
        assertAnswers(registry, version: "v1")
        XCTAssertEqual(state(registry, "v2"), .rolledBack)
        XCTAssertNotNil(try harness.store().version("v2")?.rolledBackAt)
        let last = try XCTUnwrap(harness.store().latestActivation())
        XCTAssertEqual([last.version, last.reason], ["v1", "rollback"])
        XCTAssertEqual(last.uid, 0)

        await registry.rescan()
        XCTAssertEqual(registry.active?.version, "v1")
        // Even new files in the rolled-back version do not bring it back automatically.
        let config = harness.folder("v2").appendingPathComponent("config.json")
        try Data(contentsOf: config).write(to: config)
        await registry.rescan()
        XCTAssertEqual(registry.active?.version, "v1")
        XCTAssertEqual(state(registry, "v2"), .rolledBack)

        // An explicit activation clears the mark.
        try await registry.activate(version: "v2", reason: .manual, byUID: 0)
        XCTAssertEqual(state(registry, "v2"), .active)
        XCTAssertNil(try harness.store().version("v2")?.rolledBackAt)
    }

    func testRollback_repeated_walksBackThroughTheHistory_thenSaysThereIsNothingLeft() async throws {
        try harness.publish("v1")
        let registry = try harness.makeRegistry(policy: .newest)
        try await registry.start()
        for version in ["v2", "v3"] {
            try harness.publish(version)
            let active = await eventually { registry.active?.version == version }
            XCTAssertTrue(active)
        }
        let first = try await registry.rollback(to: nil, byUID: 0)
        XCTAssertEqual(first, "v2")
        let second = try await registry.rollback(to: nil, byUID: 0)
        XCTAssertEqual(second, "v1")
        do {
            _ = try await registry.rollback(to: nil, byUID: 0)
            XCTFail("rolled back past the first version")
        } catch let error as RegistryError {
            guard case let .nothingToRollBackTo(reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("rolled back"), reason)
        }
        assertAnswers(registry, version: "v1")
        XCTAssertEqual(Set(registry.list().filter { $0.state == .rolledBack }.map(\.version)), ["v2", "v3"])
    }

    func testRollback_withOneVersionOrNone_explainsWhy() async throws {
        let empty = try harness.makeRegistry()
        try await empty.start()
        do {
            _ = try await empty.rollback(to: nil, byUID: 0)
            XCTFail("rolled back with nothing active")
        } catch let error as RegistryError {
            XCTAssertEqual(error, .nothingToRollBackTo(reason: "no version is active"))
        }
        try harness.publish("only")
        let active = await eventually { empty.active?.version == "only" }
        XCTAssertTrue(active)
        do {
            _ = try await empty.rollback(to: nil, byUID: 0)
            XCTFail("rolled back with one version")
        } catch let error as RegistryError {
            XCTAssertEqual(error, .nothingToRollBackTo(reason: "\"only\" is the only version ever activated"))
        }
    }

    func testRollbackTo_picksTheVersion_andRefusesUnknownRejectedOrActiveOnes() async throws {
        try harness.publish("v1")
        try harness.publish("v2")
        try harness.publish("bad", edit: CheckpointDamage.badConfig)
        try harness.publish("v3")
        let registry = try harness.makeRegistry(policy: .manual)
        try await registry.start()
        try await registry.activate(version: "v3", reason: .manual, byUID: 0)

        let now = try await registry.rollback(to: "v1", byUID: 42)
        XCTAssertEqual(now, "v1")
        assertAnswers(registry, version: "v1")
        XCTAssertEqual(state(registry, "v3"), .rolledBack)
        XCTAssertEqual(try harness.store().latestActivation()?.uid, 42)

        let failures: [(String, (RegistryError) -> Bool)] = [
            ("ghost", { $0 == .unknownVersion("ghost") }),
            ("bad", { if case .rejected(version: "bad", _) = $0 { return true } else { return false } }),
            ("v1", { $0 == .alreadyActive(version: "v1") }),
        ]
        for (target, matches) in failures {
            do {
                _ = try await registry.rollback(to: target, byUID: 0)
                XCTFail("rolled back to \(target)")
            } catch let error as RegistryError {
                XCTAssertTrue(matches(error), "\(target): \(error)")
            }
        }
        // Rolling back to a rolled-back version is an explicit choice: allowed, and it clears the mark.
        let again = try await registry.rollback(to: "v3", byUID: 0)
        XCTAssertEqual(again, "v3")
        XCTAssertEqual(state(registry, "v3"), .active)
        XCTAssertEqual(state(registry, "v1"), .rolledBack)
    }

    // MARK: Restart

    func testRestart_servesTheSameVersion_withoutANewActivation() async throws {
        try harness.publish("v1")
        try harness.publish("v2")
        do {
            let registry = try harness.makeRegistry(policy: .newest)
            try await registry.start()
            try await registry.activate(version: "v1", reason: .manual, byUID: 0)
            await registry.shutdown()
        }
        let historyBefore = try harness.store().activations()
        let loadsBefore = harness.loads.count("v2")

        let restarted = try harness.makeRegistry(policy: .newest)
        try await restarted.start()
        assertAnswers(restarted, version: "v1")
        XCTAssertEqual(try harness.store().activations(), historyBefore)
        XCTAssertEqual(harness.loads.count("v2"), loadsBefore, "an unchanged version was validated again")
        XCTAssertEqual(state(restarted, "v2"), .available)
    }

    func testRestart_afterARollback_keepsTheRolledBackVersionOff() async throws {
        try harness.publish("v1")
        do {
            let registry = try harness.makeRegistry(policy: .newest)
            try await registry.start()
            try harness.publish("v2")
            let active = await eventually { registry.active?.version == "v2" }
            XCTAssertTrue(active)
            _ = try await registry.rollback(to: nil, byUID: 0)
            await registry.shutdown()
        }
        let restarted = try harness.makeRegistry(policy: .newest)
        try await restarted.start()
        assertAnswers(restarted, version: "v1")
        XCTAssertEqual(state(restarted, "v2"), .rolledBack)
    }

    func testRestart_whenTheActiveFolderIsGone_servesTheNewestValidVersion() async throws {
        try harness.publish("v1")
        try harness.publish("v2")
        do {
            let registry = try harness.makeRegistry(policy: .manual)
            try await registry.start()
            try await registry.activate(version: "v1", reason: .manual, byUID: 0)
            try await registry.activate(version: "v2", reason: .manual, byUID: 0)
            await registry.shutdown()
        }
        try FileManager.default.removeItem(at: harness.folder("v2"))
        try harness.publish("v3", edit: CheckpointDamage.truncateSafetensors)  // arrived while down, and broken

        let restarted = try harness.makeRegistry(policy: .newest)
        try await restarted.start()
        assertAnswers(restarted, version: "v1")
        XCTAssertEqual(state(restarted, "v2"), .removed)
        XCTAssertEqual(state(restarted, "v3"), .rejected)
        let last = try XCTUnwrap(harness.store().latestActivation())
        XCTAssertEqual([last.version, last.reason], ["v1", "startup"])
    }

    func testRestart_underNewest_aVersionThatArrivedWhileDownWins() async throws {
        try harness.publish("v1")
        do {
            let registry = try harness.makeRegistry(policy: .newest)
            try await registry.start()
            await registry.shutdown()
        }
        try harness.publish("v2", from: "tiny-bert")
        let restarted = try harness.makeRegistry(policy: .newest)
        try await restarted.start()
        assertAnswers(restarted, version: "v2")
        XCTAssertEqual(try harness.store().latestActivation()?.reason, "arrival")
    }

    // MARK: Other versions

    func testModelForVersion_loadsOnDemandOnce_andNeverServesRejectedOnes() async throws {
        try harness.publish("v1")
        try harness.publish("v2", from: "tiny-bert")
        try harness.publish("bad", edit: CheckpointDamage.missingTokenizer)
        let registry = try harness.makeRegistry(policy: .manual)
        try await registry.start()
        try await registry.activate(version: "v1", reason: .manual, byUID: 0)
        let loadsBefore = harness.loads.count("v2")

        let v2 = try XCTUnwrap(registry.model(version: "v2"))
        XCTAssertEqual(v2.version, "v2")
        XCTAssertEqual(v2.model.config.family, .bert)
        XCTAssertTrue(registry.model(version: "v2")?.model === v2.model, "loaded again")
        XCTAssertEqual(harness.loads.count("v2"), loadsBefore + 1)
        XCTAssertTrue(registry.model(version: "v1")?.model === registry.active?.model)
        XCTAssertNil(registry.model(version: "bad"))
        XCTAssertNil(registry.model(version: "ghost"))
        assertAnswers(registry, version: "v1")

        // Activating the version loaded on demand reuses that copy.
        try await registry.activate(version: "v2", reason: .manual, byUID: 0)
        XCTAssertTrue(registry.active?.model === v2.model)
    }

    func testLoadModel_loadsOnTheRegistryQueue_andLoadedModelNeverLoads() async throws {
        try harness.publish("v1")
        try harness.publish("v2", from: "tiny-bert")
        try harness.publish("bad", edit: CheckpointDamage.badConfig)
        let registry = try harness.makeRegistry(policy: .manual)
        try await registry.start()
        try await registry.activate(version: "v1", reason: .manual, byUID: 0)
        let loadsBefore = harness.loads.count("v2")

        XCTAssertNil(registry.loadedModel(version: "v2"), "not in memory yet")
        XCTAssertEqual(harness.loads.count("v2"), loadsBefore, "loadedModel must never load")
        let v2 = try await registry.loadModel(version: "v2")
        XCTAssertEqual(v2.model.config.family, .bert)
        XCTAssertTrue(registry.loadedModel(version: "v2")?.model === v2.model)
        XCTAssertTrue(registry.loadedModel(version: "v1")?.model === registry.active?.model)
        let again = try await registry.loadModel(version: "v2")
        XCTAssertTrue(again.model === v2.model)
        XCTAssertEqual(harness.loads.count("v2"), loadsBefore + 1)

        do {
            _ = try await registry.loadModel(version: "ghost")
            XCTFail("loaded an unknown version")
        } catch let error as RegistryError {
            XCTAssertEqual(error, .unknownVersion("ghost"))
        }
        do {
            _ = try await registry.loadModel(version: "bad")
            XCTFail("loaded a rejected version")
        } catch let error as RegistryError {
            guard case .rejected(version: "bad", _) = error else { return XCTFail("\(error)") }
        }
        assertAnswers(registry, version: "v1")
    }

    func testLifecycle_startTwice_andActBeforeStart_fail() async throws {
        let registry = try harness.makeRegistry()
        do {
            try await registry.activate(version: "v1", reason: .manual, byUID: 0)
            XCTFail("activated before start")
        } catch let error as RegistryError {
            XCTAssertEqual(error, .notStarted)
        }
        try await registry.start()
        do {
            try await registry.start()
            XCTFail("started twice")
        } catch let error as RegistryError {
            XCTAssertEqual(error, .alreadyStarted)
        }
    }
}
