import Foundation

/// What a version's int8 check compared and found (the daemon's `Int8Check`): int8 against fp32 on the texts of the
/// evaluation split and of the built-in probe set. The store keeps it with the version, for the files it checked (a
/// restart serves a checked version in the precision its check decided without checking it again); `models.list`
/// and `status` show it.
public struct Int8CheckRecord: Codable, Sendable, Equatable {
    /// The version's fingerprint when it was checked (other files are checked again), and the int8 scheme the
    /// figures hold for (a sentimentd that quantizes otherwise checks again).
    public var fingerprint: String
    public var scheme: String
    public var checkedAt: Date
    /// Wall-clock seconds the check took (paced in the background like a hot reload).
    public var seconds: Double
    /// Distinct texts compared: all of them, from the evaluation split, from the probe set.
    public var texts: Int
    public var evalTexts: Int
    public var probeTexts: Int
    /// Share of the texts on which int8 gave fp32's label.
    public var agreement: Double
    /// Evaluation-split texts whose label the model knows, and each precision's macro-F1 on them (nil without any).
    public var labelled: Int
    public var fp32MacroF1: Double?
    public var int8MacroF1: Double?
    public var maxProbabilityDifference: Double
    /// The verdict under the tolerances it was judged with: int8 serves only when it passed; otherwise why not.
    public var passed: Bool
    public var reason: String?

    enum CodingKeys: String, CodingKey {
        case fingerprint, scheme
        case checkedAt = "checked_at"
        case seconds, texts
        case evalTexts = "eval_texts"
        case probeTexts = "probe_texts"
        case agreement, labelled
        case fp32MacroF1 = "fp32_macro_f1"
        case int8MacroF1 = "int8_macro_f1"
        case maxProbabilityDifference = "max_probability_difference"
        case passed, reason
    }

    public init(fingerprint: String, scheme: String, checkedAt: Date, seconds: Double, texts: Int, evalTexts: Int,
                probeTexts: Int, agreement: Double, labelled: Int, fp32MacroF1: Double?, int8MacroF1: Double?,
                maxProbabilityDifference: Double, passed: Bool, reason: String?) {
        self.fingerprint = fingerprint
        self.scheme = scheme
        self.checkedAt = checkedAt
        self.seconds = seconds
        self.texts = texts
        self.evalTexts = evalTexts
        self.probeTexts = probeTexts
        self.agreement = agreement
        self.labelled = labelled
        self.fp32MacroF1 = fp32MacroF1
        self.int8MacroF1 = int8MacroF1
        self.maxProbabilityDifference = maxProbabilityDifference
        self.passed = passed
        self.reason = reason
    }
}
