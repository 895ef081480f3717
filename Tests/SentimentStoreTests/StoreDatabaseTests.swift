import Foundation
import GRDB
import XCTest
@testable import SentimentStore

final class StoreDatabaseTests: StoreTestCase {
    private func bytes(_ url: URL) throws -> Data { try Data(contentsOf: url) }

    private func siblings(of url: URL) -> [String] {
        let name = url.lastPathComponent
        return ((try? FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)) ?? [])
            .filter { $0.hasPrefix(name) }.sorted()
    }

    // MARK: Migrations

    func testMigrations_areAppendOnlyInTheirKnownOrder() {
        XCTAssertEqual(StoreDatabase.migrator.migrations, ["v1-model-versions", "v2-labels", "v3-runs", "v4-roles", "v5-gate",
                                                           "v6-label-removal", "v7-run-curves",
                                                           "v8-version-retention", "v9-int8-check", "v10-validation-safety", "v11-api-tokens"])
    }

    func testOpen_emptyFile_createsEveryTable() throws {
        let pool = try openPool()
        try pool.read { db in
            for table in ["model_version", "activation", "import_batch", "import_row", "label", "label_change",
                          "label_counter", "training_run", "run_epoch", "eval_draw", "split_evaluation", "label_removal",
                          "run_curve", "version_pin", "version_removal"] {
                XCTAssertTrue(try db.tableExists(table), table)
            }
            XCTAssertEqual(try StoreDatabase.migrator.appliedIdentifiers(db), Set(StoreDatabase.migrator.migrations))
            XCTAssertEqual(try Bool.fetchOne(db, sql: "PRAGMA foreign_keys"), true)
            XCTAssertEqual(try String.fetchOne(db, sql: "PRAGMA journal_mode"), "wal")
        }
        XCTAssertEqual(try StoreDatabase.integrityCheck(pool), ["ok"])
    }

    func testOpen_fromEveryEarlierVersion_keepsItsRowsAndAddsTheRest() throws {
        let all = StoreDatabase.migrator.migrations
        for (k, last) in all.enumerated() {
            let url = folder.appendingPathComponent("at-\(last).sqlite")
            do {
                // The file as a build that stopped at `last` left it (in WAL, as that build opened it).
                let old = try DatabasePool(path: url.path)
                try StoreDatabase.migrator.migrate(old, upTo: last)
                try old.write { db in
                    try db.execute(sql: """
                        INSERT INTO model_version (version, status, first_seen, arrived_at, arrival_seq, fingerprint)
                        VALUES ('old-model', 'valid', ?, ?, 1, 'fp')
                        """, arguments: [Date(), Date()])
                    try db.execute(sql: """
                        INSERT INTO activation (version, activated_at, reason, uid) VALUES ('old-model', ?, 'startup', 0)
                        """, arguments: [Date()])
                    if k >= 1 {
                        _ = try LabelStore.apply([.of("kept label", "positive")], source: .add, batch: nil, uid: 0,
                                             policy: .byHash(evalFraction: 0.1), skipProtected: false, now: Date(),
                                             db: db)
                    }
                }
                XCTAssertEqual(try old.read { try StoreDatabase.migrator.appliedIdentifiers($0) },
                               Set(all.prefix(k + 1)))
            }
            let versions = try VersionStore(path: url)
            XCTAssertEqual(try versions.version("old-model")?.status, .valid, last)
            XCTAssertEqual(try versions.latestActivation()?.version, "old-model", last)
            let pool = try StoreDatabase.open(path: url)
            XCTAssertEqual(try pool.read { try StoreDatabase.migrator.appliedIdentifiers($0) }, Set(all), last)
            let labels = LabelStore(pool: pool)
            if k >= 1 {
                XCTAssertEqual(try labels.label(forText: "kept label")?.label, "positive", last)
            }
            // The new tables work on the migrated file.
            try labels.add([.of("after migration", "negative")], source: .add, evalFraction: 0.1, uid: 0)
            XCTAssertEqual(try labels.maxSeq(), k >= 1 ? 2 : 1, last)
            let runs = RunStore(pool: pool)
            _ = try runs.createRun(trigger: .manual, uid: 0, method: .full, recipeJSON: "{}")
            XCTAssertEqual(try StoreDatabase.integrityCheck(pool), ["ok"])
        }
    }

    // MARK: Integrity

    func testIntegrityCheck_ofAGoodFile_isOK_andDoesNotCreateMissingFiles() throws {
        do {
            let labels = LabelStore(pool: try openPool())
            try labels.add(syntheticTexts(500).map { .of($0, "neutral") }, source: .add, evalFraction: 0.1, uid: 0)
        }
        XCTAssertEqual(try StoreDatabase.integrityCheck(path: databaseURL), ["ok"])
        let missing = folder.appendingPathComponent("missing.sqlite")
        XCTAssertThrowsError(try StoreDatabase.integrityCheck(path: missing)) {
            XCTAssertEqual($0 as? StoreError, .cannotOpen(path: missing.path, reason: "no such file"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing.path))
    }

    func testIntegrityCheck_ofADamagedIndex_listsTheProblems() throws {
        var indexPages: [Int] = []
        do {
            let pool = try openPool()
            try LabelStore(pool: pool).add(syntheticTexts(3_000).map { .of($0, "neutral") }, source: .add,
                                           evalFraction: 0.1, uid: 0)
            try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
            indexPages = try pool.read { db in
                try Int.fetchAll(db, sql: """
                    SELECT pageno FROM dbstat WHERE name = 'sqlite_autoindex_label_1' AND pagetype = 'leaf'
                    """)
            }
        }
        XCTAssertFalse(indexPages.isEmpty)
        // Change letters inside the keys of one leaf page of the text index: the table rows no longer
        // match their index entries, while every page still parses.
        var data = try bytes(databaseURL)
        let pageSize = 4096
        let start = (indexPages[indexPages.count / 2] - 1) * pageSize
        for i in (start + pageSize / 2)..<(start + pageSize) where data[i] == UInt8(ascii: "t") {
            data[i] = UInt8(ascii: "u")
        }
        try data.write(to: databaseURL)
        let problems = try StoreDatabase.integrityCheck(path: databaseURL)
        XCTAssertNotEqual(problems, ["ok"])
        XCTAssertTrue(problems.contains { $0.contains("label") }, "\(problems.prefix(5))")
    }

    func testIntegrityCheck_ofADamagedFile_reportsProblemsOrCorruption() throws {
        do {
            let pool = try openPool()
            let labels = LabelStore(pool: pool)
            try labels.add(syntheticTexts(3_000).map { .of($0, "neutral") }, source: .add, evalFraction: 0.1, uid: 0)
            try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        }
        // Scribble over pages in the middle of the file, keeping the header page intact.
        var data = try bytes(databaseURL)
        XCTAssertGreaterThan(data.count, 16 * 4096)
        let pageSize = 4096
        for page in stride(from: 3, to: data.count / pageSize - 1, by: 2) {
            for i in 0..<pageSize where i % 3 == 0 { data[page * pageSize + i] = UInt8(truncatingIfNeeded: i &* 31) }
        }
        try data.write(to: databaseURL)
        do {
            let problems = try StoreDatabase.integrityCheck(path: databaseURL)
            XCTAssertNotEqual(problems, ["ok"])
            XCTAssertFalse(problems.isEmpty)
        } catch let error as StoreError {
            guard case let .corrupt(path, _) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(path, databaseURL.path)
        }
    }

    // MARK: Files that must not be opened

    func testOpen_fileThatIsNotADatabase_isRefusedAndLeftByteForByte() throws {
        try FileManager.default.createDirectory(at: databaseURL.deletingLastPathComponent(),
                                                withIntermediateDirectories: true)
        let contents = Data("name,label\nthis is my precious CSV, not a database\n".utf8)
        try contents.write(to: databaseURL)
        let namesBefore = siblings(of: databaseURL)
        for attempt in 0..<2 {
            XCTAssertThrowsError(try StoreDatabase.open(path: databaseURL)) {
                XCTAssertEqual($0 as? StoreError, .notADatabase(path: databaseURL.path), "attempt \(attempt)")
                XCTAssertTrue("\($0)".contains("file is not a database"))
                XCTAssertTrue("\($0)".contains(databaseURL.path))
            }
        }
        XCTAssertThrowsError(try LabelStore(path: databaseURL))
        XCTAssertThrowsError(try StoreDatabase.integrityCheck(path: databaseURL)) {
            XCTAssertEqual($0 as? StoreError, .notADatabase(path: databaseURL.path))
        }
        XCTAssertEqual(try bytes(databaseURL), contents)
        XCTAssertEqual(siblings(of: databaseURL), namesBefore, "no -wal or -shm files were created")
    }

    func testOpen_binaryGarbage_isRefusedAndLeftByteForByte() throws {
        try FileManager.default.createDirectory(at: databaseURL.deletingLastPathComponent(),
                                                withIntermediateDirectories: true)
        var rng = SplitMix64(seed: 5)
        let contents = Data((0..<8192).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        try contents.write(to: databaseURL)
        XCTAssertThrowsError(try StoreDatabase.open(path: databaseURL)) {
            XCTAssertEqual($0 as? StoreError, .notADatabase(path: databaseURL.path))
        }
        XCTAssertEqual(try bytes(databaseURL), contents)
    }

    func testOpen_sqliteHeaderWithDamagedFirstPage_failsWithoutWritingIt() throws {
        try FileManager.default.createDirectory(at: databaseURL.deletingLastPathComponent(),
                                                withIntermediateDirectories: true)
        // The right magic, then nonsense where the page size and schema should be.
        var contents = Data(StoreDatabase.sqliteHeader)
        contents.append(Data(repeating: 0xEE, count: 4096 - contents.count))
        try contents.write(to: databaseURL)
        XCTAssertThrowsError(try StoreDatabase.open(path: databaseURL)) { error in
            switch error as? StoreError {
            case .notADatabase(databaseURL.path)?, .corrupt(databaseURL.path, _)?: break
            default: XCTFail("unexpected \(error)")
            }
        }
        XCTAssertEqual(try bytes(databaseURL), contents)
    }

    func testOpen_readOnlyFile_failsNamingItAndLeavesItUnchanged() throws {
        do { _ = try openPool() }
        let before = try bytes(databaseURL)
        XCTAssertEqual(chmod(databaseURL.path, 0o444), 0)
        try withoutRootPrivileges {
            XCTAssertThrowsError(try StoreDatabase.open(path: databaseURL)) { error in
                guard case let .readOnly(path, reason)? = error as? StoreError else {
                    return XCTFail("unexpected \(error)")
                }
                XCTAssertEqual(path, databaseURL.path)
                XCTAssertTrue(reason.contains("not writable"), reason)
                XCTAssertTrue("\(error)".contains("read-only"))
            }
            // Reading is still possible: the integrity check needs no write access.
            XCTAssertEqual(try StoreDatabase.integrityCheck(path: databaseURL), ["ok"])
        }
        XCTAssertEqual(try bytes(databaseURL), before)
    }

    func testOpen_readOnlyFolder_failsNamingIt() throws {
        do { _ = try openPool() }
        let stateFolder = databaseURL.deletingLastPathComponent()
        XCTAssertEqual(chmod(databaseURL.path, 0o666), 0)
        XCTAssertEqual(chmod(stateFolder.path, 0o555), 0)
        try withoutRootPrivileges {
            XCTAssertThrowsError(try StoreDatabase.open(path: databaseURL)) { error in
                guard case let .readOnly(path, reason)? = error as? StoreError else {
                    return XCTFail("unexpected \(error)")
                }
                XCTAssertEqual(path, databaseURL.path)
                XCTAssertTrue(reason.contains("its folder \(stateFolder.path) is not writable"), reason)
            }
            // A new database in a read-only folder is refused the same way.
            let fresh = stateFolder.appendingPathComponent("new.sqlite")
            XCTAssertThrowsError(try StoreDatabase.open(path: fresh)) {
                guard case .readOnly? = $0 as? StoreError else { return XCTFail("unexpected \($0)") }
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: fresh.path))
        }
    }

    func testOpen_lockedLongerThanTheBusyTimeout_failsWithLocked() throws {
        do { _ = try openPool() }
        // Another process keeps the file exclusively locked (as `sqlite3` with locking_mode=EXCLUSIVE would).
        var configuration = Configuration()
        configuration.busyMode = .immediateError
        let holder = try DatabaseQueue(path: databaseURL.path, configuration: configuration)
        try holder.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE")
            try db.execute(sql: "UPDATE label_counter SET seq = seq")  // takes the lock and keeps it
        }
        let start = Date()
        XCTAssertThrowsError(try StoreDatabase.open(path: databaseURL, busyTimeout: 0.3)) { error in
            XCTAssertEqual(error as? StoreError, .locked(path: databaseURL.path, timeout: 0.3))
            XCTAssertTrue("\(error)".contains("locked by another process for more than 0.3 s"), "\(error)")
        }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.25, "it waited for the lock")
        try holder.close()
        XCTAssertNoThrow(try StoreDatabase.open(path: databaseURL, busyTimeout: 0.3))
    }

    func testStoreErrors_nameTheFile() {
        let p = "/var/lib/sentimentd/sentimentd.sqlite"
        for error in [StoreError.notADatabase(path: p), .corrupt(path: p, reason: "r"), .readOnly(path: p, reason: "r"),
                      .locked(path: p, timeout: 5), .diskFull(path: p), .cannotOpen(path: p, reason: "r")] {
            XCTAssertTrue(error.description.hasPrefix(p + ": "), error.description)
        }
        XCTAssertTrue(StoreError.locked(path: p, timeout: 5).description.contains("more than 5 s"))
    }
}
