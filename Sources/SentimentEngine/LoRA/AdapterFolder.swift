import Foundation
import SentimentCore
import SentimentCheckpoint

/// The contents of a PEFT LoRA adapter folder, read and checked against a base model's config.
public struct LoRAAdapter: @unchecked Sendable {
    public let folder: URL
    public let config: LoRAConfig
    /// Class names (see `AdapterFolder.labels`).
    public let labels: [String]
    public let lora: LoRAWeights
    /// The adapter's own head (modules_to_save "classifier"); nil: the base's head is used.
    public let head: ClassifierHead?
    /// BERT: the adapter's own pooler (modules_to_save "pooler"); nil: the base's.
    public let pooler: Linear?
}

/// A PEFT LoRA adapter folder, as `PeftModel.save_pretrained` writes it for a sequence classifier:
///
///     adapter_config.json        peft_type LORA, task_type SEQ_CLS, base_model_name_or_path, r, lora_alpha, …
///     adapter_model.safetensors  base_model.model.<family>.encoder.layer.N.<module>.lora_A.weight  (r, in)
///                                base_model.model.<family>.encoder.layer.N.<module>.lora_B.weight  (out, r)
///                                base_model.model.classifier.*            (modules_to_save, whole)
///                                base_model.model.bert.pooler.dense.*     (BERT, when "pooler" is saved)
///     training_info.json         (sentimentd's runs) its "labels" name the classes
///     tokenizer files            (optional) copied from the base
///
/// Labels: training_info.json's `labels` when the file has them; else the base config's id2label;
/// else, when the base config names no labels (a bare encoder), LABEL_0… for the head's outputs.
public enum AdapterFolder {
    public static let configFile = AdapterConfigFile.name
    public static let weightsFile = "adapter_model.safetensors"
    public static let trainingInfoFile = "training_info.json"
    static let keyPrefix = "base_model.model."

    /// Whether `folder` holds an adapter_config.json (a PEFT adapter, not a whole model).
    public static func isAdapter(_ folder: URL) -> Bool {
        (try? ModelFolderReader(folder))?.exists(configFile) ?? false
    }

    /// adapter_config.json, checked (see `AdapterConfigFile.read`); `baseModelNameOrPath` names the base.
    public static func readConfig(_ folder: URL) throws -> LoRAConfig {
        let files: ModelFolderReader
        do { files = try ModelFolderReader(folder) } catch { throw LoRAError.notAnAdapter(folder: folder.path) }
        return try readConfig(files)
    }

    public static func readConfig(_ files: ModelFolderReader) throws -> LoRAConfig {
        guard files.exists(configFile) else { throw LoRAError.notAnAdapter(folder: files.url.path) }
        return try AdapterConfigFile.read(files)
    }

    /// training_info.json's `labels`, when the file exists and has them.
    public static func trainingInfoLabels(_ folder: URL) throws -> [String]? {
        try trainingInfoLabels(try ModelFolderReader(folder))
    }

    static func trainingInfoLabels(_ files: ModelFolderReader) throws -> [String]? {
        guard files.exists(trainingInfoFile) else { return nil }
        let path = files.path(trainingInfoFile)
        let value: JSONValue
        do { value = try JSONValue.parse(try files.contents(trainingInfoFile, limit: 16 << 20)) } catch {
            throw LoRAError.unreadable(path: path, reason: "\(error)")
        }
        guard let labels = value["labels"], labels != .null else { return nil }
        guard case let .array(items) = labels, !items.isEmpty else {
            throw LoRAError.badField(path: path, key: "labels", expected: "a non-empty list of label names")
        }
        guard items.count <= ModelLimits.labels.upperBound else {
            throw LoRAError.badField(path: path, key: "labels", expected: "at most \(ModelLimits.labels.upperBound) label names")
        }
        return try items.map {
            guard let s = $0.stringValue, !s.isEmpty else {
                throw LoRAError.badField(path: path, key: "labels", expected: "a list of non-empty strings")
            }
            return s
        }
    }

    /// Reads the whole adapter for a base with `base` config, checking every tensor's presence and
    /// shape; a tensor the config does not account for is an error too.
    public static func load(_ folder: URL, base: ModelConfig) throws -> LoRAAdapter {
        try load(try ModelFolderReader(folder), base: base)
    }

