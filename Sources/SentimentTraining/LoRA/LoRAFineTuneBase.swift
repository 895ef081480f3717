import Foundation
import SentimentCore
import SentimentTokenizers
import SentimentEngine

extension FineTuneBase {
    /// The start of a LoRA run (`recipe.method == .lora`).
    ///
    /// - `folder` a model folder: a new adapter over it, initialised as peft does (A kaiming-uniform, B
    ///   zero, from the run's seed) with `settings` (nil: LoRAConfig's defaults); the head as for full
    ///   fine-tuning (the folder's own, or a new one for a bare encoder or with `newHead`).
    /// - `folder` an adapter folder: that adapter and its head are trained further over its base, which
    ///   `baseResolver` finds from adapter_config.json's base_model_name_or_path. Its rank, alpha and
    ///   targets stay; `settings` may only change the dropout (anything else is an error).
    ///
    /// The head (and BERT pooler) are the run's own buffers; the encoder's buffers are the base's and
    /// are only read.
    public static func loadForLoRA(folder: URL, labels: [String]? = nil, newHead: Bool = false, seed: UInt64,
                                   settings: LoRAConfig? = nil,
                                   baseResolver: (String) throws -> URL = { URL(fileURLWithPath: $0) }) throws -> FineTuneBase {
        guard AdapterFolder.isAdapter(folder) else {
            let plain = try FineTuneBase.load(folder: folder, labels: labels, newHead: newHead, seed: seed)
            var config = settings ?? LoRAConfig()
            config.modulesToSave = nil
            config.baseModelNameOrPath = nil
            try config.validate(for: plain.config, path: "the recipe's lora settings")
            let w = plain.weights
            var base = FineTuneBase(folder: folder, config: plain.config, tokenizer: plain.tokenizer,
                                    weights: EncoderWeights(config: w.config, embeddings: w.embeddings, layers: w.layers,
                                                            pooler: w.pooler.map(cloned), head: w.head.map(cloned)),
                                    newHeadReason: plain.newHeadReason, poolerCreated: plain.poolerCreated)
            base.lora = LoRAWeights.initialized(config: config, model: plain.config,
                                                seed: derivedSeed(seed, stream: .headInit, index: 1))
            return base
        }

        return try adapterStart(folder: folder, labels: labels, newHead: newHead, seed: seed, settings: settings,
                                baseResolver: baseResolver)
    }

    /// The start of a full fine-tuning run from an adapter folder: its base (found by `baseResolver`) is
    /// loaded afresh and the adapter merged into that copy, W += (alpha / r) · B A, so the run starts from
    /// exactly the adapted model (with the adapter's head and labels) and then trains every weight.
    public static func loadMerged(adapterFolder folder: URL, labels: [String]? = nil, newHead: Bool = false, seed: UInt64,
                                  baseResolver: (String) throws -> URL = { URL(fileURLWithPath: $0) }) throws -> FineTuneBase {
        var start = try adapterStart(folder: folder, labels: labels, newHead: newHead, seed: seed, settings: nil,
                                     baseResolver: baseResolver)
        guard let lora = start.lora else { return start }
        // The buffers are this call's own fresh load of the base: merging writes into nothing shared.
        for (l, layer) in start.weights.layers.enumerated() {
            let c = start.config.hiddenSize
            let parts: [(LoRATarget, Linear, Int)] = [
                (.query, layer.qkv, 0), (.key, layer.qkv, c), (.value, layer.qkv, 2 * c),
                (.attentionOutput, layer.attnOut, 0), (.intermediate, layer.ffnUp, 0), (.output, layer.ffnDown, 0),
            ]
            for (target, linear, rowOffset) in parts {
                guard let p = lora.pair(l, target) else { continue }
                // W[rows, in] += scale · B (out, r) · A (r, in)
                BLAS.gemm(m: p.outFeatures, n: p.inFeatures, k: p.rank, alpha: lora.scale, a: p.b.pointer, lda: p.rank,
                          b: p.a.pointer, ldb: p.inFeatures, beta: 1,
                          c: linear.weight.pointer + rowOffset * linear.inFeatures, ldc: linear.inFeatures)
            }
        }
        start.lora = nil
        return start
    }

