import Foundation
import GRDB
import XCTest
@testable import SentimentStore

final class RunStoreTests: PooledStoreTestCase {
    private var runs: RunStore!

    override func setUpWithError() throws {
        try super.setUpWithError()
        runs = RunStore(pool: pool)
    }

    override func tearDownWithError() throws {
        runs = nil
        try super.tearDownWithError()
    }

    private let recipe = #"{"epochs":2,"lr":2e-05,"batch_size":16}"#

    private func startRun(pid: Int32 = 4242) throws -> Int64 {
        let id = try runs.createRun(trigger: .manual, uid: 1000, method: .full, recipeJSON: recipe)
        try runs.markRunning(id: id, pid: pid, baseVersion: "v1", trainExamples: 300, newExamples: 100,
                             replayExamples: 200, evalExamples: 40, labelSeqHigh: 123, dataFingerprint: "abc")
        return id
    }

    func testCreateRun_isQueuedWithItsRecipe() throws {
        let id = try runs.createRun(trigger: .schedule, uid: 998, method: .lora, recipeJSON: recipe)
        let run = try XCTUnwrap(runs.run(id: id))
        XCTAssertEqual(run.status, .queued)
        XCTAssertEqual(run.trigger, .schedule)
        XCTAssertEqual(run.method, .lora)
        XCTAssertEqual(run.uid, 998)
        XCTAssertEqual(run.recipe, recipe)
        XCTAssertNil(run.startedAt)
        XCTAssertNil(run.labelSeqHigh)
        XCTAssertEqual(try runs.activeRun()?.id, id)
    }

    func testCreateRun_whileAnotherIsQueuedOrRunning_throwsRunInProgress() throws {
        let first = try runs.createRun(trigger: .manual, uid: 0, method: .full, recipeJSON: "{}")
        XCTAssertThrowsError(try runs.createRun(trigger: .schedule, uid: 0, method: .full, recipeJSON: "{}")) {
            XCTAssertEqual($0 as? RunStoreError, .runInProgress(id: first))
            XCTAssertTrue("\($0)".contains("run \(first) is already queued or running"))
        }
        try runs.markRunning(id: first, pid: 1, baseVersion: nil, trainExamples: nil, newExamples: nil,
                             replayExamples: nil, evalExamples: nil, labelSeqHigh: nil, dataFingerprint: nil)
        XCTAssertThrowsError(try runs.createRun(trigger: .schedule, uid: 0, method: .full, recipeJSON: "{}")) {
            XCTAssertEqual($0 as? RunStoreError, .runInProgress(id: first))
        }
        try runs.finish(id: first, status: .cancelled)
        let second = try runs.createRun(trigger: .schedule, uid: 0, method: .full, recipeJSON: "{}")
        XCTAssertGreaterThan(second, first)
        XCTAssertEqual(try runs.runs().count, 2)
    }

    func testOneActiveRun_isEnforcedByTheSchemaToo() throws {
        _ = try runs.createRun(trigger: .manual, uid: 0, method: .full, recipeJSON: "{}")
        XCTAssertThrowsError(try pool.write { db in
            try db.execute(sql: """
                INSERT INTO training_run (status, "trigger", uid, created_at, method, recipe)
                VALUES ('running', 'manual', 0, ?, 'full', '{}')
                """, arguments: [Date()])
        }) { error in
            XCTAssertEqual((error as? DatabaseError)?.resultCode, .SQLITE_CONSTRAINT)
        }
    }

