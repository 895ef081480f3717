import Foundation
import Logging
import XCTest
@testable import SentimentService

final class RegistryWatcherTests: XCTestCase {
    // MARK: SettleTracker (pure)

    func testSettleTracker_nameIsDueOnlyAfterAQuietPeriod() {
        var tracker = SettleTracker(settleMilliseconds: 100)
        let ms: UInt64 = 1_000_000
        XCTAssertNil(tracker.nextDeadline)
        tracker.touch("v1", at: 0)
        XCTAssertEqual(tracker.nextDeadline, 100 * ms)
        tracker.touch("v1", at: 80 * ms)  // still changing: the quiet period restarts
        XCTAssertEqual(tracker.takeDue(at: 100 * ms), [])
        XCTAssertEqual(tracker.takeDue(at: 179 * ms), [])
        XCTAssertEqual(tracker.takeDue(at: 180 * ms), ["v1"])
        XCTAssertEqual(tracker.takeDue(at: 500 * ms), [], "reported once")
        XCTAssertTrue(tracker.isIdle)
    }

    func testSettleTracker_namesSettleIndependently() {
        var tracker = SettleTracker(settleMilliseconds: 10)
        let ms: UInt64 = 1_000_000
        tracker.touch("b", at: 0)
        tracker.touch("a", at: 5 * ms)
        tracker.touch("c", at: 0)
        XCTAssertEqual(tracker.nextDeadline, 10 * ms)
        XCTAssertEqual(tracker.takeDue(at: 10 * ms), ["b", "c"])
        XCTAssertEqual(tracker.nextDeadline, 15 * ms)
        XCTAssertEqual(tracker.takeDue(at: 20 * ms), ["a"])
    }

    // MARK: DirectoryWatcher (real inotify)

    private final class Reports: @unchecked Sendable {
        private let lock = NSLock()
        private var settled: [(String, Date)] = []
        private var overflows = 0
        func add(_ name: String) { lock.lock(); settled.append((name, Date())); lock.unlock() }
        var all: [(String, Date)] { lock.lock(); defer { lock.unlock() }; return settled }
        var names: [String] { all.map(\.0) }
    }

    private var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory
            .appendingPathComponent("sentimentd-watch-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: root)
    }

    private func makeWatcher(settle: Int, reports: Reports) throws -> DirectoryWatcher {
        let watcher = DirectoryWatcher(root: root, settleMilliseconds: settle,
                                       logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                                       onSettled: { reports.add($0) }, onOverflow: {})
        try watcher.start()
        return watcher
    }

    private func waitUntil(timeout: TimeInterval = 10, _ condition: () -> Bool) {
        let end = Date().addingTimeInterval(timeout)
        while !condition() && Date() < end { Thread.sleep(forTimeInterval: 0.02) }
    }

    func testWatcher_folderFilledFileByFile_isReportedOnceAfterTheLastWrite() throws {
        let reports = Reports()
        let watcher = try makeWatcher(settle: 400, reports: reports)
        defer { watcher.stop() }
        let version = root.appendingPathComponent("v1")
        try FileManager.default.createDirectory(at: version, withIntermediateDirectories: true)
        var lastWrite = Date()
        for i in 0..<6 {
            Thread.sleep(forTimeInterval: 0.08)  // well under the settle time
            try Data(repeating: UInt8(i), count: 4096).write(to: version.appendingPathComponent("file\(i)"))
            lastWrite = Date()
        }
        waitUntil { !reports.all.isEmpty }
        Thread.sleep(forTimeInterval: 0.6)  // would catch a second report
        XCTAssertEqual(reports.names, ["v1"])
        let reportedAt = try XCTUnwrap(reports.all.first?.1)
        XCTAssertGreaterThanOrEqual(reportedAt.timeIntervalSince(lastWrite), 0.39, "reported before the folder was quiet")
    }