    /// An adapter folder and its freshly loaded base, as the start of a run (see loadForLoRA).
    static func adapterStart(folder: URL, labels: [String]?, newHead: Bool, seed: UInt64, settings: LoRAConfig?,
                             baseResolver: (String) throws -> URL) throws -> FineTuneBase {
        let configPath = folder.appendingPathComponent(AdapterFolder.configFile).path
        let saved = try AdapterFolder.readConfig(folder)
        guard let name = saved.baseModelNameOrPath, !name.isEmpty else {
            throw LoRAError.badField(path: configPath, key: "base_model_name_or_path", expected: "the base model's name or path")
        }
        let baseURL = try baseResolver(name)
        let base = try BaseModel.load(folder: baseURL)
        let adapter = try AdapterFolder.load(folder, base: base.config)
        var config = adapter.config
        if let settings {
            var differ: [String] = []
            if settings.r != config.r { differ.append("r \(settings.r) (the adapter's: \(config.r))") }
            if settings.alpha != config.alpha { differ.append("alpha \(settings.alpha) (the adapter's: \(config.alpha))") }
            if settings.targetModules != config.targetModules {
                differ.append("target_modules \(settings.targetModules) (the adapter's: \(config.targetModules))")
            }
            if !differ.isEmpty {
                throw TrainingError.badSetting(.lora,
                    reason: "settings differ from the adapter at \(folder.path) that is trained further: " + differ.joined(separator: ", ")
                        + "; leave them unset or start a new adapter from the base")
            }
            config.dropout = settings.dropout
        }
        config.modulesToSave = nil
        let lora = LoRAWeights(config: config, family: base.config.family, layers: adapter.lora.layers)

        var modelConfig = base.config
        var reason: String?
        var head = adapter.head ?? base.weights.head.map(cloned)
        var pooler = adapter.pooler ?? base.weights.pooler.map(cloned)
        if let labels, labels != adapter.labels {
            guard newHead else { throw TrainingError.labelsDifferFromHead(folder: folder.path, head: adapter.labels, requested: labels) }
            modelConfig.id2label = labels
            reason = "a new head was asked for (new_head), replacing the adapter's head"
        } else {
            modelConfig.id2label = adapter.labels
            if newHead { reason = "a new head was asked for (new_head), replacing the adapter's head" }
            if head == nil { reason = "neither the adapter nor its base has a classification head" }
        }
        var rng = SeededRandom(seed: derivedSeed(seed, stream: .headInit, index: 0))
        let std = Float(modelConfig.raw["initializer_range"]?.doubleValue ?? 0.02)
        if reason != nil { head = RandomInit.head(config: modelConfig, std: std, rng: &rng) }
        var poolerCreated = false
        if modelConfig.family == .bert && pooler == nil {
            pooler = RandomInit.linear(out: modelConfig.hiddenSize, inp: modelConfig.hiddenSize, std: std, rng: &rng)
            poolerCreated = true
        }
        let hasTokenizer = ModelFolderWriter.tokenizerFiles.contains {
            FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path)
        }
        let tokenizer = hasTokenizer ? try TokenizerLoader.load(folder: folder, config: modelConfig) : base.tokenizer
        let weights = EncoderWeights(config: modelConfig, embeddings: base.weights.embeddings, layers: base.weights.layers,
                                     pooler: modelConfig.family == .bert ? pooler : nil, head: head)
        var result = FineTuneBase(folder: baseURL, config: modelConfig, tokenizer: tokenizer, weights: weights,
                                  newHeadReason: reason, poolerCreated: poolerCreated)
        result.lora = lora
        result.adapterFolder = folder
        return result
    }

    /// A line for the user: what a LoRA run trains.
    public var loraDescription: String? {
        guard let lora else { return nil }
        let c = lora.config
        let perLayer = (0..<config.numLayers).map { lora.layers[$0].compactMap { $0 }.count }
        let head = weights.head.map { h -> Int in
            switch h {
            case let .roberta(d, o): return d.weight.count + d.bias.count + o.weight.count + o.bias.count
            case let .bert(cl): return cl.weight.count + cl.bias.count + (weights.pooler.map { $0.weight.count + $0.bias.count } ?? 0)
            }
        } ?? 0
        let start = adapterFolder.map { "training the adapter \($0.path) further" } ?? "a new adapter"
        return "LoRA: \(start) over \(folder.path): rank \(c.r), alpha \(c.alpha) (scale \(c.scale)), dropout \(c.dropout), "
            + "\(perLayer.reduce(0, +)) adapted dense layers (targets \(c.targetModules)); trainable parameters: "
            + "\(lora.parameterCount) LoRA + \(head) head, of \(weights.parameterCount + lora.parameterCount) (base frozen)"
    }
}

/// A copy in new buffers (a head the run trains, taken from a base that must stay as it is).
func cloned(_ l: Linear) -> Linear {
    Linear(weight: FloatBuffer(l.weight.array), bias: FloatBuffer(l.bias.array), inFeatures: l.inFeatures, outFeatures: l.outFeatures)
}

func cloned(_ h: ClassifierHead) -> ClassifierHead {
    switch h {
    case let .roberta(dense, outProj): return .roberta(dense: cloned(dense), outProj: cloned(outProj))
    case let .bert(classifier): return .bert(classifier: cloned(classifier))
    }
}
