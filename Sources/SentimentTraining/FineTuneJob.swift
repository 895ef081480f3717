import Foundation
import SentimentCore
import SentimentEngine

/// The record written beside a trained model as `training_info.json`.
public struct TrainingInfo: Codable, Equatable, Sendable {
    public struct DataInfo: Codable, Equatable, Sendable {
        /// File path, or what the caller called the examples.
        public var source: String
        public var examples: Int
        /// See `DataFingerprint` for the exact definition.
        public var fingerprint: String
        /// Examples per label, in id2label order.
        public var labelCounts: [Int]
    }
    public struct Effective: Codable, Equatable, Sendable {
        public var maxLength: Int
        public var dropout: Float
        public var normalizeTweets: Bool
        public var classWeights: [Float]?
        public var effectiveBatchSize: Int
        public var stepsPerEpoch: Int
        public var totalSteps: Int
        public var warmupSteps: Int
    }

    public var createdAt: String
    public var baseModel: String
    public var modelType: String
    public var headCreated: Bool
    public var head: String
    public var labels: [String]
    public var hyperParameters: TrainingRecipe
    public var effective: Effective
    public var train: DataInfo
    public var validation: DataInfo?
    public var test: DataInfo?
    public var epochs: [EpochRecord]
    public var bestEpoch: Int?
    public var bestValidation: ClassificationMetrics?
    public var testMetrics: ClassificationMetrics?
    public var stoppedEarly: String?
    public var steps: Int
    /// Sessions the run took (1 + the number of resumes).
    public var sessions: Int
    /// Wall time of the whole command in its last session, seconds.
    public var wallSeconds: Double
    /// Training and evaluation time over all sessions, seconds.
    public var trainSeconds: Double
    public var evalSeconds: Double
    /// Training examples per second of training time.
    public var examplesPerSecond: Double
    /// VmHWM of the last session, bytes.
    public var peakResidentBytes: Int?
    public var tensorBoardLogs: String?
    /// full or lora (nil in files written before LoRA: full).
    public var method: TrainingMethod? = nil
    /// LoRA: the base model's name as the output's adapter_config.json records it.
    public var adapterBaseModel: String? = nil
    /// The adapter folder the run started from: trained further (lora), or merged into its base (full).
    public var continuedAdapter: String? = nil

    public func serialized() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var data = try enc.encode(self)
        data.append(0x0A)
        return data
    }

    public static func decode(_ data: Data) throws -> TrainingInfo {
        let dec = JSONDecoder()
        dec.keyDecodingStrategy = .convertFromSnakeCase
        dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try dec.decode(TrainingInfo.self, from: data)
    }
}

/// A whole fine-tuning run as `sentimentd finetune` (and the daemon's training worker) performs it:
/// load the base model and the data, train, write the output folder atomically with training_info.json
/// and the TensorBoard logs, then remove the work directory.
///
/// Paths: the work directory (resumable checkpoint, best-epoch weights, TensorBoard logs while the run
/// lasts) defaults to the sibling `.<out name>.training` of the output folder, on the same file system.
/// Logs are copied into `<out>/logs/` at the end; with `logDirectory` they are written there instead
/// and stay there.
public struct FineTuneJob {
    public enum DataSource {
        case file(URL, format: LabelFileFormat?)
        /// Examples already loaded (labels indexing the run's labels), with a name for training_info.json.
        case examples([TrainingExample], source: String)
    }

    public var baseFolder: URL
    public var outputFolder: URL
    public var train: DataSource
    public var validation: DataSource?
    public var test: DataSource?
    public var recipe: TrainingRecipe
    /// The run's label names (nil: the base's head's, or negative/neutral/positive for a new head).
    public var labels: [String]?
    public var newHead: Bool = false
    public var workDirectory: URL?
    public var logDirectory: URL?
    public var resume: Bool = false
    public var overwrite: Bool = false
    /// Leave the work directory (checkpoint, best weights) in place after a successful run.
    public var keepWorkDirectory: Bool = false
    /// LoRA: finds the base of an adapter folder given as `baseFolder` from its base_model_name_or_path
    /// (the daemon decides where bases live). Default: the name is a path.
    public var baseResolver: (String) throws -> URL = { URL(fileURLWithPath: $0) }
    /// LoRA: what the output's adapter_config.json names as base_model_name_or_path. nil: the adapter's
    /// own value when an adapter is trained further, else `baseFolder`'s last path component.
    public var adapterBaseName: String?

