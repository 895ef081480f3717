import Foundation
import SentimentEngine
@testable import SentimentService
import XCTest

/// The gate's rule on predictions made up to order: noise keeps the serving model whichever way it falls, a walked-
/// down sequence is stopped by the best version so far, and the same data gives the same decision.
final class PromotionGateTests: XCTestCase {
    private let gate = PromotionGate(tolerance: 0.01, confidence: 0.95)

    /// `n` labels over three classes and predictions that are right on the first `correct` of them (wrong ones say
    /// the next class).
    private func predictions(_ labels: [Int], correct: Int, from start: Int = 0) -> [Int] {
        labels.enumerated().map { i, l in (start..<start + correct).contains(i) ? l : (l + 1) % 3 }
    }

    private func labels(_ n: Int) -> [Int] { (0..<n).map { ($0 * 7 + 3) % 3 } }

    func testMacroF1_isTheRunsMacroF1() {
        let l = labels(200)
        let p = predictions(l, correct: 150)
        XCTAssertEqual(PromotionGate.macroF1(p, l, 3), ClassificationMetrics(predictions: p, labels: l, classCount: 3).macroF1)
    }

    /// A candidate right wherever the reference is right, and on one text more, is not worse on any resample.
    func testCandidateNeverWorseOnAnyText_isPublished() {
        let l = labels(100)
        let d = gate.decide(candidate: predictions(l, correct: 81),
                            references: [.init(version: "v1", role: "champion", predictions: predictions(l, correct: 80))],
                            labels: l, classes: 3, seed: 1)
        XCTAssertTrue(d.publish, d.reason)
        XCTAssertEqual(d.comparisons[0].discordant, 1)
    }

    func testIdenticalCandidate_isPublished() {
        let l = labels(100)
        let p = predictions(l, correct: 80)
        let d = gate.decide(candidate: p, references: [.init(version: "v1", role: "champion", predictions: p)],
                            labels: l, classes: 3, seed: 1)
        XCTAssertTrue(d.publish, d.reason)
        XCTAssertEqual(d.comparisons[0].lowerBound, 0)
        XCTAssertEqual(d.comparisons[0].discordant, 0)
    }

    /// One text better or one text worse on 100, the two models disagreeing on some twenty texts either way: the
    /// split cannot tell, and the serving model stays whichever way the one text fell, with the same words, on
    /// every call.
    func testNoiseSizedDifference_keepsTheServingModelEitherWay() {
        let l = labels(100)
        let reference = predictions(l, correct: 80)
        for candidateCorrect in [79, 81] {
            let candidate = predictions(l, correct: candidateCorrect, from: 10)
            let d = gate.decide(candidate: candidate, references: [.init(version: "v1", role: "champion", predictions: reference)],
                                labels: l, classes: 3, seed: 42)
            XCTAssertFalse(d.publish, "\(candidateCorrect): \(d.reason)")
            XCTAssertTrue(d.reason.contains("not shown to be within the tolerance"), d.reason)
            let again = gate.decide(candidate: candidate, references: [.init(version: "v1", role: "champion", predictions: reference)],
                                    labels: l, classes: 3, seed: 42)
            XCTAssertEqual(again.comparisons, d.comparisons, "the bootstrap is not deterministic")
        }
    }

    func testClearlyBetter_isPublished_clearlyWorse_isRejectedAsWorse() {
        let l = labels(400)
        let reference = predictions(l, correct: 250)
        let better = gate.decide(candidate: predictions(l, correct: 350),
                                 references: [.init(version: "v1", role: "champion", predictions: reference)],
                                 labels: l, classes: 3, seed: 3)
        XCTAssertTrue(better.publish, better.reason)
        let worse = gate.decide(candidate: predictions(l, correct: 150),
                                references: [.init(version: "v1", role: "champion", predictions: reference)],
                                labels: l, classes: 3, seed: 3)
        XCTAssertFalse(worse.publish)
        XCTAssertTrue(worse.reason.contains("by more than the tolerance"), worse.reason)
    }

    /// Candidates each a little worse than the one before, each within the tolerance of its champion on a large
    /// split: judged against the champion alone every one would be published and quality would slide without end.
    /// Against the best version so far the slide stops within the tolerance.
    func testWalkedDownSequence_isStoppedByTheBestSoFar() {
        let n = 20_000
        let l = labels(n)
        let tolerant = PromotionGate(tolerance: 0.02, confidence: 0.95, resamples: 200)
        var best = predictions(l, correct: 18_000)
        var bestF1 = PromotionGate.macroF1(best, l, 3)
        var champion = best
        var published: [Double] = []
        var refusedWhileWithinToleranceOfChampion = false
        for step in 1...8 {
            // 100 texts (0.5 %) worse than the champion each time.
            let candidate = predictions(l, correct: 18_000 - 100 * step)
            let championF1 = PromotionGate.macroF1(champion, l, 3)
            let candidateF1 = PromotionGate.macroF1(candidate, l, 3)
            XCTAssertGreaterThan(candidateF1, championF1 - tolerant.tolerance, "each step is within the tolerance")
            let d = tolerant.decide(candidate: candidate,
                                    references: [.init(version: "c\(step)", role: "champion", predictions: champion),
                                                 .init(version: "best", role: "best", predictions: best)],
                                    labels: l, classes: 3, seed: 11)
            if d.publish {
                published.append(candidateF1)
                champion = candidate
                if candidateF1 > bestF1 { best = candidate; bestF1 = candidateF1 }
            } else {
                refusedWhileWithinToleranceOfChampion = true
                break
            }
        }
        XCTAssertTrue(refusedWhileWithinToleranceOfChampion, "the walk-down went on: \(published)")
        for f1 in published { XCTAssertGreaterThanOrEqual(f1, bestF1 - tolerant.tolerance) }
    }
}
