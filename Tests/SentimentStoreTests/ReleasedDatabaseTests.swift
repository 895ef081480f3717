import Foundation
import GRDB
import XCTest
@testable import SentimentStore

/// The databases that released versions of sentimentd wrote (Tests/Fixtures/releases/sentimentd-<version>.sqlite, made
/// by tools/make-upgrade-fixture.sh with that release's binaries: labels, an import, a relabel, versions, a rejected
/// upload, activations, a finished training run) open in this build and migrate with every row kept. The package
/// upgrade test (scripts/test-deb.sh) does the same through the packaged daemon; this one runs with `swift test`,
/// so a migration that loses data fails here first.
final class ReleasedDatabaseTests: StoreTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Tests/Fixtures/releases")

    func testEveryReleasedDatabase_opensAndMigratesWithEveryRowKept() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.fixtures.path)
            .filter { $0.hasSuffix(".sqlite") }.sorted()
        XCTAssertFalse(names.isEmpty, "no released database in \(Self.fixtures.path)")
        for name in names {
            let copy = folder.appendingPathComponent(name)
            try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent(name), to: copy)
            let before = try DatabaseQueue(path: copy.path).read { try Self.rows($0) }
            XCTAssertGreaterThan(before.tables["label"]?.count ?? 0, 100, "\(name) should hold the fixture's labels")
            XCTAssertGreaterThan(before.tables["training_run"]?.count ?? 0, 0, "\(name) should hold a run")

            let pool = try StoreDatabase.open(path: copy)
            try pool.read { db in
                XCTAssertEqual(try StoreDatabase.migrator.appliedIdentifiers(db), Set(StoreDatabase.migrator.migrations),
                               "\(name) is migrated to this build's schema")
                let after = try Self.rows(db, like: before)
                for (table, rows) in before.tables {
                    XCTAssertEqual(after.tables[table], rows, "\(name): rows of \(table) changed in the migration")
                }
            }
            XCTAssertEqual(try StoreDatabase.integrityCheck(pool), ["ok"], name)
            // The stores read what the old version wrote.
            let labels = LabelStore(pool: pool)
            XCTAssertEqual(try labels.label(forText: "the app is absolutely brilliant")?.label, "neutral",
                           "\(name): the relabel is the current label")
            XCTAssertEqual(try RunStore(pool: pool).run(id: 1)?.status.isFinished, true, "\(name): run 1 finished")
        }
    }

    /// Every row of every table (the migrations' own table aside), in a stable order, over the columns the file has.
    struct Snapshot: Equatable {
        var columns: [String: [String]] = [:]
        var tables: [String: [[DatabaseValue]]] = [:]
    }

    static func rows(_ db: Database, like old: Snapshot? = nil) throws -> Snapshot {
        var snapshot = Snapshot()
        let tables = try old.map { Array($0.columns.keys) } ?? String.fetchAll(db, sql: """
            SELECT name FROM sqlite_master
            WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations'
            """)
        for table in tables {
            let columns = try old?.columns[table] ?? db.columns(in: table).map(\.name)
            let list = columns.map { $0.quotedDatabaseIdentifier }.joined(separator: ", ")
            let order = (1...columns.count).map(String.init).joined(separator: ", ")
            snapshot.columns[table] = columns
            snapshot.tables[table] = try Row.fetchAll(db, sql: "SELECT \(list) FROM \(table.quotedDatabaseIdentifier) ORDER BY \(order)")
                .map { row in columns.indices.map { row[$0] as DatabaseValue } }
        }
        return snapshot
    }
}