    func testLifecycle_progressEpochsEvaluationAndGateDecisionRoundTrip() throws {
        let id = try startRun()
        var run = try XCTUnwrap(runs.run(id: id))
        XCTAssertEqual(run.status, .running)
        XCTAssertEqual(run.workerPid, 4242)
        XCTAssertEqual(run.baseVersion, "v1")
        XCTAssertEqual([run.trainExamples, run.newExamples, run.replayExamples, run.evalExamples], [300, 100, 200, 40])
        XCTAssertEqual(run.labelSeqHigh, 123)
        XCTAssertEqual(run.dataFingerprint, "abc")
        let started = try XCTUnwrap(run.startedAt)

        try runs.updateProgress(id: id, step: 10, totalSteps: 40, epoch: 1, loss: 0.73, lr: 1.5e-5,
                                examplesPerSecond: 12.5, etaSeconds: 96)
        try runs.recordEpoch(id: id, epoch: 1, trainLoss: 0.8, metricsJSON: #"{"macro_f1":0.61}"#)
        try runs.recordEpoch(id: id, epoch: 2, trainLoss: 0.5, metricsJSON: #"{"macro_f1":0.70}"#)
        try runs.recordEpoch(id: id, epoch: 2, trainLoss: 0.45, metricsJSON: #"{"macro_f1":0.71}"#)  // resumed
        try runs.updateProgress(id: id, step: 40, totalSteps: 40, epoch: 2, loss: .nan, lr: 0,
                                examplesPerSecond: 13, etaSeconds: 0)
        try runs.recordEvaluation(id: id, championMetricsJSON: #"{"macro_f1":0.68}"#,
                                  candidateMetricsJSON: #"{"macro_f1":0.71}"#, championF1: 0.68, candidateF1: 0.71)
        // The daemon may call markRunning again (e.g. the pid first, the data later): nil keeps values.
        try runs.markRunning(id: id, pid: nil, baseVersion: nil, trainExamples: nil, newExamples: nil,
                             replayExamples: nil, evalExamples: nil, labelSeqHigh: nil, dataFingerprint: nil)
        try runs.finish(id: id, status: .published, decision: .published,
                        reason: "candidate macro-F1 0.710 ≥ champion 0.680 − 0.005", candidateVersion: "run-\(id)")

        run = try XCTUnwrap(runs.run(id: id))
        XCTAssertEqual(run.status, .published)
        XCTAssertEqual(run.decision, .published)
        XCTAssertEqual(run.candidateVersion, "run-\(id)")
        XCTAssertEqual(run.reason, "candidate macro-F1 0.710 ≥ champion 0.680 − 0.005")
        XCTAssertEqual(run.startedAt, started)
        XCTAssertEqual(run.workerPid, 4242)
        XCTAssertEqual(run.step, 40)
        XCTAssertEqual(run.totalSteps, 40)
        XCTAssertNil(run.loss, "a NaN loss is stored as NULL")
        XCTAssertEqual(run.examplesPerSecond, 13)
        XCTAssertNotNil(run.progressAt)
        XCTAssertEqual(run.championF1, 0.68)
        XCTAssertEqual(run.candidateF1, 0.71)
        XCTAssertEqual(run.championMetrics, #"{"macro_f1":0.68}"#)
        XCTAssertNotNil(run.finishedAt)
        XCTAssertNil(run.error)

        let epochs = try runs.epochs(run: id)
        XCTAssertEqual(epochs.map(\.epoch), [1, 2])
        XCTAssertEqual(epochs.map(\.trainLoss), [0.8, 0.45])
        XCTAssertEqual(epochs.last?.metrics, #"{"macro_f1":0.71}"#)
        XCTAssertNil(try runs.activeRun())
    }

    /// The gate's record: the best version on a split, leaving out rolled-back versions; the latest other split.
    func testSplitEvaluations_bestLeavesOutRolledBackVersions() throws {
        let versions = VersionStore(pool: pool)
        for v in ["v1", "v2", "v3"] { try versions.recordArrival(version: v, fingerprint: v) }
        try runs.recordSplitEvaluation(SplitEvaluation(splitFingerprint: "A", version: "v1", runID: 1, examples: 3,
                                                       macroF1: 0.5, predictions: [0, 1, 2]))
        try runs.recordSplitEvaluation(SplitEvaluation(splitFingerprint: "A", version: "v2", runID: 1, examples: 3,
                                                       macroF1: 0.9, predictions: [0, 1, 1]))
        XCTAssertEqual(try runs.bestSplitEvaluation(split: "A")?.version, "v2")
        XCTAssertEqual(try runs.bestSplitEvaluation(split: "A")?.predictions, [0, 1, 1])
        try versions.setRolledBack(version: "v2", at: Date())
        XCTAssertEqual(try runs.bestSplitEvaluation(split: "A")?.version, "v1", "a rolled-back version stayed the best")
        XCTAssertNil(try runs.bestSplitEvaluation(split: "B"))
        try runs.recordSplitEvaluation(SplitEvaluation(splitFingerprint: "B", version: "v3", runID: 2, examples: 3,
                                                       macroF1: 0.7, predictions: [0, 0, 0], recordedAt: Date() + 1))
        XCTAssertEqual(try runs.latestOtherSplit(than: "A"), "B")
        XCTAssertEqual(try runs.latestOtherSplit(than: "B"), "A")
        XCTAssertEqual(try runs.versionsEvaluated(onSplit: "A"), ["v1", "v2"])
    }

    func testFinishedRun_neverChangesAgain() throws {
        let id = try startRun()
        try runs.finish(id: id, status: .rejected, decision: .rejected, reason: "worse")
        let before = try runs.run(id: id)
        let finished = RunStoreError.runFinished(id: id, status: .rejected)
        XCTAssertThrowsError(try runs.finish(id: id, status: .published)) { XCTAssertEqual($0 as? RunStoreError, finished) }
        XCTAssertThrowsError(try runs.finish(id: id, status: .failed, error: "x")) {
            XCTAssertEqual($0 as? RunStoreError, finished)
        }
        XCTAssertThrowsError(try runs.updateProgress(id: id, step: 1, totalSteps: 2, epoch: 1, loss: 1, lr: 1,
                                                     examplesPerSecond: 1, etaSeconds: 1)) {
            XCTAssertEqual($0 as? RunStoreError, finished)
        }
        XCTAssertThrowsError(try runs.recordEpoch(id: id, epoch: 1, trainLoss: 1, metricsJSON: "{}")) {
            XCTAssertEqual($0 as? RunStoreError, finished)
        }
        XCTAssertThrowsError(try runs.recordEvaluation(id: id, championMetricsJSON: nil, candidateMetricsJSON: nil,
                                                       championF1: 0, candidateF1: 1)) {
            XCTAssertEqual($0 as? RunStoreError, finished)
        }
        XCTAssertThrowsError(try runs.markRunning(id: id, pid: 1, baseVersion: nil, trainExamples: nil,
                                                  newExamples: nil, replayExamples: nil, evalExamples: nil,
                                                  labelSeqHigh: nil, dataFingerprint: nil)) {
            XCTAssertEqual($0 as? RunStoreError, finished)
        }
        XCTAssertEqual(try runs.failUnfinishedRuns(reason: "restart"), [])
        XCTAssertEqual(try runs.run(id: id), before)
        XCTAssertEqual(try runs.epochs(run: id), [])
    }

    func testFinish_withAnUnfinishedStatus_orUnknownRun_throws() throws {
        let id = try runs.createRun(trigger: .manual, uid: 0, method: .full, recipeJSON: "{}")
        XCTAssertThrowsError(try runs.finish(id: id, status: .running)) {
            XCTAssertEqual($0 as? RunStoreError, .notAFinalStatus(.running))
        }
        XCTAssertThrowsError(try runs.finish(id: 999, status: .failed)) {
            XCTAssertEqual($0 as? RunStoreError, .unknownRun(id: 999))
        }
        XCTAssertThrowsError(try runs.updateProgress(id: id, step: 1, totalSteps: 1, epoch: 1, loss: 1, lr: 1,
                                                     examplesPerSecond: 1, etaSeconds: 1)) {
            XCTAssertEqual($0 as? RunStoreError, .notRunning(id: id, status: .queued))
        }
        // A queued run can be cancelled before it ever starts.
        try runs.finish(id: id, status: .cancelled, reason: "cancelled by uid 0")
        XCTAssertEqual(try runs.run(id: id)?.status, .cancelled)
        XCTAssertNil(try runs.run(id: id)?.startedAt)
    }

    func testFailUnfinishedRuns_marksQueuedAndRunningFailedWithTheReason() throws {
        let done = try startRun()
        try runs.finish(id: done, status: .published, decision: .published)
        let running = try startRun()
        XCTAssertEqual(try runs.failUnfinishedRuns(reason: "daemon restarted during the run"), [running])
        let run = try XCTUnwrap(runs.run(id: running))
        XCTAssertEqual(run.status, .failed)
        XCTAssertEqual(run.reason, "daemon restarted during the run")
        XCTAssertEqual(run.error, "daemon restarted during the run")
        XCTAssertNotNil(run.finishedAt)
        XCTAssertEqual(try runs.run(id: done)?.status, .published)
        let queued = try runs.createRun(trigger: .schedule, uid: 0, method: .full, recipeJSON: "{}")
        XCTAssertEqual(try runs.failUnfinishedRuns(reason: "again"), [queued])
        XCTAssertNil(try runs.activeRun())
    }

    func testLastCompletedRun_ignoresFailedAndCancelledRuns() throws {
        XCTAssertNil(try runs.lastCompletedRun())
        let published = try startRun()
        try runs.finish(id: published, status: .published, decision: .published)
        let rejected = try startRun()
        try runs.finish(id: rejected, status: .rejected, decision: .rejected, reason: "worse on eval")
        let failed = try startRun()
        try runs.finish(id: failed, status: .failed, error: "worker killed by signal 9")
        let cancelled = try startRun()
        try runs.finish(id: cancelled, status: .cancelled)
        _ = try startRun()  // still running
        XCTAssertEqual(try runs.lastCompletedRun()?.id, rejected)
        XCTAssertEqual(try runs.lastCompletedRun()?.labelSeqHigh, 123)
        XCTAssertEqual(try runs.runs().map(\.status), [.running, .cancelled, .failed, .rejected, .published])
        XCTAssertEqual(try runs.runs(limit: 2).count, 2)
    }

    func testWorkerPoolWritesProgressWhileDaemonPoolReads_andSeesTheCancellation() throws {
        // Two pools on one file: the daemon's and the training worker's (a separate process in production).
        let daemon = runs!
        let worker = RunStore(pool: try StoreDatabase.open(path: databaseURL))
        let id = try startRun()

        let writerDone = expectation(description: "worker finished writing")
        let errors = ErrorBox()
        DispatchQueue.global().async {
            defer { writerDone.fulfill() }
            do {
                for step in 1...200 {
                    try worker.updateProgress(id: id, step: step, totalSteps: 200, epoch: 1 + step / 100,
                                              loss: 1 / Double(step), lr: 1e-5, examplesPerSecond: 10,
                                              etaSeconds: Double(200 - step))
                    if step % 100 == 0 {
                        try worker.recordEpoch(id: id, epoch: step / 100, trainLoss: 1, metricsJSON: "{}")
                    }
                }
            } catch {
                errors.append(error)
            }
        }
        var seen: [Int] = []
        while seen.last != 200 {
            let run = try XCTUnwrap(daemon.run(id: id))
            if let step = run.step { seen.append(step) }
            if seen.count > 100_000 { break }
        }
        wait(for: [writerDone], timeout: 60)
        XCTAssertEqual(errors.all.count, 0, "\(errors.all)")
        XCTAssertEqual(seen, seen.sorted(), "the reader never sees progress go backwards")
        XCTAssertEqual(seen.last, 200)
        XCTAssertEqual(try daemon.epochs(run: id).map(\.epoch), [1, 2])

        // The daemon cancels; the worker's next write tells it to stop.
        try daemon.finish(id: id, status: .cancelled, reason: "cancelled by uid 1000")
        XCTAssertThrowsError(try worker.updateProgress(id: id, step: 201, totalSteps: 200, epoch: 2, loss: 0,
                                                       lr: 0, examplesPerSecond: 0, etaSeconds: 0)) {
            XCTAssertEqual($0 as? RunStoreError, .runFinished(id: id, status: .cancelled))
        }
        XCTAssertEqual(try daemon.run(id: id)?.step, 200)
    }

    func testTwoPoolsRacingToCreateARun_onlyOneWins() throws {
        let other = RunStore(pool: try StoreDatabase.open(path: databaseURL))
        let stores = [runs!, other]
        let results = ResultBox()
        DispatchQueue.concurrentPerform(iterations: 20) { i in
            do {
                let id = try stores[i % 2].createRun(trigger: .schedule, uid: 0, method: .full, recipeJSON: "{}")
                results.append(.success(id))
            } catch {
                results.append(.failure(error))
            }
        }
        let ids = results.all.compactMap { try? $0.get() }
        XCTAssertEqual(ids.count, 1)
        for case let .failure(error) in results.all {
            XCTAssertEqual(error as? RunStoreError, .runInProgress(id: ids[0]))
        }
    }
}

final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [any Error] = []
    func append(_ error: any Error) { lock.withLock { errors.append(error) } }
    var all: [any Error] { lock.withLock { errors } }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<Int64, any Error>] = []
    func append(_ result: Result<Int64, any Error>) { lock.withLock { results.append(result) } }
    var all: [Result<Int64, any Error>] { lock.withLock { results } }
}
