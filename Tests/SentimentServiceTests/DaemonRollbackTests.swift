import Foundation
import GRDB
import SentimentCore
import SentimentProtocol
import SentimentStore
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Rollback wins over a training run, and a rollback is recorded whole or not at all, with the real daemon and its
/// real training worker.
final class DaemonRollbackTests: XCTestCase {
    /// v1 then v2 (served), training allowed to publish anything (gate_tolerance 1).
    private func makeDaemon() throws -> DaemonProcess {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess()
        daemon.extraTables = ["training": [
            "enabled": "false", "min_eval_labels": "10", "epochs": "100", "batch_size": "16", "learning_rate": "0.001",
            "max_length": "24", "gate_tolerance": "1.0", "nice": "5",
        ]]
        try daemon.writeConfig()
        try daemon.installModel(version: "v1")
        try daemon.start()
        try daemon.installModel(version: "v2")
        try daemon.waitForActive("v2")
        return daemon
    }

    private func waitForRun(_ daemon: DaemonProcess, id: Int64, until done: (RunSummary) -> Bool) throws -> RunSummary {
        try daemon.waitForRun(id: id, timeout: 600, until: done)
    }

    private func published(_ daemon: DaemonProcess, run: Int64) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: daemon.modelsDirectory.path).filter { $0.hasPrefix("run-\(run)-") }
    }

    /// The case: a rollback during a run. The run started from v2; the admin rolls back to v1 while it
    /// trains. The run must not publish a child of v2: it is cancelled, nothing of it reaches models/, v1 serves.
    func testRollbackDuringARun_cancelsTheRun_andItsChildNeverServes() throws {
        let daemon = try makeDaemon()
        _ = try daemon.call(LabelsAddMethod.self, .init(items: DaemonTrainingTests.examples(count: 400, tag: "rb")))
        let run = try daemon.call(TrainMethod.self, .init())
        _ = try waitForRun(daemon, id: run.id) { ($0.step ?? 0) > 0 }
        XCTAssertEqual(try daemon.call(RunsShowMethod.self, .init(id: run.id)).run.baseVersion, "v2")
        let back = try daemon.call(RollbackMethod.self, .init())
        XCTAssertEqual(back.active, "v1")

        let ended = try waitForRun(daemon, id: run.id) { $0.isFinished }
        XCTAssertEqual(ended.status, "cancelled", "\(ended)")
        XCTAssertTrue(ended.reason?.contains("no longer serves") ?? false, ended.reason ?? "")
        XCTAssertEqual(try published(daemon, run: run.id), [], "the run published a child of the rolled-back version")
        XCTAssertEqual(try daemon.call(StatusMethod.self, NoParams()).activeModel, "v1")
        XCTAssertEqual(try daemon.stop(), 0)
    }

    /// The moment between the worker's last check and its rename: a run's candidate that arrives after its parent
    /// stopped serving is kept (available) but not activated.
    func testRunCandidateArrivingAfterItsParentStoppedServing_isNotActivated() throws {
        let daemon = try makeDaemon()
        let staging = daemon.directory.url.appendingPathComponent("candidate")
        try TestPaths.installModel(from: TestPaths.tinyRoberta, into: daemon.directory.url, version: "candidate")
        try CheckpointManifest.write(into: staging, parent: "v1", run: 7)
        try FileManager.default.moveItem(at: staging, to: daemon.modelsDirectory.appendingPathComponent("run-7-orphan"))
        let deadline = Date().addingTimeInterval(60)
        var state: String?
        while state == nil || state == "loading" {
            guard Date() < deadline else { throw DaemonTestError.timeout("run-7-orphan was never validated") }
            state = try daemon.call(ModelsListMethod.self, NoParams()).models.first { $0.version == "run-7-orphan" }?.state
            usleep(50_000)
        }
        XCTAssertEqual(state, "available")
        XCTAssertEqual(try daemon.call(StatusMethod.self, NoParams()).activeModel, "v2")
        XCTAssertTrue(daemon.stderr.contains("no longer serves"), daemon.stderr.suffix(2000).description)
        // An admin may still choose it.
        XCTAssertEqual(try daemon.call(ModelsActivateMethod.self, .init(version: "run-7-orphan")).active, "run-7-orphan")
        XCTAssertEqual(try daemon.stop(), 0)
    }

    /// A rollback is the activation and the rolled-back mark in one transaction: when the mark cannot be written
    /// (here a trigger refuses it, as a full disk would), nothing is recorded and the old version keeps serving.
    func testRollback_isRecordedWholeOrNotAtAll() throws {
        let daemon = try makeDaemon()
        let database = try DatabaseQueue(path: daemon.directory.path("state.sqlite"))
        try database.write { db in
            try db.execute(sql: """
                CREATE TRIGGER refuse_rollback_mark BEFORE UPDATE OF rolled_back_at ON model_version
                WHEN NEW.rolled_back_at IS NOT NULL BEGIN SELECT RAISE(ABORT, 'the test refuses this write'); END
                """)
        }
        let activations = try database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM activation") }
        XCTAssertThrowsError(try daemon.call(RollbackMethod.self, .init())) { error in
            XCTAssertEqual((error as? RPCErrorObject)?.data?.kind, "activation_failed", "\(error)")
        }
        XCTAssertEqual(try daemon.call(StatusMethod.self, NoParams()).activeModel, "v2", "a failed rollback swapped the model")
        XCTAssertEqual(try database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM activation") }, activations,
                       "a failed rollback left an activation behind")
        try database.write { db in try db.execute(sql: "DROP TRIGGER refuse_rollback_mark") }
        XCTAssertEqual(try daemon.call(RollbackMethod.self, .init()).active, "v1")
        let v2 = try VersionStore(pool: try StoreDatabase.open(path: URL(fileURLWithPath: daemon.directory.path("state.sqlite"))))
            .version("v2")
        XCTAssertNotNil(v2?.rolledBackAt)
        XCTAssertEqual(try daemon.stop(), 0)
    }
}
