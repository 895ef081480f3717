import Foundation
import XCTest
@testable import SentimentCore
@testable import SentimentEngine
import SentimentTestSupport

final class PacingTests: XCTestCase {
    /// Spins for `seconds` of this thread's CPU time.
    private func work(_ seconds: Double) {
        let end = Pacing.threadCPUSeconds() + seconds
        var x = 1.0
        while Pacing.threadCPUSeconds() < end { x = x * 1.000_001 + 1e-9 }
        XCTAssertTrue(x.isFinite)
    }

    /// Inside `run(pause: 3)` each point sleeps three times the CPU time since the previous one, so the wall
    /// time is at least four times the work (more on a busy machine, never less).
    func testRun_sleepsThePausedShareAtEveryPoint() {
        let t0 = Date()
        let cpu0 = Pacing.threadCPUSeconds()
        Pacing.run(pause: 3) {
            for _ in 0..<10 {
                work(0.004)
                Pacing.point()
            }
        }
        let wall = Date().timeIntervalSince(t0), cpu = Pacing.threadCPUSeconds() - cpu0
        XCTAssertGreaterThanOrEqual(cpu, 0.04)
        XCTAssertGreaterThanOrEqual(wall, 4 * 0.04 * 0.95, "wall \(wall) s for \(cpu) s of work")
    }

    /// Outside `run`, and on other threads than the paced one, a point never sleeps.
    func testPoint_outsideRunDoesNotSleep() {
        let t0 = Date()
        for _ in 0..<10_000 { Pacing.point() }
        Pacing.run(pause: 1000) {
            let other = Thread { for _ in 0..<10_000 { Pacing.point() } }
            other.start()
            while other.isExecuting || !other.isFinished { usleep(100) }
        }
        XCTAssertLessThan(Date().timeIntervalSince(t0), 0.5)
    }

    /// A paced model load reads the same weights as an unpaced one.
    func testPacedLoad_readsTheSameWeights() throws {
        let folder = ModelFixtures.folder("tiny-roberta")
        let plain = try SentimentModel.load(folder: folder, options: ModelLoadOptions(packWeights: false))
        let paced = try Pacing.run(pause: 0.5) {
            try SentimentModel.load(folder: folder, options: ModelLoadOptions(packWeights: false))
        }
        let a = plain.encoder.weights.namedBuffers, b = paced.encoder.weights.namedBuffers
        XCTAssertEqual(a.map(\.name), b.map(\.name))
        for (x, y) in zip(a, b) { XCTAssertEqual(x.buffer.array, y.buffer.array, x.name) }
    }
}
