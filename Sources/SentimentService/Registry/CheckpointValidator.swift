import Foundation
import SentimentCheckpoint
import Logging
import SentimentEngine
import SentimentCore

/// A folder that passed validation, with its model loaded.
struct ValidatedCheckpoint: Sendable {
    let folder: CheckpointFolder
    let model: SentimentModel
    let manifestSHA256: String?
    /// The files validated, as read: a restart serves them again without validating while these still match.
    let digests: FolderDigests
    var family: String { model.config.family.rawValue }
    var labels: [String] { model.config.id2label }
}

/// Where a version's files are checked before the serving process loads them.
public enum ValidationIsolation: Sendable {
    /// In a validation process of its own (`sentimentd validate-worker`): what the daemon does.
    case process(executable: URL, baseDirectories: [URL])
    /// In this process: the registry's tests, which run without a sentimentd binary.
    case inProcess
}

/// Validation of one version folder, then its load into the serving process. Runs on the registry's queue, never on
/// the serving path.
///
/// Policy: the serving process never parses a file that has not been checked. A new or changed version is checked
/// by a validation process (`ValidationProcess`: every check of `CheckpointInspection`, under resource limits); the
/// serving process then loads only files whose bytes are the ones the check read (`ModelFolderReader` compares
/// SHA-256 digests as it reads; a file that differs fails the load), and probes the loaded model once more (its
/// packed kernels are not the validation's). A version validated before, with the same digests on record, is loaded
/// the same way without a validation process (a restart restoring the active version).
struct CheckpointValidator: Sendable {
    /// Fixed probe texts: ordinary tweets, the normaliser's forms, non-ASCII, and one text far longer than any
    /// model's position table (it must be truncated, not crash).
    static let probes: [String] = [
        "I love this so much, best day ever!",
        "This is the worst service I have ever had.",
        "The meeting was moved to Tuesday at 3pm.",
        "@user check this out http",
        "Qué día tan bonito 😀 — ça va? 東京",
        String(repeating: "so very long and winding a sentence ", count: 200),
    ]

    /// Probabilities of one prediction must sum to 1 within this.
    static let sumTolerance: Float = 1e-4

    /// Loads a folder for serving in the precision given (int8 only for a version whose int8 check of these files
    /// passed: a new version is validated and checked in fp32); with digests, only files with those bytes.
    let loader: @Sendable (URL, Precision, FolderDigests?) throws -> LoadedModel
    /// How the thread that validates arrivals competes with the serving threads for CPU.
    var priority: LoadPriority = .idle
    var isolation: ValidationIsolation = .inProcess
    /// `models.validation_timeout`: seconds without progress that end a validation (see `RegistryWatch`).
    var stallLimit: Double = 120

    /// Checks a new or changed folder, then loads it. `whileServing`: another version answers requests meanwhile,
    /// so the work runs in the background at `priority`; otherwise (start-up, or nothing valid served yet) every
    /// request waits for this version: it runs at once, on every core.
    func validate(_ folder: CheckpointFolder, whileServing: Bool, modelsDirectory: URL, watch: RegistryWatch?,
                  logger: Logger, isStopping: @escaping @Sendable () -> Bool) throws -> ValidatedCheckpoint {
        switch isolation {
        case .inProcess:
            let (loaded, manifestSHA256) = try run(whileServing, watch: watch) {
                try CheckpointInspection.inspect(folder) { url, listed in try loader(url, .fp32, listed) }
            }
            return ValidatedCheckpoint(folder: folder, model: loaded.model, manifestSHA256: manifestSHA256,
                                       digests: loaded.digests)
        case let .process(executable, baseDirectories):
            let process = ValidationProcess(executable: executable, modelsDirectory: modelsDirectory,
                                            baseDirectories: baseDirectories, stallLimit: stallLimit)
            let verdict = try process.validate(folder, priority: whileServing ? priority : nil, watch: watch,
                                               logger: logger, isStopping: isStopping)
            guard verdict.accepted, let digests = verdict.digests else {
                throw CheckpointRejection.validationFailed(reason: verdict.reason ?? "the validation gave no reason")
            }
            let model = try load(folder, expecting: digests, whileServing: whileServing, watch: watch)
            return ValidatedCheckpoint(folder: folder, model: model, manifestSHA256: verdict.manifestSHA256, digests: digests)
        }
    }

    /// Loads a folder whose files were validated with `digests`, refusing any file whose bytes differ, and runs the
    /// probes through the loaded model. `precision`: see `loader`.
    func load(_ folder: CheckpointFolder, expecting digests: FolderDigests, whileServing: Bool,
              watch: RegistryWatch?, precision: Precision = .fp32) throws -> SentimentModel {
        try run(whileServing, watch: watch) {
            let loaded: LoadedModel
            do {
                loaded = try loader(folder.url, precision, digests)
            } catch {
                throw CheckpointRejection.loadFailed(reason: "\(error)")
            }
            try Self.smokeTest(loaded.model)
            return loaded.model
        }
    }

