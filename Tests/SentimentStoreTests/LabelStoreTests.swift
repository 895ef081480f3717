import Foundation
import GRDB
import XCTest
@testable import SentimentStore
import SentimentCore

final class LabelStoreTests: LabelStoreTestCase {
    /// Texts (from `syntheticTexts`) that land in `split` at 10%.
    private func texts(in split: LabelSplit, count: Int, prefix: String = "t") -> [String] {
        var found: [String] = []
        var n = 0
        while found.count < count {
            let text = "\(prefix) \(n)"
            if SplitAssignment.split(forNormalised: text, evalFraction: 0.1) == split { found.append(text) }
            n += 1
        }
        return found
    }

    private func labelCount() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM label") ?? -1 }
    }

    // MARK: split policies

    /// An untrusted writer: new texts go to the training split whatever their hash says; a write to a text of the
    /// evaluation split refuses the whole write, or with skipProtected skips just that text.
    func testTrainOnlyPolicy_neverWritesTheEvaluationSplit() throws {
        let evalTexts = texts(in: .eval, count: 3)
        try store.add(evalTexts.map { .of($0, "positive") }, source: .add, evalFraction: 0.1, uid: 0)
        let hashEval = texts(in: .eval, count: 5, prefix: "new")
        let summary = try store.add(hashEval.map { .of($0, "neutral") }, source: .add, policy: .trainOnly, uid: 1000)
        XCTAssertEqual(summary.added, 5)
        XCTAssertEqual(summary.evalSplit, 0)
        for text in hashEval { XCTAssertEqual(try store.label(forText: text)?.split, .train, text) }

        let items: [LabelInput] = [.of("fresh", "neutral"), .of(evalTexts[0], "negative"), .of(evalTexts[1], "positive")]
        XCTAssertThrowsError(try store.add(items, source: .add, policy: .trainOnly, uid: 1000)) { error in
            XCTAssertEqual(error as? LabelStoreError, .evalSplitProtected(lines: [2, 3]))
        }
        XCTAssertNil(try store.label(forText: "fresh"), "a refused write applied something")
        let skipped = try store.add(items, source: .add, policy: .trainOnly, skipProtected: true, uid: 1000)
        XCTAssertEqual(skipped.added, 1)
        XCTAssertEqual(skipped.protectedLines, [2, 3])
        XCTAssertEqual(try store.label(forText: evalTexts[0])?.label, "positive")
        XCTAssertEqual(try store.label(forText: evalTexts[0])?.uid, 0)
        // An explicit eval policy puts new texts in the split.
        try store.add([.of("curated", "negative")], source: .add,
                      policy: SplitPolicy(newTexts: .eval, mayWriteEval: true), uid: 0)
        XCTAssertEqual(try store.label(forText: "curated")?.split, .eval)
    }

    /// A draw moves only labels no published run used and that never changed, of the uids asked for; it is
    /// seeded and recorded.
    func testDrawEval_takesOnlyUnusedUnchangedLabels() throws {
        let train = texts(in: .train, count: 40)
        try store.add(train[0..<10].map { .of($0, "positive") }, source: .add, evalFraction: 0.1, uid: 0)
        let used = try store.maxSeq()
        try store.add(train[10..<30].map { .of($0, "positive") }, source: .add, evalFraction: 0.1, uid: 0)
        try store.add(train[30..<40].map { .of($0, "negative") }, source: .add, evalFraction: 0.1, uid: 1000)
        try store.add([.of(train[10], "negative")], source: .add, evalFraction: 0.1, uid: 0) // relabelled
        let r = try store.drawEval(count: 100, seed: 7, usedUpTo: used, fromUIDs: [0], uid: 0)
        XCTAssertEqual(r.available, 19)
        XCTAssertEqual(r.drawn, 19)
        let eval = Set(try store.evalSet().map(\.text))
        XCTAssertEqual(eval, Set(train[11..<30]))
        let again = try store.drawEval(count: 3, seed: 7, usedUpTo: used, uid: 0)
        XCTAssertEqual(again.available, 10, "only uid 1000's labels are left unused")
        try pool.read { db in
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT SUM(drawn) FROM eval_draw"), 22)
        }
    }

    // MARK: add

    func testAdd_newTexts_areAddedWithIncreasingSeqAndTheirSplit() throws {
        let summary = try store.add([.of("good film", "positive"), .of("bad film", "negative")],
                                    source: .add, evalFraction: 0.1, uid: 1000)
        XCTAssertEqual(summary.added, 2)
        XCTAssertEqual(summary.updated, 0)
        XCTAssertEqual(summary.unchanged, 0)
        XCTAssertEqual(summary.conflicts, [])
        XCTAssertEqual(summary.highSeq, 2)
        XCTAssertNil(summary.batch)
        let good = try XCTUnwrap(store.label(forText: "good film"))
        let bad = try XCTUnwrap(store.label(forText: "bad film"))
        XCTAssertEqual([good.seq, bad.seq], [1, 2])
        XCTAssertEqual(good.split, SplitAssignment.split(forNormalised: "good film", evalFraction: 0.1))
        XCTAssertEqual(try store.maxSeq(), 2)
        try pool.read { db in
            let row = try XCTUnwrap(Row.fetchOne(db, sql: "SELECT source, uid, import_batch FROM label WHERE id = ?",
                                                 arguments: [good.id]))
            XCTAssertEqual(row["source"] as String, "add")
            XCTAssertEqual(row["uid"] as Int64, 1000)
            XCTAssertNil(row["import_batch"] as Int64?)
        }
    }

    func testAdd_textsThatNormaliseAlike_areOneLabel() throws {
        try store.add([.of("Hello   world\n", "positive")], source: .add, evalFraction: 0.1, uid: 0)
        let summary = try store.add([.of(" Hello\tworld", "positive"), .of("Cafe\u{0301}", "neutral")],
                                    source: .add, evalFraction: 0.1, uid: 0)
        XCTAssertEqual(summary.unchanged, 1)
        XCTAssertEqual(summary.added, 1)
        XCTAssertEqual(try store.label(forText: "Café")?.label, "neutral")
        XCTAssertEqual(try labelCount(), 2)
    }

    func testAdd_newestWins_recordsTheChangeAndANewSeq_sameLabelChangesNothing() throws {
        try store.add([.of("it was fine", "positive"), .of("other", "neutral")], source: .add, evalFraction: 0.1,
                      uid: 1)
        let before = try XCTUnwrap(store.label(forText: "it was fine"))

        let summary = try store.add([.of("it was  fine", "negative")], source: .add, evalFraction: 0.1, uid: 2)
        XCTAssertEqual(summary.updated, 1)
        XCTAssertEqual(summary.added, 0)
        let after = try XCTUnwrap(store.label(forText: "it was fine"))
        XCTAssertEqual(after.id, before.id)
        XCTAssertEqual(after.label, "negative")
        XCTAssertEqual(after.seq, 3)
        XCTAssertEqual(after.split, before.split)
        let changes = try store.changes(labelID: after.id)
        XCTAssertEqual(changes.count, 1)
        XCTAssertEqual(changes.first?.oldLabel, "positive")
        XCTAssertEqual(changes.first?.newLabel, "negative")
        XCTAssertEqual(changes.first?.uid, 2)
        XCTAssertEqual(changes.first?.seq, 3)
        XCTAssertNil(changes.first?.importBatch)

        let same = try store.add([.of("it was fine", "negative")], source: .add, evalFraction: 0.1, uid: 2)
        XCTAssertEqual(same.unchanged, 1)
        XCTAssertEqual(same.updated, 0)
        XCTAssertEqual(same.highSeq, 3)
        XCTAssertEqual(try store.label(forText: "it was fine")?.seq, 3)
        XCTAssertEqual(try store.changes(labelID: after.id).count, 1)
    }

    func testAdd_conflictWithinOneCall_lastWinsAndIsReportedWithLines() throws {
        let summary = try store.add([
            .of("meh", "neutral"),          // position 1
            .of("great", "positive"),       // 2
            .of(" meh\n", "negative"),      // 3, same text as 1 once normalised
            .of("great", "positive"),       // 4, duplicate, no conflict
            .of("meh", "positive"),         // 5
        ], source: .add, evalFraction: 0.1, uid: 0)
        XCTAssertEqual(summary.added, 2)
        XCTAssertEqual(summary.received, 5)
        XCTAssertEqual(summary.conflicts, [LabelConflict(text: "meh", lines: [1, 3, 5],
                                                         labels: ["neutral", "negative", "positive"])])
        XCTAssertEqual(try store.label(forText: "meh")?.label, "positive")
        // Only the final label is written: one seq per text, no change rows within one call.
        XCTAssertEqual(try store.maxSeq(), 2)
        let meh = try XCTUnwrap(store.label(forText: "meh"))
        XCTAssertEqual(try store.changes(labelID: meh.id), [])
    }

    func testAdd_conflictUsesGivenLineNumbers() throws {
        let summary = try store.add([.of("x", "a", line: 10), .of("x", "b", line: 42)], source: .add,
                                    evalFraction: 0.1, uid: 0)
        XCTAssertEqual(summary.conflicts, [LabelConflict(text: "x", lines: [10, 42], labels: ["a", "b"])])
    }

    func testAdd_emptyTextAfterNormalisation_throwsAndWritesNothing() throws {
        XCTAssertThrowsError(try store.add([.of("ok", "positive"), .of(" \n\t", "negative")], source: .add,
                                           evalFraction: 0.1, uid: 0)) {
            XCTAssertEqual($0 as? LabelStoreError, .emptyText(line: 2))
        }
        XCTAssertEqual(try labelCount(), 0)
        XCTAssertEqual(try store.maxSeq(), 0)
    }

    // MARK: split

    func testSplit_isKeptWhenRelabelledWithAnotherFraction() throws {
        let evalText = texts(in: .eval, count: 1)[0]
        let trainText = texts(in: .train, count: 1)[0]
        let first = try store.add([.of(evalText, "positive"), .of(trainText, "positive")], source: .add,
                                  evalFraction: 0.1, uid: 0)
        XCTAssertEqual(first.evalSplit, 1)
        XCTAssertEqual(try store.label(forText: evalText)?.split, .eval)
        XCTAssertEqual(try store.label(forText: trainText)?.split, .train)
        // Relabel with fractions that would put each in the other split.
        XCTAssertEqual(try store.add([.of(evalText, "negative")], source: .add, evalFraction: 0, uid: 0).evalSplit, 1)
        XCTAssertEqual(try store.add([.of(trainText, "negative")], source: .add, evalFraction: 1, uid: 0).evalSplit, 0)
        XCTAssertEqual(try store.add([.of(evalText, "negative")], source: .add, evalFraction: 1, uid: 0).evalSplit, 0,
                       "an unchanged label is not counted")
        XCTAssertEqual(try store.label(forText: evalText)?.split, .eval)
        XCTAssertEqual(try store.label(forText: trainText)?.split, .train)
        XCTAssertEqual(try store.label(forText: evalText)?.label, "negative")
    }

    // MARK: stats

    func testStats_countsPerLabelAndSplit_andNewSinceASeq() throws {
        let train = texts(in: .train, count: 6)
        let eval = texts(in: .eval, count: 3)
        try store.add([.of(train[0], "positive"), .of(train[1], "positive"), .of(train[2], "negative"),
                       .of(eval[0], "positive")], source: .add, evalFraction: 0.1, uid: 0)
        let mark = try store.maxSeq()
        try store.add([.of(train[3], "neutral"), .of(eval[1], "neutral"), .of(eval[2], "negative"),
                       .of(train[0], "negative")],  // relabel: counts as new
                      source: .add, evalFraction: 0.1, uid: 0)

        let all = try store.stats(sinceSeq: nil)
        XCTAssertEqual(all.perLabel["positive"], LabelSplitCounts(train: 1, eval: 1))
        XCTAssertEqual(all.perLabel["negative"], LabelSplitCounts(train: 2, eval: 1))
        XCTAssertEqual(all.perLabel["neutral"], LabelSplitCounts(train: 1, eval: 1))
        XCTAssertEqual(all.total, LabelSplitCounts(train: 4, eval: 3))
        XCTAssertEqual(all.newTotal, all.total)
        XCTAssertEqual(all.maxSeq, 8)

        let since = try store.stats(sinceSeq: mark)
        XCTAssertEqual(since.sinceSeq, mark)
        XCTAssertEqual(since.total, all.total)
        XCTAssertEqual(since.newPerLabel["neutral"], LabelSplitCounts(train: 1, eval: 1))
        XCTAssertEqual(since.newPerLabel["negative"], LabelSplitCounts(train: 1, eval: 1))
        XCTAssertNil(since.newPerLabel["positive"])
        XCTAssertEqual(since.newTotal, LabelSplitCounts(train: 2, eval: 2))

        let none = try store.stats(sinceSeq: try store.maxSeq())
        XCTAssertEqual(none.newTotal, LabelSplitCounts())
        XCTAssertEqual(none.newPerLabel, [:])
    }

    func testStats_emptyStore() throws {
        let stats = try store.stats(sinceSeq: nil)
        XCTAssertEqual(stats.total.total, 0)
        XCTAssertEqual(stats.maxSeq, 0)
    }

    // MARK: training selection

    func testTrainingSelection_neverContainsEvalLabels() throws {
        let all = syntheticTexts(3_000, prefix: "sel")
        try store.add(all.prefix(2_000).enumerated().map { .of($1, ["negative", "neutral", "positive"][$0 % 3]) },
                      source: .add, evalFraction: 0.1, uid: 0)
        let firstRun = try store.trainingSelection(newerThan: 0, replayRatio: 1, seed: 7, maxNew: nil)
        try store.add(all.suffix(1_000).map { .of($0, "positive") }, source: .add, evalFraction: 0.1, uid: 0)
        let secondRun = try store.trainingSelection(newerThan: firstRun.highSeq, replayRatio: 50, seed: 7,
                                                    maxNew: nil)
        let evalIDs = Set(try store.evalSet().map(\.id))
        XCTAssertGreaterThan(evalIDs.count, 200)
        for selection in [firstRun, secondRun] {
            let selected = selection.newExamples + selection.replay
            XCTAssertTrue(selected.allSatisfy { $0.split == .train })
            XCTAssertTrue(Set(selected.map(\.id)).isDisjoint(with: evalIDs))
        }
        // The second run (replay capped at everything older) sees every train label exactly once.
        let second = secondRun.newExamples + secondRun.replay
        XCTAssertEqual(Set(second.map(\.id)).count, second.count)
        XCTAssertEqual(second.count + evalIDs.count, 3_000)
        XCTAssertEqual(try store.evalSet().map(\.id), evalIDs.sorted())
        XCTAssertTrue(try store.evalSet().allSatisfy { $0.split == .eval })
    }

    func testTrainingSelection_newAreAboveTheSeq_replayIsASeededSampleOfOlderTrainLabels() throws {
        let old = texts(in: .train, count: 400, prefix: "old")
        try store.add(old.map { .of($0, "neutral") }, source: .add, evalFraction: 0.1, uid: 0)
        let mark = try store.maxSeq()
        let fresh = texts(in: .train, count: 50, prefix: "new")
        try store.add(fresh.map { .of($0, "positive") } + [.of(old[0], "negative")], source: .add,
                      evalFraction: 0.1, uid: 0)

        let a = try store.trainingSelection(newerThan: mark, replayRatio: 2, seed: 99, maxNew: nil)
        XCTAssertEqual(a.newExamples.count, 51)
        XCTAssertEqual(a.newExamples.map(\.seq), a.newExamples.map(\.seq).sorted())
        XCTAssertTrue(a.newExamples.allSatisfy { $0.seq > mark })
        XCTAssertEqual(a.replay.count, 102)  // round(2 × 51)
        XCTAssertTrue(a.replay.allSatisfy { $0.seq <= mark && $0.split == .train })
        XCTAssertEqual(Set(a.replay.map(\.id)).count, 102)
        XCTAssertEqual(a.replay.map(\.id), a.replay.map(\.id).sorted())
        // The relabelled old text is new (with its new label), not replayed.
        XCTAssertTrue(a.newExamples.contains { $0.text == old[0] && $0.label == "negative" })
        XCTAssertFalse(a.replay.contains { $0.text == old[0] })
        XCTAssertEqual(a.highSeq, try store.maxSeq())

        let same = try store.trainingSelection(newerThan: mark, replayRatio: 2, seed: 99, maxNew: nil)
        XCTAssertEqual(same, a)
        XCTAssertEqual(same.fingerprint, a.fingerprint)
        let other = try store.trainingSelection(newerThan: mark, replayRatio: 2, seed: 100, maxNew: nil)
        XCTAssertNotEqual(other.replay, a.replay)
        XCTAssertNotEqual(other.fingerprint, a.fingerprint)

        let half = try store.trainingSelection(newerThan: mark, replayRatio: 0.5, seed: 99, maxNew: nil)
        XCTAssertEqual(half.replay.count, 26)  // round(25.5)
        let capped = try store.trainingSelection(newerThan: mark, replayRatio: 100, seed: 99, maxNew: nil)
        XCTAssertEqual(capped.replay.count, 399)  // every older train label (old[0] moved to new)
        let noReplay = try store.trainingSelection(newerThan: mark, replayRatio: 0, seed: 99, maxNew: nil)
        XCTAssertEqual(noReplay.replay, [])
    }

    func testTrainingSelection_maxNew_takesTheOldestAndLeavesTheRestForTheNextRun() throws {
        let train = texts(in: .train, count: 25)
        let eval = texts(in: .eval, count: 5)
        var items: [LabelInput] = []
        for (i, text) in train.enumerated() {
            items.append(.of(text, "positive"))
            if i % 5 == 0 { items.append(.of(eval[i / 5], "negative")) }  // eval labels in between
        }
        try store.add(items, source: .add, evalFraction: 0.1, uid: 0)
        let first = try store.trainingSelection(newerThan: 0, replayRatio: 0, seed: 1, maxNew: 10)
        XCTAssertEqual(first.newExamples.count, 10)
        XCTAssertEqual(first.highSeq, first.newExamples.last?.seq)
        let second = try store.trainingSelection(newerThan: first.highSeq, replayRatio: 0, seed: 1, maxNew: 10)
        XCTAssertEqual(second.newExamples.count, 10)
        XCTAssertTrue(second.newExamples.allSatisfy { $0.seq > first.highSeq })
        let third = try store.trainingSelection(newerThan: second.highSeq, replayRatio: 0, seed: 1, maxNew: 10)
        XCTAssertEqual(third.newExamples.count, 5)
        XCTAssertEqual(third.highSeq, try store.maxSeq())
        let ids = (first.newExamples + second.newExamples + third.newExamples).map(\.id)
        XCTAssertEqual(Set(ids).count, 25)
        let none = try store.trainingSelection(newerThan: third.highSeq, replayRatio: 1, seed: 1, maxNew: 10)
        XCTAssertEqual(none.newExamples, [])
        XCTAssertEqual(none.replay, [])
        XCTAssertEqual(none.highSeq, third.highSeq)
    }

    // MARK: imports

    func testImport_stagedChunksBecomeLabelsOnlyAtCommit() throws {
        try store.add([.of("already here", "neutral")], source: .add, evalFraction: 0.1, uid: 0)
        let batch = try store.beginImport(source: "tweets.jsonl", format: "jsonl", uid: 1001)
        try store.stageImport(batch: batch, rows: [.of("one", "positive"), .of("two", "negative")])
        try store.stageImport(batch: batch, rows: [.of("three", "neutral"), .of("already  here", "positive")])
        XCTAssertEqual(try store.stagedRowCount(batch: batch), 4)
        XCTAssertEqual(try labelCount(), 1, "staged rows are not labels yet")
        XCTAssertEqual(try store.importBatch(batch)?.staged, 4)
        XCTAssertEqual(try store.importBatch(batch)?.status, .open)

        let summary = try store.commitImport(batch: batch, evalFraction: 0.1)
        let written = ["one", "two", "three", "already here"]
        XCTAssertEqual(summary.evalSplit,
                       written.filter { SplitAssignment.split(forNormalised: $0, evalFraction: 0.1) == .eval }.count)
        XCTAssertEqual(summary.added, 3)
        XCTAssertEqual(summary.updated, 1)
        XCTAssertEqual(summary.unchanged, 0)
        XCTAssertEqual(summary.batch, batch)
        XCTAssertEqual(try labelCount(), 4)
        XCTAssertEqual(try store.stagedRowCount(batch: batch), 0)
        let record = try XCTUnwrap(store.importBatch(batch))
        XCTAssertEqual(record.status, .committed)
        XCTAssertEqual(record.source, "tweets.jsonl")
        XCTAssertEqual(record.format, "jsonl")
        XCTAssertEqual(record.uid, 1001)
        XCTAssertEqual([record.added, record.updated, record.unchanged, record.conflicts], [3, 1, 0, 0])
        XCTAssertNotNil(record.committedAt)
        // Lines continue across chunks; the label rows and the change name the import.
        try pool.read { db in
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM label WHERE import_batch = ? AND source = 'import'",
                                            arguments: [batch]), 4)
        }
        let changed = try XCTUnwrap(store.label(forText: "already here"))
        XCTAssertEqual(try store.changes(labelID: changed.id).first?.importBatch, batch)
        XCTAssertEqual(try store.changes(labelID: changed.id).first?.uid, 1001)

        XCTAssertThrowsError(try store.stageImport(batch: batch, rows: [.of("late", "positive")])) {
            XCTAssertEqual($0 as? LabelStoreError, .importNotOpen(batch: batch, status: .committed))
            XCTAssertTrue("\($0)".contains("import \(batch) is committed"))
        }
        XCTAssertThrowsError(try store.commitImport(batch: batch, evalFraction: 0.1)) {
            XCTAssertEqual($0 as? LabelStoreError, .importNotOpen(batch: batch, status: .committed))
        }
        XCTAssertThrowsError(try store.abandonImport(batch: batch)) {
            XCTAssertEqual($0 as? LabelStoreError, .importNotOpen(batch: batch, status: .committed))
        }
    }

    func testImport_conflictsAcrossChunksReportLineNumbers_andApplyInLineOrder() throws {
        let batch = try store.beginImport(source: "labels.csv", format: "csv", uid: 0)
        // The chunks arrive with explicit line numbers (the header is line 1), the second chunk with lower
        // lines than the first: commit applies in line order, so line 7 wins.
        try store.stageImport(batch: batch, rows: [.of("so so", "neutral", line: 6), .of("so  so", "negative", line: 7)])
        try store.stageImport(batch: batch, rows: [.of("so so", "positive", line: 2), .of("fine", "positive", line: 3)])
        let summary = try store.commitImport(batch: batch, evalFraction: 0.1)
        XCTAssertEqual(summary.conflicts, [LabelConflict(text: "so so", lines: [2, 6, 7],
                                                         labels: ["positive", "neutral", "negative"])])
        XCTAssertEqual(try store.label(forText: "so so")?.label, "negative")
        XCTAssertEqual(try store.importBatch(batch)?.conflicts, 1)
    }

    func testImport_rowsWithoutLineNumbers_areNumberedAcrossChunks() throws {
        let batch = try store.beginImport(source: "f", format: "jsonl", uid: 0)
        try store.stageImport(batch: batch, rows: [.of("a", "x"), .of("b", "x")])
        try store.stageImport(batch: batch, rows: [.of("c", "x"), .of("a", "y")])
        let summary = try store.commitImport(batch: batch, evalFraction: 0.1)
        XCTAssertEqual(summary.conflicts, [LabelConflict(text: "a", lines: [1, 4], labels: ["x", "y"])])
    }

    func testImport_abandoned_leavesNoLabelsAndRefusesMoreRows() throws {
        let batch = try store.beginImport(source: "f", format: "jsonl", uid: 0)
        try store.stageImport(batch: batch, rows: syntheticTexts(100).map { .of($0, "positive") })
        try store.abandonImport(batch: batch)
        try store.abandonImport(batch: batch)  // idempotent
        XCTAssertEqual(try labelCount(), 0)
        XCTAssertEqual(try store.stagedRowCount(batch: batch), 0)
        XCTAssertEqual(try store.importBatch(batch)?.status, .abandoned)
        XCTAssertNotNil(try store.importBatch(batch)?.abandonedAt)
        XCTAssertEqual(try store.maxSeq(), 0)
        XCTAssertThrowsError(try store.stageImport(batch: batch, rows: [.of("a", "x")])) {
            XCTAssertEqual($0 as? LabelStoreError, .importNotOpen(batch: batch, status: .abandoned))
        }
        XCTAssertThrowsError(try store.commitImport(batch: batch, evalFraction: 0.1)) {
            XCTAssertEqual($0 as? LabelStoreError, .importNotOpen(batch: batch, status: .abandoned))
        }
    }

    func testImport_unknownBatch() throws {
        XCTAssertThrowsError(try store.stageImport(batch: 404, rows: [])) {
            XCTAssertEqual($0 as? LabelStoreError, .unknownImport(batch: 404))
        }
        XCTAssertThrowsError(try store.abandonImport(batch: 404)) {
            XCTAssertEqual($0 as? LabelStoreError, .unknownImport(batch: 404))
        }
        XCTAssertNil(try store.importBatch(404))
    }

    func testImport_maxRows_refusesTheWholeChunkThatWouldExceedIt() throws {
        let batch = try store.beginImport(source: "f", format: "jsonl", uid: 0)
        try store.stageImport(batch: batch, rows: [.of("a", "x"), .of("b", "x"), .of("c", "x")], maxRows: 5)
        XCTAssertThrowsError(try store.stageImport(batch: batch, rows: [.of("d", "x"), .of("e", "x"), .of("f", "x")],
                                                   maxRows: 5)) {
            XCTAssertEqual($0 as? LabelStoreError, .importTooLarge(batch: batch, maxRows: 5))
            XCTAssertTrue("\($0)".contains("5 rows"))
        }
        XCTAssertEqual(try store.importBatch(batch)?.staged, 3)
        XCTAssertEqual(try store.stagedRowCount(batch: batch), 3)
        try store.stageImport(batch: batch, rows: [.of("d", "x"), .of("e", "x")], maxRows: 5)
        XCTAssertEqual(try store.commitImport(batch: batch, evalFraction: 0.1).added, 5)
    }

    func testImport_commitIsAllOrNothing_whenAWriteFailsMidway() throws {
        try store.add([.of("before", "positive")], source: .add, evalFraction: 0.1, uid: 0)
        let batch = try store.beginImport(source: "f", format: "jsonl", uid: 0)
        var rows = syntheticTexts(500).map { LabelInput.of($0, "neutral") }
        rows.insert(.of("boom", "negative"), at: 300)
        rows.append(.of("before", "negative"))
        try store.stageImport(batch: batch, rows: rows)
        // Make the 301st insert fail, as a full disk or an I/O error would.
        try pool.write { db in
            try db.execute(sql: """
                CREATE TRIGGER fail_on_boom BEFORE INSERT ON label WHEN NEW.text = 'boom'
                BEGIN SELECT RAISE(ABORT, 'injected failure'); END
                """)
        }
        XCTAssertThrowsError(try store.commitImport(batch: batch, evalFraction: 0.1)) {
            XCTAssertTrue("\($0)".contains("injected failure"), "\($0)")
        }
        XCTAssertEqual(try labelCount(), 1)
        XCTAssertEqual(try store.label(forText: "before")?.label, "positive")
        XCTAssertEqual(try store.maxSeq(), 1)
        XCTAssertEqual(try store.importBatch(batch)?.status, .open)
        XCTAssertEqual(try store.stagedRowCount(batch: batch), 502)
        try pool.read { db in
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM label_change"), 0)
        }

        try pool.write { db in try db.execute(sql: "DROP TRIGGER fail_on_boom") }
        let summary = try store.commitImport(batch: batch, evalFraction: 0.1)
        XCTAssertEqual(summary.added, 501)
        XCTAssertEqual(summary.updated, 1)
        XCTAssertEqual(try labelCount(), 502)
    }

    func testImport_commitOnAFullDisk_failsWithDiskFullAndAppliesNothing() throws {
        let batch = try store.beginImport(source: "big.jsonl", format: "jsonl", uid: 0)
        try store.stageImport(batch: batch, rows: syntheticTexts(5_000).map { .of($0, "positive") })
        // Cap the file at its current size, as a full file system would.
        try pool.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            _ = try Int.fetchOne(db, sql: "PRAGMA max_page_count = \(pages)")
        }
        XCTAssertThrowsError(try store.commitImport(batch: batch, evalFraction: 0.1)) {
            XCTAssertEqual($0 as? StoreError, .diskFull(path: databaseURL.path))
            XCTAssertTrue("\($0)".contains("the disk is full"))
        }
        XCTAssertEqual(try labelCount(), 0)
        XCTAssertEqual(try store.importBatch(batch)?.status, .open)
        XCTAssertEqual(try store.stagedRowCount(batch: batch), 5_000)

        try pool.writeWithoutTransaction { db in _ = try Int.fetchOne(db, sql: "PRAGMA max_page_count = 1073741823") }
        XCTAssertEqual(try store.commitImport(batch: batch, evalFraction: 0.1).added, 5_000)
    }

    func testWrite_whileAnotherConnectionHoldsTheLockTooLong_failsWithLocked() throws {
        var configuration = Configuration()
        configuration.allowsUnsafeTransactions = true
        let other = try DatabaseQueue(path: databaseURL.path, configuration: configuration)
        try other.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        let impatient = LabelStore(pool: try StoreDatabase.open(path: databaseURL, busyTimeout: 0.2))
        XCTAssertThrowsError(try impatient.add([.of("x", "positive")], source: .add, evalFraction: 0.1, uid: 0)) {
            XCTAssertEqual($0 as? StoreError, .locked(path: databaseURL.path, timeout: 0.2))
        }
        try other.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
        XCTAssertEqual(try impatient.add([.of("x", "positive")], source: .add, evalFraction: 0.1, uid: 0).added, 1)
    }

    func testAbandonOpenImports_dropsOnlyOpenOnes_olderThanTheDate() throws {
        let committed = try store.beginImport(source: "c", format: "jsonl", uid: 0)
        try store.stageImport(batch: committed, rows: [.of("kept", "positive")])
        try store.commitImport(batch: committed, evalFraction: 0.1)
        let old = try store.beginImport(source: "old", format: "jsonl", uid: 0)
        try store.stageImport(batch: old, rows: [.of("o", "positive")])
        try pool.write { db in
            try db.execute(sql: "UPDATE import_batch SET created_at = ? WHERE id = ?",
                           arguments: [Date().addingTimeInterval(-7200), old])
        }
        let recent = try store.beginImport(source: "recent", format: "jsonl", uid: 0)
        try store.stageImport(batch: recent, rows: [.of("r", "positive")])

        XCTAssertEqual(try store.abandonOpenImports(olderThan: Date().addingTimeInterval(-3600)), 1)
        XCTAssertEqual(try store.importBatch(old)?.status, .abandoned)
        XCTAssertEqual(try store.importBatch(recent)?.status, .open)
        XCTAssertEqual(try store.abandonOpenImports(olderThan: nil), 1)
        XCTAssertEqual(try store.importBatch(recent)?.status, .abandoned)
        XCTAssertEqual(try store.importBatch(committed)?.status, .committed)
        try pool.read { db in
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM import_row"), 0)
        }
        XCTAssertEqual(try labelCount(), 1)
    }

    func testLabels_persistAcrossReopen() throws {
        try store.add([.of("persist me", "positive")], source: .add, evalFraction: 0.1, uid: 0)
        store = nil
        pool = nil
        let reopened = try LabelStore(path: databaseURL)
        XCTAssertEqual(try reopened.label(forText: "persist me")?.label, "positive")
        XCTAssertEqual(try reopened.maxSeq(), 1)
    }
}
