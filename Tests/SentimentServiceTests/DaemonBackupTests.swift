import Foundation
import SentimentCore
import SentimentProtocol
import SentimentStore
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `sentimentctl backup` against the real daemon: a consistent copy while labels are being written, owned by the
/// caller, and the README's restore (stop, replace, start) serving the same labels and versions as at the backup.
final class DaemonBackupTests: XCTestCase {
    private static func items(_ tag: String, _ count: Int) -> [LabelItem] {
        (0..<count).map { LabelItem(text: "\(tag) text \($0)", label: .index($0 % 3)) }
    }

    /// Labels as (split, label, text), by id.
    private func holdings(_ daemon: DaemonProcess) throws -> [String] {
        var out: [String] = []
        var after: Int64?
        repeat {
            let page = try daemon.client().call(LabelsListMethod.self, .init(afterID: after))
            out += page.labels.map { "\($0.split.rawValue)\t\($0.label)\t\($0.text)" }
            after = page.nextAfterID
        } while after != nil
        return out
    }

    func testBackupWhileWriting_isConsistent_andRestoreServesTheSameLabelsAndVersions() throws {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess(models: ["activate": "\"manual\""])
        daemon.extraTables = ["training": ["enabled": "false"]]
        try daemon.writeConfig(models: ["activate": "\"manual\""])
        try daemon.installModel(version: "v1")
        try daemon.installModel(version: "v2")
        try daemon.start()
        let client = try daemon.client()
        _ = try client.call(ModelsActivateMethod.self, .init(version: "v1"))
        _ = try client.call(LabelsAddMethod.self, .init(items: Self.items("train", 300), split: .train))
        _ = try client.call(LabelsAddMethod.self, .init(items: Self.items("eval", 50), split: .eval))

        // A writer adds labels, one request after another, while the backup runs.
        let stop = TestFlag()
        let written = TestCounter()
        let writer = Thread {
            var n = 0
            while !stop.isSet, let c = try? daemon.client() {
                if (try? c.call(LabelsAddMethod.self, .init(items: Self.items("during \(n)", 20), split: .train))) != nil {
                    written.add(20)
                }
                n += 1
            }
        }
        writer.start()
        let deadline = Date().addingTimeInterval(60)
        while written.value < 100 && Date() < deadline { usleep(10_000) }
        let file = daemon.directory.path("backup.sqlite")
        let backup = try runSentimentctl(["backup", file], socket: daemon.socketPath)
        stop.set()
        XCTAssertEqual(backup.status, 0, backup.err)
        XCTAssertTrue(backup.out.contains("written to \(file)"), backup.out)
        while writer.isExecuting { usleep(10_000) }

        // The copy is a whole database: sound, the caller's, 0600, and every table as of one moment (the label
        // counter is the highest seq of the labels it holds; a torn copy would disagree).
        XCTAssertEqual(try StoreDatabase.integrityCheck(path: URL(fileURLWithPath: file)), ["ok"])
        var st = stat()
        XCTAssertEqual(stat(file, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        XCTAssertEqual(st.st_uid, getuid())
        let copy = daemon.directory.path("inspect.sqlite")
        try FileManager.default.copyItem(atPath: file, toPath: copy)
        let copied = try LabelStore(path: URL(fileURLWithPath: copy))
        let stats = try copied.stats(sinceSeq: nil)
        XCTAssertEqual(stats.maxSeq, Int64(stats.total.total), "the label counter and the labels disagree: a torn copy")
        XCTAssertGreaterThanOrEqual(stats.total.total, 350 + 100)
        XCTAssertEqual(stats.total.eval, 50)
        XCTAssertTrue(backup.out.contains("\(stats.total.total) labels"), backup.out)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: daemon.directory.url.path)
            .filter { $0.hasPrefix(StoreBackup.temporaryPrefix) }
        XCTAssertEqual(leftovers, [], "the daemon kept its copy after backup.end")
        let atBackup = try holdings(daemon).filter { line in
            try copied.label(forText: String(line.split(separator: "\t", maxSplits: 2)[2])) != nil
        }
        XCTAssertEqual(atBackup.count, stats.total.total)

        // Life goes on after the backup: more labels, a label changed, another version served.
        _ = try client.call(LabelsAddMethod.self, .init(items: Self.items("after", 40), split: .train))
        _ = try client.call(LabelsAddMethod.self, .init(items: [LabelItem(text: "train text 0", label: .name("positive"))]))
        _ = try client.call(ModelsActivateMethod.self, .init(version: "v2"))
        XCTAssertNotEqual(try holdings(daemon), atBackup)

        // Restore as the README says: stop, replace the database (its -wal and -shm go), start.
        XCTAssertEqual(try daemon.stop(), 0)
        let database = daemon.directory.path("state.sqlite")
        for suffix in ["-wal", "-shm"] { unlink(database + suffix) }
        XCTAssertEqual(rename(file, database), 0)
        try daemon.start()
        XCTAssertEqual(try holdings(daemon), atBackup, "the restored daemon does not hold the labels of the backup")
        let status = try daemon.client().call(StatusMethod.self, NoParams())
        XCTAssertEqual(status.activeModel, "v1", "the restored daemon does not serve the version active at the backup")
        let models = try daemon.client().call(ModelsListMethod.self, NoParams()).models
        XCTAssertEqual(Set(models.map(\.version)), ["v1", "v2"])
        XCTAssertEqual(try daemon.stop(), 0)
        XCTAssertEqual(try StoreDatabase.integrityCheck(path: URL(fileURLWithPath: database)), ["ok"])
    }

    func testBackup_isAnAdminsAndLeavesNothingBehindWhenRefused() throws {
        let daemon = try DaemonProcess.withRoles()
        let out = daemon.directory.url.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        chmod(out.path, 0o777)
        for user in [OtherUser.nobody, try OtherUser.member(of: OtherUser.labellerGroup)] {
            let r = try user.sentimentctl(["backup", out.appendingPathComponent("b.sqlite").path], daemon: daemon)
            XCTAssertEqual(r.status, 4, "\(user) took a backup: \(r)")
            XCTAssertTrue(r.err.contains("backup.begin needs the admin role"), r.err)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path), [])
        let admin = try OtherUser.member(of: OtherUser.adminGroup)
        let r = try admin.sentimentctl(["backup", out.appendingPathComponent("b.sqlite").path], daemon: daemon)
        XCTAssertEqual(r.status, 0, r.err)
        var st = stat()
        XCTAssertEqual(stat(out.appendingPathComponent("b.sqlite").path, &st), 0)
        XCTAssertEqual(st.st_uid, admin.uid, "the backup file belongs to the admin who asked, not to the daemon's user")
        XCTAssertEqual(try daemon.stop(), 0)
    }
}

/// A flag one thread sets and another reads.
final class TestFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    var isSet: Bool { lock.withLock { flag } }
    func set() { lock.withLock { flag = true } }
}

/// A count several threads add to.
final class TestCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func add(_ n: Int) { lock.withLock { count += n } }
}
