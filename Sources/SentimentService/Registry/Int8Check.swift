import Foundation
import SentimentCore
import SentimentEngine
import SentimentStore

/// A version's int8 check (`models.precision = "int8"`): the version serves in int8 only if, on the texts of the
/// label store's evaluation split and of the built-in probe set (`ProbeTexts`), int8 gives fp32's label often
/// enough and, when the split holds enough labels, its macro-F1 is not too far below fp32's (`PrecisionTolerance`,
/// `[models] int8_*`). Otherwise it serves in fp32, and `models` / `status` say why.
///
/// When: after the version has been validated, before it is activated when another version serves (a hot reload:
/// the serving version keeps answering, in its own precision, so no request waits on an unchecked fp32 copy), or
/// while it serves in fp32 when nothing else could (see `ModelRegistry+Precision`). Its figures are kept with the
/// version (`Int8CheckRecord`), so a restart serves a checked version in the precision its check decided without
/// checking it again.
///
/// Cost, bounded and paced like the rest of a hot reload: at most `maxEvalTexts` texts of the split (an even
/// sample of a larger one) plus the probe set, each cut to `maxTokens` tokens, through both precisions, on one
/// thread at `models.load_priority` (`CheckpointValidator.inBackground`). RoBERTa-base at `"idle"` on a quiet
/// 2-core machine: the probe set alone is about a minute of CPU, about four minutes of wall time. The check stops
/// between batches when the version is no longer to serve.
public struct Int8Check: Sendable {
    /// Texts of the split compared at most.
    static let maxEvalTexts = 2000
    /// Tokens of a text compared at most (its closing special token kept).
    static let maxTokens = 128

    let tolerance: PrecisionTolerance
    var priority: LoadPriority = .idle
    /// The evaluation split's texts and label names when the check starts (the daemon's label store).
    let evaluationTexts: @Sendable () throws -> [(text: String, label: String)]

    public init(tolerance: PrecisionTolerance, evaluationTexts: @escaping @Sendable () throws -> [(text: String, label: String)]) {
        self.tolerance = tolerance
        self.evaluationTexts = evaluationTexts
    }

    /// The check's result: its record and, when it passed, the int8 model to serve.
    struct Outcome: Sendable {
        let record: Int8CheckRecord
        let int8: SentimentModel?
    }

    /// The scheme the figures hold for, as recorded: a record of another scheme is checked again.
    static var scheme: String { Int8Scheme.standard.description }

    enum Stop: Error { case cancelled }

    /// Checks `fp32` (the version's fp32 copy) on the calling thread, or in the background at `priority` when
    /// `paced`. Throws `Stop.cancelled` when `isCancelled` turns true; an evaluation split that cannot be read
    /// is an error (the check is tried again the next time the version is activated).
    func run(_ fp32: SentimentModel, fingerprint: String, paced: Bool,
             isCancelled: @escaping @Sendable () -> Bool) throws -> Outcome {
        let started = Date()
        let split = try evaluationTexts()
        let body = { () throws -> Outcome in
            let (texts, labels, evalCount) = Self.texts(split: split, modelLabels: fp32.labels)
            try Self.testHold(isCancelled)
            if isCancelled() { throw Stop.cancelled }
            let int8 = fp32.int8Model()
            var problem: String?
            do {
                try CheckpointValidator.smokeTest(int8)
            } catch {
                problem = "\(Self.smokeTestFailure): \(error)"
            }
            let comparison = try PrecisionCheck.compare(fp32: fp32, int8: int8, texts: texts, labels: labels,
                                                        maxTokens: Self.maxTokens) {
                if isCancelled() { throw Stop.cancelled }
            }
            problem = problem ?? tolerance.failure(comparison)
            let record = Int8CheckRecord(
                fingerprint: fingerprint, scheme: Self.scheme, checkedAt: Date(), seconds: Date().timeIntervalSince(started),
                texts: comparison.texts, evalTexts: evalCount, probeTexts: texts.count - evalCount,
                agreement: comparison.agreement, labelled: comparison.labelled, fp32MacroF1: comparison.fp32?.macroF1,
                int8MacroF1: comparison.int8?.macroF1, maxProbabilityDifference: comparison.maxProbabilityDifference,
                passed: problem == nil, reason: problem)
            return Outcome(record: record, int8: problem == nil ? int8 : nil)
        }
        return paced ? try CheckpointValidator.inBackground(priority, body) : try body()
    }

    /// Test hook (`TestHooks.holdInt8Check`): a check waits before it compares while the test holds it (the tests
    /// watch a version serve fp32 while its check runs, or the previous version serve while a new one's runs, and
    /// stop a check by an activation or a rollback).
    static func testHold(_ isCancelled: () -> Bool) throws {
        guard TestHooks.holdInt8Check(unless: isCancelled) else { throw Stop.cancelled }
    }

    /// The texts compared: up to `maxEvalTexts` of the split (evenly spaced through it), with their labels as the
    /// model's class indexes (nil for a label the model does not have), then every probe text the split does not
    /// already hold. Returns the texts, their labels and how many came from the split.
    static func texts(split: [(text: String, label: String)], modelLabels: [String]) -> ([String], [Int?], Int) {
        let index = Dictionary(modelLabels.enumerated().map { ($1.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })
        var rows = split
        if rows.count > maxEvalTexts {
            let n = rows.count
            rows = (0..<maxEvalTexts).map { split[$0 * n / maxEvalTexts] }
        }
        var seen = Set<String>()
        var texts: [String] = [], labels: [Int?] = []
        for row in rows where seen.insert(row.text).inserted {
            texts.append(row.text)
            labels.append(index[row.label.lowercased()])
        }
        let evalCount = texts.count
        for text in ProbeTexts.all where seen.insert(text).inserted {
            texts.append(text)
            labels.append(nil)
        }
        return (texts, labels, evalCount)
    }

    /// A recorded check judged again under `tolerance` (the configuration may have changed since): nil when int8
    /// may serve, else why not.
    static func failure(of record: Int8CheckRecord, under tolerance: PrecisionTolerance) -> String? {
        if !record.passed, let reason = record.reason, reason.hasPrefix(smokeTestFailure) { return reason }
        let drop = record.fp32MacroF1.flatMap { a in record.int8MacroF1.map { a - $0 } }
        return tolerance.failure(texts: record.texts, agreement: record.agreement, labelled: record.labelled, macroF1Drop: drop)
    }

    static let smokeTestFailure = "int8 failed the smoke test"
}
