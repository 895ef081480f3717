import Foundation
import SentimentProtocol
import SentimentStore
import XCTest
import SentimentCore
#if canImport(Glibc)
import Glibc
#endif

/// Labels and scheduled fine-tuning with the real daemon, its real training worker and the tiny RoBERTa:
/// imports, the threshold trigger, the gate both ways, rollback, cancel, and kills at every stage.
final class DaemonTrainingTests: XCTestCase {
    // MARK: data

    /// A task the tiny model can learn: the template decides the label.
    static let templates: [(String, String)] = [
        ("i love this %@ so much", "positive"), ("what a great %@ today", "positive"), ("best %@ ever, thanks", "positive"),
        ("i hate this %@ so much", "negative"), ("what a terrible %@ today", "negative"), ("worst %@ ever, sorry", "negative"),
        ("the %@ is on the table", "neutral"), ("i saw a %@ on tuesday", "neutral"), ("there is a %@ in the box", "neutral"),
    ]
    static let nouns = ["phone", "movie", "car", "song", "game", "book", "team", "show", "pizza", "update",
                        "camera", "coffee", "match", "album", "flight"]

    /// Distinct labelled texts; `tag` keeps sets from different calls apart.
    static func examples(count: Int, tag: String) -> [LabelItem] {
        var out: [LabelItem] = []
        var i = 0
        while out.count < count {
            let (template, label) = templates[i % templates.count]
            let noun = nouns[(i / templates.count) % nouns.count]
            let text = String(format: template, noun) + " #\(tag)\(i)"
            out.append(LabelItem(text: text, label: .name(label)))
            i += 1
        }
        return out
    }

    private func makeDaemon(training: [String: String] = [:], labels: [String: String] = [:]) throws -> DaemonProcess {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess()
        var t = ["enabled": "false", "every": "\"1s\"", "min_new_labels": "50", "min_eval_labels": "10",
                 "epochs": "4", "batch_size": "16", "learning_rate": "0.001", "max_length": "24",
                 "gate_tolerance": "0.0", "nice": "5", "replay_ratio": "1.0"]
        t.merge(training) { _, n in n }
        daemon.extraTables = ["training": t, "labels": labels]
        try daemon.writeConfig()
        try daemon.installModel(version: "v1")
        return daemon
    }

    private func add(_ daemon: DaemonProcess, _ items: [LabelItem]) throws -> LabelWriteResult {
        var total = LabelWriteResult(added: 0, updated: 0, unchanged: 0, conflicts: [], rejected: [], rejectedCount: 0, evalSplit: 0)
        var start = 0
        while start < items.count {
            let chunk = Array(items[start..<min(start + 500, items.count)])
            let r = try daemon.call(LabelsAddMethod.self, .init(items: chunk))
            total.added += r.added
            total.updated += r.updated
            total.unchanged += r.unchanged
            total.evalSplit += r.evalSplit
            start += chunk.count
        }
        return total
    }

    private func waitForRun(_ daemon: DaemonProcess, id: Int64? = nil, until done: (RunSummary) -> Bool,
                            timeout: TimeInterval = 240) throws -> RunSummary {
        try daemon.waitForRun(id: id, timeout: timeout, until: done)
    }

    private func active(_ daemon: DaemonProcess) throws -> String? {
        try daemon.call(StatusMethod.self, NoParams()).activeModel
    }

