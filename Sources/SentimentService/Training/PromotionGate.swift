import Foundation
import SentimentEngine
import SentimentProtocol

/// The gate a candidate passes to be published.
///
/// Rule (the README's "The promotion gate"): the candidate and each reference are compared text by text on the same
/// frozen eval split, which must hold at least `min_eval_labels` texts. The references are the champion (the version
/// the run started from) and the best version published so far on this same split (by macro-F1; versions an admin
/// rolled back do not count). For each, the difference of macro-F1 (candidate minus reference) is resampled
/// `resamples` times by a paired bootstrap over the split's texts, seeded from the split's fingerprint, and its
/// one-sided bounds at `confidence` are taken. The candidate is published only if every lower bound is at least
/// `-tolerance`: at that confidence, it is at most `tolerance` below the champion and below the best so far.
///
/// Why. Compared with the champion alone and a point estimate, a run of candidates each a little worse than the last
/// is published one by one and quality walks down by `tolerance` per run; compared with the best so far, the total
/// slide is bounded by `tolerance`. The bound instead of the point estimate means a difference the split is too
/// small to tell (a few texts either way) keeps the serving model, always and for the same reason, instead of
/// publishing or rejecting on which way the few texts fell; the same data gives the same decision.
struct PromotionGate {
    var tolerance: Double
    var confidence: Double
    var resamples = 1000

    /// A version the candidate is compared with, and its predicted classes on the split (in split order).
    struct Reference {
        var version: String
        var role: String
        var predictions: [Int]
    }

    struct Decision {
        var publish: Bool
        var reason: String
        var comparisons: [GateComparison]
    }

    /// The seed of a split: the first 16 hex digits of its fingerprint.
    static func seed(splitFingerprint: String) -> UInt64 {
        UInt64(splitFingerprint.prefix(16), radix: 16) ?? 0x9E37_79B9_7F4A_7C15
    }

    func decide(candidate: [Int], references: [Reference], labels: [Int], classes: Int, seed: UInt64) -> Decision {
        let comparisons = references.map { compare(candidate: candidate, reference: $0, labels: labels, classes: classes, seed: seed) }
        let level = String(format: "%g %%", confidence * 100)
        let t = Self.f(tolerance)
        if let failing = comparisons.first(where: { $0.lowerBound < -tolerance }) {
            let which = "\(failing.role) \(failing.version) (\(Self.f(failing.referenceF1)))"
            let d = Self.signed(failing.difference)
            if failing.upperBound < -tolerance {
                return Decision(publish: false, reason: "candidate macro-F1 \(Self.f(failing.candidateF1)) is below the "
                    + "\(which) by more than the tolerance \(t): difference \(d), \(level) bounds "
                    + "[\(Self.signed(failing.lowerBound)), \(Self.signed(failing.upperBound))]; the serving model stays",
                    comparisons: comparisons)
            }
            return Decision(publish: false, reason: "candidate macro-F1 \(Self.f(failing.candidateF1)) vs the \(which): "
                + "difference \(d) with \(level) bounds [\(Self.signed(failing.lowerBound)), "
                + "\(Self.signed(failing.upperBound))] over \(labels.count) eval texts (\(failing.discordant) decided "
                + "differently): not shown to be within the tolerance \(t); the serving model stays (a larger eval "
                + "split tells smaller differences: sentimentctl labels draw-eval)", comparisons: comparisons)
        }
        let against = comparisons.map { "\($0.role) \($0.version) \(Self.f($0.referenceF1)) (bound \(Self.signed($0.lowerBound)))" }
        return Decision(publish: true, reason: "candidate macro-F1 \(Self.f(comparisons.first?.candidateF1 ?? 0)) is at "
            + "most \(t) below \(against.joined(separator: " and ")) at \(level)", comparisons: comparisons)
    }

    /// One reference: the point difference and its paired-bootstrap bounds.
    func compare(candidate: [Int], reference: Reference, labels: [Int], classes: Int, seed: UInt64) -> GateComparison {
        precondition(candidate.count == labels.count && reference.predictions.count == labels.count,
                     "one prediction per eval text")
        let candidateF1 = Self.macroF1(candidate, labels, classes)
        let referenceF1 = Self.macroF1(reference.predictions, labels, classes)
        var discordant = 0
        for i in labels.indices where (candidate[i] == labels[i]) != (reference.predictions[i] == labels[i]) {
            discordant += 1
        }
        let differences = bootstrap(candidate: candidate, reference: reference.predictions, labels: labels,
                                    classes: classes, seed: seed)
        let low = differences[max(0, Int((Double(resamples) * (1 - confidence)).rounded(.down)))]
        let high = differences[min(resamples - 1, Int((Double(resamples) * confidence).rounded(.up)) - 1)]
        return GateComparison(version: reference.version, role: reference.role, referenceF1: referenceF1,
                              candidateF1: candidateF1, difference: candidateF1 - referenceF1,
                              lowerBound: low, upperBound: high, discordant: discordant)
    }

    /// `resamples` differences of macro-F1 (candidate - reference), each over `n` texts drawn with replacement,
    /// the same texts for both models; sorted.
    func bootstrap(candidate: [Int], reference: [Int], labels: [Int], classes: Int, seed: UInt64) -> [Double] {
        let n = labels.count
        if candidate == reference { return [Double](repeating: 0, count: resamples) }
        var rng = SeededRandom(seed: seed)
        var c = [Int](repeating: 0, count: n), r = c, l = c
        var out: [Double] = []
        out.reserveCapacity(resamples)
        for _ in 0..<resamples {
            for i in 0..<n {
                let j = Int(rng.next().multipliedFullWidth(by: UInt64(n)).high)
                c[i] = candidate[j]
                r[i] = reference[j]
                l[i] = labels[j]
            }
            out.append(Self.macroF1(c, l, classes) - Self.macroF1(r, l, classes))
        }
        return out.sorted()
    }

    /// Macro-F1 exactly as the runs report it (`ClassificationMetrics`).
    static func macroF1(_ predictions: [Int], _ labels: [Int], _ classes: Int) -> Double {
        ClassificationMetrics(predictions: predictions, labels: labels, classCount: classes).macroF1
    }

    static func f(_ x: Double) -> String { String(format: "%.4f", x) }
    static func signed(_ x: Double) -> String { String(format: "%+.4f", x) }
}
