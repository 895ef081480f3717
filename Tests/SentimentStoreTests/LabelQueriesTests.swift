import Foundation
import GRDB
import XCTest
@testable import SentimentStore
import SentimentCore

/// Labels come back out: filtered pages by id, and removals that leave a record.
final class LabelQueriesTests: LabelStoreTestCase {
    /// 30 train labels by uid 1000 (added), 10 eval labels by uid 0 (an import), a relabel by uid 1001.
    private func seed() throws -> Int64 {
        try store.add((0..<30).map { LabelInput.of("train text \($0)", $0 % 3 == 0 ? "positive" : "negative") },
                      source: .add, policy: SplitPolicy(newTexts: .train, mayWriteEval: true), uid: 1000)
        let batch = try store.beginImport(source: "eval.csv", format: "csv", uid: 0)
        try store.stageImport(batch: batch, rows: (0..<10).map { LabelInput.of("eval, \"quoted\" \($0)", "neutral") })
        try store.commitImport(batch: batch, policy: SplitPolicy(newTexts: .eval, mayWriteEval: true))
        try store.add([.of("train text 4", "positive")], source: .add, policy: .trainOnly, uid: 1001)
        return batch
    }

    func testList_pagesByIdWithoutGapsOrRepeats() throws {
        _ = try seed()
        var seen: [Int64] = []
        var after: Int64 = 0
        while true {
            let page = try store.list(LabelFilter(), afterID: after, limit: 7)
            if page.isEmpty { break }
            XCTAssertLessThanOrEqual(page.count, 7)
            seen += page.map(\.id)
            after = page.last!.id
        }
        XCTAssertEqual(seen, seen.sorted())
        XCTAssertEqual(Set(seen).count, 40)
    }

    func testList_filters() throws {
        let batch = try seed()
        var f = LabelFilter()
        f.splits = [.eval]
        let eval = try store.list(f, limit: 100)
        XCTAssertEqual(eval.count, 10)
        XCTAssertTrue(eval.allSatisfy { $0.split == .eval && $0.source == .import && $0.importBatch == batch && $0.uid == 0 })

        f = LabelFilter()
        f.splits = [.train]
        f.label = "positive"
        XCTAssertEqual(try store.list(f, limit: 100).count, 11, "10 by the template and the relabelled text 4")

        f = LabelFilter()
        f.uid = 1001
        let relabelled = try store.list(f, limit: 100)
        XCTAssertEqual(relabelled.map(\.text), ["train text 4"])
        XCTAssertEqual(relabelled.first?.label, "positive")

        f = LabelFilter()
        f.source = .import
        XCTAssertEqual(try store.list(f, limit: 100).count, 10)

        f = LabelFilter()
        f.contains = "TEXT 2"   // ASCII letters in any case; 2, 20...29
        XCTAssertEqual(Set(try store.list(f, limit: 100).map(\.text)),
                       Set(["train text 2"] + (20...29).map { "train text \($0)" }))
        f.contains = "\"QUOTED\"  9"   // normalised like the stored text: one space
        XCTAssertEqual(try store.list(f, limit: 100).map(\.text), ["eval, \"quoted\" 9"])
        f.contains = "100%"
        XCTAssertEqual(try store.list(f, limit: 100), [], "% is not a wildcard")
        f.contains = "text_1"
        XCTAssertEqual(try store.list(f, limit: 100), [], "_ is not a wildcard")

        f = LabelFilter()
        f.updatedSince = Date().addingTimeInterval(3600)
        XCTAssertEqual(try store.list(f, limit: 100), [])
        f.updatedSince = Date().addingTimeInterval(-3600)
        XCTAssertEqual(try store.list(f, limit: 100).count, 40)

        f = LabelFilter()
        f.splits = []
        XCTAssertEqual(try store.list(f, limit: 100), [])
    }

    func testRemove_byIdTextAndImport_recordsEveryLabel_andDryRunChangesNothing() throws {
        let batch = try seed()
        let all = try store.list(LabelFilter(), limit: 100)
        let relabelled = try XCTUnwrap(all.first { $0.text == "train text 4" })
        let selection = LabelRemovalSelection(ids: [all[0].id, 999_999], texts: ["  train   text 4 ", "no such text"],
                                              importBatch: batch)
        let dry = try store.remove(selection, uid: 7, dryRun: true)
        XCTAssertEqual(dry.removed.count, 12)
        XCTAssertEqual(try store.list(LabelFilter(), limit: 100).count, 40, "a dry run removed something")
        XCTAssertEqual(try store.removals(), [])

        let done = try store.remove(selection, uid: 7)
        XCTAssertEqual(done.removed.map(\.id), dry.removed.map(\.id))
        XCTAssertEqual(done.notFoundIDs, [999_999])
        XCTAssertEqual(done.notFoundTexts, ["no such text"])
        XCTAssertEqual(try store.list(LabelFilter(), limit: 100).count, 28)
        XCTAssertNil(try store.label(forText: "train text 4"))
        XCTAssertEqual(try store.stats(sinceSeq: nil).total.eval, 0)
        XCTAssertEqual(try store.changes(labelID: relabelled.id), [], "its change history went with it")

        let records = try store.removals()
        XCTAssertEqual(records.count, 12)
        XCTAssertTrue(records.allSatisfy { $0.removedBy == 7 })
        let record = try XCTUnwrap(records.first { $0.labelID == relabelled.id })
        XCTAssertEqual(record.text, "train text 4")
        XCTAssertEqual(record.label, "positive")
        XCTAssertEqual(record.labelledBy, 1001)
        XCTAssertEqual(record.changes, 1)
        XCTAssertEqual(records.filter { $0.split == .eval }.count, 10)
        XCTAssertEqual(try StoreDatabase.integrityCheck(pool), ["ok"])

        // The text can be labelled again afterwards.
        try store.add([.of("train text 4", "negative")], source: .add, evalFraction: 0, uid: 0)
        XCTAssertEqual(try store.label(forText: "train text 4")?.label, "negative")
    }
}
