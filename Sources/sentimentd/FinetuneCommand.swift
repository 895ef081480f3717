import ArgumentParser
import Dispatch
import Foundation
import SentimentEngine
import SentimentTraining
import SentimentCore

/// `sentimentd finetune`: the guide's `python -m training.train_sentiment_roberta`, in Swift.
struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune a model folder on labelled texts and write a new Hugging Face model folder.",
        discussion: """
        Data files: JSONL ({"text": ..., "label": ...} per line), the guide's custom_data.json (a JSON array of \
        the same), CSV with a header holding text and label columns, or TweetEval's X_text.txt (X_labels.txt \
        beside it). Labels are class indices or names (the model's id2label, or negative/neutral/positive for a \
        three-class model), case-insensitive.

        A base folder without a classification head (a bare encoder such as all-MiniLM-L6-v2) gets a new head \
        initialised as transformers does (normal(0, 0.02), zero biases) for --labels (default \
        negative,neutral,positive).

        Output (--out): config.json, model.safetensors, the tokenizer files, training_info.json and the \
        TensorBoard logs in logs/ (watch them live with `tensorboard --logdir` on the work directory's logs/ \
        while training). The folder appears whole or not at all. The work directory (default: .<out>.training \
        next to --out) holds the resumable checkpoint, written every --checkpoint-every steps and at each \
        epoch's end; Ctrl-C (SIGINT) or SIGTERM writes one and exits 130; --resume continues from it, with the \
        same options and data, to the same result as an uninterrupted run.

        Exit status: 0 trained and written, 1 error (data, model, NaN loss, disk), 64 usage, 130 interrupted \
        with a resumable checkpoint.
        """
    )

    /// The trainer's defaults (`TrainingRecipe`, `LoRAConfig`): each option's default is the recipe's own.
    private static let defaults = TrainingRecipe()
    private static let newAdapter = LoRAConfig()

    @Option(help: ArgumentHelp("Model folder to start from (config.json, weights, tokenizer files).", valueName: "dir"),
            completion: .directory)
    var base: String

    @Option(help: ArgumentHelp("Training data file.", valueName: "file"), completion: .file())
    var train: String

    @Option(help: ArgumentHelp("Validation data file, evaluated after every epoch; the best epoch by macro-F1 is kept.",
                               valueName: "file"), completion: .file())
    var val: String

    @Option(help: ArgumentHelp("Test data file, evaluated once at the end with the kept weights.", valueName: "file"),
            completion: .file())
    var test: String?

    @Option(help: ArgumentHelp("Output model folder (must not exist unless --overwrite).", valueName: "dir"),
            completion: .directory)
    var out: String

    @Option(help: ArgumentHelp("""
        Data format of every data file: jsonl, json, csv or tweeteval (default auto: from each file's name, as \
        sentimentctl import reads it: .jsonl, .json (one array), .csv, X_text.txt / X_labels.txt).
        """, valueName: "format"))
    var format: DataFormat = .auto

    @Option(help: "Training epochs.") var epochs: Int = Self.defaults.epochs
    @Option(name: .customLong("batch-size"), help: "Examples per forward/backward pass.") var batchSize: Int = Self.defaults.batchSize
    @Option(name: .customLong("gradient-accumulation"), help: "Passes per optimizer step.") var gradientAccumulation: Int = Self.defaults.gradientAccumulation
    @Option(help: "Peak learning rate (AdamW).") var lr: Float = Self.defaults.learningRate
    @Option(name: .customLong("max-length"), help: "Longest token sequence, special tokens included.") var maxLength: Int = Self.defaults.maxLength
    @Option(name: .customLong("warmup-ratio"), help: "Share of the steps with a linear warm-up (then linear decay to 0).")
    var warmupRatio: Double = Self.defaults.warmupRatio
    @Option(name: .customLong("weight-decay"), help: "AdamW decoupled weight decay (not on biases and LayerNorm).")
    var weightDecay: Float = Self.defaults.weightDecay
    @Option(name: .customLong("max-grad-norm"), help: "Clip the global gradient norm to this (0: no clipping).")
    var maxGradNorm: Float = Self.defaults.maxGradNorm
    @Option(help: "Random seed (head initialisation, batch order, dropout).") var seed: UInt64 = Self.defaults.seed
    @Option(help: ArgumentHelp("Train on the first N training examples only (the guide's USE_SUBSET).", valueName: "N"))
    var subset: Int?
    @Option(help: "Dropout rate (default: the config's hidden_dropout_prob).") var dropout: Float?
    @Flag(name: .customLong("freeze-embeddings"), help: "Do not train the embeddings.") var freezeEmbeddings = false
    @Option(name: .customLong("freeze-layers"), help: ArgumentHelp("Do not train the first N encoder layers.", valueName: "N"))
    var freezeLayers: Int = Self.defaults.freezeLayers
    @Option(name: .customLong("class-weights"),
            help: ArgumentHelp("Loss weights: none, balanced, or one number per label (comma-separated).", valueName: "spec"))
    var classWeights: String = "none"
    @Option(help: ArgumentHelp("Stop when validation macro-F1 has not improved for N epochs.", valueName: "N"))
    var patience: Int?
    @Option(help: ArgumentHelp("Label names of a new head, comma-separated (default negative,neutral,positive).",
                               valueName: "names"))
    var labels: String?
    @Flag(name: .customLong("new-head"), help: "Replace the base's classification head by a new one.") var newHead = false
    @Flag(name: .customLong("normalize-tweets"), inversion: .prefixedNo,
          help: "Apply the cardiffnlp tweet normalisation (default: on for RoBERTa, off for BERT).")
    var normalizeTweets: Bool?
    @Option(name: .customLong("bucket-window"), help: "Length-bucketing window, in batches.") var bucketWindow: Int = Self.defaults.bucketWindowBatches
    @Option(name: .customLong("eval-batch-size"), help: "Sequences per evaluation pass.") var evalBatchSize: Int = Self.defaults.evalBatchSize
    @Option(name: .customLong("checkpoint-every"), help: "Resumable checkpoint every N steps (0: at epoch ends only).")
    var checkpointEvery: Int = Self.defaults.checkpointEvery
    @Option(name: .customLong("work-dir"), help: ArgumentHelp("Checkpoint directory (default: .<out>.training beside --out).",
                                                              valueName: "dir"), completion: .directory)
    var workDir: String?
    @Option(name: .customLong("logging-dir"), help: ArgumentHelp("Write TensorBoard logs here instead of <out>/logs.",
                                                                 valueName: "dir"), completion: .directory)
    var loggingDir: String?
    @Option(name: .customLong("stop-after-steps"),
            help: ArgumentHelp("End the run after N optimizer steps, as an early stop: the schedule still spans every epoch, the partial epoch is evaluated and the output written.", valueName: "N"))
    var stopAfterSteps: Int?
    @Flag(help: "Continue the interrupted run from the work directory's checkpoint.") var resume = false
    @Flag(help: "Replace an existing --out folder.") var overwrite = false
    @Flag(name: .customLong("keep-work-dir"), help: "Keep the work directory after success.") var keepWorkDir = false
    @Option(help: "full: train every weight; lora: train low-rank adapters and the head over the frozen base.")
    var method: String = Self.defaults.method.rawValue
    @Option(name: .customLong("lora-rank"), help: "LoRA rank of a new adapter.") var loraRank: Int = Self.newAdapter.r
    @Option(name: .customLong("lora-alpha"), help: "LoRA alpha of a new adapter (the update is scaled by alpha / rank).")
    var loraAlpha: Double = Self.newAdapter.alpha
    @Option(name: .customLong("lora-dropout"), help: "Dropout on the LoRA branch's input.") var loraDropout: Float = Self.newAdapter.dropout
    @Option(name: .customLong("adapter-base-name"),
            help: ArgumentHelp("LoRA: base_model_name_or_path written into adapter_config.json (default: --base's folder name).",
                               valueName: "name"))
    var adapterBaseName: String?
    @Option(help: ArgumentHelp("Worker threads for element-wise kernels (OpenBLAS follows OPENBLAS_NUM_THREADS).",
                               valueName: "N"))
    var threads: Int?

    func recipe() throws -> TrainingRecipe {
        var r = TrainingRecipe()
        r.epochs = epochs
        r.batchSize = batchSize
        r.gradientAccumulation = gradientAccumulation
        r.learningRate = lr
        r.maxLength = maxLength
        r.warmupRatio = warmupRatio
        r.weightDecay = weightDecay
        r.maxGradNorm = maxGradNorm
        r.seed = seed
        r.subset = subset
        r.dropout = dropout
        r.freezeEmbeddings = freezeEmbeddings
        r.freezeLayers = freezeLayers
        r.patience = patience
        r.bucketWindowBatches = bucketWindow
        r.evalBatchSize = evalBatchSize
        r.checkpointEvery = checkpointEvery
        r.normalizeTweets = normalizeTweets
        switch method {
        case "full": r.method = .full
        case "lora":
            r.method = .lora
            var l = LoRAConfig()
            l.r = loraRank
            l.alpha = loraAlpha
            l.dropout = loraDropout
            r.lora = l
        default: throw ValidationError("--method must be full or lora (got \"\(method)\")")
        }
        switch classWeights.lowercased() {
        case "none": r.classWeighting = .none
        case "balanced": r.classWeighting = .balanced
        default:
            let parts = classWeights.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else {
                throw ValidationError("--class-weights must be none, balanced or numbers separated by commas (got \"\(classWeights)\")")
            }
            r.classWeighting = .explicit(parts.map { $0! })
        }
        do {
            try r.validate()
        } catch let TrainingError.badSetting(setting, reason) {
            throw ValidationError("\(Self.flag(for: setting)) \(reason)")
        }
        return r
    }

    /// The flag that sets a training setting (the recipe's checks name the setting; this command says it as the
    /// flag the user typed).
    static func flag(for setting: TrainingSetting) -> String {
        switch setting {
        case .learningRate: return "--lr"
        case .bucketWindow: return "--bucket-window"
        case .loraTargetModules: return "lora target_modules"
        default: return "--" + setting.key.replacingOccurrences(of: "_", with: "-")
        }
    }

    /// What this command's user does about a training error, said with its flags (the trainer's messages name
    /// settings and actions, never flags), or nil.
    static func hint(for error: Error) -> String? {
        if case ModelFolderWriter.WriteError.outputExists = error { return "choose another --out, or pass --overwrite to replace it" }
        if case let TrainingDataError.file(fileError) = error, let formats = fileError.formatsToName {
            return "use --format " + formats.map(\.rawValue).joined(separator: "|")
        }
        guard let error = error as? TrainingError else { return nil }
        switch error {
        case .nonFiniteLoss(_, _, nil), .nonFiniteGradient(_, _, nil): return "try a lower --lr"
        case .nonFiniteLoss, .nonFiniteGradient: return "rerun with --resume to continue from the checkpoint, perhaps with a lower --lr"
        case .labelsDifferFromHead: return "pass --new-head to train a new head for them"
        case .noCheckpoint: return "run without --resume to start afresh"
        case .checkpointExists: return "continue it with --resume, or remove the directory to start afresh"
        case .checkpointMismatch: return "resume with the same options and data files, or remove the checkpoint to start afresh"
        case .outputExists: return "choose another --out, or pass --overwrite to replace it"
        case .freezeTooMuch: return "lower --freeze-layers"
        case .badSetting, .noTrainingExamples, .badCheckpoint, .badExampleLabel, .workDirectoryBusy: return nil
        }
    }

    func run() throws {
        // Line-buffered stdout: redirected to a file, the per-epoch summaries appear as each epoch ends (block
        // buffering held them back until the run was over).
        setvbuf(stdout, nil, _IOLBF, 0)
        let recipe = try recipe()
        if let stopAfterSteps, stopAfterSteps < 1 { throw ValidationError("--stop-after-steps must be at least 1") }
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            Parallel.workers = threads
        }
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        func url(_ p: String) -> URL { URL(fileURLWithPath: p, relativeTo: cwd).standardizedFileURL }
        var job = FineTuneJob(baseFolder: url(base), outputFolder: url(out), train: .file(url(train), format: format.fileFormat),
                              validation: .file(url(val), format: format.fileFormat),
                              test: test.map { .file(url($0), format: format.fileFormat) }, recipe: recipe)
        job.labels = labels.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        job.newHead = newHead
        job.workDirectory = workDir.map(url)
        job.logDirectory = loggingDir.map(url)
        job.resume = resume
        job.overwrite = overwrite
        job.keepWorkDirectory = keepWorkDir
        job.adapterBaseName = adapterBaseName

        let control = TrainingControl()
        let signals = InterruptHandler(control: control)
        defer { signals.uninstall() }
        let display = ProgressDisplay()
        print("base: \(job.baseFolder.path)\nwork directory: \(job.resolvedWorkDirectory.path)")

        let outcome: FineTuneJob.Outcome
        do {
            outcome = try job.run(control: control) { event in
                if case let .progress(p) = event, let limit = stopAfterSteps, p.step >= limit {
                    control.requestStop(reason: "--stop-after-steps \(limit)")
                }
                display.handle(event)
            }
        } catch {
            display.finishLine()
            var message = "sentimentd finetune: \(error)"
            if case let TrainingError.badSetting(setting, reason) = error { message = "sentimentd finetune: \(Self.flag(for: setting)) \(reason)" }
            if let hint = Self.hint(for: error) { message += "\n" + hint }
            if error is AtomicFileError || error is ModelFolderWriter.WriteError {
                message += "\nThe trained weights are kept in \(job.resolvedWorkDirectory.path): fix the problem and rerun with --resume to write the output again."
            }
            FileHandle.standardError.write(Data((message + "\n").utf8))
            throw ExitCode.failure
        }
        display.finishLine()
        switch outcome {
        case let .interrupted(checkpoint, step, total):
            print("interrupted at step \(step) of \(total); resumable checkpoint: \(checkpoint.path)")
            print("continue with the same command and --resume")
            throw ExitCode(130)
        case let .completed(output, info, _):
            printSummary(info, output: output)
        }
    }

    func printSummary(_ info: TrainingInfo, output: URL) {
        print("")
        print("epoch  steps   train loss  val loss  accuracy  macro-F1  macro-recall  time")
        func pad(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
        for e in info.epochs {
            let v = e.validation
            func f(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "-" }
            let mark = (e.partial ? " (partial)" : "") + (e.epoch == info.bestEpoch ? " *" : "")
            print(pad(String(e.epoch), 5) + "  " + pad(String(e.step), 5) + "  " + pad(f(e.trainLoss), 11) + "  "
                  + pad(f(v?.loss), 8) + "  " + pad(f(v?.accuracy), 8) + "  " + pad(f(v?.macroF1), 8) + "  "
                  + pad(f(v?.macroRecall), 12) + "  " + ProgressDisplay.duration(e.trainSeconds + e.evalSeconds) + mark)
        }
        if let best = info.bestValidation, let epoch = info.bestEpoch {
            print("")
            print(best.table(labels: info.labels, title: "validation, best epoch \(epoch) (*)"))
        }
        if let test = info.testMetrics {
            print(test.table(labels: info.labels, title: "test"))
        }
        if let stopped = info.stoppedEarly { print("stopped early: \(stopped)") }
        let rss = info.peakResidentBytes.map { String(format: "%.0f MiB", Double($0) / 1_048_576) } ?? "?"
        print("\(info.steps) steps, " + String(format: "%.1f", info.examplesPerSecond) + " examples/s, wall time "
              + ProgressDisplay.duration(info.wallSeconds) + ", peak RSS " + rss)
        print("wrote \(output.path)")
    }
}

