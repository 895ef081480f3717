import Foundation
import SentimentCore
import SentimentEngine
import SentimentTraining
import SentimentProtocol

/// Everything a run is decided with, fixed when the run is created and stored as the run's `recipe` JSON:
/// the resolved recipe (configuration plus the client's overrides), the label names and the gate.
struct RunPlan: Codable, Equatable {
    var recipe: RunRecipe
    var labels: [String]
    var gateTolerance: Double
    /// Absent in plans stored before the paired gate: the default then.
    var gateConfidence: Double?
    var minEvalLabels: Int
    var loraRank: Int?
    var loraAlpha: Double?
    var loraDropout: Double?

    enum CodingKeys: String, CodingKey {
        case recipe, labels
        case gateTolerance = "gate_tolerance"
        case gateConfidence = "gate_confidence"
        case minEvalLabels = "min_eval_labels"
        case loraRank = "lora_rank"
        case loraAlpha = "lora_alpha"
        case loraDropout = "lora_dropout"
    }

    /// Configuration values, overridden field by field by `overrides`; checked here (against `TrainingSetting`'s
    /// ranges, the config file's too) so a bad override is an error for the caller of `train`, not a failed run.
    static func resolve(_ settings: TrainingSettings, labels: [String], overrides: RunRecipe?) throws -> RunPlan {
        let o = overrides ?? RunRecipe()
        let recipe = RunRecipe(
            method: o.method ?? settings.method, epochs: o.epochs ?? settings.epochs,
            batchSize: o.batchSize ?? settings.batchSize, learningRate: o.learningRate ?? settings.learningRate,
            maxLength: o.maxLength ?? settings.maxLength, warmupRatio: o.warmupRatio ?? settings.warmupRatio,
            weightDecay: o.weightDecay ?? settings.weightDecay, replayRatio: o.replayRatio ?? settings.replayRatio,
            seed: o.seed)
        func check(_ setting: TrainingSetting, _ value: Double?) throws {
            if let value, let problem = setting.problem(value) {
                throw RPCError.invalidParams("train: recipe.\(setting.key) \(problem)")
            }
        }
        if let m = recipe.method, TrainingMethod(rawValue: m) == nil {
            throw RPCError.invalidParams("train: recipe.method must be \"full\" or \"lora\", not \"\(m)\"")
        }
        try check(.epochs, recipe.epochs.map(Double.init))
        try check(.batchSize, recipe.batchSize.map(Double.init))
        try check(.learningRate, recipe.learningRate)
        try check(.maxLength, recipe.maxLength.map(Double.init))
        try check(.warmupRatio, recipe.warmupRatio)
        try check(.weightDecay, recipe.weightDecay)
        try check(.replayRatio, recipe.replayRatio)
        return RunPlan(recipe: recipe, labels: labels, gateTolerance: settings.gateTolerance,
                       gateConfidence: settings.gateConfidence, minEvalLabels: settings.minEvalLabels, loraRank: settings.loraRank, loraAlpha: settings.loraAlpha,
                       loraDropout: settings.loraDropout)
    }

    func json() throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: try e.encode(self), as: UTF8.self)
    }

    static func decode(_ json: String) throws -> RunPlan {
        try JSONDecoder().decode(RunPlan.self, from: Data(json.utf8))
    }

    /// The trainer's recipe for this run (seed: the given one, else the run id, so runs differ but replay).
    /// LoRA: a new adapter gets the configured rank/alpha/dropout; an adapter trained further keeps its rank and
    /// alpha (only the dropout setting applies).
    func trainingRecipe(runID: Int64, continuesAdapter: LoRAConfig? = nil) -> TrainingRecipe {
        var r = TrainingRecipe()
        if recipe.method == "lora" {
            r.method = .lora
            if let existing = continuesAdapter {
                var l = existing
                if let d = loraDropout { l.dropout = Float(d) }
                r.lora = l
            } else {
                var l = LoRAConfig()
                if let v = loraRank { l.r = v }
                if let v = loraAlpha { l.alpha = v }
                if let v = loraDropout { l.dropout = Float(v) }
                r.lora = l
            }
        }
        if let v = recipe.epochs { r.epochs = v }
        if let v = recipe.batchSize { r.batchSize = v }
        if let v = recipe.learningRate { r.learningRate = Float(v) }
        if let v = recipe.maxLength { r.maxLength = v }
        if let v = recipe.warmupRatio { r.warmupRatio = v }
        if let v = recipe.weightDecay { r.weightDecay = Float(v) }
        r.seed = recipe.seed ?? UInt64(runID)
        r.checkpointEvery = 0
        return r
    }
}

extension EvalMetrics {
    /// `precision`: what the evaluated model computed in (a run's champion and candidate; nil for training epochs).
    init(_ m: ClassificationMetrics, precision: Precision? = nil) {
        self.init(examples: m.count, accuracy: m.accuracy, macroF1: m.macroF1, macroRecall: m.macroRecall,
                  macroPrecision: m.macroPrecision, f1: m.f1, recall: m.recall, loss: m.loss, confusion: m.confusion)
        self.precision = precision?.rawValue
    }

    func json() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return (try? e.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func decode(_ json: String?) -> EvalMetrics? {
        guard let json else { return nil }
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try? d.decode(EvalMetrics.self, from: Data(json.utf8))
    }
}

extension JSONEncoder {
    /// Keys sorted: what the daemon stores as JSON reads the same on every run.
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}