    func testWatcher_largeFileWrittenInChunks_keepsTheFolderUnsettled() throws {
        let reports = Reports()
        let watcher = try makeWatcher(settle: 300, reports: reports)
        defer { watcher.stop() }
        let version = root.appendingPathComponent("big")
        try FileManager.default.createDirectory(at: version, withIntermediateDirectories: true)
        let handle = try FileHandle(forWritingTo: {
            let url = version.appendingPathComponent("model.safetensors")
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            return url
        }())
        // One file open for ~1 s, written every 100 ms: no close, so only IN_MODIFY says it is still changing.
        for _ in 0..<10 {
            try handle.write(contentsOf: Data(repeating: 7, count: 65536))
            Thread.sleep(forTimeInterval: 0.1)
            XCTAssertEqual(reports.names, [], "reported while a file was still being written")
        }
        try handle.close()
        waitUntil { !reports.all.isEmpty }
        XCTAssertEqual(reports.names, ["big"])
    }

    func testWatcher_renameFromStaging_isOneArrival_andDotDirectoriesAreIgnored() throws {
        let reports = Reports()
        let watcher = try makeWatcher(settle: 150, reports: reports)
        defer { watcher.stop() }
        let staging = root.appendingPathComponent(".staging/run-3")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        for name in ["config.json", "model.safetensors", "sentimentd.json"] {
            try Data("x".utf8).write(to: staging.appendingPathComponent(name))
        }
        Thread.sleep(forTimeInterval: 0.4)
        XCTAssertEqual(reports.names, [], "work in .staging is not a version")
        try FileManager.default.moveItem(at: staging, to: root.appendingPathComponent("run-3"))
        waitUntil { !reports.all.isEmpty }
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(reports.names, ["run-3"])
    }

    func testWatcher_changesInsideAnExistingFolder_andRemoval_areReported() throws {
        let existing = root.appendingPathComponent("v0")
        try FileManager.default.createDirectory(at: existing, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: existing.appendingPathComponent("config.json"))
        let reports = Reports()
        let watcher = try makeWatcher(settle: 150, reports: reports)
        defer { watcher.stop() }
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(reports.names, [], "a folder present at start is the caller's initial scan, not an event")

        try Data("{\"a\": 1}".utf8).write(to: existing.appendingPathComponent("config.json"))
        waitUntil { reports.names.count == 1 }
        XCTAssertEqual(reports.names, ["v0"])

        try FileManager.default.removeItem(at: existing)
        waitUntil { reports.names.count == 2 }
        XCTAssertEqual(reports.names, ["v0", "v0"])

        // A folder renamed away must not report its later changes under the old name.
        let other = root.appendingPathComponent("v1")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        waitUntil { reports.names.count == 3 }
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("sentimentd-out-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: outside) }
        try FileManager.default.moveItem(at: other, to: outside)
        waitUntil { reports.names.count == 4 }
        try Data("late".utf8).write(to: outside.appendingPathComponent("late.txt"))
        Thread.sleep(forTimeInterval: 0.4)
        XCTAssertEqual(reports.names, ["v0", "v0", "v1", "v1"])
    }

    func testWatcher_stop_returnsAndNoMoreReports() throws {
        let reports = Reports()
        let watcher = try makeWatcher(settle: 50, reports: reports)
        watcher.stop()
        watcher.stop()  // idempotent
        try FileManager.default.createDirectory(at: root.appendingPathComponent("late"), withIntermediateDirectories: true)
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(reports.names, [])
    }

    func testWatcher_missingRoot_failsNamingThePath() {
        let missing = root.appendingPathComponent("nope")
        let watcher = DirectoryWatcher(root: missing, settleMilliseconds: 10,
                                       logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                                       onSettled: { _ in }, onOverflow: {})
        XCTAssertThrowsError(try watcher.start()) { error in
            XCTAssertTrue("\(error)".hasPrefix(missing.path), "\(error)")
        }
    }
}