    /// The adapter of `files`: every tensor's name and shape is checked before its buffer is allocated (the
    /// file's tensors never overlap, so what is allocated is bounded by the file's size), then all are read in
    /// file order.
    public static func load(_ files: ModelFolderReader, base: ModelConfig) throws -> LoRAAdapter {
        let folder = files.url
        let config = try readConfig(files)
        try config.validate(for: base, path: folder.appendingPathComponent(configFile).path)
        guard files.exists(weightsFile) else {
            throw LoRAError.missingFile(folder: folder.path, file: weightsFile)
        }
        let archive = try CheckpointFiles.open(weightsFile, in: files)
        let file = archive.path
        var expected = Set<String>()
        var reads: [TensorRead] = []
        func tensor(_ name: String, _ shape: [Int]) throws -> FloatBuffer {
            let key = keyPrefix + name
            expected.insert(key)
            guard let info = archive.info(key) else { throw LoRAError.missingTensor(file: file, name: key) }
            guard info.shape == shape else {
                throw LoRAError.shapeMismatch(file: file, name: key, expected: shape, found: info.shape)
            }
            try archive.checkReadable(key)
            let buffer = FloatBuffer(uninitialized: info.elementCount)
            reads.append(TensorRead(name: key, destination: buffer.pointer))
            return buffer
        }
        func linear(_ name: String, out: Int, inp: Int) throws -> Linear {
            Linear(weight: try tensor(name + ".weight", [out, inp]), bias: try tensor(name + ".bias", [out]),
                   inFeatures: inp, outFeatures: out)
        }

        var layers: [[LoRAPair?]] = []
        for l in 0..<base.numLayers {
            let adapted = Set(config.adaptedTargets(layer: l, family: base.family))
            layers.append(try LoRATarget.allCases.map { t -> LoRAPair? in
                guard adapted.contains(t) else { return nil }
                let (inp, out) = t.dimensions(base)
                let m = LoRAWeights.moduleName(base.family, layer: l, t)
                return LoRAPair(a: try tensor(m + ".lora_A.weight", [config.r, inp]),
                                b: try tensor(m + ".lora_B.weight", [out, config.r]),
                                rank: config.r, inFeatures: inp, outFeatures: out)
            })
        }

        // The head's outputs decide the label count; the names come from training_info.json or the base.
        let c = base.hiddenSize
        var head: ClassifierHead?
        var pooler: Linear?
        let names = ParameterNames(family: base.family)
        let outName = names.headOutput + ".weight"
        var outputs = base.numLabels
        if config.savesModule("classifier", family: base.family) {
            guard let info = archive.info(keyPrefix + outName), info.shape.count == 2,
                  ModelLimits.labels.contains(info.shape[0]) else {
                throw LoRAError.missingTensor(file: file, name: keyPrefix + outName)
            }
            outputs = info.shape[0]
            if let dense = names.headDense {
                head = .roberta(dense: try linear(dense, out: c, inp: c), outProj: try linear(names.headOutput, out: outputs, inp: c))
            } else {
                head = .bert(classifier: try linear(names.headOutput, out: outputs, inp: c))
            }
        }
        if base.family == .bert && config.savesModule("bert.pooler", family: base.family) {
            pooler = try linear(names.pooler, out: c, inp: c)
        }
        for name in archive.tensorNames where !expected.contains(name) {
            throw LoRAError.unexpectedTensor(file: file, name: name)
        }
        try archive.read(reads)
        try archive.finish()
        let labels = try resolveLabels(files, base: base, headOutputs: outputs)
        let lora = LoRAWeights(config: config, family: base.family, layers: layers)
        return LoRAAdapter(folder: folder, config: config, labels: labels, lora: lora, head: head, pooler: pooler)
    }

    static func resolveLabels(_ files: ModelFolderReader, base: ModelConfig, headOutputs: Int) throws -> [String] {
        let folder = files.url
        if let labels = try trainingInfoLabels(files) {
            guard labels.count == headOutputs else {
                throw LoRAError.labelsMismatch(folder: folder.path, labels: labels, headOutputs: headOutputs)
            }
            return labels
        }
        if base.id2label.count == headOutputs { return base.id2label }
        if base.raw["id2label"] == nil { return (0..<headOutputs).map { "LABEL_\($0)" } }
        throw LoRAError.labelsMismatch(folder: folder.path, labels: base.id2label, headOutputs: headOutputs)
    }

    /// The adapter's tensors under their adapter_model.safetensors names: every LoRA pair, then the
    /// head's modules (RoBERTa classifier.dense/out_proj; BERT classifier and the pooler).
    static func stateDict(lora: LoRAWeights, head: ClassifierHead, pooler: Linear?) -> [(name: String, tensor: Tensor)] {
        let lora: [(String, Tensor)] = lora.namedTensors.map { (keyPrefix + $0.name, Tensor(shape: $0.shape, values: $0.buffer.array)) }
        // BERT's head saves the pooler with it (modules_to_save "pooler"); RoBERTa's head does not use it.
        let parts = ParameterParts(pooler: head.family == .bert ? pooler : nil, head: head)
        return lora + WeightMap.stateDict(parts.named(ParameterNames(family: head.family)))
            .map { (keyPrefix + $0.name, $0.tensor) }
    }

    /// Writes an adapter folder atomically (staging sibling, fsync, rename; see ModelFolderWriter):
    /// adapter_config.json, adapter_model.safetensors, the tokenizer files of `tokenizerSource`, and
    /// `extraFiles` / `directories` (training_info.json, logs/).
    /// `lora.config.baseModelNameOrPath` is what adapter_config.json names as the base.
    public static func write(lora: LoRAWeights, head: ClassifierHead, pooler: Linear?, tokenizerSource: URL,
                             extraFiles: [(name: String, data: Data)] = [], directories: [(name: String, source: URL)] = [],
                             to output: URL, overwrite: Bool = false, beforeFile: ((String) throws -> Void)? = nil) throws {
        var config = lora.config
        if lora.family == .bert && pooler != nil && !config.resolvedModulesToSave(.bert).contains("pooler") {
            config.modulesToSave = config.resolvedModulesToSave(.bert) + ["pooler"]
        }
        let tensors = stateDict(lora: lora, head: head, pooler: pooler)
        try ModelFolderWriter.write(
            files: [
                (configFile, { url in try AtomicFile.write(AdapterConfigFile.serialized(config, family: lora.family), to: url) }),
                (weightsFile, { url in try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: url) }),
            ],
            tokenizerSource: tokenizerSource, extraFiles: extraFiles, directories: directories,
            to: output, overwrite: overwrite, beforeFile: beforeFile)
    }
}