    private func waitForActive(_ daemon: DaemonProcess, _ predicate: (String?) -> Bool, timeout: TimeInterval = 30) throws -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        var last: String?
        while Date() < deadline {
            last = try active(daemon)
            if predicate(last) { return last }
            usleep(50_000)
        }
        XCTFail("active model did not change as expected (last: \(last ?? "none"))")
        return last
    }

    private func integrityCheck(_ daemon: DaemonProcess) throws -> [String] {
        try StoreDatabase.integrityCheck(path: URL(fileURLWithPath: daemon.directory.path("state.sqlite")))
    }

    private func stagingEntries(_ daemon: DaemonProcess) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: daemon.modelsDirectory.appendingPathComponent(".staging").path)) ?? []
    }

    // MARK: labels

    func testLabels_addValidatesEverythingAndReportsByLine() throws {
        let daemon = try makeDaemon()
        try daemon.start()
        // One bad item rejects the request; every problem is named with its item number.
        let bad = [LabelItem(text: "fine", label: .name("positive")), LabelItem(text: "  \n ", label: .name("neutral")),
                   LabelItem(text: "ok", label: .name("postive")), LabelItem(text: "x", label: .index(3)),
                   LabelItem(text: String(repeating: "a", count: 20_001), label: .index(0))]
        XCTAssertThrowsError(try daemon.call(LabelsAddMethod.self, .init(items: bad))) { error in
            guard let e = error as? RPCErrorObject else { return XCTFail("\(error)") }
            XCTAssertEqual(e.data?.kind, "labels_rejected")
            XCTAssertEqual(e.data?.problems?.map(\.line), [2, 3, 4, 5])
            XCTAssertTrue(e.message.contains("unknown label \"postive\""), e.message)
        }
        XCTAssertEqual(try daemon.call(LabelsStatsMethod.self, NoParams()).total, 0, "a rejected request applied something")
        // With skip_invalid the good one lands and the others are reported.
        let partial = try daemon.call(LabelsAddMethod.self, .init(items: bad, skipInvalid: true))
        XCTAssertEqual(partial.added, 1)
        XCTAssertEqual(partial.rejectedCount, 4)
        // Names any case, indexes; the newest label wins; conflicts inside one request are reported.
        let r = try daemon.call(LabelsAddMethod.self, .init(items: [
            LabelItem(text: "FINE", label: .name("NEGATIVE")), LabelItem(text: "fine", label: .index(1)),
            LabelItem(text: "new   one", label: .name("positive")), LabelItem(text: "new one", label: .name("negative")),
        ]))
        XCTAssertEqual(r.updated, 1, "\(r)")
        XCTAssertEqual(r.added, 2, "\(r)") // "FINE" is a different text from "fine"; "new one" once
        XCTAssertEqual(r.conflicts.count, 1)
        XCTAssertEqual(r.conflicts.first?.lines, [3, 4])
        let stats = try daemon.call(LabelsStatsMethod.self, NoParams())
        XCTAssertEqual(stats.total, 3)
        XCTAssertEqual(stats.labels.map(\.label), ["negative", "neutral", "positive"])
        XCTAssertEqual(stats.labels.reduce(0) { $0 + $1.train + $1.eval }, 3)
        XCTAssertNil(stats.sinceRun)
        XCTAssertEqual(try daemon.stop(), 0)
        XCTAssertEqual(try integrityCheck(daemon), ["ok"])
    }

    func testImport_isStagedAndAppliedOnlyAtCommit() throws {
        let daemon = try makeDaemon()
        try daemon.start()
        let items = Self.examples(count: 1200, tag: "i")
        let begin = try daemon.call(LabelsImportBeginMethod.self, .init(source: "test.jsonl", format: .jsonl))
        var line = 0
        for chunk in stride(from: 0, to: items.count, by: 400).map({ Array(items[$0..<min($0 + 400, items.count)]) }) {
            let numbered = chunk.map { item -> LabelItem in
                line += 1
                return LabelItem(text: item.text, label: item.label, line: line)
            }
            _ = try daemon.call(LabelsImportChunkMethod.self, .init(importID: begin.importID, items: numbered))
            XCTAssertEqual(try daemon.call(LabelsStatsMethod.self, NoParams()).total, 0, "staged rows became labels before the commit")
        }
        let done = try daemon.call(LabelsImportCommitMethod.self, .init(importID: begin.importID))
        XCTAssertEqual(done.summary.added, 1200)
        XCTAssertGreaterThan(done.summary.evalSplit, 60)
        XCTAssertLessThan(done.summary.evalSplit, 200)
        let stats = try daemon.call(LabelsStatsMethod.self, NoParams())
        XCTAssertEqual(stats.total, 1200)
        XCTAssertEqual(stats.eval, done.summary.evalSplit)
        XCTAssertEqual(stats.newTrain, stats.train)

        // A bad line rejects the whole import (nothing applied), and names the line.
        let b2 = try daemon.call(LabelsImportBeginMethod.self, .init(source: "bad.csv", format: .csv))
        _ = try daemon.call(LabelsImportChunkMethod.self, .init(importID: b2.importID, items: [
            LabelItem(text: "brand new text", label: .name("positive"), line: 2),
            LabelItem(text: "another", label: .name("happy"), line: 3),
        ], problems: [LabelProblem(line: 4, reason: "4 fields, expected 2")]))
        XCTAssertThrowsError(try daemon.call(LabelsImportCommitMethod.self, .init(importID: b2.importID))) { error in
            XCTAssertEqual((error as? RPCErrorObject)?.data?.problems?.map(\.line), [3, 4])
        }
        XCTAssertEqual(try daemon.call(LabelsStatsMethod.self, NoParams()).total, 1200)
        // The import is gone after its rejection.
        XCTAssertThrowsError(try daemon.call(LabelsImportCommitMethod.self, .init(importID: b2.importID))) { error in
            XCTAssertEqual((error as? RPCErrorObject)?.data?.kind, "not_found")
        }
        // An import left open by a client that went away is abandoned at the next start, never applied.
        let b3 = try daemon.call(LabelsImportBeginMethod.self, .init(source: "left.jsonl", format: .jsonl))
        _ = try daemon.call(LabelsImportChunkMethod.self, .init(importID: b3.importID, items: Self.examples(count: 10, tag: "left")))
        daemon.signal(SIGKILL)
        _ = try? daemon.waitForExit()
        try daemon.start()
        XCTAssertEqual(try daemon.call(LabelsStatsMethod.self, NoParams()).total, 1200)
        XCTAssertThrowsError(try daemon.call(LabelsImportCommitMethod.self, .init(importID: b3.importID)))
        XCTAssertEqual(try daemon.stop(), 0)
        XCTAssertEqual(try integrityCheck(daemon), ["ok"])
    }

    /// A database path holding something that is not a database: the daemon refuses to start, names the file,
    /// and leaves it byte for byte as it was.
    func testStart_refusesANonDatabaseFileAndNeverTouchesIt() throws {
        let daemon = try makeDaemon()
        let path = daemon.directory.path("state.sqlite")
        let junk = Data("these are my notes, not a database\n".utf8)
        try junk.write(to: URL(fileURLWithPath: path))
        try daemon.start(waitForSocket: false)
        let status = try daemon.waitForExit()
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(daemon.stderr.contains(path) && daemon.stderr.contains("not a"), daemon.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), junk)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "-wal"))
    }

    // MARK: the loop

    /// The schedule starts a run once enough labels arrived; a candidate trained on a learnable task beats the
    /// random champion and is published and served; rollback undoes it; a candidate trained on poisoned labels is not
    /// published and its run says why.
    func testScheduledRun_publishesGoodCandidate_rejectsWorseOne_rollbackUndoes() throws {
        let daemon = try makeDaemon(training: ["enabled": "true", "min_new_labels": "300"])
        try daemon.start()
        // Below the threshold: nothing starts.
        _ = try add(daemon, Self.examples(count: 200, tag: "a"))
        Thread.sleep(forTimeInterval: 2.5)
        XCTAssertTrue(try daemon.call(RunsListMethod.self, .init()).runs.isEmpty, "a run started below min_new_labels")
        // Above it: the schedule starts one.
        let added = try add(daemon, Self.examples(count: 500, tag: "b"))
        XCTAssertEqual(added.added, 500)
        let run1 = try waitForRun(daemon, until: { $0.isFinished })
        XCTAssertEqual(run1.trigger, "schedule")
        XCTAssertEqual(run1.status, "published", "\(run1)")
        XCTAssertEqual(run1.baseVersion, "v1")
        let stats = try daemon.call(LabelsStatsMethod.self, NoParams())
        XCTAssertEqual(run1.newExamples, stats.train, "the run trained on every train-split label")
        XCTAssertEqual(run1.evalExamples, stats.eval, "the champion and candidate were judged on the whole eval split")
        XCTAssertEqual(stats.newTrain, 0)
        XCTAssertEqual(stats.sinceRun, run1.id)
        let c1 = try XCTUnwrap(run1.candidateF1), ch1 = try XCTUnwrap(run1.championF1)
        XCTAssertGreaterThan(c1, ch1)
        XCTAssertGreaterThan(c1, 0.8, "the tiny model did not learn the template task")
        let version1 = try XCTUnwrap(run1.candidateVersion)
        XCTAssertEqual(try waitForActive(daemon, { $0 == version1 }), version1)
        let detail = try daemon.call(RunsShowMethod.self, .init(id: run1.id))
        XCTAssertEqual(detail.epochs.count, 4)
        XCTAssertEqual(detail.recipe.learningRate, 0.001)
        XCTAssertEqual(detail.gateTolerance, 0)
        XCTAssertNotNil(detail.candidate?.macroF1)
        XCTAssertEqual(stagingEntries(daemon), [])
        // Served predictions come from the candidate.
        let p = try daemon.call(PredictMethod.self, .init(texts: ["i love this camera so much #z1", "worst flight ever, sorry #z2"]))
        XCTAssertEqual(p.model, version1)
        XCTAssertEqual(p.predictions.map(\.label), ["positive", "negative"])

        // Poison: new texts that all say "neutral", whatever their sentiment, and no replay. The candidate learns to
        // answer neutral to everything. Deterministic on purpose: random labels only blur the task, and a
        // candidate that keeps most of it can tie or beat the champion on an eval split that now holds noise too
        // (seen in CI). On this eval split (112 rows, clean and poisoned) the champion scores macro-F1 0.66
        // and the candidate 0.24, the same on every run.
        let poison = Self.examples(count: 450, tag: "n").map { LabelItem(text: $0.text, label: .name("neutral")) }
        try usePoisonRecipe(daemon)
        _ = try add(daemon, poison)
        let run2 = try waitForRun(daemon, until: { $0.id != run1.id && $0.isFinished })
        XCTAssertEqual(run2.status, "rejected", "\(run2)")
        XCTAssertEqual(run2.decision, "rejected")
        XCTAssertLessThan(try XCTUnwrap(run2.candidateF1), try XCTUnwrap(run2.championF1))
        XCTAssertTrue(run2.reason?.contains("the serving model stays") ?? false, "\(run2.reason ?? "")")
        XCTAssertNil(run2.candidateVersion)
        XCTAssertEqual(run2.baseVersion, version1)
        XCTAssertEqual(try active(daemon), version1)
        XCTAssertEqual(stagingEntries(daemon), [])
        let dirs = try FileManager.default.contentsOfDirectory(atPath: daemon.modelsDirectory.path).filter { !$0.hasPrefix(".") }
        XCTAssertEqual(Set(dirs), ["v1", version1], "a rejected candidate reached models/")

        // Rollback undoes the published run.
        let back = try daemon.call(RollbackMethod.self, .init())
        XCTAssertEqual(back.active, "v1")
        XCTAssertEqual(try active(daemon), "v1")
        XCTAssertEqual(try daemon.stop(), 0)
        XCTAssertEqual(try integrityCheck(daemon), ["ok"])
    }

    /// Switches the running daemon to replay_ratio 0 (reload), so the poisoned run sees only its poisoned labels.
    private func usePoisonRecipe(_ daemon: DaemonProcess) throws {
        daemon.extraTables["training"]?["replay_ratio"] = "0.0"
        daemon.extraTables["training"]?["epochs"] = "6"
        try daemon.writeConfig()
        _ = try daemon.call(ReloadMethod.self, NoParams())
    }

    /// method = "lora": the candidate is a PEFT adapter over the serving version; a second run trains that
    /// adapter further over the same base; both are served.
    func testLoRARuns_publishAdaptersOverTheServingBase() throws {
        let daemon = try makeDaemon(training: ["method": "\"lora\"", "learning_rate": "0.005", "epochs": "6", "lora_rank": "4"])
        try daemon.start()
        _ = try add(daemon, Self.examples(count: 450, tag: "l"))
        let run1 = try daemon.call(TrainMethod.self, .init())
        XCTAssertEqual(run1.method, "lora")
        let done1 = try waitForRun(daemon, id: run1.id, until: { $0.isFinished })
        XCTAssertEqual(done1.status, "published", "\(done1)\n\(daemon.stderr.suffix(2000))")
        let v1 = try XCTUnwrap(done1.candidateVersion)
        let folder = daemon.modelsDirectory.appendingPathComponent(v1)
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: folder.path))
        XCTAssertTrue(files.contains("adapter_config.json") && files.contains("adapter_model.safetensors"), "\(files)")
        XCTAssertFalse(files.contains("model.safetensors"), "a LoRA run wrote a whole model")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("adapter_config.json"))) as? [String: Any]
        XCTAssertEqual(config?["base_model_name_or_path"] as? String, "v1")
        XCTAssertEqual(config?["r"] as? Int, 4)
        XCTAssertEqual(try waitForActive(daemon, { $0 == v1 }), v1)
        XCTAssertGreaterThan(try XCTUnwrap(done1.candidateF1), try XCTUnwrap(done1.championF1))

        // The adapter is trained further: the new candidate names the same base.
        _ = try add(daemon, Self.examples(count: 150, tag: "m"))
        let run2 = try daemon.call(TrainMethod.self, .init())
        let done2 = try waitForRun(daemon, id: run2.id, until: { $0.isFinished })
        XCTAssertEqual(done2.baseVersion, v1)
        XCTAssertTrue(["published", "rejected"].contains(done2.status), "\(done2)\n\(daemon.stderr.suffix(2000))")
        if let v2 = done2.candidateVersion {
            let c2 = try JSONSerialization.jsonObject(with: Data(contentsOf: daemon.modelsDirectory
                .appendingPathComponent(v2).appendingPathComponent("adapter_config.json"))) as? [String: Any]
            XCTAssertEqual(c2?["base_model_name_or_path"] as? String, "v1")
            XCTAssertEqual(try waitForActive(daemon, { $0 == v2 }), v2)
            XCTAssertEqual(try daemon.call(PredictMethod.self, .init(texts: ["i love this car so much #q"])).model, v2)
        }
        XCTAssertEqual(try daemon.stop(), 0)
        XCTAssertEqual(try integrityCheck(daemon), ["ok"])
    }

    func testTrain_refusesWithoutNewLabelsOrEvalSplit_andOnlyOneAtATime() throws {
        let daemon = try makeDaemon(training: ["min_eval_labels": "1000", "epochs": "100"])
        try daemon.start()
        XCTAssertThrowsError(try daemon.call(TrainMethod.self, .init())) { error in
            XCTAssertEqual((error as? RPCErrorObject)?.data?.kind, "nothing_to_train")
        }
        _ = try add(daemon, Self.examples(count: 300, tag: "c"))
        XCTAssertThrowsError(try daemon.call(TrainMethod.self, .init())) { error in
            let e = error as? RPCErrorObject
            XCTAssertEqual(e?.data?.kind, "nothing_to_train")
            XCTAssertTrue(e?.message.contains("min_eval_labels") ?? false, "\(String(describing: e))")
        }
        XCTAssertThrowsError(try daemon.call(TrainMethod.self, .init(recipe: RunRecipe(method: "half")))) { error in
            XCTAssertEqual((error as? RPCErrorObject)?.data?.kind, "invalid_params")
        }
        XCTAssertEqual(try daemon.stop(), 0)
    }

    func testCancel_stopsTheRunCleanly_andServingNeverStops() throws {
        let daemon = try makeDaemon(training: ["epochs": "100"])
        try daemon.start()
        _ = try add(daemon, Self.examples(count: 400, tag: "d"))
        let run = try daemon.call(TrainMethod.self, .init(recipe: RunRecipe(epochs: 100)))
        XCTAssertEqual(run.trigger, "manual")
        XCTAssertThrowsError(try daemon.call(TrainMethod.self, .init())) { error in
            XCTAssertEqual((error as? RPCErrorObject)?.data?.kind, "training_busy")
        }
        _ = try waitForRun(daemon, id: run.id, until: { ($0.step ?? 0) > 0 })
        // Serving keeps answering while the worker trains.
        for _ in 0..<5 { XCTAssertEqual(try daemon.call(PredictMethod.self, .init(texts: ["hello"])).model, "v1") }
        let cancelled = try daemon.call(TrainCancelMethod.self, NoParams())
        XCTAssertEqual(cancelled.status, "cancelled", "\(cancelled)")
        XCTAssertTrue(cancelled.reason?.contains("train.cancel") ?? false, "\(cancelled.reason ?? "")")
        XCTAssertEqual(stagingEntries(daemon), [])
        XCTAssertEqual(try active(daemon), "v1")
        // The labels were not consumed: a new run may start.
        XCTAssertEqual(try daemon.call(LabelsStatsMethod.self, NoParams()).newTrain,
                       try daemon.call(LabelsStatsMethod.self, NoParams()).train)
        XCTAssertEqual(try daemon.stop(), 0)
        XCTAssertEqual(try integrityCheck(daemon), ["ok"])
    }

    // MARK: kills

    private func workerPID(_ daemon: DaemonProcess, run: Int64) throws -> pid_t {
        let db = try RunStore(path: URL(fileURLWithPath: daemon.directory.path("state.sqlite")))
        if let pid = try poll(timeout: 60, { try db.run(id: run)?.workerPid.flatMap { $0 > 0 ? $0 : nil } }) { return pid }
        throw DaemonTestError.timeout("worker pid of run \(run)")
    }

    /// A started daemon whose run (100 epochs: it outlasts the test) has made its first step.
    private func daemonInARun(tag: String) throws -> (daemon: DaemonProcess, run: RunSummary) {
        let daemon = try makeDaemon(training: ["epochs": "100"])
        try daemon.start()
        _ = try add(daemon, Self.examples(count: 400, tag: tag))
        let run = try daemon.call(TrainMethod.self, .init())
        _ = try waitForRun(daemon, id: run.id, until: { ($0.step ?? 0) > 0 })
        return (daemon, run)
    }

    private func processExists(_ pid: pid_t) -> Bool {
        // A zombie (exited, not yet reaped) counts as gone.
        guard kill(pid, 0) == 0 else { return false }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return !stat.contains(") Z ")
    }

    /// The worker alone dies right after the publishing rename: the daemon records the run as published (the
    /// version is complete and being served), not as failed.
    func testWorkerKilledAfterPublishing_runIsRecordedPublished() throws {
        let daemon = try makeDaemon()
        let (hook, marker) = daemon.pauseHook(at: "worker:after-publish")
        try daemon.start(environment: hook)
        _ = try add(daemon, Self.examples(count: 300, tag: "h"))
        let run = try daemon.call(TrainMethod.self, .init())
        try daemon.waitUntilPaused(marker)
        kill(try workerPID(daemon, run: run.id), SIGKILL)
        let after = try waitForRun(daemon, id: run.id, until: { $0.isFinished })
        XCTAssertEqual(after.status, "published", "\(after)")
        let version = try XCTUnwrap(after.candidateVersion)
        XCTAssertEqual(try waitForActive(daemon, { $0 == version }), version)
        XCTAssertEqual(stagingEntries(daemon), [])
        XCTAssertEqual(try daemon.stop(), 0)
        XCTAssertEqual(try integrityCheck(daemon), ["ok"])
    }

    func testKillWorkerDuringTraining_runFailsAndServingGoesOn() throws {
        let (daemon, run) = try daemonInARun(tag: "e")
        kill(try workerPID(daemon, run: run.id), SIGKILL)
        let failed = try waitForRun(daemon, id: run.id, until: { $0.isFinished })
        XCTAssertEqual(failed.status, "failed")
        XCTAssertTrue(failed.reason?.contains("signal 9") ?? false, "\(failed.reason ?? "")")
        XCTAssertEqual(try daemon.call(PredictMethod.self, .init(texts: ["still here"])).model, "v1")
        XCTAssertEqual(stagingEntries(daemon), [])
        XCTAssertEqual(try daemon.stop(), 0)
        XCTAssertEqual(try integrityCheck(daemon), ["ok"])
    }

    /// The training worker shares the daemon's memory limit (the unit's MemoryMax=): when it runs out, the kernel's
    /// OOM killer must take the worker, not the daemon, and serving goes on. With a memory cgroup of the test's own
    /// (root), the kill is real: the daemon is put in a group whose limit leaves the worker too little. Without one,
    /// the worker is SIGKILLed as the kernel would. Either way the worker asks to be the OOM killer's first choice.
    func testWorkerOOMKilled_runFailsAndServingGoesOn() throws {
        // Long texts in large batches: a training step needs far more memory than serving the tiny model does.
        let daemon = try makeDaemon(training: ["epochs": "100", "batch_size": "256", "max_length": "128"])
        try daemon.start()
        let filler = String(repeating: " and then some more words about it", count: 20)
        _ = try add(daemon, Self.examples(count: 400, tag: "oom").map { LabelItem(text: $0.text + filler, label: $0.label) })
        let pid = daemon.pid
        let group = MemoryCgroup()
        if let group {
            try group.add(pid)
            for _ in 0..<20 { _ = try daemon.call(PredictMethod.self, .init(texts: ["warm up", "the limit"])) }
            // What the daemon holds now plus a little: enough to serve, far too little for a training run (a whole
            // validation process of the tiny model peaks at ~5 MiB; one step of this run needs hundreds).
            try group.limit(group.usage + (24 << 20))
        }
        let run = try daemon.call(TrainMethod.self, .init())
        let worker = try workerPID(daemon, run: run.id)
        let adjust = (try? String(contentsOfFile: "/proc/\(worker)/oom_score_adj", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if group == nil {
            _ = try waitForRun(daemon, id: run.id, until: { ($0.step ?? 0) > 0 })
            XCTAssertEqual(adjust, "1000", "the worker did not make itself the OOM killer's first choice")
            kill(worker, SIGKILL)
        } else if let adjust {
            XCTAssertEqual(adjust, "1000", "the worker did not make itself the OOM killer's first choice")
        }
        let failed = try waitForRun(daemon, id: run.id, until: { $0.isFinished })
        XCTAssertEqual(failed.status, "failed")
        XCTAssertTrue(failed.reason?.contains("signal 9") ?? false, "\(failed.reason ?? "")")
        if let group { XCTAssertGreaterThanOrEqual(group.oomKills, 1, "no out-of-memory kill happened in the group") }
        XCTAssertEqual(daemon.pid, pid)
        XCTAssertTrue(processExists(pid), "the daemon was killed instead of the worker")
        for _ in 0..<5 { XCTAssertEqual(try daemon.call(PredictMethod.self, .init(texts: ["still here"])).model, "v1") }
        XCTAssertEqual(try daemon.stop(), 0)
        XCTAssertEqual(try integrityCheck(daemon), ["ok"])
    }

    func testKillDaemonDuringTraining_workerStops_restartMarksRunFailed() throws {
        let (daemon, run) = try daemonInARun(tag: "f")
        let worker = try workerPID(daemon, run: run.id)
        daemon.signal(SIGKILL)
        _ = try? daemon.waitForExit()
        // The orphaned worker notices within a few seconds and stops.
        let deadline = Date().addingTimeInterval(30)
        while processExists(worker) && Date() < deadline { usleep(100_000) }
        XCTAssertFalse(processExists(worker), "the worker outlived its daemon")
        try daemon.start()
        let after = try waitForRun(daemon, id: run.id, until: { $0.isFinished })
        XCTAssertTrue(["failed", "cancelled"].contains(after.status), "\(after)")
        XCTAssertEqual(try active(daemon), "v1")
        XCTAssertEqual(stagingEntries(daemon), [])
        XCTAssertEqual(try daemon.stop(), 0)
        XCTAssertEqual(try integrityCheck(daemon), ["ok"])
    }

    /// Kills daemon and worker at the two publish points: before the rename nothing is served and the run fails;
    /// after it the complete version is served and the run is recorded as published.
    func testKillDuringPublish_neverServesHalfAndNeverLosesAPublishedRun() throws {
        for point in ["before-publish", "after-publish"] {
            let daemon = try makeDaemon()
            let (hook, marker) = daemon.pauseHook(at: "worker:\(point)")
            try daemon.start(environment: hook)
            _ = try add(daemon, Self.examples(count: 300, tag: "g"))
            let run = try daemon.call(TrainMethod.self, .init())
            try daemon.waitUntilPaused(marker)
            let worker = try workerPID(daemon, run: run.id)
            daemon.signal(SIGKILL)
            kill(worker, SIGKILL)
            _ = try? daemon.waitForExit()
            while processExists(worker) { usleep(20_000) }
            try daemon.start(environment: [:])
            let after = try waitForRun(daemon, id: run.id, until: { $0.isFinished })
            let published = try FileManager.default.contentsOfDirectory(atPath: daemon.modelsDirectory.path)
                .filter { $0.hasPrefix("run-\(run.id)-") }
            if point == "before-publish" {
                XCTAssertEqual(after.status, "failed", point)
                XCTAssertEqual(published, [], point)
                XCTAssertEqual(try active(daemon), "v1", point)
            } else {
                XCTAssertEqual(after.status, "published", "\(point): \(after)")
                XCTAssertEqual(published.count, 1, point)
                XCTAssertEqual(after.candidateVersion, published.first, point)
                XCTAssertEqual(try waitForActive(daemon, { $0 == published.first }), published.first, point)
            }
            XCTAssertEqual(stagingEntries(daemon), [], point)
            XCTAssertEqual(try daemon.stop(), 0)
            XCTAssertEqual(try integrityCheck(daemon), ["ok"], point)
        }
    }
}
