import Foundation
@testable import SentimentML
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
