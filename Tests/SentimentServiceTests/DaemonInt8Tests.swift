import Foundation
import SentimentCore
import SentimentEngine
import SentimentProtocol
@testable import SentimentService
import SentimentStore
import SentimentTraining
import XCTest

/// `[models] precision = "int8"` with the real daemon and the tiny RoBERTa: a first version serves fp32 while its
/// int8 check runs, then int8 when the check passes (and a restart loads it straight into int8), or fp32 with the
/// reason when it fails; a hot reload checks the new version before activating it while the previous one serves; the
/// figures are kept with the version and shown by `models` and `status`.
///
/// The tiny model (random weights, near-tied logits) gives fp32's label in int8 on 98.4 % of the probe set: a
/// tolerance of 95 % passes it and one of 99.9 % fails it, whatever the machine (int8 gives the same bits on every
/// kernel path, and 17 differing texts are far from the edge fp32's rounding could move).
final class DaemonInt8Tests: XCTestCase {
    private let texts = ["what a great day", "this is terrible", "the meeting is at noon", "i love it", "so boring"]

    private func makeDaemon(_ settings: [String: String]) throws -> DaemonProcess {
        _ = try TestPaths.requireTinyRoberta()
        var models = ["precision": "\"int8\"", "load_priority": "\"low\""]
        models.merge(settings) { _, new in new }
        return try DaemonProcess(models: models)
    }

    /// The tiny model in each precision, as the daemon loads it (fp32 unpacked while a check may replace it).
    private func reference(_ precision: Precision) throws -> SentimentModel {
        try SentimentModel.load(folder: TestPaths.tinyRoberta, options: ModelLoadOptions(packWeights: false, precision: precision))
    }

    private func entry(_ daemon: DaemonProcess, _ version: String) throws -> ModelVersionSummary? {
        try daemon.client().call(ModelsListMethod.self, NoParams()).models.first { $0.version == version }
    }

    /// Polls models.list until `predicate` holds for `version`'s entry.
    @discardableResult
    private func waitFor(_ daemon: DaemonProcess, _ version: String, timeout: TimeInterval = 300,
                         _ what: String, _ predicate: (ModelVersionSummary) -> Bool) throws -> ModelVersionSummary {
        let deadline = Date().addingTimeInterval(timeout)
        var last: ModelVersionSummary?
        while Date() < deadline {
            last = try entry(daemon, version)
            if let last, predicate(last) { return last }
            usleep(50_000)
        }
        XCTFail("\(version): \(what) did not happen; last: \(String(describing: last)); stderr:\n\(daemon.stderr.suffix(3000))")
        throw DaemonTestError.timeout(what)
    }

