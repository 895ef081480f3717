import Foundation

/// Classification quality of predictions against true labels, defined as scikit-learn defines it
/// (`accuracy_score`, `precision_recall_fscore_support`, `confusion_matrix`) with zero_division = 0:
///
/// - per class c: precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2 TP / (2 TP + FP + FN),
///   each 0 when its denominator is 0; support = TP + FN.
/// - macro averages: the unweighted mean over the classes that occur in the true labels or the
///   predictions (scikit-learn's default `labels=None`); a class absent from both does not count.
///   Per-class values are reported for every class of the label set.
/// - confusion matrix: `confusion[t][p]` counts examples of true class t predicted as p (rows true,
///   columns predicted).
/// - macro recall is TweetEval's official sentiment metric.
public struct ClassificationMetrics: Sendable, Equatable, Codable {
    public var count: Int
    public var accuracy: Double
    public var macroPrecision: Double
    public var macroRecall: Double
    public var macroF1: Double
    public var precision: [Double]
    public var recall: [Double]
    public var f1: [Double]
    public var support: [Int]
    public var confusion: [[Int]]
    /// Mean cross-entropy of the logits, when they were given.
    public var loss: Double?

    public init(predictions: [Int], labels: [Int], classCount: Int, loss: Double? = nil) {
        precondition(predictions.count == labels.count, "one prediction per label")
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classCount), count: classCount)
        for (p, t) in zip(predictions, labels) {
            precondition((0..<classCount).contains(p) && (0..<classCount).contains(t), "class index out of range")
            confusion[t][p] += 1
        }
        let n = labels.count
        var correct = 0
        var precision = [Double](repeating: 0, count: classCount)
        var recall = precision, f1 = precision
        var support = [Int](repeating: 0, count: classCount)
        var present: [Int] = []
        for c in 0..<classCount {
            let tp = confusion[c][c]
            let predicted = (0..<classCount).reduce(0) { $0 + confusion[$1][c] }
            let actual = confusion[c].reduce(0, +)
            correct += tp
            support[c] = actual
            precision[c] = predicted == 0 ? 0 : Double(tp) / Double(predicted)
            recall[c] = actual == 0 ? 0 : Double(tp) / Double(actual)
            let denominator = 2 * tp + (predicted - tp) + (actual - tp)
            f1[c] = denominator == 0 ? 0 : Double(2 * tp) / Double(denominator)
            if predicted > 0 || actual > 0 { present.append(c) }
        }
        func macro(_ v: [Double]) -> Double {
            present.isEmpty ? 0 : present.reduce(0) { $0 + v[$1] } / Double(present.count)
        }
        self.count = n
        self.accuracy = n == 0 ? 0 : Double(correct) / Double(n)
        self.macroPrecision = macro(precision)
        self.macroRecall = macro(recall)
        self.macroF1 = macro(f1)
        self.precision = precision
        self.recall = recall
        self.f1 = f1
        self.support = support
        self.confusion = confusion
        self.loss = loss
    }

    /// Metrics of logits (B, classes): predicted class = argmax (first on ties, as numpy), loss = mean
    /// cross-entropy computed in Double.
    public init(logits: [[Float]], labels: [Int], classCount: Int) {
        precondition(logits.count == labels.count, "one logit row per label")
        var predictions: [Int] = []
        predictions.reserveCapacity(logits.count)
        var total = 0.0
        for (row, t) in zip(logits, labels) {
            let best = Self.predictedClass(row)
            predictions.append(best)
            let m = Double(row[best])
            let logSum = m + log(row.reduce(0.0) { $0 + exp(Double($1) - m) })
            total += logSum - Double(row[t])
        }
        self.init(predictions: predictions, labels: labels, classCount: classCount,
                  loss: logits.isEmpty ? nil : total / Double(logits.count))
    }

    /// The predicted class of one row of logits: the argmax, the first on ties (as numpy).
    public static func predictedClass(_ row: [Float]) -> Int {
        var best = 0
        for i in row.indices where row[i] > row[best] { best = i }
        return best
    }

    /// A fixed-width table: per-class precision/recall/F1/support, the macro averages, accuracy and the
    /// confusion matrix, as the final summary of `sentimentd finetune` prints it.
    public func table(labels: [String], title: String) -> String {
        let width = max(12, (labels.map(\.count).max() ?? 0) + 2)
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
        func lpad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
        func f(_ x: Double) -> String { String(format: "%.4f", x) }
        var out = "\(title) (\(count) examples)\n"
        out += pad("", width) + lpad("precision", 10) + lpad("recall", 10) + lpad("f1", 10) + lpad("support", 10) + "\n"
        for (i, name) in labels.enumerated() {
            out += pad(name, width) + lpad(f(precision[i]), 10) + lpad(f(recall[i]), 10) + lpad(f(f1[i]), 10)
                + lpad(String(support[i]), 10) + "\n"
        }
        out += pad("macro avg", width) + lpad(f(macroPrecision), 10) + lpad(f(macroRecall), 10) + lpad(f(macroF1), 10)
            + lpad(String(count), 10) + "\n"
        out += pad("accuracy", width) + lpad("", 20) + lpad(f(accuracy), 10) + lpad(String(count), 10) + "\n"
        out += "macro-recall (TweetEval's official metric): \(f(macroRecall))"
        if let loss { out += "   loss: \(f(loss))" }
        out += "\nconfusion matrix (rows: true, columns: predicted)\n"
        out += pad("", width) + labels.map { lpad(String($0.prefix(9)), 10) }.joined() + "\n"
        for (i, name) in labels.enumerated() {
            out += pad(name, width) + confusion[i].map { lpad(String($0), 10) }.joined() + "\n"
        }
        return out
    }
}
