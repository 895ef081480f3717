import Foundation
import Logging
import SentimentCore
import SentimentEngine
import SentimentStore

/// `models.precision = "int8"`: which versions serve in int8, and the int8 check that decides it (`Int8Check`).
///
/// - A version without a check of its current files is loaded, validated and activated in fp32 (unpacked: the copy
///   is expected to be replaced), then checked in the background while it serves. A passed check swaps in the int8
///   model quantized from that fp32 copy (the same version, not a new activation): the fp32 dense weights are freed
///   once the last batch on them ends. A failed check keeps fp32 (packed then, with `models.pack_weights`), and
///   `models` / `status` say why.
/// - A version whose recorded check of these files passed (under the tolerances in force: a recorded check is judged
///   again) is loaded straight into int8, each layer quantized as it is read, so the whole fp32 encoder is never in
///   memory: a restart, a rollback, an activation.
/// - A check stops between batches as soon as its version no longer serves (a newer arrival, a rollback); the
///   version is checked again the next time it serves. One check runs at a time, on its own queue: activations
///   and rollbacks never wait for one.
extension ModelRegistry {
    var tolerance: PrecisionTolerance { int8Check?.tolerance ?? PrecisionTolerance() }

    /// The precision to load `record`'s current files in.
    func loadPrecision(_ record: ModelVersionRecord) -> Precision {
        loadPrecision(version: record.version, fingerprint: record.fingerprint, check: record.int8Check)
    }

    func loadPrecision(version: String, fingerprint: String, check: Int8CheckRecord?? = nil) -> Precision {
        guard precision == .int8 else { return .fp32 }
        let recorded = check ?? (try? store.version(version))??.int8Check
        guard let recorded, applies(recorded, to: fingerprint) else { return .fp32 }
        return Int8Check.failure(of: recorded, under: tolerance) == nil ? .int8 : .fp32
    }

    /// Whether a recorded check holds for files with `fingerprint` as this build quantizes them.
    func applies(_ check: Int8CheckRecord, to fingerprint: String) -> Bool {
        check.fingerprint == fingerprint && check.scheme == Int8Check.scheme
    }

    /// After `model` became active: in int8 mode, an fp32 copy is converted (its check passed before) or checked.
    func followPrecision(_ model: ActiveModel) {
        guard precision == .int8, let int8Check, model.model.precision == .fp32 else { return }
        let recorded = (try? store.version(model.version))??.int8Check
        if let recorded, applies(recorded, to: model.fingerprint) {
            if let failure = Int8Check.failure(of: recorded, under: tolerance) {
                logger.notice("model version serves in fp32: its int8 check failed",
                              metadata: ["version": "\(model.version)", "reason": "\(failure)"])
                if packAfterFailedCheck { schedulePacking(model) }
            } else {
                scheduleConversion(model)
            }
            return
        }
        state.withLock { _ = $0.checking.insert(model.version) }
        logger.info("int8 check queued; the version serves in fp32 meanwhile", metadata: ["version": "\(model.version)"])
        let isCancelled = stillServes(model)
        checkQueue.async { [weak self] in
            guard let self else { return }
            guard !isCancelled() else {
                self.queue.async { self.checkEnded(model.version) }
                return
            }
            let outcome: Result<Int8Check.Outcome, Error> = Result {
                try int8Check.run(model.model, fingerprint: model.fingerprint, paced: true, isCancelled: isCancelled)
            }
            self.queue.async { self.finishCheck(model, outcome) }
        }
    }

    /// True while `model` (this copy of these files) no longer serves, or the registry stops.
    func stillServes(_ model: ActiveModel) -> @Sendable () -> Bool {
        { [weak self] in
            guard let self else { return true }
            return self.state.withLock { s in
                s.phase == .stopped || s.active?.version != model.version || s.active?.fingerprint != model.fingerprint
            }
        }
    }

    func checkEnded(_ version: String) {
        state.withLock { _ = $0.checking.remove(version) }
    }

