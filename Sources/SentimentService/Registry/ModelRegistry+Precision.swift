import Foundation
import Logging
import SentimentCore
import SentimentEngine
import SentimentProtocol
import SentimentStore

/// `models.precision = "int8"`: which versions serve in int8, and the int8 check that decides it (`Int8Check`).
///
/// - A hot reload never serves an unchecked fp32 copy. A version that arrives (new or changed files, activated by
///   the daemon itself under `activate = "newest"`) while another version serves, and has no check of its current
///   files, is checked BEFORE it is activated, as the last step of its validation: the version that serves keeps
///   serving, in its own precision, while the check runs, paced at `models.load_priority` like the validation. When
///   the check ends, the version is activated straight in the precision it earned: the int8 model quantized from
///   its fp32 copy, or that fp32 copy (packed first, with `models.pack_weights`) when it failed, and `models` /
///   `status` say why. Until then it is not active anywhere (`models` lists it as loading, "its int8 check is
///   running before it is activated"; `status` names the check under the model registry). The price: such a
///   version goes live a check later (minutes for RoBERTa-base beside busy clients) instead of serving at fp32's
///   speed, several times slower than int8, for those minutes. A newer arrival meanwhile replaces it (its check
///   stops between batches); a check that cannot run (the evaluation split unreadable) activates it in fp32, and
///   says so in the log and in `models` / `status`.
/// - When nothing serves (first start, empty registry, everything else rejected), something must answer: the version
///   is activated in fp32 at once (unpacked: the copy is expected to be replaced) and checked in the background
///   while it serves. A passed check swaps in the int8 model quantized from that fp32 copy (the same version, not a
///   new activation): the fp32 dense weights are freed once the last batch on them ends. A failed check keeps fp32
///   (packed then, with `models.pack_weights`). An operator's `activate` / `rollback` of an unchecked version is
///   immediate too ("one command, now"): it serves fp32 while it is checked, the same way.
/// - A version whose recorded check of these files passed (under the tolerances in force: a recorded check is judged
///   again) is loaded straight into int8, each layer quantized as it is read, so the whole fp32 encoder is never in
///   memory: a restart, a rollback, an activation.
/// - A check stops between batches as soon as its version is no longer to serve (a newer arrival, a rollback, an
///   operator's activation of another version); the version is checked again the next time it is to serve. One
///   check runs at a time, on its own queue: activations and rollbacks never wait for one.
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
        state.withLock { s in
            s.checking.insert(model.version)
            s.checkErrors[model.version] = nil
        }
        logger.info("int8 check queued; the version serves in fp32 meanwhile", metadata: ["version": "\(model.version)"])
        let isCancelled = stillServes(model)
        checkQueue.async { [weak self] in
            guard let self else { return }
            let outcome = Self.runCheck(int8Check, on: model, isCancelled: isCancelled)
            self.queue.async { self.finishCheck(model, outcome) }
        }
    }

    /// `check` of `model`'s fp32 copy on the calling thread (the check queue), paced; cancelled before it starts too.
    static func runCheck(_ check: Int8Check, on model: ActiveModel,
                         isCancelled: @escaping @Sendable () -> Bool) -> Result<Int8Check.Outcome, Error> {
        if isCancelled() { return .failure(Int8Check.Stop.cancelled) }
        return Result { try check.run(model.model, fingerprint: model.fingerprint, paced: true, isCancelled: isCancelled) }
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
            state.withLock { $0.checkErrors[model.version] = "\(error)" }
            logger.error("int8 check could not run; the version serves in fp32 and is checked again when it is activated",
                         metadata: ["version": "\(model.version)", "error": "\(error)"])
            return
        }
        record(result.record, of: model)
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

    /// Keeps a finished check's figures with the version (unless its files changed since) and logs them.
    func record(_ check: Int8CheckRecord, of model: ActiveModel) {
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
    }

    // MARK: Checked before activation (a hot reload while another version serves)

    /// Whether the daemon's own activation of `model` (an arrival) waits for its int8 check: int8 configured, another
    /// version serves, and no check of these files is on record (a recorded one decides at once, as for a restart).
    func checksBeforeActivation(_ model: ActiveModel) -> Bool {
        guard precision == .int8, int8Check != nil, model.model.precision == .fp32, active != nil else { return false }
        guard let recorded = (try? store.version(model.version))??.int8Check else { return true }
        return !applies(recorded, to: model.fingerprint)
    }

    /// Checks `model` (validated, not active) on the check queue while the active version keeps serving, then activates
    /// it in the precision it earned (`activateChecked`). Replaces a version still waiting for its check: that check
    /// stops between batches, and it is not activated.
    func activateAfterCheck(_ model: ActiveModel) {
        guard let int8Check else { return }
        let waiting = ActiveModel(version: model.version, model: model.model, fingerprint: model.fingerprint)
        let replaced = state.withLock { s -> ActiveModel? in
            defer {
                s.awaitingCheck = waiting
                s.checkErrors[model.version] = nil
            }
            return s.awaitingCheck
        }
        if let replaced {
            logger.notice("a newer version replaces the one whose int8 check runs before its activation",
                          metadata: ["version": "\(model.version)", "replaced": "\(replaced.version)"])
        }
        logger.info("int8 check before activation queued; the active version serves meanwhile",
                    metadata: ["version": "\(model.version)", "serving": "\(active?.version ?? "none")"])
        let isCancelled = awaitsCheck(waiting)
        let priority = validator.priority
        let packFailed = packAfterFailedCheck
        checkQueue.async { [weak self] in
            guard let self else { return }
            let outcome = Self.runCheck(int8Check, on: waiting, isCancelled: isCancelled)
            // A failed check: the copy it goes live with is the packed fp32 one, made here too, before it serves.
            var packing: SentimentModel?
            if packFailed, case let .success(result) = outcome, result.int8 == nil, !isCancelled() {
                packing = try? CheckpointValidator.inBackground(priority) { Self.packed(waiting.model) }
            }
            let packed = packing
            self.enqueue("activating \(model.version) after its int8 check") {
                self.finishCheckBeforeActivation(waiting, outcome, packed: packed)
            }
        }
    }

    /// True once `model` is no longer the version waiting for its check (replaced, activated by an operator, any
    /// other activation), or the registry stops.
    func awaitsCheck(_ model: ActiveModel) -> @Sendable () -> Bool {
        { [weak self] in
            guard let self else { return true }
            return self.state.withLock { s in s.phase == .stopped || s.awaitingCheck?.model !== model.model }
        }
    }

    /// On the registry's queue, after the check of a version waiting for it: records the figures and, if it still
    /// waits, activates it in int8 (passed), fp32 (failed: `packed` when made) or fp32 with the error (not run).
    func finishCheckBeforeActivation(_ model: ActiveModel, _ outcome: Result<Int8Check.Outcome, Error>,
                                     packed: SentimentModel?) {
        let serving: SentimentModel
        switch outcome {
        case .failure(Int8Check.Stop.cancelled):
            logger.info("int8 check stopped: the version is no longer to be activated (a newer version, or an operator's choice)",
                        metadata: ["version": "\(model.version)"])
            return
        case let .failure(error):
            guard stillAwaited(model) else { return }
            state.withLock { $0.checkErrors[model.version] = "\(error)" }
            logger.error("int8 check could not run; the version is activated in fp32 and checked again when it is next activated",
                         metadata: ["version": "\(model.version)", "error": "\(error)"])
            serving = model.model
        case let .success(result):
            record(result.record, of: model)
            guard stillAwaited(model) else {
                logger.info("int8 check ended; the version is no longer to be activated", metadata: ["version": "\(model.version)"])
                return
            }
            serving = result.int8 ?? packed ?? model.model
        }
        activateChecked(ActiveModel(version: model.version, model: serving, fingerprint: model.fingerprint))
    }

    private func stillAwaited(_ model: ActiveModel) -> Bool {
        state.withLock { $0.phase != .stopped && $0.awaitingCheck?.model === model.model }
    }

    /// Activates a version whose check ended (`.arrival`), unless its record changed meanwhile (removed, rejected,
    /// other files, rolled back). The commit ends the wait; a failed one ends it too.
    private func activateChecked(_ model: ActiveModel) {
        defer { state.withLock { s in if s.awaitingCheck?.version == model.version { s.awaitingCheck = nil } } }
        guard let record = try? store.version(model.version), record.status == .valid,
              record.fingerprint == model.fingerprint, !record.isRolledBack else {
            logger.notice("model version not activated: its record changed during its int8 check",
                          metadata: ["version": "\(model.version)"])
            refreshRecords()
            return
        }
        do {
            try commit(model, reason: .arrival, uid: ownUID, followingPrecision: false)
            logger.notice("model version serves from its activation in the precision its int8 check decided",
                          metadata: ["version": "\(model.version)", "precision": "\(model.model.precision.rawValue)"])
        } catch {
            logger.error("activation failed", metadata: ["version": "\(model.version)", "error": "\(error)"])
        }
    }

    /// The version checked before its activation, if any, and since when.
    var awaitingCheck: ActiveModel? { state.withLock { $0.awaitingCheck } }

    /// The registry's work as `status` shows it: the queue's (`watch`), or, while the queue is idle, the int8 check of
    /// a version waiting to be activated (the check runs off the queue, so the watch does not see it).
    func workStatus(now: Date = Date()) -> RegistryStatus {
        let queue = watch.check(now: now)
        guard queue.state == "idle", let waiting = awaitingCheck else { return queue }
        return RegistryStatus(state: "working",
                              task: "int8 check of \(waiting.version) before its activation (\(active?.version ?? "nothing") serves meanwhile)",
                              busySeconds: now.timeIntervalSince(waiting.since))
    }

    /// A version whose check passed before but whose fp32 copy serves (loaded before the check finished, say):
    /// quantized in the background, then swapped in.
    func scheduleConversion(_ model: ActiveModel) {
        replaceInBackground(model, what: "int8") { $0.int8Model() }
    }

    /// The packed fp32 copy of a version that serves fp32 in int8 mode (its check failed).
    func schedulePacking(_ model: ActiveModel) {
        replaceInBackground(model, what: "packed fp32") { Self.packed($0) }
    }

    /// `m`'s fp32 weights with the packed copy made (`models.pack_weights`).
    static func packed(_ m: SentimentModel) -> SentimentModel {
        SentimentModel(config: m.config, folder: m.folder, tokenizer: m.tokenizer, weights: m.encoder.weights,
                       options: ModelLoadOptions(normalizeTweets: m.normalizesTweets, maxLength: m.maxLength, packWeights: true),
                       lora: m.encoder.lora)
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

    /// What `list()` shows of a version's precision. `waiting`: its files are checked before it is activated (not
    /// in memory for serving: `serving` stays nil) while `activeVersion` serves.
    func precisionInfo(_ record: ModelVersionRecord, loaded: ActiveModel?, checking: Bool, waiting: Bool,
                       activeVersion: String?) -> VersionPrecision {
        let figures = record.int8Check.flatMap { applies($0, to: record.fingerprint) ? $0 : nil }
        var info = VersionPrecision(serving: loaded?.model.precision, figures: figures)
        guard precision == .int8 else { return info }
        if waiting {
            info.check = .checking
            info.reason = "its int8 check is running before it is activated; \(activeVersion.map { "the active version \($0)" } ?? "the active version") serves meanwhile"
        } else if checking {
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
        } else if let error = state.withLock({ $0.checkErrors[record.version] }) {
            info.reason = "its int8 check could not run (\(error)); it serves in fp32 and is checked again when it is next activated"
        } else if record.status == .valid {
            info.reason = "not checked for int8 yet (a version is checked once it is to serve)"
        }
        return info
    }
}