    public init(baseFolder: URL, outputFolder: URL, train: DataSource, validation: DataSource?, test: DataSource? = nil,
                recipe: TrainingRecipe = TrainingRecipe()) {
        self.baseFolder = baseFolder
        self.outputFolder = outputFolder
        self.train = train
        self.validation = validation
        self.test = test
        self.recipe = recipe
    }

    public var resolvedWorkDirectory: URL {
        workDirectory ?? outputFolder.deletingLastPathComponent().appendingPathComponent(".\(outputFolder.lastPathComponent).training")
    }

    public enum Outcome {
        case completed(output: URL, info: TrainingInfo, result: TrainingResult)
        case interrupted(checkpoint: URL, step: Int, totalSteps: Int)
    }

    /// Test hook: called with each output file's name before it is written.
    var beforeOutputFile: ((String) throws -> Void)?

    public func run(control: TrainingControl = TrainingControl(), observer: ((TrainingEvent) -> Void)? = nil) throws -> Outcome {
        let start = monotonicSeconds()
        try recipe.validate()
        if FileManager.default.fileExists(atPath: outputFolder.path) && !overwrite {
            throw TrainingError.outputExists(path: outputFolder.path)
        }
        for url in ModelFolderWriter.removeStaleLeftovers(for: outputFolder) {
            observer?(.message("removed \(url.path), left by an earlier run that did not finish writing its output"))
        }
        let base: FineTuneBase
        switch recipe.method {
        case .full where AdapterFolder.isAdapter(baseFolder):
            base = try FineTuneBase.loadMerged(adapterFolder: baseFolder, labels: labels, newHead: newHead, seed: recipe.seed,
                                               baseResolver: baseResolver)
            observer?(.message("full fine-tuning from the adapter \(baseFolder.path), merged into a copy of its base \(base.folder.path)"))
        case .full:
            base = try FineTuneBase.load(folder: baseFolder, labels: labels, newHead: newHead, seed: recipe.seed)
        case .lora:
            base = try FineTuneBase.loadForLoRA(folder: baseFolder, labels: labels, newHead: newHead, seed: recipe.seed,
                                                settings: recipe.lora, baseResolver: baseResolver)
        }
        observer?(.message(base.headDescription))
        if let line = base.loraDescription { observer?(.message(line)) }
        let labelSet = base.labels
        func load(_ source: DataSource) throws -> (examples: [TrainingExample], name: String) {
            switch source {
            case let .file(url, format): return (try TrainingDataLoader.load(url, format: format, labels: labelSet), url.path)
            case let .examples(list, name): return (list, name)
            }
        }
        let trainData = try load(train)
        let valData = try validation.map(load)
        let testData = try test.map(load)

        let work = resolvedWorkDirectory
        let trainer = try Trainer(base: base, recipe: recipe, train: trainData.examples, validation: valData?.examples,
                                  test: testData?.examples, workDirectory: work, logDirectory: logDirectory,
                                  control: control, observer: observer)
        let result: TrainingResult
        switch try trainer.run(resume: resume) {
        case let .interrupted(checkpoint, step, total):
            return .interrupted(checkpoint: checkpoint, step: step, totalSteps: total)
        case let .completed(r):
            result = r
        }

        func dataInfo(_ examples: [TrainingExample], _ name: String) -> TrainingInfo.DataInfo {
            var counts = [Int](repeating: 0, count: labelSet.count)
            for e in examples { counts[e.label] += 1 }
            return TrainingInfo.DataInfo(source: name, examples: examples.count,
                                         fingerprint: DataFingerprint.of(examples, labels: labelSet), labelCounts: counts)
        }
        let textEncoder = trainer.textEncoder
        let logsInsideWork = logDirectory == nil
        let best = result.bestEpoch.flatMap { b in result.history.first { $0.epoch == b }?.validation }
        let iso = ISO8601DateFormatter()
        var info = TrainingInfo(
            createdAt: iso.string(from: Date()), baseModel: baseFolder.path, modelType: base.config.family.rawValue,
            headCreated: base.headCreated, head: base.headDescription, labels: labelSet.names, hyperParameters: recipe,
            effective: .init(maxLength: textEncoder.maxLength,
                             dropout: recipe.dropout ?? Float(base.config.raw["hidden_dropout_prob"]?.doubleValue ?? 0.1),
                             normalizeTweets: textEncoder.normalizesTweets,
                             classWeights: recipe.classWeighting.weights(labels: trainer.train.map(\.label), classCount: labelSet.count),
                             effectiveBatchSize: recipe.batchSize * recipe.gradientAccumulation,
                             stepsPerEpoch: Trainer.stepsPerEpoch(examples: trainer.train.count, recipe: recipe),
                             totalSteps: result.totalSteps, warmupSteps: result.warmupSteps),
            train: dataInfo(trainer.train, trainData.name),
            validation: valData.map { dataInfo($0.examples, $0.name) },
            test: testData.map { dataInfo($0.examples, $0.name) },
            epochs: result.history, bestEpoch: result.bestEpoch, bestValidation: best, testMetrics: result.test,
            stoppedEarly: result.stoppedEarly, steps: result.steps, sessions: result.sessions, wallSeconds: 0,
            trainSeconds: result.trainSeconds, evalSeconds: result.evalSeconds,
            examplesPerSecond: Double(result.examplesSeen) / max(result.trainSeconds, 1e-9),
            peakResidentBytes: nil, tensorBoardLogs: logsInsideWork ? "logs" : trainer.logDirectory.path)
        info.method = recipe.method
        var loraOutput: LoRAWeights?
        if let lora = result.lora {
            var config = lora.config
            config.baseModelNameOrPath = adapterBaseName
                ?? (base.adapterFolder != nil ? lora.config.baseModelNameOrPath : nil) ?? baseFolder.lastPathComponent
            loraOutput = LoRAWeights(config: config, family: lora.family, layers: lora.layers)
            info.adapterBaseModel = config.baseModelNameOrPath
        }
        info.continuedAdapter = base.adapterFolder?.path
        info.wallSeconds = monotonicSeconds() - start
        info.peakResidentBytes = processPeakResidentBytes()

        let extraFiles = [("training_info.json", try info.serialized())]
        let directories = logsInsideWork ? [("logs", trainer.logDirectory)] : []
        // Tokenizer files: an adapter folder's own when it has some, else the base model's.
        let tokenizerSource = base.adapterFolder.flatMap { folder in
            ModelFolderWriter.tokenizerFiles.contains { FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) }
                ? folder : nil
        } ?? base.folder
        if let lora = loraOutput, let head = result.weights.head {
            try AdapterFolder.write(lora: lora, head: head, pooler: result.weights.pooler, tokenizerSource: tokenizerSource,
                                    extraFiles: extraFiles, directories: directories,
                                    to: outputFolder, overwrite: overwrite, beforeFile: beforeOutputFile)
        } else {
            try ModelFolderWriter.write(
                weights: result.weights, tokenizerSource: tokenizerSource, extraFiles: extraFiles, directories: directories,
                to: outputFolder, overwrite: overwrite, beforeFile: beforeOutputFile)
        }
        if !keepWorkDirectory { try? FileManager.default.removeItem(at: work) }
        return .completed(output: outputFolder, info: info, result: result)
    }
}
