import Foundation
import SentimentML
import SentimentProtocol

/// Everything a run is decided with, fixed when the run is created and stored as the run's `recipe` JSON:
/// the resolved recipe (configuration plus the client's overrides), the label names and the gate.
struct RunPlan: Codable, Equatable {
    var recipe: RunRecipe
    var labels: [String]
    var gateTolerance: Double
    var minEvalLabels: Int
    var loraRank: Int?
    var loraAlpha: Double?
    var loraDropout: Double?

    enum CodingKeys: String, CodingKey {
        case recipe, labels
        case gateTolerance = "gate_tolerance"
        case minEvalLabels = "min_eval_labels"
        case loraRank = "lora_rank"
        case loraAlpha = "lora_alpha"
        case loraDropout = "lora_dropout"
    }

    /// Configuration values, overridden field by field by `overrides`; checked here so a bad override is an
    /// error for the caller of `train`, not a failed run.
    static func resolve(_ settings: TrainingSettings, labels: [String], overrides: RunRecipe?) throws -> RunPlan {
        let o = overrides ?? RunRecipe()
        let recipe = RunRecipe(
            method: o.method ?? settings.method, epochs: o.epochs ?? settings.epochs,
            batchSize: o.batchSize ?? settings.batchSize, learningRate: o.learningRate ?? settings.learningRate,
            maxLength: o.maxLength ?? settings.maxLength, warmupRatio: o.warmupRatio ?? settings.warmupRatio,
            weightDecay: o.weightDecay ?? settings.weightDecay, replayRatio: o.replayRatio ?? settings.replayRatio,
            seed: o.seed)
        func bad(_ field: String, _ reason: String) -> RPCError { .invalidParams("train: recipe.\(field) \(reason)") }
        if let m = recipe.method, !["full", "lora"].contains(m) { throw bad("method", "must be \"full\" or \"lora\", not \"\(m)\"") }
        if let e = recipe.epochs, !(1...100).contains(e) { throw bad("epochs", "must be 1...100") }
        if let b = recipe.batchSize, !(1...4096).contains(b) { throw bad("batch_size", "must be 1...4096") }
        if let lr = recipe.learningRate, !(lr.isFinite && lr > 0 && lr <= 1) { throw bad("learning_rate", "must be in (0, 1]") }
        if let l = recipe.maxLength, !(3...8192).contains(l) { throw bad("max_length", "must be 3...8192") }
        if let w = recipe.warmupRatio, !(w >= 0 && w <= 1) { throw bad("warmup_ratio", "must be in [0, 1]") }
        if let w = recipe.weightDecay, !(w >= 0 && w <= 10) { throw bad("weight_decay", "must be in [0, 10]") }
        if let r = recipe.replayRatio, !(r >= 0 && r <= 100) { throw bad("replay_ratio", "must be in [0, 100]") }
        return RunPlan(recipe: recipe, labels: labels, gateTolerance: settings.gateTolerance,
                       minEvalLabels: settings.minEvalLabels, loraRank: settings.loraRank, loraAlpha: settings.loraAlpha,
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

/// The gate: publish only a candidate that is not worse than the champion on the frozen eval split.
enum PromotionGate {
    struct Decision: Equatable {
        var publish: Bool
        var reason: String
    }

    static func decide(championF1: Double, candidateF1: Double, tolerance: Double) -> Decision {
        let bar = championF1 - tolerance
        let c = String(format: "%.4f", candidateF1), ch = String(format: "%.4f", championF1)
        let t = String(format: "%.4f", tolerance)
        if candidateF1 >= bar {
            return Decision(publish: true, reason: "candidate macro-F1 \(c) >= champion \(ch) - tolerance \(t)")
        }
        return Decision(publish: false, reason: "candidate macro-F1 \(c) < champion \(ch) - tolerance \(t): the serving model stays")
    }
}

extension EvalMetrics {
    init(_ m: ClassificationMetrics) {
        self.init(examples: m.count, accuracy: m.accuracy, macroF1: m.macroF1, macroRecall: m.macroRecall,
                  macroPrecision: m.macroPrecision, f1: m.f1, recall: m.recall, loss: m.loss)
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
