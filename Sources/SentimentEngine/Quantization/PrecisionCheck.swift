import Foundation

/// int8 against fp32 on the same texts: the figures a version's int8 check decides on.
public struct PrecisionComparison: Sendable, Equatable, Codable {
    /// Texts compared, and the fraction that got the same label in both precisions.
    public var texts: Int
    public var agreement: Double
    /// Texts with a known label, and each precision's scores on them (nil when there were none).
    public var labelled: Int
    public var fp32: ClassificationMetrics?
    public var int8: ClassificationMetrics?
    /// The largest difference of any label's probability between the two, over all texts.
    public var maxProbabilityDifference: Double

    /// fp32's macro-F1 minus int8's (positive: int8 is worse), when there are labels.
    public var macroF1Drop: Double? {
        guard let fp32, let int8 else { return nil }
        return fp32.macroF1 - int8.macroF1
    }
}

extension PrecisionTolerance {
    /// nil when int8 may serve, else why not (for `models` / `status`).
    public func failure(_ c: PrecisionComparison) -> String? {
        failure(texts: c.texts, agreement: c.agreement, labelled: c.labelled, macroF1Drop: c.macroF1Drop)
    }
}

public enum PrecisionCheck {
    /// Runs both models over `texts` (in batches, each text tokenised once by the fp32 model: both share the
    /// tokenizer) and compares them. `labels[i]`: the index of text i's label in the models' labels, or nil.
    /// `maxTokens` cuts longer encodings (keeping the closing special token), which bounds the cost of a text.
    /// `between` runs between batches (pacing, cancellation: what it throws ends the comparison).
    public static func compare(fp32: SentimentModel, int8: SentimentModel, texts: [String], labels: [Int?],
                               batchSize: Int = 32, maxTokens: Int? = nil,
                               between: () throws -> Void = {}) rethrows -> PrecisionComparison {
        precondition(labels.count == texts.count, "one label (or nil) per text")
        func encode(_ text: String) -> [Int32] {
            let ids = fp32.encode(text)
            guard let maxTokens, ids.count > maxTokens, maxTokens >= 2 else { return ids }
            return Array(ids.prefix(maxTokens - 1)) + [ids[ids.count - 1]]
        }
        var fp32Labels: [Int] = [], int8Labels: [Int] = []
        var agree = 0
        var maxDifference = 0.0
        var start = 0
        while start < texts.count {
            try between()
            let encoded = texts[start..<min(start + batchSize, texts.count)].map(encode)
            let a = fp32.predict(encoded: encoded), b = int8.predict(encoded: encoded)
            for (x, y) in zip(a, b) {
                fp32Labels.append(x.labelIndex)
                int8Labels.append(y.labelIndex)
                if x.labelIndex == y.labelIndex { agree += 1 }
                for (p, q) in zip(x.probabilities, y.probabilities) { maxDifference = max(maxDifference, Double(abs(p - q))) }
            }
            start += encoded.count
        }
        let known = labels.indices.filter { labels[$0] != nil }
        let classes = fp32.labels.count
        func metrics(_ predicted: [Int]) -> ClassificationMetrics? {
            known.isEmpty ? nil : ClassificationMetrics(predictions: known.map { predicted[$0] }, labels: known.map { labels[$0]! },
                                                        classCount: classes)
        }
        return PrecisionComparison(texts: texts.count, agreement: texts.isEmpty ? 1 : Double(agree) / Double(texts.count),
                                   labelled: known.count, fp32: metrics(fp32Labels), int8: metrics(int8Labels),
                                   maxProbabilityDifference: maxDifference)
    }
}
