import Foundation
@testable import SentimentEngine
import XCTest
import SentimentTestSupport

final class PrecisionCheckTests: XCTestCase {
    private func comparison(agreement: Double, texts: Int = 1200, labelled: Int, fp32F1: Double, int8F1: Double) -> PrecisionComparison {
        func metrics(_ f1: Double) -> ClassificationMetrics {
            var m = ClassificationMetrics(predictions: [0, 1], labels: [0, 1], classCount: 2)
            m.macroF1 = f1
            return m
        }
        return PrecisionComparison(texts: texts, agreement: agreement, labelled: labelled, fp32: metrics(fp32F1), int8: metrics(int8F1),
                                   maxProbabilityDifference: 0.01)
    }

    func testTolerance_defaults_passAndFailAtTheirEdges_andSayWhy() {
        let t = PrecisionTolerance()
        XCTAssertEqual(t.minimumAgreement, 0.98)
        XCTAssertEqual(t.maximumMacroF1Drop, 0.005)
        XCTAssertNil(t.failure(comparison(agreement: 0.98, labelled: 500, fp32F1: 0.72, int8F1: 0.716)))
        XCTAssertEqual(t.failure(comparison(agreement: 0.979, labelled: 500, fp32F1: 0.72, int8F1: 0.72)),
                       "int8 gave fp32's label on 97.90 % of 1200 texts (int8_min_agreement 98.00 %)")
        XCTAssertEqual(t.failure(comparison(agreement: 0.99, labelled: 500, fp32F1: 0.72, int8F1: 0.71)),
                       "int8's macro-F1 is 1.00 points below fp32's on 500 labelled texts (int8_max_f1_drop 0.50)")
        // Too few labels to judge F1: agreement alone decides.
        XCTAssertNil(t.failure(comparison(agreement: 0.99, labelled: 199, fp32F1: 0.72, int8F1: 0.60)))
    }

    /// At least a thousand texts, each written once: distinct even ignoring case and spacing (no text counted
    /// twice by being joined to another or re-cased), and short.
    func testProbeSet_hasAThousandDistinctShortTexts() {
        XCTAssertGreaterThanOrEqual(ProbeTexts.all.count, ProbeTexts.minimumCount)
        let normalised = ProbeTexts.all.map { $0.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        XCTAssertEqual(Set(normalised).count, ProbeTexts.all.count, "a probe text repeats")
        XCTAssertTrue(ProbeTexts.all.allSatisfy { !$0.isEmpty && $0.count < 120 && $0 == $0.trimmingCharacters(in: .whitespaces) })
        // No text is two others joined (what the first probe set did to reach its count).
        let set = Set(ProbeTexts.all)
        let joined = ProbeTexts.all.filter { text in
            set.contains { other in other != text && text.hasPrefix(other + " ") && set.contains(String(text.dropFirst(other.count + 1))) }
        }
        XCTAssertEqual(joined, [])
    }

    /// The comparison itself on a real (tiny) model: a model against itself agrees fully; fp32 against int8 gives
    /// the figures from both models' own predictions.
    func testCompare_countsAgreementAndScoresBothPrecisions() throws {
        let folder = ModelFixtures.folder("tiny-roberta")
        let fp32 = try SentimentModel.load(folder: folder, options: ModelLoadOptions(normalizeTweets: false))
        let int8 = try SentimentModel.load(folder: folder, options: ModelLoadOptions(normalizeTweets: false, precision: .int8))
        let texts = Array(ProbeTexts.all.prefix(40))
        let labels: [Int?] = texts.indices.map { $0 % 4 == 3 ? nil : $0 % 3 }
        let same = try PrecisionCheck.compare(fp32: fp32, int8: fp32, texts: texts, labels: labels)
        XCTAssertEqual(same.agreement, 1)
        XCTAssertEqual(same.maxProbabilityDifference, 0)
        XCTAssertEqual(same.labelled, 30)
        XCTAssertEqual(same.macroF1Drop, 0)
        let c = try PrecisionCheck.compare(fp32: fp32, int8: int8, texts: texts, labels: labels, batchSize: 7)
        let a = fp32.predict(texts).map(\.labelIndex), b = int8.predict(texts).map(\.labelIndex)
        XCTAssertEqual(c.agreement, Double(zip(a, b).filter { $0 == $1 }.count) / 40)
        let known = labels.indices.filter { labels[$0] != nil }
        XCTAssertEqual(c.int8, ClassificationMetrics(predictions: known.map { b[$0] }, labels: known.map { labels[$0]! }, classCount: 3))
        XCTAssertGreaterThan(c.maxProbabilityDifference, 0)
        XCTAssertLessThan(c.maxProbabilityDifference, 0.03)
    }
}
