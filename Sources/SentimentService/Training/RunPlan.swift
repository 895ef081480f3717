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

    /// Configuration values, overridden field by field by `overrides`; checked here (`TrainingRecipe.set`, against
    /// `TrainingSetting`'s ranges, the config file's too) so a bad override is an error for the caller of `train`,
    /// said by its field, not a failed run.
    static func resolve(_ settings: TrainingSettings, labels: [String], overrides: RunRecipe?) throws -> RunPlan {
        let o = overrides ?? RunRecipe()
        var recipe = settings.recipe
        let replayRatio = o.replayRatio ?? settings.replayRatio
        do {
            try recipe.apply(o)
            try recipe.validate()
            if let problem = TrainingSetting.replayRatio.problem(replayRatio) {
                throw TrainingError.badSetting(.replayRatio, reason: problem)
            }
        } catch let TrainingError.badSetting(setting, reason) {
            throw RPCError.invalidParams("train: recipe.\(setting.key) \(reason)")
        }
        let adapter = settings.newAdapter
        return RunPlan(recipe: RunRecipe(recipe, replayRatio: replayRatio, seed: o.seed), labels: labels,
                       gateTolerance: settings.gateTolerance, gateConfidence: settings.gateConfidence,
                       minEvalLabels: settings.minEvalLabels, loraRank: adapter.r, loraAlpha: adapter.alpha,
                       loraDropout: Double(adapter.dropout))
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
        var r = TrainingRecipe(storedRun: recipe, over: TrainingSettings.defaultRecipe)
        if r.method == .lora {
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
        r.seed = recipe.seed ?? UInt64(runID)
        return r
    }
}

extension TrainingRecipe {
    /// Sets the fields the `train` RPC's `recipe` gives (`RunRecipe`: absent fields keep this recipe's values);
    /// each is checked against its range (`set`), the error naming the setting.
    mutating func apply(_ o: RunRecipe) throws {
        if let m = o.method {
            guard let method = TrainingMethod(rawValue: m) else {
                throw TrainingError.badSetting(.method, reason: "must be \"full\" or \"lora\", not \"\(m)\"")
            }
            self.method = method
        }
        // The replay ratio is the daemon's, not the trainer's (`RunPlan.resolve`).
        for (setting, value) in o.numericSettings where setting != .replayRatio { try set(setting, value) }
        if let seed = o.seed { self.seed = seed }
    }

    /// A stored run's recipe over `base`: its values were checked when the run was created (`apply`), so they
    /// are set as they are; should a range have narrowed since, the trainer's `validate` fails the run and says why.
    init(storedRun o: RunRecipe, over base: TrainingRecipe) {
        self = base
        if let method = o.method.flatMap(TrainingMethod.init(rawValue:)) { self.method = method }
        for (setting, value) in o.numericSettings where setting != .replayRatio { assign(setting, value) }
        if let seed = o.seed { self.seed = seed }
    }
}

extension RunRecipe {
    /// The recipe as a run stores and shows it: every field the RPC can set, resolved.
    init(_ r: TrainingRecipe, replayRatio: Double, seed: UInt64?) {
        // A single-precision value as it prints (2e-05), not its binary expansion (1.9999999494757503e-05).
        func decimal(_ x: Float) -> Double { Double("\(x)") ?? Double(x) }
        self.init(method: r.method.rawValue, epochs: r.epochs, batchSize: r.batchSize, learningRate: decimal(r.learningRate),
                  maxLength: r.maxLength, warmupRatio: r.warmupRatio, weightDecay: decimal(r.weightDecay),
                  replayRatio: replayRatio, seed: seed)
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
