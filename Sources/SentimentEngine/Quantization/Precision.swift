import Foundation

/// The precision a model's encoder serves in. Training is always fp32.
///
/// int8: the four dense layers of every encoder block (QKV, attention output, feed-forward up and down: about 95 %
/// of a forward pass's arithmetic) run on int8 weights and per-token int8 activations (`Int8Scheme`). Embeddings,
/// attention scores and softmax, LayerNorm, the pooler and the classification head stay fp32: together they are a
/// few percent of the time, and the head decides the label.
public enum Precision: String, CaseIterable, Sendable, Codable {
    case fp32
    case int8
}

/// The tolerances of a version's int8 check (`[models] int8_min_agreement`, `int8_max_f1_drop`,
/// `int8_min_labels`): int8 serves only when at least `minimumAgreement` of the texts get fp32's label and,
/// when the labelled texts number at least `minimumLabelled`, its macro-F1 is at most `maximumMacroF1Drop`
/// below fp32's.
public struct PrecisionTolerance: Sendable, Equatable {
    public var minimumAgreement: Double
    public var maximumMacroF1Drop: Double
    public var minimumLabelled: Int

    public init(minimumAgreement: Double = 0.98, maximumMacroF1Drop: Double = 0.005, minimumLabelled: Int = 200) {
        self.minimumAgreement = minimumAgreement
        self.maximumMacroF1Drop = maximumMacroF1Drop
        self.minimumLabelled = minimumLabelled
    }

    /// nil when int8 may serve, else why not (for `models` / `status`), from a check's figures: a comparison just
    /// made (`failure(_:)`, beside `PrecisionComparison`), or a recorded check judged again under changed tolerances.
    public func failure(texts: Int, agreement: Double, labelled: Int, macroF1Drop: Double?) -> String? {
        if agreement < minimumAgreement {
            return String(format: "int8 gave fp32's label on %.2f %% of %d texts (int8_min_agreement %.2f %%)",
                          100 * agreement, texts, 100 * minimumAgreement)
        }
        if labelled >= minimumLabelled, let drop = macroF1Drop, drop > maximumMacroF1Drop {
            return String(format: "int8's macro-F1 is %.2f points below fp32's on %d labelled texts (int8_max_f1_drop %.2f)",
                          100 * drop, labelled, 100 * maximumMacroF1Drop)
        }
        return nil
    }
}