    /// `entry` serves fp32 after an int8 check failed under `int8_min_agreement = 0.999`, and says why; its figures.
    @discardableResult
    private func assertFailedCheck(_ entry: ModelVersionSummary, file: StaticString = #filePath, line: UInt = #line) throws
        -> Int8CheckRecord {
        XCTAssertEqual(entry.precision?.serving, "fp32", file: file, line: line)
        XCTAssertEqual(entry.precision?.check, "failed", file: file, line: line)
        let reason = try XCTUnwrap(entry.precision?.reason, file: file, line: line)
        XCTAssertTrue(reason.hasPrefix("int8 check failed: int8 gave fp32's label on") && reason.contains("int8_min_agreement 99.90 %"),
                      reason, file: file, line: line)
        let figures = try XCTUnwrap(entry.precision?.figures, file: file, line: line)
        XCTAssertFalse(figures.passed, file: file, line: line)
        XCTAssertLessThan(figures.agreement, 0.999, file: file, line: line)
        return figures
    }

    /// The daemon's probabilities for `texts`, and which reference they are (bit for bit up to batch rounding).
    private func served(_ daemon: DaemonProcess) throws -> (version: String, probabilities: [[Float]]) {
        let r = try daemon.client().call(PredictMethod.self, .init(texts: texts))
        return (r.model, r.predictions.map(\.probabilities))
    }

    private func distance(_ a: [[Float]], _ b: [[Float]]) -> Float {
        zip(a, b).map { zip($0, $1).map { abs($0 - $1) }.max() ?? 0 }.max() ?? 0
    }

    func testPassingCheck_servesFP32WhileItRuns_thenInt8_andARestartLoadsInt8Directly() throws {
        let daemon = try makeDaemon(["int8_min_agreement": "0.95"])
        let hold = daemon.directory.path("hold-int8-check")
        XCTAssertTrue(FileManager.default.createFile(atPath: hold, contents: Data()))
        try daemon.installModel(version: "v1")
        try daemon.start(environment: ["SENTIMENTD_TEST_HOLD_INT8_CHECK": hold])

        let fp32 = try reference(.fp32).predict(texts).map(\.probabilities)
        let int8 = try reference(.int8).predict(texts).map(\.probabilities)
        XCTAssertGreaterThan(distance(fp32, int8), 1e-3, "the texts must tell the precisions apart")

        // Checking: the version serves, in fp32, and says why.
        let checking = try waitFor(daemon, "v1", "activation") { $0.state == "active" }
        XCTAssertEqual(checking.precision?.serving, "fp32")
        XCTAssertEqual(checking.precision?.configured, "int8")
        XCTAssertEqual(checking.precision?.check, "checking")
        XCTAssertTrue(checking.precision?.reason?.contains("int8 check is running") ?? false, "\(String(describing: checking.precision))")
        let whileChecking = try served(daemon)
        XCTAssertEqual(whileChecking.version, "v1")
        XCTAssertLessThan(distance(whileChecking.probabilities, fp32), 1e-5, "fp32 serves while the check runs")
        let status = try daemon.client().call(StatusMethod.self, NoParams())
        XCTAssertEqual(status.precision?.serving, "fp32")
        XCTAssertEqual(status.precision?.check, "checking")

        // The check passes: the same version serves int8, with its figures.
        try FileManager.default.removeItem(atPath: hold)
        let passed = try waitFor(daemon, "v1", "int8 serving") { $0.precision?.serving == "int8" }
        XCTAssertEqual(passed.precision?.check, "passed")
        XCTAssertNil(passed.precision?.reason)
        let figures = try XCTUnwrap(passed.precision?.figures)
        XCTAssertEqual(figures.texts, ProbeTexts.all.count)
        XCTAssertGreaterThanOrEqual(figures.texts, 1000)
        XCTAssertEqual(figures.evalTexts, 0)
        XCTAssertEqual(figures.probeTexts, ProbeTexts.all.count)
        XCTAssertGreaterThanOrEqual(figures.agreement, 0.95)
        XCTAssertLessThan(figures.agreement, 1)
        XCTAssertTrue(figures.passed)
        XCTAssertEqual(figures.scheme, Int8Scheme.standard.description)
        let afterCheck = try served(daemon)
        XCTAssertEqual(afterCheck.version, "v1")
        XCTAssertLessThan(distance(afterCheck.probabilities, int8), 1e-5, "int8 serves once the check passed")
        XCTAssertEqual(try daemon.client().call(StatusMethod.self, NoParams()).precision?.serving, "int8")
        let shown = try runSentimentctl(["models"], socket: daemon.socketPath)
        XCTAssertTrue(shown.out.contains("int8 checks") && shown.out.contains("of \(ProbeTexts.all.count) texts"), shown.out)
        XCTAssertEqual(try daemon.stop(), 0)

        // Kept with the version; a restart loads it straight into int8 (the held check would show if one ran).
        let record = try XCTUnwrap(try VersionStore(path: URL(fileURLWithPath: daemon.directory.path("state.sqlite"))).version("v1"))
        var kept = try XCTUnwrap(record.int8Check)
        XCTAssertEqual(kept.checkedAt.timeIntervalSince1970, figures.checkedAt.timeIntervalSince1970, accuracy: 1)
        kept.checkedAt = figures.checkedAt   // the wire gives whole seconds
        XCTAssertEqual(kept, figures)
        XCTAssertTrue(FileManager.default.createFile(atPath: hold, contents: Data()))
        try daemon.start(environment: ["SENTIMENTD_TEST_HOLD_INT8_CHECK": hold])
        let restored = try XCTUnwrap(try entry(daemon, "v1"))
        XCTAssertEqual(restored.precision?.serving, "int8")
        XCTAssertEqual(restored.precision?.check, "passed")
        XCTAssertLessThan(distance(try served(daemon).probabilities, int8), 1e-5)
        XCTAssertEqual(try daemon.stop(), 0)
        // Loaded as int8, not converted from an fp32 copy after the start.
        XCTAssertFalse(daemon.stderr.contains("serves its int8 copy"), daemon.stderr.suffix(3000).description)
        XCTAssertEqual(daemon.stderr.components(separatedBy: "int8 check queued").count - 1, 1, "checked again after the restart")
    }

    func testFailingCheck_servesFP32_andModelsAndStatusSayWhy() throws {
        let daemon = try makeDaemon(["int8_min_agreement": "0.999"])
        try daemon.start()
        // Eval labels first: the check compares on them too and scores both precisions.
        let labelled = DaemonTrainingTests.examples(count: 240, tag: "e")
        _ = try daemon.client().call(LabelsAddMethod.self, .init(items: labelled, split: .eval))
        try daemon.installModel(version: "v1")

        let failed = try waitFor(daemon, "v1", "a failed check") { $0.precision?.check == "failed" }
        XCTAssertEqual(failed.state, "active")
        let figures = try assertFailedCheck(failed)
        XCTAssertEqual(figures.evalTexts, 240)
        XCTAssertEqual(figures.labelled, 240)
        XCTAssertEqual(figures.texts, 240 + ProbeTexts.all.count)
        XCTAssertNotNil(figures.fp32MacroF1)
        XCTAssertNotNil(figures.int8MacroF1)

        let status = try daemon.client().call(StatusMethod.self, NoParams())
        XCTAssertEqual(status.activeModel, "v1")
        XCTAssertEqual(status.precision?.serving, "fp32")
        XCTAssertEqual(status.precision?.check, "failed")
        let fp32 = try reference(.fp32).predict(texts).map(\.probabilities)
        XCTAssertLessThan(distance(try served(daemon).probabilities, fp32), 1e-5, "fp32 serves after a failed check")
        let models = try runSentimentctl(["models"], socket: daemon.socketPath)
        XCTAssertTrue(models.out.contains("fp32, int8 check failed") && models.out.contains("int8_min_agreement"), models.out)
        let shownStatus = try runSentimentctl(["status"], socket: daemon.socketPath)
        XCTAssertTrue(shownStatus.out.contains("precision:") && shownStatus.out.contains("int8 check failed"), shownStatus.out)
        XCTAssertEqual(try daemon.stop(), 0)

        // A restart keeps fp32 without checking again.
        try daemon.start()
        let restored = try XCTUnwrap(try entry(daemon, "v1"))
        XCTAssertEqual(restored.precision?.serving, "fp32")
        XCTAssertEqual(restored.precision?.check, "failed")
        XCTAssertEqual(try daemon.stop(), 0)
        XCTAssertEqual(daemon.stderr.components(separatedBy: "int8 check queued").count - 1, 1, "checked again after the restart")
    }

    // MARK: hot reload: checked before activation

    /// A daemon whose first version v1 serves (once `v1Served` holds for it), then v2 dropped in with int8 checks
    /// held: returns once v2's check runs before its activation (listed as loading; v1 still active). The test
    /// removes `hold` to let the check go on.
    private func reloadWithHeldCheck(minAgreement: String, _ v1Served: (ModelVersionSummary) -> Bool) throws
        -> (daemon: DaemonProcess, hold: String, waiting: ModelVersionSummary) {
        let daemon = try makeDaemon(["int8_min_agreement": minAgreement])
        let hold = daemon.directory.path("hold-int8-check")
        try daemon.installModel(version: "v1")
        try daemon.start(environment: ["SENTIMENTD_TEST_HOLD_INT8_CHECK": hold])
        try waitFor(daemon, "v1", "v1's int8 verdict", v1Served)
        XCTAssertTrue(FileManager.default.createFile(atPath: hold, contents: Data()))
        try daemon.installModel(version: "v2")
        let waiting = try waitFor(daemon, "v2", "v2's check before its activation") { $0.precision?.check == "checking" }
        XCTAssertEqual(waiting.state, "loading", "not active while it is checked")
        XCTAssertEqual(try daemon.client().call(ModelsListMethod.self, NoParams()).active, "v1")
        return (daemon, hold, waiting)
    }

    /// A hot reload in int8 mode: the new version is checked before it is activated, while the version that serves
    /// keeps answering in int8; once its check passes, it is activated straight in int8 (no fp32 phase of its own).
    func testHotReload_theNewVersionIsCheckedBeforeActivation_whileThePreviousServesInt8() throws {
        let fp32 = try reference(.fp32).predict(texts).map(\.probabilities)
        let int8 = try reference(.int8).predict(texts).map(\.probabilities)
        XCTAssertGreaterThan(distance(fp32, int8), 1e-3, "the texts must tell the precisions apart")
        let (daemon, hold, waiting) = try reloadWithHeldCheck(minAgreement: "0.95") { $0.precision?.serving == "int8" }
        // Not active anywhere while it is checked: v1 answers, in int8, and status says what the registry waits for.
        XCTAssertNil(waiting.precision?.serving)
        XCTAssertTrue(waiting.precision?.reason?.contains("before it is activated; the active version v1 serves meanwhile") ?? false,
                      "\(String(describing: waiting.precision))")
        let status = try daemon.client().call(StatusMethod.self, NoParams())
        XCTAssertEqual(status.activeModel, "v1")
        XCTAssertEqual(status.precision?.serving, "int8")
        XCTAssertTrue(status.registry?.task?.contains("int8 check of v2 before its activation") ?? false,
                      "\(String(describing: status.registry))")
        for _ in 0..<3 {
            let answer = try served(daemon)
            XCTAssertEqual(answer.version, "v1", "the previous version answers while the new one is checked")
            XCTAssertLessThan(distance(answer.probabilities, int8), 1e-5, "in int8")
        }
        let models = try runSentimentctl(["models"], socket: daemon.socketPath)
        XCTAssertTrue(models.out.contains("int8 check running before activation"), models.out)
        let shownStatus = try runSentimentctl(["status"], socket: daemon.socketPath)
        XCTAssertTrue(shownStatus.out.contains("int8 check of v2 before its activation"), shownStatus.out)

        // The check passes: from v2's first answer on, v2 answers in int8.
        try FileManager.default.removeItem(atPath: hold)
        var answers: [String: Int] = [:]
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline && (answers["v2"] ?? 0) < 3 {
            let answer = try served(daemon)
            answers[answer.version, default: 0] += 1
            XCTAssertTrue(["v1", "v2"].contains(answer.version), answer.version)
            XCTAssertLessThan(distance(answer.probabilities, int8), 1e-5, "\(answer.version) answered in fp32")
            usleep(20_000)
        }
        XCTAssertGreaterThanOrEqual(answers["v2"] ?? 0, 3, "v2 never answered; stderr:\n\(daemon.stderr.suffix(3000))")
        let active = try XCTUnwrap(try entry(daemon, "v2"))
        XCTAssertEqual(active.state, "active")
        XCTAssertEqual(active.precision?.serving, "int8")
        XCTAssertEqual(active.precision?.check, "passed")
        XCTAssertNil(active.precision?.reason)
        XCTAssertTrue(active.precision?.figures?.passed ?? false)
        let after = try daemon.client().call(StatusMethod.self, NoParams())
        XCTAssertEqual(after.activeModel, "v2")
        XCTAssertEqual(after.precision?.serving, "int8")
        XCTAssertEqual(try daemon.stop(), 0)
        // One activation of v2, and no fp32 phase: no check while it served, no swap to int8 after its activation.
        let lines = logLines(daemon, version: "v2")
        XCTAssertEqual(lines.filter { $0.contains("model activated") }.count, 1, lines.joined(separator: "\n"))
        XCTAssertTrue(lines.contains { $0.contains("int8 check before activation queued") }, lines.joined(separator: "\n"))
        XCTAssertFalse(lines.contains { $0.contains("the version serves in fp32 meanwhile") || $0.contains("model version serves in int8")
                || $0.contains("serves its int8 copy") }, lines.joined(separator: "\n"))
    }

    /// A hot reload whose check fails: the new version is checked before it is activated while the previous one
    /// serves, then activated in fp32 (never int8), with the reason in `models` and `status`.
    func testHotReload_aFailedCheckBeforeActivation_activatesTheVersionInFP32WithTheReason() throws {
        let fp32 = try reference(.fp32).predict(texts).map(\.probabilities)
        // The first version serves at once and fails its check while it serves: fp32.
        let (daemon, hold, _) = try reloadWithHeldCheck(minAgreement: "0.999") { $0.state == "active" && $0.precision?.check == "failed" }
        XCTAssertEqual(try served(daemon).version, "v1", "the previous version answers while the new one is checked")

        try FileManager.default.removeItem(atPath: hold)
        let failed = try waitFor(daemon, "v2", "v2's activation after its failed check") { $0.state == "active" }
        try assertFailedCheck(failed)
        let answer = try served(daemon)
        XCTAssertEqual(answer.version, "v2")
        XCTAssertLessThan(distance(answer.probabilities, fp32), 1e-5, "fp32 serves after a failed check")
        let status = try daemon.client().call(StatusMethod.self, NoParams())
        XCTAssertEqual(status.activeModel, "v2")
        XCTAssertEqual(status.precision?.serving, "fp32")
        XCTAssertEqual(status.precision?.check, "failed")
        let shownStatus = try runSentimentctl(["status"], socket: daemon.socketPath)
        XCTAssertTrue(shownStatus.out.contains("int8 check failed"), shownStatus.out)
        XCTAssertEqual(try daemon.stop(), 0)
        let lines = logLines(daemon, version: "v2")
        XCTAssertEqual(lines.filter { $0.contains("model activated") }.count, 1, lines.joined(separator: "\n"))
        XCTAssertFalse(lines.contains { $0.contains("the version serves in fp32 meanwhile") }, "checked once, before its activation")
    }

    /// An operator does not wait for a check: `activate` of a version whose check runs before its activation serves
    /// it at once (fp32 while it is checked, as a first version does); a rollback stops that check and serves the
    /// version whose check passed in int8 at once; the stopped version is checked again when it serves again.
    func testActivateAndRollbackDuringACheck_areImmediate_andStopIt() throws {
        let fp32 = try reference(.fp32).predict(texts).map(\.probabilities)
        let (daemon, _, _) = try reloadWithHeldCheck(minAgreement: "0.95") { $0.precision?.serving == "int8" }
        XCTAssertEqual(try daemon.client().call(ModelsActivateMethod.self, .init(version: "v2")).active, "v2")
        let serving = try XCTUnwrap(try entry(daemon, "v2"))
        XCTAssertEqual(serving.state, "active")
        XCTAssertEqual(serving.precision?.serving, "fp32")
        XCTAssertEqual(serving.precision?.check, "checking")
        XCTAssertTrue(serving.precision?.reason?.contains("it serves in fp32 meanwhile") ?? false, "\(String(describing: serving.precision))")
        let answer = try served(daemon)
        XCTAssertEqual(answer.version, "v2")
        XCTAssertLessThan(distance(answer.probabilities, fp32), 1e-5)

        let back = try daemon.client().call(RollbackMethod.self, .init())
        XCTAssertEqual(back.active, "v1")
        let v1 = try XCTUnwrap(try entry(daemon, "v1"))
        XCTAssertEqual(v1.precision?.serving, "int8", "a version whose check passed loads straight into int8")
        let v2 = try waitFor(daemon, "v2", "the check to stop") { $0.precision?.check == nil }
        XCTAssertNil(v2.precision?.figures)
        XCTAssertTrue(v2.precision?.reason?.contains("not checked") ?? false, "\(String(describing: v2.precision))")
        XCTAssertEqual(try daemon.stop(), 0)
        XCTAssertTrue(daemon.stderr.contains("int8 check stopped"), daemon.stderr.suffix(2000).description)
    }

    /// The daemon's log lines about `version` (its `version=` metadata).
    private func logLines(_ daemon: DaemonProcess, version: String) -> [String] {
        daemon.stderr.split(separator: "\n").map(String.init).filter { $0.contains("version=\(version)") }
    }

    // MARK: training

    /// With int8 configured, a training run judges the champion and the candidate in the precision each will serve
    /// in (the gate judges what users get): both int8 here, the champion's macro-F1 the int8 model's on the split.
    func testTrainingRun_judgesChampionAndCandidateInTheServedPrecision() throws {
        let daemon = try makeDaemon(["int8_min_agreement": "0.95"])
        daemon.extraTables = ["training": ["enabled": "false", "min_eval_labels": "10", "epochs": "3", "batch_size": "16",
                                           "learning_rate": "0.001", "max_length": "24", "gate_tolerance": "0.5", "nice": "5"]]
        try daemon.writeConfig(models: ["precision": "\"int8\"", "int8_min_agreement": "0.95", "load_priority": "\"low\""])
        try daemon.installModel(version: "v1")
        try daemon.start()
        try waitFor(daemon, "v1", "int8 serving") { $0.precision?.serving == "int8" }
        // The evaluation split holds the probe texts on which the tiny model's int8 and fp32 labels differ, labelled
        // with int8's: the champion's figures then say which precision judged it.
        let int8Model = try reference(.int8), fp32Model = try reference(.fp32)
        let probe = ProbeTexts.all.map { TrainingExample(text: $0, label: 0) }
        let (_, int8Labels) = TrainWorker.evaluate(int8Model, probe, classes: int8Model.labels.count)
        let (_, fp32Labels) = TrainWorker.evaluate(fp32Model, probe, classes: fp32Model.labels.count)
        let differing = probe.indices.filter { int8Labels[$0] != fp32Labels[$0] }
        XCTAssertGreaterThanOrEqual(differing.count, 5, "the tiny model's precisions must disagree on some probe texts")
        _ = try daemon.client().call(LabelsAddMethod.self, .init(items: differing.map {
            LabelItem(text: probe[$0].text, label: .name(int8Model.labels[int8Labels[$0]]))
        }, split: .eval))
        let items = DaemonTrainingTests.examples(count: 450, tag: "p")
        var start = 0
        while start < items.count {
            _ = try daemon.client().call(LabelsAddMethod.self, .init(items: Array(items[start..<min(start + 150, items.count)])))
            start += 150
        }
        let run = try daemon.client().call(TrainMethod.self, .init())
        let deadline = Date().addingTimeInterval(600)
        var summary: RunSummary?
        while Date() < deadline {
            summary = try daemon.client().call(RunsListMethod.self, .init(limit: 1)).runs.first { $0.id == run.id }
            if summary?.isFinished ?? false { break }
            usleep(200_000)
        }
        let done = try XCTUnwrap(summary)
        XCTAssertEqual(done.status, "published", "\(done)\n\(daemon.stderr.suffix(3000))")
        let detail = try daemon.client().call(RunsShowMethod.self, .init(id: run.id))
        XCTAssertEqual(detail.champion?.precision, "int8")
        XCTAssertEqual(detail.candidate?.precision, "int8")
        let shown = try runSentimentctl(["runs", "show", "\(run.id)"], socket: daemon.socketPath)
        XCTAssertTrue(shown.out.contains("CHAMPION (int8)") && shown.out.contains("CANDIDATE (int8)"), shown.out)

        // The champion's figure is the int8 model's on the eval split, not the fp32 model's.
        let pool = try StoreDatabase.open(path: URL(fileURLWithPath: daemon.directory.path("state.sqlite")))
        let index = Dictionary(int8Model.labels.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let eval = try LabelStore(pool: pool).evalSet().map { TrainingExample(text: $0.text, label: index[$0.label]!) }
        XCTAssertGreaterThanOrEqual(eval.count, differing.count)
        let (int8Metrics, _) = TrainWorker.evaluate(int8Model, eval, classes: int8Model.labels.count)
        let (fp32Metrics, _) = TrainWorker.evaluate(fp32Model, eval, classes: fp32Model.labels.count)
        XCTAssertGreaterThan(abs(int8Metrics.macroF1 - fp32Metrics.macroF1), 1e-6, "the split must tell the precisions apart")
        XCTAssertEqual(try XCTUnwrap(done.championF1), int8Metrics.macroF1, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(detail.champion?.accuracy), int8Metrics.accuracy, accuracy: 1e-9)
        // The published candidate is checked in turn.
        let candidate = try XCTUnwrap(done.candidateVersion)
        try waitFor(daemon, candidate, "the candidate's int8 verdict") { $0.precision?.check == "passed" || $0.precision?.check == "failed" }
        XCTAssertEqual(try daemon.stop(), 0)
    }

    /// The precision a run judges a version in: what it serves in. fp32 configured: fp32; int8: int8, unless the
    /// version's check of its current files failed (then it serves, and is judged, in fp32).
    func testServingPrecision_followsTheVersionsInt8Check() throws {
        let directory = try TemporaryDirectory()
        let store = try VersionStore(path: URL(fileURLWithPath: directory.path("db.sqlite")))
        try store.recordArrival(version: "passed", fingerprint: "a")
        try store.recordArrival(version: "failed", fingerprint: "b")
        try store.recordArrival(version: "unchecked", fingerprint: "c")
        try store.recordArrival(version: "stale", fingerprint: "d")
        func check(_ fingerprint: String, passed: Bool) -> Int8CheckRecord {
            Int8CheckRecord(fingerprint: fingerprint, scheme: Int8Scheme.standard.description, checkedAt: Date(), seconds: 1,
                            texts: 1055, evalTexts: 0, probeTexts: 1055, agreement: passed ? 0.99 : 0.9, labelled: 0,
                            fp32MacroF1: nil, int8MacroF1: nil, maxProbabilityDifference: 0.1, passed: passed,
                            reason: passed ? nil : "int8 gave fp32's label on 90.00 % of 1055 texts")
        }
        try store.recordInt8Check(version: "passed", check("a", passed: true))
        try store.recordInt8Check(version: "failed", check("b", passed: false))
        try store.recordInt8Check(version: "stale", check("other files", passed: false))
        func options(_ precision: Precision) -> TrainWorkerOptions {
            TrainWorkerOptions(runID: 1, databasePath: URL(fileURLWithPath: directory.path("db.sqlite")),
                               modelsDirectory: directory.url, baseVersion: "passed", parentPID: nil, nice: 0, threads: 1,
                               precision: precision)
        }
        for version in ["passed", "failed", "unchecked", "stale"] {
            XCTAssertEqual(TrainWorker.servingPrecision(version, options: options(.fp32), versions: store), .fp32, version)
        }
        XCTAssertEqual(TrainWorker.servingPrecision("passed", options: options(.int8), versions: store), .int8)
        XCTAssertEqual(TrainWorker.servingPrecision("failed", options: options(.int8), versions: store), .fp32)
        XCTAssertEqual(TrainWorker.servingPrecision("unchecked", options: options(.int8), versions: store), .int8)
        XCTAssertEqual(TrainWorker.servingPrecision("stale", options: options(.int8), versions: store), .int8)
    }
}
