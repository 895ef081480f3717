import Foundation
import Logging
import SentimentEngine
@testable import SentimentService
import XCTest

final class BatcherTests: XCTestCase {
    private var model: SentimentModel!

    override func setUpWithError() throws {
        model = try SentimentModel.load(folder: TestPaths.requireTinyRoberta())
    }

    private func makeBatcher(maxBatch: Int, maxDelay: Duration, maxQueued: Int = 1000,
                             heartbeat: Duration = .seconds(1),
                             observer: BatcherObserver = .init()) -> Batcher {
        let b = Batcher(limits: BatchLimits(maxBatch: maxBatch, maxDelay: maxDelay, maxQueuedTexts: maxQueued),
                        heartbeatInterval: heartbeat, observer: observer, logger: Logger(label: "test"))
        return b
    }

    /// Submits and waits for the answer.
    private func predict(_ batcher: Batcher, _ texts: [String]) throws -> [TextPrediction] {
        let done = DispatchSemaphore(value: 0)
        let box = LockedBox<Result<[TextPrediction], BatcherError>?>(nil)
        try batcher.submit(texts: texts, model: ServingModel(version: "t", model: model)) { result in
            box.value = result
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        return try box.value!.get()
    }

    func testAnswers_areInOrderAndEqualTheModelsOwn() throws {
        let batcher = makeBatcher(maxBatch: 3, maxDelay: .zero)
        batcher.start()
        defer { batcher.drain() }
        let texts = ["a", "a much longer text than the others, with many words in it", "b c", "", "🙂", "neutral news"]
        let got = try predict(batcher, texts)
        let want = model.predict(texts)
        XCTAssertEqual(got.count, texts.count)
        for (i, (g, w)) in zip(got, want).enumerated() {
            XCTAssertEqual(g.prediction.label, w.label, "text \(i)")
            for (a, b) in zip(g.prediction.probabilities, w.probabilities) { XCTAssertEqual(a, b, accuracy: 1e-5) }
            XCTAssertEqual(g.tokens, model.encode(texts[i]).count)
        }
    }

    func testBatches_areBoundedAndGroupedByLength() throws {
        let sizes = LockedBox<[(Int, Int)]>([])
        // A long delay: batches start only when full, so the grouping is deterministic.
        let batcher = makeBatcher(maxBatch: 4, maxDelay: .seconds(30), observer: BatcherObserver(
            batchCompleted: { size, maxTokens, _, _ in sizes.withLock { $0.append((size, maxTokens)) } }))
        let short = ["a", "b", "c", "d"]
        let long = (0..<4).map { String(repeating: "word\($0) ", count: 20) }
        // Interleaved: short, long, short, long, ...
        let texts = zip(short, long).flatMap { [$0.0, $0.1] }
        batcher.start()
        defer { batcher.drain() }
        _ = try predict(batcher, texts)
        let batches = sizes.value
        XCTAssertEqual(batches.map(\.0), [4, 4])
        let shortMax = short.map { model.encode($0).count }.max()!
        XCTAssertEqual(batches[0].1, shortMax, "the first batch holds the oldest (short) text and the other short ones")
        XCTAssertGreaterThan(batches[1].1, shortMax * 3)
    }

    func testMaxDelay_holdsALoneTextThenRunsIt() throws {
        let batcher = makeBatcher(maxBatch: 100, maxDelay: .milliseconds(300))
        batcher.start()
        defer { batcher.drain() }
        let start = Date()
        _ = try predict(batcher, ["alone"])
        let waited = Date().timeIntervalSince(start)
        XCTAssertGreaterThanOrEqual(waited, 0.29)
        XCTAssertLessThan(waited, 5)
    }

    func testQueueLimit_refusesWhatDoesNotFit() throws {
        let batcher = makeBatcher(maxBatch: 100, maxDelay: .seconds(30), maxQueued: 5)
        batcher.start()
        let answered = DispatchSemaphore(value: 0)
        try batcher.submit(texts: ["1", "2", "3"], model: ServingModel(version: "t", model: model)) { _ in answered.signal() }
        XCTAssertThrowsError(try batcher.submit(texts: ["4", "5", "6"], model: ServingModel(version: "t", model: model)) { _ in }) {
            XCTAssertEqual($0 as? BatcherError, .queueFull(queued: 3, limit: 5))
        }
        XCTAssertEqual(batcher.queuedTexts, 3)
        // Draining runs the queued texts at once (no waiting for max_delay) and then refuses new ones.
        batcher.drain()
        XCTAssertEqual(answered.wait(timeout: .now() + 5), .success)
        XCTAssertThrowsError(try batcher.submit(texts: ["x"], model: ServingModel(version: "t", model: model)) { _ in }) {
            XCTAssertEqual($0 as? BatcherError, .stopped)
        }
    }

    func testALoneClient_stopsWaitingForCompanyAfterTheFirstBatch() throws {
        let batcher = makeBatcher(maxBatch: 16, maxDelay: .milliseconds(400))
        batcher.start()
        defer { batcher.drain() }
        var start = Date()
        _ = try predict(batcher, ["first"])
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.39, "the first batch waits for company once")
        for i in 0..<5 {
            start = Date()
            _ = try predict(batcher, ["alone \(i)"])
            XCTAssertLessThan(Date().timeIntervalSince(start), 0.2, "a client alone must not wait max_delay every time")
        }
        // Company arrives: a request of 3 runs at once, and afterwards the batcher waits for 3 again.
        _ = try predict(batcher, ["a", "b", "c"])
        start = Date()
        _ = try predict(batcher, ["x"])
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.39)
    }

    func testHeartbeat_beatsWhileIdle() throws {
        let beats = LockedBox(0)
        let batcher = makeBatcher(maxBatch: 4, maxDelay: .zero, heartbeat: .milliseconds(50),
                                  observer: BatcherObserver(heartbeat: { beats.withLock { $0 += 1 } }))
        batcher.start()
        Thread.sleep(forTimeInterval: 0.5)
        batcher.drain()
        XCTAssertGreaterThanOrEqual(beats.value, 5)
        XCTAssertLessThan(beats.value, 30)
    }

    func testARequestPinnedToAModel_isAnsweredByItEvenWhenAnotherIsNewer() throws {
        let other = try SentimentModel.load(folder: TestPaths.requireTinyRoberta())
        let batcher = makeBatcher(maxBatch: 8, maxDelay: .milliseconds(50))
        let versions = LockedBox<[String: Int]>([:])
        batcher.start()
        defer { batcher.drain() }
        let group = DispatchGroup()
        for i in 0..<20 {
            group.enter()
            let serving = ServingModel(version: i % 2 == 0 ? "old" : "new", model: i % 2 == 0 ? model : other)
            try batcher.submit(texts: ["text \(i)", "more \(i)"], model: serving) { result in
                if case .success = result { versions.withLock { $0[serving.version, default: 0] += 1 } }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(versions.value, ["old": 10, "new": 10])
    }
}
