import Foundation
@testable import SentimentEngine
import Synchronization
import XCTest

final class ParallelTests: XCTestCase {
    func testSerially_keepsWorkOnTheCallingThread_andGivesTheSameProduct() {
        let outside = Parallel.workers
        XCTAssertGreaterThanOrEqual(outside, 1)
        let caller = pthread_self()
        let (inside, sameThread): (Int, Bool) = Parallel.serially {
            var same = true
            Parallel.forEach(8) { _ in if pthread_equal(pthread_self(), caller) == 0 { same = false } }
            return (Parallel.workers, same)
        }
        XCTAssertEqual(inside, 1)
        XCTAssertTrue(sameThread, "forEach left the calling thread inside serially")
        XCTAssertEqual(Parallel.workers, outside, "serially leaked out of its body")

        // A GEMM big enough to be split gives the same numbers either way (up to the kernels' edge handling).
        let m = 64, n = 256, k = 128
        var rng = SeededRandom(seed: 7)
        let a = (0..<(m * k)).map { _ in rng.nextUniform() - 0.5 }
        let b = (0..<(k * n)).map { _ in rng.nextUniform() - 0.5 }
        var split = [Float](repeating: 0, count: m * n)
        var serial = [Float](repeating: 0, count: m * n)
        BLAS.gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &split, ldc: n)
        Parallel.serially { BLAS.gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &serial, ldc: n) }
        for (x, y) in zip(split, serial) { XCTAssertEqual(x, y, accuracy: 1e-5) }
        XCTAssertGreaterThan(split.map(abs).max() ?? 0, 0.5)
    }
}

final class WorkerPoolTests: XCTestCase {
    /// Runs `body` on a thread of its own and fails (instead of hanging the suite) if it does not return in
    /// `seconds`: a lost wake-up in the pool shows as a loop that never ends.
    private func withDeadline(_ seconds: Double, _ what: String, _ body: @escaping @Sendable () -> Void) {
        let done = expectation(description: what)
        Thread { body(); done.fulfill() }.start()
        wait(for: [done], timeout: seconds)
    }

    /// Every index in 0..<count ran exactly once.
    private func assertEachOnce(_ hits: [Int], _ context: String, file: StaticString = #filePath, line: UInt = #line) {
        if let bad = hits.firstIndex(where: { $0 != 1 }) {
            XCTFail("\(context): index \(bad) ran \(hits[bad]) times", file: file, line: line)
        }
    }

    func testEveryIteration_runsExactlyOnce_overManyLoopsAndCounts() {
        for count in [0, 1, 2, 3, 7, 64, 1_000] {
            for round in 0..<50 {
                let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
                hits.initialize(repeating: 0, count: max(count, 1))
                Parallel.forEach(count) { i in hits[i] += 1 }   // distinct i: no two threads share a slot
                assertEachOnce(Array(UnsafeBufferPointer(start: hits, count: count)), "count \(count), round \(round)")
                hits.deallocate()
            }
        }
        for count in [1, 5, 100, 10_001] {
            var seen = [Int](repeating: 0, count: count)
            seen.withUnsafeMutableBufferPointer { seen in
                Parallel.forRanges(count, grain: 1) { range in for i in range { seen[i] += 1 } }
            }
            assertEachOnce(seen, "forRanges \(count)")
        }
    }

    func testSlowIterations_areShared_withTheHelperThread() throws {
        try XCTSkipIf(Parallel.workers < 2, "one CPU: the pool has no helper")
        let caller = pthread_self()
        let elsewhere = Atomic<Int>(0)
        Parallel.forEach(16) { _ in
            usleep(2_000)
            if pthread_equal(pthread_self(), caller) == 0 { elsewhere.wrappingAdd(1, ordering: .relaxed) }
        }
        // A helper that joins late (asleep: at most a few hundred µs) still takes most of 16 × 2 ms.
        XCTAssertGreaterThanOrEqual(elsewhere.load(ordering: .relaxed), 4)
    }