    /// `body` in the background at `priority` while serving, else right here.
    func run<T>(_ whileServing: Bool, watch: RegistryWatch?, _ body: @escaping () throws -> T) throws -> T {
        whileServing ? try Self.inBackground(priority, watch: watch, body) : try body()
    }

    /// Runs `body` on a thread of its own at `priority` with its kernels kept on that thread (`Parallel.serially`),
    /// and waits for it: a version arriving while the daemon serves is loaded and probed on one low-priority core,
    /// so the requests being served keep their latency (hot reload). The thread exits afterwards, so its priority
    /// never leaks into threads that serve. Meanwhile the kernel helpers do not spin between loops
    /// (`Parallel.withQuietHelpers`). The registry's watch follows that thread while it works.
    static func inBackground<T>(_ priority: LoadPriority = .idle, watch: RegistryWatch? = nil,
                                _ body: @escaping () throws -> T) throws -> T {
        let box = LockedBox<Result<T, Error>?>(nil)
        let thread = LockedBox<Int32>(0)
        let started = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        let worker = Thread {
            thread.value = ProcessLimits.threadID
            started.signal()
            priority.applyToCurrentThread()
            let outcome = Result { try Parallel.serially { try Pacing.run(pause: priority.pacing, body) } }
            box.value = outcome
            done.signal()
        }
        worker.stackSize = 8 << 20
        // Serving's kernel helpers sleep between loops meanwhile, leaving those gaps to this thread. This matters
        // only when they are set to spin (SENTIMENTD_SPIN_US; by default they never do); in the one measurement
        // with a 200 µs spin, quieting them did not measurably shorten the time a version took to go live.
        return try Parallel.withQuietHelpers {
            worker.start()
            started.wait()
            if let watch { watch.handOver(to: .thread(thread.value)) { done.wait() } } else { done.wait() }
            return try box.value!.get()
        }
    }

    /// Longest forward pass of the smoke test, in tokens. Every probe is encoded in full, and its encoding must fit
    /// the model's maximum length (the probe longer than any position table checks the truncation); a longer one
    /// then runs cut to this length, keeping its closing special token. A forward pass over the whole position
    /// table (~1 s for RoBERTa-base on one core, on a machine that is serving) would test little that the weight
    /// scan and the shorter probes do not.
    static let probeTokens = 64

    static func smokeTest(_ model: SentimentModel, probes: [String] = CheckpointValidator.probes) throws {
        let labels = model.config.id2label
        guard !labels.isEmpty else {
            throw CheckpointRejection.smokeTestFailed(probe: probes[0], problem: "the model has no labels")
        }
        func shown(_ probe: String) -> String { probe.count > 40 ? String(probe.prefix(40)) + "…" : probe }
        var encoded: [[Int32]] = []
        for probe in probes {
            let ids = model.encode(probe)
            guard !ids.isEmpty, ids.count <= model.maxLength else {
                throw CheckpointRejection.smokeTestFailed(
                    probe: shown(probe), problem: "encoded to \(ids.count) tokens, outside 1...\(model.maxLength)")
            }
            encoded.append(ids.count <= probeTokens ? ids : Array(ids.prefix(probeTokens - 1)) + [ids[ids.count - 1]])
        }
        let predictions = model.predict(encoded: encoded)
        guard predictions.count == probes.count else {
            throw CheckpointRejection.smokeTestFailed(
                probe: probes[0], problem: "\(predictions.count) predictions for \(probes.count) texts")
        }
        for (probe, prediction) in zip(probes, predictions) {
            try check(prediction, labels: labels, probe: shown(probe))
        }
    }

    static func check(_ prediction: Prediction, labels: [String], probe: String) throws {
        let p = prediction.probabilities
        guard p.count == labels.count else {
            throw CheckpointRejection.smokeTestFailed(
                probe: probe, problem: "\(p.count) probabilities for \(labels.count) labels")
        }
        if let bad = p.firstIndex(where: { !$0.isFinite || $0 < 0 || $0 > 1 }) {
            throw CheckpointRejection.smokeTestFailed(
                probe: probe, problem: "probability of \"\(labels[bad])\" is \(p[bad]), not a finite value in [0, 1]")
        }
        let sum = p.reduce(Float(0), +)
        guard abs(sum - 1) <= sumTolerance else {
            throw CheckpointRejection.smokeTestFailed(probe: probe, problem: "probabilities sum to \(sum), not 1")
        }
        guard labels.indices.contains(prediction.labelIndex), prediction.label == labels[prediction.labelIndex],
              p[prediction.labelIndex] == p.max() else {
            throw CheckpointRejection.smokeTestFailed(
                probe: probe, problem: "label \(prediction.labelIndex) \"\(prediction.label)\" is not the most probable")
        }
    }
}
