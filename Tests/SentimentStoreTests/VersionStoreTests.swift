import Foundation
import GRDB
import XCTest
import SentimentCore
@testable import SentimentStore

final class VersionStoreTests: StoreTestCase {
    func testOpen_createsFolderAndMigratesAnEmptyFile() throws {
        // An empty file is what a crash between create and first write leaves behind.
        try FileManager.default.createDirectory(at: databaseURL.deletingLastPathComponent(),
                                                withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: databaseURL.path, contents: Data()))
        let store = try VersionStore(path: databaseURL)
        XCTAssertEqual(try store.versions(), [])
        XCTAssertEqual(try store.activations(), [])

        let queue = try DatabaseQueue(path: databaseURL.path)
        try queue.read { db in
            XCTAssertTrue(try db.tableExists("model_version"))
            XCTAssertTrue(try db.tableExists("activation"))
            XCTAssertEqual(try String.fetchOne(db, sql: "PRAGMA journal_mode"), "wal")
            XCTAssertEqual(try StoreDatabase.migrator.appliedIdentifiers(db), Set(StoreDatabase.migrator.migrations))
        }
    }

    func testOpen_inMissingFolder_createsIt() throws {
        let nested = folder.appendingPathComponent("a/b/c/db.sqlite")
        _ = try VersionStore(path: nested)
        XCTAssertTrue(FileManager.default.fileExists(atPath: nested.path))
    }

    func testOpen_reopenDoesNotReapplyMigrations() throws {
        do {
            let store = try VersionStore(path: databaseURL)
            try store.recordArrival(version: "v1", fingerprint: "f1")
        }
        let store = try VersionStore(path: databaseURL)
        XCTAssertEqual(try store.versions().map(\.version), ["v1"])
    }

    func testOpen_whenDatabaseHasUnknownMigration_refusesWithNewerSchema() throws {
        _ = try VersionStore(path: databaseURL)
        let queue = try DatabaseQueue(path: databaseURL.path)
        try queue.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')")
        }
        XCTAssertThrowsError(try VersionStore(path: databaseURL)) { error in
            XCTAssertEqual(error as? StoreError,
                           .newerSchema(path: databaseURL.path, unknownMigrations: ["v99-from-the-future"]))
            XCTAssertTrue("\(error)".contains("newer sentimentd"))
        }
    }

    func testOpen_whenPathIsADirectory_failsNamingThePath() throws {
        let dir = folder.appendingPathComponent("adir")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        XCTAssertThrowsError(try VersionStore(path: dir)) { error in
            guard case let .cannotOpen(path, _)? = error as? StoreError else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual(path, dir.path)
        }
    }

    /// A rollback's activation and its rolled-back mark are one transaction: one failing leaves neither.
    func testRecordActivation_withRollbackMark_isAllOrNothing() throws {
        let store = try VersionStore(path: databaseURL)
        try store.recordArrival(version: "v1", fingerprint: "a")
        try store.recordArrival(version: "v2", fingerprint: "b")
        try store.recordActivation(version: "v2", reason: "arrival", uid: 0, fingerprint: "b")
        XCTAssertThrowsError(try store.recordActivation(version: "v1", reason: "rollback", uid: 0, fingerprint: "a",
                                                        markingRolledBack: "gone"))
        XCTAssertEqual(try store.activations().count, 1, "the activation was kept without its mark")
        try store.recordActivation(version: "v1", reason: "rollback", uid: 0, fingerprint: "a", markingRolledBack: "v2")
        XCTAssertEqual(try store.latestActivation()?.version, "v1")
        XCTAssertNotNil(try store.version("v2")?.rolledBackAt)
        // Choosing v2 again clears its mark in the same write.
        try store.recordActivation(version: "v2", reason: "manual", uid: 0, fingerprint: "b", clearingRolledBack: true)
        XCTAssertNil(try store.version("v2")?.rolledBackAt)
    }

    func testRecordArrival_newVersion_isPendingWithIncreasingSequence() throws {
        let store = try VersionStore(path: databaseURL)
        let a = try store.recordArrival(version: "a", fingerprint: "fa")
        let b = try store.recordArrival(version: "b", fingerprint: "fb")
        XCTAssertEqual(a.status, .pending)
        XCTAssertLessThan(a.arrivalSequence, b.arrivalSequence)
        XCTAssertEqual(try store.versions().map(\.version), ["a", "b"])
    }

    func testRecordArrival_changedFiles_keepsFirstSeenAndRollbackMarkButMovesToNewest() throws {
        let store = try VersionStore(path: databaseURL)
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        try store.recordArrival(version: "a", fingerprint: "f1", at: t0)
        try store.recordValid(version: "a", fingerprint: "f1", manifestSHA256: "abc", family: "roberta",
                              labels: ["negative", "neutral", "positive"], at: t0)
        try store.setRolledBack(version: "a", at: t0)
        try store.recordArrival(version: "b", fingerprint: "fb", at: t0.addingTimeInterval(1))

        let again = try store.recordArrival(version: "a", fingerprint: "f2", at: t0.addingTimeInterval(10))
        XCTAssertEqual(again.status, .pending)
        XCTAssertEqual(again.fingerprint, "f2")
        XCTAssertEqual(again.firstSeen, t0)
        XCTAssertEqual(again.arrivedAt, t0.addingTimeInterval(10))
        XCTAssertNil(again.manifestSHA256)
        XCTAssertNil(again.labels)
        XCTAssertEqual(again.rolledBackAt, t0)
        XCTAssertEqual(try store.versions().map(\.version), ["b", "a"])
        XCTAssertEqual(try store.version("a"), again)
    }

    func testRecordValidAndRejected_roundTripThroughTheFile() throws {
        do {
            let store = try VersionStore(path: databaseURL)
            try store.recordArrival(version: "good", fingerprint: "g")
            try store.recordArrival(version: "bad", fingerprint: "b")
            try store.recordValid(version: "good", fingerprint: "g", manifestSHA256: nil, family: "bert",
                                  labels: ["neg", "pos"])
            try store.recordRejected(version: "bad", fingerprint: "b",
                                     reason: "model.safetensors: tensor classifier.weight has shape [2, 8], expected [3, 8]")
        }
        let store = try VersionStore(path: databaseURL)
        let good = try XCTUnwrap(store.version("good"))
        XCTAssertEqual(good.status, .valid)
        XCTAssertEqual(good.family, "bert")
        XCTAssertEqual(good.labels, ["neg", "pos"])
        XCTAssertNotNil(good.validatedAt)
        let bad = try XCTUnwrap(store.version("bad"))
        XCTAssertEqual(bad.status, .rejected)
        XCTAssertEqual(bad.reason, "model.safetensors: tensor classifier.weight has shape [2, 8], expected [3, 8]")
        XCTAssertNil(try store.version("never"))
    }

    /// A version's int8 check is kept with it (through the file, every figure and the verdict), replaced by the next
    /// check, and forgotten when the version's files change.
    func testRecordInt8Check_roundTripsAndIsForgottenWhenTheFilesChange() throws {
        let check = Int8CheckRecord(fingerprint: "g", scheme: "weights ±63, activations 0...255",
                                    checkedAt: Date(timeIntervalSince1970: 1_800_000_000), seconds: 41.5, texts: 1255,
                                    evalTexts: 200, probeTexts: 1055, agreement: 0.9912, labelled: 200,
                                    fp32MacroF1: 0.7177, int8MacroF1: 0.7101, maxProbabilityDifference: 0.08,
                                    passed: false, reason: "int8's macro-F1 is 0.76 points below fp32's")
        do {
            let store = try VersionStore(path: databaseURL)
            try store.recordArrival(version: "good", fingerprint: "g")
            try store.recordValid(version: "good", fingerprint: "g", manifestSHA256: nil, family: "bert", labels: ["neg", "pos"])
            XCTAssertNil(try store.version("good")?.int8Check)
            try store.recordInt8Check(version: "good", check)
        }
        let store = try VersionStore(path: databaseURL)
        XCTAssertEqual(try store.version("good")?.int8Check, check)
        var passed = check
        passed.passed = true
        passed.reason = nil
        passed.fp32MacroF1 = nil
        try store.recordInt8Check(version: "good", passed)
        XCTAssertEqual(try store.version("good")?.int8Check, passed)
        try store.recordArrival(version: "good", fingerprint: "g2")
        XCTAssertNil(try store.version("good")?.int8Check, "a check of other files")
        XCTAssertThrowsError(try store.recordInt8Check(version: "ghost", check)) {
            XCTAssertEqual($0 as? StoreError, .unknownVersion("ghost"))
        }
    }

    func testRecordRemoved_keepsTheRowSoHistoryStillRefersToIt() throws {
        let store = try VersionStore(path: databaseURL)
        try store.recordArrival(version: "a", fingerprint: "fa")
        try store.recordActivation(version: "a", reason: "startup", uid: 1, fingerprint: "fa")
        try store.recordRemoved(version: "a", reason: "folder deleted")
        XCTAssertEqual(try store.version("a")?.status, .removed)
        XCTAssertEqual(try store.version("a")?.reason, "folder deleted")
        XCTAssertEqual(try store.latestActivation()?.version, "a")
    }

    func testUpdates_ofUnknownVersion_throwUnknownVersion() throws {
        let store = try VersionStore(path: databaseURL)
        XCTAssertThrowsError(try store.recordRejected(version: "ghost", fingerprint: "x", reason: "r")) {
            XCTAssertEqual($0 as? StoreError, .unknownVersion("ghost"))
        }
        XCTAssertThrowsError(try store.setRolledBack(version: "ghost", at: Date())) {
            XCTAssertEqual($0 as? StoreError, .unknownVersion("ghost"))
        }
        XCTAssertThrowsError(try store.recordActivation(version: "ghost", reason: "manual", uid: 0, fingerprint: nil)) {
            XCTAssertEqual($0 as? StoreError, .unknownVersion("ghost"))
        }
        XCTAssertEqual(try store.activations(), [])
    }

    func testActivations_persistAcrossReopen_newestFirst() throws {
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        do {
            let store = try VersionStore(path: databaseURL)
            try store.recordArrival(version: "a", fingerprint: "fa")
            try store.recordArrival(version: "b", fingerprint: "fb")
            try store.recordActivation(version: "a", reason: "startup", uid: 998, fingerprint: "fa", at: t0)
            try store.recordActivation(version: "b", reason: "arrival", uid: 998, fingerprint: "fb",
                                       at: t0.addingTimeInterval(5))
            try store.recordActivation(version: "a", reason: "rollback", uid: 0, fingerprint: "fa",
                                       at: t0.addingTimeInterval(9))
        }
        let store = try VersionStore(path: databaseURL)
        let history = try store.activations()
        XCTAssertEqual(history.map(\.version), ["a", "b", "a"])
        XCTAssertEqual(history.map(\.reason), ["rollback", "arrival", "startup"])
        XCTAssertEqual(history.map(\.uid), [0, 998, 998])
        XCTAssertEqual(history.first?.activatedAt, t0.addingTimeInterval(9))
        XCTAssertEqual(try store.latestActivation(), history.first)
        XCTAssertEqual(try store.activations(limit: 2).count, 2)
        XCTAssertEqual(try store.lastActivationTimes(),
                       ["a": t0.addingTimeInterval(9), "b": t0.addingTimeInterval(5)])
    }

    func testActivation_uidAboveInt32Max_roundTrips() throws {
        let store = try VersionStore(path: databaseURL)
        try store.recordArrival(version: "a", fingerprint: "fa")
        try store.recordActivation(version: "a", reason: "manual", uid: 4_294_967_294, fingerprint: nil)
        XCTAssertEqual(try store.latestActivation()?.uid, 4_294_967_294)
    }

    func testTwoStoresOnOneFile_seeEachOthersWrites() throws {
        // The daemon and a training worker open the same file.
        let first = try VersionStore(path: databaseURL)
        let second = try VersionStore(path: databaseURL)
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let store = i == 0 ? first : second
            for n in 0..<50 {
                do {
                    try store.recordArrival(version: "s\(i)-\(n)", fingerprint: "f")
                } catch {
                    XCTFail("concurrent write failed: \(error)")
                }
            }
        }
        let sequences = try first.versions().map(\.arrivalSequence)
        XCTAssertEqual(sequences.count, 100)
        XCTAssertEqual(Set(sequences).count, 100, "arrival sequence numbers must be unique")
        XCTAssertEqual(try second.versions().count, 100)
    }
}