/// `--format`: a label-file format, or `auto` (from the file's name).
struct DataFormat: ExpressibleByArgument {
    var fileFormat: LabelFileFormat?
    static let auto = DataFormat(fileFormat: nil)

    init(fileFormat: LabelFileFormat?) { self.fileFormat = fileFormat }

    init?(argument: String) {
        if argument == "auto" { self = .auto; return }
        guard let format = LabelFileFormat(rawValue: argument) else { return nil }
        self.init(fileFormat: format)
    }

    var defaultValueDescription: String { fileFormat?.rawValue ?? "auto" }
    static var allValueStrings: [String] { ["auto"] + LabelFileFormat.allCases.map(\.rawValue) }
}

/// The live progress line: rewritten in place on a terminal, one line every 30 s otherwise (logs).
final class ProgressDisplay: @unchecked Sendable {
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private var lastPrint = 0.0
    private var lineOpen = false

    func handle(_ event: TrainingEvent) {
        switch event {
        case let .progress(p):
            let now = Date().timeIntervalSince1970
            let last = p.step == p.totalSteps
            guard isTerminal ? (now - lastPrint >= 0.2 || last) : (now - lastPrint >= 30 || last || p.step == 1) else { return }
            lastPrint = now
            let line = String(format: "epoch %d/%d  step %d/%d (%.1f%%)  loss %.4f (epoch avg %.4f)  lr %.3g  grad-norm %.3g  %.1f ex/s  ETA ",
                              p.epoch, p.epochs, p.step, p.totalSteps, 100 * Double(p.step) / Double(max(1, p.totalSteps)),
                              p.loss, p.epochLoss, p.learningRate, p.gradNorm, p.examplesPerSecond) + Self.duration(p.etaSeconds)
            if isTerminal {
                FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
                lineOpen = true
            } else {
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
        case let .epochEnd(record, isBest):
            finishLine()
            var line = "epoch \(record.epoch)\(record.partial ? " (partial)" : ""): train loss " + String(format: "%.4f", record.trainLoss)
            if let v = record.validation {
                line += String(format: ", val loss %.4f, accuracy %.4f, macro-F1 %.4f, macro-recall %.4f", v.loss ?? .nan,
                               v.accuracy, v.macroF1, v.macroRecall)
            }
            line += String(format: " (%.1f ex/s)", record.examplesPerSecond) + (isBest ? "  best so far" : "")
            print(line)
        case let .checkpoint(url, step):
            if !isTerminal { print("checkpoint at step \(step): \(url.path)") }
        case let .message(text):
            finishLine()
            print(text)
        }
    }

    func finishLine() {
        if lineOpen { FileHandle.standardError.write(Data("\n".utf8)); lineOpen = false }
    }

    static func duration(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "?" }
        let t = Int(s.rounded())
        if t >= 3600 { return String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) }
        if t >= 60 { return String(format: "%dm%02ds", t / 60, t % 60) }
        return "\(t)s"
    }
}

/// SIGINT / SIGTERM: the first asks the trainer to write a resumable checkpoint and stop; a second one
/// ends the process at once (the last checkpoint on disk stays valid: checkpoints are written atomically).
final class InterruptHandler: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var count = 0

    init(control: TrainingControl) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                self.count += 1
                let n = self.count
                self.lock.unlock()
                if n == 1 {
                    FileHandle.standardError.write(Data("\ninterrupted: writing a resumable checkpoint after this step (interrupt again to quit at once)\n".utf8))
                    control.requestCancel()
                } else {
                    FileHandle.standardError.write(Data("\ninterrupted again: quitting without a new checkpoint\n".utf8))
                    _exit(130)
                }
            }
            source.resume()
            sources.append(source)
        }
    }

    func uninstall() {
        for s in sources { s.cancel() }
        sources = []
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
