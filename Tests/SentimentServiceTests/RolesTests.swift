import Foundation
import SentimentCore
import SentimentProtocol
import SentimentStore
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Roles on the socket, with the real daemon and the real sentimentctl run as other uids: a reader may read and
/// predict but not write labels or steer; a labeller's labels stay out of the frozen evaluation split; only an admin
/// loads versions that are not in memory or grows the split.
final class RolesTests: XCTestCase {
    /// A daemon whose socket anyone may open (as a member of group sentimentd would), with the test groups as the
    /// labeller and admin groups.
    private func makeDaemon(server: [String: String] = [:], labels: [String: String] = [:]) throws -> DaemonProcess {
        try DaemonProcess.withRoles(server: server, labels: labels)
    }

    private func labels(_ daemon: DaemonProcess) throws -> LabelStore {
        try LabelStore(path: URL(fileURLWithPath: daemon.directory.path("state.sqlite")))
    }

    private func stats(_ daemon: DaemonProcess) throws -> LabelsStatsMethod.Result {
        try daemon.client().call(LabelsStatsMethod.self, NoParams())
    }

    /// Writes labelled items as a JSONL file another uid can read.
    private func jsonl(_ items: [LabelItem], in daemon: DaemonProcess, name: String) throws -> String {
        let path = daemon.directory.path(name)
        let lines = try items.map { item -> String in
            let label: Any = { if case let .name(n) = item.label { return n }; if case let .index(i) = item.label { return i }; return "" }()
            return String(decoding: try JSONSerialization.data(withJSONObject: ["text": item.text, "label": label]), as: UTF8.self)
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        return path
    }

    // MARK: reader

    func testReader_readsAndPredicts_butCannotWriteLabelsOrSteer() throws {
        let daemon = try makeDaemon()
        let reader = OtherUser.nobody
        XCTAssertEqual(try reader.sentimentctl(["status"], daemon: daemon).status, 0)
        let predicted = try reader.sentimentctl(["predict", "I love this"], daemon: daemon)
        XCTAssertEqual(predicted.status, 0, predicted.err)
        XCTAssertEqual(try reader.sentimentctl(["labels", "stats"], daemon: daemon).status, 0)
        XCTAssertEqual(try reader.sentimentctl(["runs"], daemon: daemon).status, 0)
        XCTAssertEqual(try reader.sentimentctl(["metrics"], daemon: daemon).status, 0)

        let label = try reader.sentimentctl(["label", "poison", "--as", "positive"], daemon: daemon)
        XCTAssertEqual(label.status, 4, "a reader added a label: \(label)")
        XCTAssertTrue(label.err.contains("labels.add needs the labeller role"), label.err)
        XCTAssertTrue(label.err.contains("\"\(OtherUser.labellerGroup)\""), label.err)
        let file = try jsonl(DaemonTrainingTests.examples(count: 20, tag: "r"), in: daemon, name: "r.jsonl")
        let imported = try reader.sentimentctl(["import", file], daemon: daemon)
        XCTAssertEqual(imported.status, 4, "\(imported)")
        for args in [["rollback"], ["train"], ["reload"], ["activate", "v1"], ["labels", "draw-eval", "1"]] {
            let r = try reader.sentimentctl(args, daemon: daemon)
            XCTAssertEqual(r.status, 4, "\(args): \(r)")
            XCTAssertTrue(r.err.contains("needs the admin role"), "\(args): \(r.err)")
        }
        XCTAssertEqual(try stats(daemon).total, 0, "a refused write left labels behind")
        XCTAssertEqual(try daemon.stop(), 0)
    }

    /// A reader group leaves peers outside it without any role; the check follows a reload on open daemons.
    func testReaderGroup_shutsOutEveryoneElse_andAReloadAppliesAtOnce() throws {
        let daemon = try makeDaemon(server: ["reader_group": "\"\(OtherUser.labellerGroup)\""])
        let outsider = try OtherUser.nobody.sentimentctl(["status"], daemon: daemon)
        XCTAssertEqual(outsider.status, 4, "\(outsider)")
        XCTAssertTrue(outsider.err.contains("holds no role"), outsider.err)
        let member = try OtherUser.member(of: OtherUser.labellerGroup)
        XCTAssertEqual(try member.sentimentctl(["status"], daemon: daemon).status, 0)
        // Open the socket to everyone again: a reload is enough.
        try daemon.writeConfig(serverSettings: ["socket_mode": "\"0666\"", "labeller_group": "\"\(OtherUser.labellerGroup)\"",
                                                "admin_group": "\"\(OtherUser.adminGroup)\""])
        _ = try daemon.client().call(ReloadMethod.self, NoParams())
        XCTAssertEqual(try OtherUser.nobody.sentimentctl(["status"], daemon: daemon).status, 0)
        XCTAssertEqual(try daemon.stop(), 0)
    }

    // MARK: labeller and the frozen split

    /// The poisoning attempt: a labeller adds 200 new labels and relabels texts of the evaluation split.
    /// None of the new texts enters the split, and every write to a split text is refused and changes nothing.
    func testLabeller_poisoningIsKeptOutOfTheEvaluationSplit() throws {
        let daemon = try makeDaemon()
        // An admin's labels: split by hash, ~10 % to the evaluation split.
        let adminItems = DaemonTrainingTests.examples(count: 300, tag: "adm")
        let byAdmin = try daemon.client().call(LabelsAddMethod.self, .init(items: adminItems))
        XCTAssertGreaterThan(byAdmin.evalSplit, 10)
        let evalBefore = try labels(daemon).evalSet()
        XCTAssertEqual(evalBefore.count, byAdmin.evalSplit)

        // 200 new labels from a labeller (supplementary group): all to the training split.
        let labeller = try OtherUser.member(of: OtherUser.labellerGroup)
        let poison = DaemonTrainingTests.examples(count: 200, tag: "poison").map { LabelItem(text: $0.text, label: .name("neutral")) }
        let file = try jsonl(poison, in: daemon, name: "poison.jsonl")
        let imported = try labeller.sentimentctl(["import", file, "--json"], daemon: daemon)
        XCTAssertEqual(imported.status, 0, "\(imported)")
        let summary = try RPCCoding.decoder().decode(LabelsImportCommitMethod.Result.self, from: Data(imported.out.utf8)).summary
        XCTAssertEqual(summary.added, 200)
        XCTAssertEqual(summary.evalSplit, 0, "a labeller's new texts entered the evaluation split")
        XCTAssertEqual(try labels(daemon).evalSet(), evalBefore)

        // Relabelling texts of the split: refused, one by one and in an import, and nothing changes.
        let target = try XCTUnwrap(evalBefore.first)
        let flipped = target.label == "negative" ? "positive" : "negative"
        let relabel = try labeller.sentimentctl(["label", target.text, "--as", flipped], daemon: daemon)
        XCTAssertEqual(relabel.status, 1, "\(relabel)")
        XCTAssertTrue(relabel.err.contains("frozen evaluation split"), relabel.err)
        let mixed = [LabelItem(text: "a fresh labeller text #m1", label: .name("positive"))]
            + evalBefore.prefix(5).map { LabelItem(text: $0.text, label: .name($0.label == "negative" ? "positive" : "negative")) }
        let mixedFile = try jsonl(mixed, in: daemon, name: "mixed.jsonl")
        let rejected = try labeller.sentimentctl(["import", mixedFile], daemon: daemon)
        XCTAssertEqual(rejected.status, 1, "\(rejected)")
        for line in 2...6 { XCTAssertTrue(rejected.err.contains("line \(line): the text is in the frozen evaluation split"), rejected.err) }
        XCTAssertNil(try labels(daemon).label(forText: "a fresh labeller text #m1"), "a rejected import applied something")
        // With --skip-invalid the rest is applied and the split lines are reported.
        let skipped = try labeller.sentimentctl(["import", mixedFile, "--skip-invalid"], daemon: daemon)
        XCTAssertEqual(skipped.status, 0, "\(skipped)")
        XCTAssertTrue(skipped.out.contains("5  rejected"), skipped.out)
        XCTAssertEqual(try labels(daemon).label(forText: "a fresh labeller text #m1")?.split, .train)
        XCTAssertEqual(try labels(daemon).evalSet(), evalBefore, "a labeller changed the evaluation split")
        // Nor may a labeller ask for the split outright.
        let asked = try labeller.sentimentctl(["label", "put me in eval", "--as", "positive", "--split", "eval"], daemon: daemon)
        XCTAssertEqual(asked.status, 4, "\(asked)")

        // The primary group counts as well as a supplementary one; the labels record who wrote them.
        let primary = try OtherUser.member(of: OtherUser.labellerGroup, uid: 65533, primary: true)
        XCTAssertEqual(try primary.sentimentctl(["label", "by the primary group", "--as", "neutral"], daemon: daemon).status, 0)
        XCTAssertEqual(try labels(daemon).label(forText: "by the primary group")?.uid, 65533)
        XCTAssertEqual(try labels(daemon).label(forText: poison[0].text)?.uid, 65534)

        // The split grows only by an admin: here a draw of labels the admin wrote.
        let before = try stats(daemon).eval
        let admin = try OtherUser.member(of: OtherUser.adminGroup, uid: 65532)
        let drawn = try admin.sentimentctl(["labels", "draw-eval", "7", "--from-uid", "0"], daemon: daemon)
        XCTAssertEqual(drawn.status, 0, "\(drawn)")
        XCTAssertEqual(try stats(daemon).eval, before + 7)
        XCTAssertTrue(try labels(daemon).evalSet().allSatisfy { $0.uid == 0 }, "the draw took a labeller's label")
        XCTAssertEqual(try daemon.stop(), 0)
    }

    /// A run records whose labels it trained on, and `runs show` says so.
    func testRunsShow_listsTheUIDsWhoseLabelsTheRunTrainedOn() throws {
        let daemon = try DaemonProcess.withRoles(training: [
            "enabled": "false", "min_eval_labels": "10", "epochs": "1", "max_length": "24", "nice": "5",
        ])
        _ = try daemon.client().call(LabelsAddMethod.self, .init(items: DaemonTrainingTests.examples(count: 200, tag: "adm")))
        let labeller = try OtherUser.member(of: OtherUser.labellerGroup)
        let file = try jsonl(DaemonTrainingTests.examples(count: 30, tag: "lab"), in: daemon, name: "lab.jsonl")
        XCTAssertEqual(try labeller.sentimentctl(["import", file], daemon: daemon).status, 0)
        let trainCount = try stats(daemon).train
        let run = try daemon.client().call(TrainMethod.self, .init())
        let deadline = Date().addingTimeInterval(300)
        var detail = try daemon.client().call(RunsShowMethod.self, .init(id: run.id))
        while !detail.run.isFinished && Date() < deadline {
            usleep(100_000)
            detail = try daemon.client().call(RunsShowMethod.self, .init(id: run.id))
        }
        let authors = try XCTUnwrap(detail.labelAuthors, "\(detail.run)")
        XCTAssertEqual(authors.first { $0.uid == 65534 }?.examples, 30)
        XCTAssertEqual(authors.reduce(0) { $0 + $1.examples }, trainCount)
        let shown = try OtherUser.nobody.sentimentctl(["runs", "show", String(run.id)], daemon: daemon)
        XCTAssertTrue(shown.out.contains("uid 65534 (nobody): 30"), shown.out)
        XCTAssertEqual(try daemon.stop(), 0)
    }

    /// `labels.trust_labellers = true` gives labellers the admins' hash assignment.
    func testTrustedLabellers_areSplitByHashLikeAdmins() throws {
        let daemon = try makeDaemon(labels: ["trust_labellers": "true"])
        let labeller = try OtherUser.member(of: OtherUser.labellerGroup)
        let file = try jsonl(DaemonTrainingTests.examples(count: 200, tag: "t"), in: daemon, name: "t.jsonl")
        XCTAssertEqual(try labeller.sentimentctl(["import", file], daemon: daemon).status, 0)
        XCTAssertGreaterThan(try stats(daemon).eval, 5)
        XCTAssertEqual(try daemon.stop(), 0)
    }

    // MARK: versions in memory

    /// Loading a version that is not in memory is an admin's call; a version already loaded anyone may ask.
    func testPredictWithAVersionNotInMemory_isForAdminsOnly() throws {
        let daemon = try makeDaemon()
        try daemon.installModel(version: "v2")
        let deadline = Date().addingTimeInterval(60)
        while try daemon.client().call(StatusMethod.self, NoParams()).activeModel != "v2" && Date() < deadline { usleep(50_000) }
        let reader = OtherUser.nobody
        let refused = try reader.sentimentctl(["predict", "--model", "v1", "hello"], daemon: daemon)
        XCTAssertEqual(refused.status, 4, "a reader loaded a version: \(refused)")
        XCTAssertTrue(refused.err.contains("not in memory"), refused.err)
        XCTAssertEqual(try reader.sentimentctl(["predict", "--model", "v2", "hello"], daemon: daemon).status, 0)
        // An admin loads it; from then on it is in memory and a reader may ask it too.
        XCTAssertEqual(try daemon.client().call(PredictMethod.self, .init(texts: ["hello"], model: "v1")).model, "v1")
        let loaded = try reader.sentimentctl(["predict", "--model", "v1", "hello"], daemon: daemon)
        XCTAssertEqual(loaded.status, 0, "\(loaded)")
        XCTAssertEqual(try daemon.stop(), 0)
    }
}