    /// On the registry's queue: records the check's figures and, if the version still serves from the copy that was
    /// checked, swaps in the int8 model (passed) or the packed fp32 one (failed, `models.pack_weights`).
    func finishCheck(_ model: ActiveModel, _ outcome: Result<Int8Check.Outcome, Error>) {
        checkEnded(model.version)
        let result: Int8Check.Outcome
        switch outcome {
        case let .success(o): result = o
        case .failure(Int8Check.Stop.cancelled):
            logger.info("int8 check stopped: the version no longer serves", metadata: ["version": "\(model.version)"])
            return
        case let .failure(error):
            logger.error("int8 check could not run; the version serves in fp32 and is checked again when it is activated",
                         metadata: ["version": "\(model.version)", "error": "\(error)"])
            return
        }
        let check = result.record
        do {
            guard let record = try store.version(model.version), record.fingerprint == check.fingerprint else {
                logger.info("int8 check of files that changed since; not recorded", metadata: ["version": "\(model.version)"])
                return
            }
            try store.recordInt8Check(version: model.version, check)
        } catch {
            logger.error("model registry database error", metadata: ["version": "\(model.version)", "error": "\(error)"])
        }
        refreshRecords()
        var metadata: Logger.Metadata = [
            "version": "\(model.version)", "texts": "\(check.texts)", "eval_texts": "\(check.evalTexts)",
            "agreement": "\(String(format: "%.4f", check.agreement))", "labelled": "\(check.labelled)",
            "seconds": "\(String(format: "%.1f", check.seconds))",
        ]
        if let a = check.fp32MacroF1, let b = check.int8MacroF1 {
            metadata["fp32_macro_f1"] = "\(String(format: "%.4f", a))"
            metadata["int8_macro_f1"] = "\(String(format: "%.4f", b))"
        }
        if let reason = check.reason { metadata["reason"] = "\(reason)" }
        logger.notice(check.passed ? "int8 check passed" : "int8 check failed; the version serves in fp32", metadata: metadata)
        guard let current = active, current.version == model.version, current.fingerprint == model.fingerprint,
              current.model === model.model else { return }
        if let int8 = result.int8 {
            install(ActiveModel(version: model.version, model: int8, fingerprint: model.fingerprint, since: current.since),
                    followingPrecision: false)
            logger.notice("model version serves in int8", metadata: ["version": "\(model.version)"])
        } else if packAfterFailedCheck {
            schedulePacking(current)
        }
    }

    /// A version whose check passed before but whose fp32 copy serves (loaded before the check finished, say):
    /// quantized in the background, then swapped in.
    func scheduleConversion(_ model: ActiveModel) {
        replaceInBackground(model, what: "int8") { $0.int8Model() }
    }

    /// The packed fp32 copy of a version that serves fp32 in int8 mode (its check failed).
    func schedulePacking(_ model: ActiveModel) {
        replaceInBackground(model, what: "packed fp32") { m in
            SentimentModel(config: m.config, folder: m.folder, tokenizer: m.tokenizer, weights: m.encoder.weights,
                           options: ModelLoadOptions(normalizeTweets: m.normalizesTweets, maxLength: m.maxLength, packWeights: true),
                           lora: m.encoder.lora)
        }
    }

    /// Makes `make(model.model)` on the check queue (paced at the load priority) and serves it if `model` still serves.
    private func replaceInBackground(_ model: ActiveModel, what: String, _ make: @escaping (SentimentModel) -> SentimentModel) {
        let isCancelled = stillServes(model)
        let priority = validator.priority
        checkQueue.async { [weak self] in
            guard let self, !isCancelled() else { return }
            guard let made = try? CheckpointValidator.inBackground(priority, { make(model.model) }) else { return }
            self.queue.async {
                guard let current = self.active, current.version == model.version, current.model === model.model else { return }
                self.install(ActiveModel(version: model.version, model: made, fingerprint: model.fingerprint, since: current.since),
                             followingPrecision: false)
                self.logger.notice("model version serves its \(what) copy", metadata: ["version": "\(model.version)"])
            }
        }
    }

    /// What `list()` shows of a version's precision.
    func precisionInfo(_ record: ModelVersionRecord, loaded: ActiveModel?, checking: Bool) -> VersionPrecision {
        let figures = record.int8Check.flatMap { applies($0, to: record.fingerprint) ? $0 : nil }
        var info = VersionPrecision(serving: loaded?.model.precision, figures: figures)
        guard precision == .int8 else { return info }
        if checking {
            info.check = .checking
            info.reason = "its int8 check is running; it serves in fp32 meanwhile"
        } else if let figures {
            if let failure = Int8Check.failure(of: figures, under: tolerance) {
                info.check = .failed
                info.reason = "int8 check failed: \(failure)"
            } else {
                info.check = .passed
                if loaded?.model.precision == .fp32 { info.reason = "its int8 check passed; the int8 copy is being made" }
            }
        } else if record.status == .valid {
            info.reason = "not checked for int8 yet (a version is checked once it serves)"
        }
        return info
    }
}
