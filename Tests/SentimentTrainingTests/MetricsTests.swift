import Foundation
import XCTest
@testable import SentimentEngine

/// Hand-computed cases; each expected value is worked out in the comment above it.
final class MetricsTests: XCTestCase {
    func assertEqual(_ a: [Double], _ b: [Double], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-12, file: file, line: line) }
    }

    func testThreeClasses_withAClassNeverRightAndAClassAbsentFromBoth() {
        // true: 0 0 0 0 1 1 1 2 2 2     pred: 0 0 1 2 1 1 0 0 0 0     (4 classes; class 3 occurs nowhere)
        // confusion rows true / columns predicted:
        //   0: [2 1 1 0]   1: [1 2 0 0]   2: [3 0 0 0]   3: [0 0 0 0]
        // class 0: TP 2, predicted 6, actual 4 -> P 1/3, R 1/2, F1 = 4 / (4 + 4 + 2) = 0.4
        // class 1: TP 2, predicted 3, actual 3 -> P 2/3, R 2/3, F1 = 4 / (4 + 1 + 1) = 2/3
        // class 2: TP 0, predicted 1, actual 3 -> P 0, R 0, F1 0
        // class 3: absent from both -> 0, and left out of the macro averages (scikit-learn's labels=None)
        // macro P = (1/3 + 2/3 + 0) / 3 = 1/3; macro R = (1/2 + 2/3) / 3 = 7/18; macro F1 = (0.4 + 2/3) / 3 = 16/45
        // accuracy = 4 / 10
        let m = ClassificationMetrics(predictions: [0, 0, 1, 2, 1, 1, 0, 0, 0, 0],
                                      labels: [0, 0, 0, 0, 1, 1, 1, 2, 2, 2], classCount: 4)
        XCTAssertEqual(m.confusion, [[2, 1, 1, 0], [1, 2, 0, 0], [3, 0, 0, 0], [0, 0, 0, 0]])
        assertEqual(m.precision, [1.0 / 3, 2.0 / 3, 0, 0])
        assertEqual(m.recall, [0.5, 2.0 / 3, 0, 0])
        assertEqual(m.f1, [0.4, 2.0 / 3, 0, 0])
        XCTAssertEqual(m.support, [4, 3, 3, 0])
        XCTAssertEqual(m.macroPrecision, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(m.macroRecall, 7.0 / 18, accuracy: 1e-12)
        XCTAssertEqual(m.macroF1, 16.0 / 45, accuracy: 1e-12)
        XCTAssertEqual(m.accuracy, 0.4, accuracy: 1e-12)
        XCTAssertEqual(m.count, 10)
    }

    func testZeroDivision_classNeverPredicted() {
        // true: 0 1 1, pred: 0 0 0. class 0: TP 1, predicted 3, actual 1 -> P 1/3, R 1, F1 = 2 / (2 + 2 + 0) = 0.5
        // class 1: never predicted -> P 0 (zero_division), R 0/2 = 0, F1 0. Macro P 1/6, R 1/2, F1 1/4.
        let m = ClassificationMetrics(predictions: [0, 0, 0], labels: [0, 1, 1], classCount: 2)
        assertEqual(m.precision, [1.0 / 3, 0])
        assertEqual(m.recall, [1, 0])
        assertEqual(m.f1, [0.5, 0])
        XCTAssertEqual(m.macroPrecision, 1.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(m.macroRecall, 0.5, accuracy: 1e-12)
        XCTAssertEqual(m.macroF1, 0.25, accuracy: 1e-12)
        XCTAssertEqual(m.accuracy, 1.0 / 3, accuracy: 1e-12)
    }

    func testClassOnlyPredicted_countsInTheMacroAverage() {
        // true: 0 0, pred: 0 1. class 0: TP 1, predicted 1, actual 2 -> P 1, R 1/2, F1 = 2 / (2 + 0 + 1) = 2/3
        // class 1: predicted once, never true -> P 0, R 0 (zero_division), F1 0; it is in y_pred, so it counts:
        // macro F1 = 1/3, macro R = 1/4, macro P = 1/2.
        let m = ClassificationMetrics(predictions: [0, 1], labels: [0, 0], classCount: 3)
        XCTAssertEqual(m.macroF1, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(m.macroRecall, 0.25, accuracy: 1e-12)
        XCTAssertEqual(m.macroPrecision, 0.5, accuracy: 1e-12)
    }

    func testPerfectAndEmpty() {
        let p = ClassificationMetrics(predictions: [2, 0, 1], labels: [2, 0, 1], classCount: 3)
        XCTAssertEqual([p.accuracy, p.macroF1, p.macroRecall, p.macroPrecision], [1, 1, 1, 1])
        let e = ClassificationMetrics(predictions: [], labels: [], classCount: 3)
        XCTAssertEqual([e.accuracy, e.macroF1, e.macroRecall], [0, 0, 0])
    }

    func testFromLogits_argmaxFirstOnTiesAndCrossEntropy() {
        // row 0: argmax 0, CE = log(e^2 + 2) - 2; row 1: tie between 1 and 2 -> 1 (first), label 2:
        // CE = log(e^0 + 2 e^1) - 1.
        let m = ClassificationMetrics(logits: [[2, 0, 0], [0, 1, 1]], labels: [0, 2], classCount: 3)
        XCTAssertEqual(m.confusion, [[1, 0, 0], [0, 0, 0], [0, 1, 0]])
        let ce = ((log(exp(2.0) + 2) - 2) + (log(1 + 2 * exp(1.0)) - 1)) / 2
        XCTAssertEqual(m.loss!, ce, accuracy: 1e-6)
    }

    func testTable_printsEveryClassMacroRecallAndTheConfusionMatrix() {
        let m = ClassificationMetrics(predictions: [0, 0, 1, 2, 1, 1, 0, 0, 0, 0],
                                      labels: [0, 0, 0, 0, 1, 1, 1, 2, 2, 2], classCount: 3)
        let t = m.table(labels: ["negative", "neutral", "positive"], title: "validation")
        XCTAssertTrue(t.contains("validation (10 examples)"), t)
        XCTAssertTrue(t.contains("macro-recall (TweetEval's official metric): 0.3889"), t)
        XCTAssertTrue(t.contains("0.4000"), t)
        let rows = t.split(separator: "\n")
        XCTAssertTrue(rows.contains { $0.hasPrefix("positive") && $0.hasSuffix("3         0         0") }, t)
    }

    func testCodableRoundTrip() throws {
        let m = ClassificationMetrics(logits: [[1, 0], [0, 3]], labels: [0, 0], classCount: 2)
        let back = try JSONDecoder().decode(ClassificationMetrics.self, from: try JSONEncoder().encode(m))
        XCTAssertEqual(back, m)
    }
}