    func testHelpersThatSleepBetweenLoops_areWokenForEveryLoop() {
        // No spinning: every loop must wake a sleeping helper, 20,000 times, racing with its going to sleep.
        let pool = WorkerPool(threads: 1, spinMicroseconds: 0)
        let helped = Atomic<Int>(0)
        withDeadline(120, "20,000 loops with sleeping helpers") {
            let caller = pthread_self()
            for round in 0..<20_000 {
                var hits = [0, 0, 0]
                let ran = hits.withUnsafeMutableBufferPointer { hits in
                    pool.run(3) { i in
                        hits[i] += 1
                        if pthread_equal(pthread_self(), caller) == 0 { helped.wrappingAdd(1, ordering: .relaxed) }
                        if round % 1_000 == 0 { usleep(1_000) }   // now and then, long enough for the helper to join
                    }
                }
                XCTAssertTrue(ran)
                XCTAssertEqual(hits, [1, 1, 1], "round \(round)")
            }
        }
        XCTAssertGreaterThan(helped.load(ordering: .relaxed), 0, "the helper never took an iteration")
    }

    func testConcurrentAndNestedLoops_fallBackAndStayCorrect() {
        // Eight threads start loops at once (one gets the pool, the others run on Dispatch), and each iteration
        // runs a loop of its own (the pool is busy: Dispatch again).
        withDeadline(120, "concurrent nested loops") {
            DispatchQueue.concurrentPerform(iterations: 8) { t in
                for round in 0..<100 {
                    var sums = [Int](repeating: 0, count: 6)
                    sums.withUnsafeMutableBufferPointer { sums in
                        Parallel.forEach(6) { i in
                            let inner = Atomic<Int>(0)
                            Parallel.forEach(10) { j in inner.wrappingAdd(j + i, ordering: .relaxed) }
                            sums[i] = inner.load(ordering: .relaxed)
                        }
                    }
                    XCTAssertEqual(sums, (0..<6).map { 45 + 10 * $0 }, "thread \(t), round \(round)")
                }
            }
        }
    }

    func testQuietHelpers_sleepRightAfterALoop_otherwiseTheySpin() {
        // A one-second spin: without a quiet request the helper is still spinning 100 ms after the loop.
        let pool = WorkerPool(threads: 1, spinMicroseconds: 1_000_000)
        func loopThenWait() -> Int {
            XCTAssertTrue(pool.run(4) { _ in usleep(500) })
            usleep(100_000)
            return pool.sleepingHelpers
        }
        XCTAssertEqual(loopThenWait(), 0, "the helper stopped spinning before its second was up")
        pool.quietRequests.wrappingAdd(1, ordering: .relaxed)
        XCTAssertEqual(loopThenWait(), 1, "a quiet helper still spun 100 ms after the loop")
        pool.quietRequests.wrappingSubtract(1, ordering: .relaxed)

        XCTAssertFalse(Parallel.helpersAreQuiet)
        Parallel.withQuietHelpers { XCTAssertTrue(Parallel.helpersAreQuiet) }
        XCTAssertFalse(Parallel.helpersAreQuiet)
    }

    func testAPoolWithoutHelpers_declines() {
        let pool = WorkerPool(threads: 0)
        var ran = false
        XCTAssertFalse(pool.run(4) { _ in ran = true })
        XCTAssertFalse(ran)
    }
}

final class BackgroundReleaseTests: XCTestCase {
    func testLargeBuffers_droppedFromManyThreads_areAllFreed() {
        // Large buffers go to the release thread, small ones are freed inline; both must leave nothing behind.
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            for j in 0..<8 {
                let large = FloatBuffer(count: BackgroundRelease.minimumFloats + i * 1_000 + j)
                large[large.count - 1] = Float(i)
                let small = FloatBuffer(count: 100)
                small[99] = large[large.count - 1]
                XCTAssertEqual(small[99], Float(i))
            }
        }
        let done = expectation(description: "release thread idle")
        DispatchQueue.global().async {
            BackgroundRelease.waitUntilIdle()
            done.fulfill()
        }
        wait(for: [done], timeout: 30)
    }
}
