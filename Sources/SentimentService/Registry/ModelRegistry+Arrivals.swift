import Foundation
import SentimentCheckpoint
import Logging
import SentimentCore
import SentimentEngine
import SentimentProtocol
import SentimentStore

/// New, changed and vanished folders: the startup scan, rescans, and folders the watcher reports settled.
/// Everything here runs on the registry's queue.
extension ModelRegistry {
    func settled(_ name: String) {
        guard isRunning else { return }
        logger.debug("models folder settled", metadata: ["version": "\(name)"])
        if case let .valid(checkpoint, rolledBack) = examine(name) {
            applyPolicy(to: checkpoint, rolledBack: rolledBack)
        }
    }

    /// A training run's candidate whose parent (the version the run started from) no longer serves: it is not
    /// activated on arrival. An admin rolled back or activated another version during the run, and that choice
    /// wins over the run's publish (the worker checks this too before it publishes; this covers the moment between
    /// its check and its rename). Returns the parent, nil for any other folder.
    func orphanedRunCandidate(_ folder: CheckpointFolder, serving: String?) -> String? {
        let url = folder.url.appendingPathComponent(CheckpointManifest.fileName)
        guard let manifest = try? CheckpointManifest.read(at: url), manifest.run != nil, let parent = manifest.parent,
              parent != serving else { return nil }
        return parent
    }

    func applyPolicy(to checkpoint: ValidatedCheckpoint, rolledBack: Bool) {
        let version = checkpoint.folder.version
        if policy == .newest && !rolledBack,
           let parent = orphanedRunCandidate(checkpoint.folder, serving: active?.version) {
            logger.notice("model version available but not activated: it was trained from a version that no longer serves",
                          metadata: ["version": "\(version)", "parent": "\(parent)",
                                     "serving": "\(active?.version ?? "none")"])
            return
        }
        if policy == .newest && !rolledBack {
            let arrived = ActiveModel(version: version, model: checkpoint.model, fingerprint: checkpoint.folder.fingerprint)
            // int8 while another version serves: checked first, then activated in the precision it earned.
            if checksBeforeActivation(arrived) {
                activateAfterCheck(arrived)
                return
            }
            do {
                try commit(arrived, reason: .arrival, uid: ownUID)
            } catch {
                logger.error("activation failed", metadata: ["version": "\(version)", "error": "\(error)"])
            }
        } else if active?.version == version {
            logger.notice("files of the active version changed and passed validation; the copy loaded before keeps serving until the version is activated again",
                          metadata: ["version": "\(version)"])
        } else {
            logger.info("model version available", metadata: [
                "version": "\(version)", "why_not_active": "\(rolledBack ? "it was rolled back" : "activation policy is manual")",
            ])
        }
    }

    func rescanOnQueue() {
        let present = (try? CheckpointFolder.versionNames(in: modelsDirectory)) ?? []
        let known = state.withLock { $0.records.filter { $0.status != .removed }.map(\.version) }
        let gone = Set(known).subtracting(present)
        for name in gone.sorted() { _ = examine(name) }
        var newest: (ValidatedCheckpoint, Bool)?
        for folder in foldersOldestFirst(present) {
            if case let .valid(checkpoint, rolledBack) = examine(folder.version) {
                if newest == nil || !rolledBack || newest!.1 { newest = (checkpoint, rolledBack) }
            }
        }
        if let (checkpoint, rolledBack) = newest { applyPolicy(to: checkpoint, rolledBack: rolledBack) }
    }

    func foldersOldestFirst(_ names: [String]) -> [CheckpointFolder] {
        names.compactMap { try? CheckpointFolder.read(version: $0, in: modelsDirectory) }
            .sorted { ($0.modifiedNanoseconds, $0.version) < ($1.modifiedNanoseconds, $1.version) }
    }

    /// The message a version gets when the daemon died during its validation twice.
    static let interruptedTwice = "validation was interrupted twice: the daemon stopped during it both times (a crash, an "
        + "out-of-memory kill, the watchdog, or a power loss), so it is not tried again; replace or fix the files "
        + "(a change of the files is a new arrival)"

    func startupScan() throws {
        let present = (try? CheckpointFolder.versionNames(in: modelsDirectory)) ?? []
        refreshRecords()
        let records = try storeCall { try self.store.versions() }
        for record in records where record.status != .removed && !present.contains(record.version) {
            try storeCall { try self.store.recordRemoved(version: record.version, reason: "the folder was removed") }
        }
        try recoverInterruptedValidations()

        // The version served before the restart, if its files are unchanged and still load. Validated before with
        // these digests: loaded without a validation process, every file compared with its digest as it is read.
        let last = try storeCall { try self.store.latestActivation() }
        var restored: ActiveModel?
        if let last, let record = try storeCall({ try self.store.version(last.version) }), record.status == .valid,
           present.contains(record.version), let digests = FolderDigests(json: record.fileDigests),
           let folder = try? CheckpointFolder.read(version: record.version, in: modelsDirectory),
           folder.fingerprint == record.fingerprint {
            if let model = loadKnownGood(folder, digests: digests, precision: loadPrecision(record)) {
                restored = ActiveModel(version: record.version, model: model, fingerprint: folder.fingerprint)
            }
        }

        // Folders that are new or changed since the daemon last looked (a run's candidate counts only while its
        // parent is the version that served last; the active version's files count too, when they were validated by
        // a sentimentd that kept no digests).
        var newest: ValidatedCheckpoint?
        let lastRecord = try last.flatMap { last in try storeCall { try self.store.version(last.version) } }
        for folder in foldersOldestFirst(present) {
            let again = restored == nil && folder.version == last?.version
            guard case let .valid(checkpoint, rolledBack) = examine(folder.version, revalidate: again) else { continue }
            if again && lastRecord?.status == .valid && lastRecord?.fingerprint == folder.fingerprint {
                // The same files validated again (no digests on record): a restore, not an arrival.
                restored = ActiveModel(version: folder.version, model: checkpoint.model, fingerprint: folder.fingerprint)
            } else if !rolledBack, orphanedRunCandidate(checkpoint.folder, serving: last?.version) == nil {
                newest = checkpoint
            }
        }

        if policy == .newest, let newest {
            try commit(ActiveModel(version: newest.folder.version, model: newest.model, fingerprint: newest.folder.fingerprint),
                       reason: .arrival, uid: ownUID)
        } else if let restored {
            install(restored)
            logger.notice("model restored", metadata: ["version": "\(restored.version)"])
            notifyHandlers(restored.version)
        } else {
            try startupFallback(lastVersion: last?.version, newest: newest)
        }
        if active == nil {
            logger.warning("no valid model in the models directory; predictions fail until one arrives",
                           metadata: ["path": "\(modelsDirectory.path)"])
        }
    }

    /// Validations the previous daemon died in: each is counted; the second interruption rejects the version
    /// (a file that kills the daemon every time it is read must not restart it forever); after the first, the
    /// version is tried once more.
    func recoverInterruptedValidations() throws {
        for record in try storeCall({ try self.store.recoverInterruptedValidations() }) {
            if record.validationInterruptions >= 2 {
                try storeCall {
                    try self.store.recordRejected(version: record.version, fingerprint: record.fingerprint,
                                                  reason: Self.interruptedTwice)
                }
                logger.error("model version rejected: its validation was interrupted twice",
                             metadata: ["version": "\(record.version)"])
            } else {
                logger.warning("the validation of a model version was interrupted by the daemon's stop; trying once more",
                               metadata: ["version": "\(record.version)"])
            }
        }
        refreshRecords()
    }

    /// A version validated before, loaded (with its digests checked) and probed here. The mark is set while it
    /// loads, so a daemon that dies loading it counts the interruption. nil (and the version rejected) on failure.
    /// `precision`: int8 for a version whose int8 check of these files passed (`loadPrecision`).
    func loadKnownGood(_ folder: CheckpointFolder, digests: FolderDigests, precision: Precision = .fp32) -> SentimentModel? {
        let version = folder.version
        do {
            try store.beginValidation(version: version)
            defer { try? store.endValidation(version: version) }
            return try validator.load(folder, expecting: digests, whileServing: active != nil, watch: watch,
                                      precision: precision)
        } catch {
            reject(version, fingerprint: folder.fingerprint, because: error)
            return nil
        }
    }

    /// Nothing new to serve and the version served before the restart cannot be: the previous good version, by
    /// the activation history (then any valid one, newest first). Says so in the log and in `status`, and keeps
    /// the daemon up even when no version can be served.
    func startupFallback(lastVersion: String?, newest: ValidatedCheckpoint?) throws {
        let records = try storeCall { try self.store.versions() }
        let usable = Dictionary(records.filter { $0.status == .valid && !$0.isRolledBack }.map { ($0.version, $0) },
                                uniquingKeysWith: { a, _ in a })
        var candidates: [String] = []
        for entry in try storeCall({ try self.store.activations() }) where usable[entry.version] != nil {
            if !candidates.contains(entry.version) { candidates.append(entry.version) }
        }
        for record in records.sorted(by: { $0.arrivalSequence > $1.arrivalSequence }) where usable[record.version] != nil {
            if !candidates.contains(record.version) { candidates.append(record.version) }
        }
        var chosen: String?
        for version in candidates {
            guard let folder = try? CheckpointFolder.read(version: version, in: modelsDirectory) else { continue }
            let model: SentimentModel
            if let newest, newest.folder.version == version, newest.folder.fingerprint == folder.fingerprint {
                model = newest.model
            } else if let digests = FolderDigests(json: usable[version]?.fileDigests), folder.fingerprint == usable[version]?.fingerprint {
                guard let loaded = loadKnownGood(folder, digests: digests,
                                                 precision: loadPrecision(version: version, fingerprint: folder.fingerprint)) else { continue }
                model = loaded
            } else {
                guard case let .valid(checkpoint, _) = examine(version, revalidate: true) else { continue }
                model = checkpoint.model
            }
            try commit(ActiveModel(version: version, model: model, fingerprint: folder.fingerprint),
                       reason: .startup, uid: ownUID)
            chosen = version
            break
        }
        guard let lastVersion, chosen != lastVersion else { return }
        let record = try storeCall { try self.store.version(lastVersion) }
        let reason: String
        switch record?.status {
        case .removed?, nil: reason = "its folder is gone"
        case .rejected?: reason = record?.reason ?? "it was rejected"
        default: reason = "it could not be loaded"
        }
        let notice = StartupFallbackStatus(from: lastVersion, reason: reason, serving: chosen, since: Date())
        state.withLock { $0.fallback = notice }
        logger.error("the version active before the restart cannot be served; serving the previous good version instead", metadata: [
            "version": "\(lastVersion)", "reason": "\(reason)", "serving": "\(chosen ?? "nothing")",
        ])
    }

    enum Examination {
        case unchanged
        case gone
        case rejected
        /// Files changed while being validated; the watcher reports the folder again once it is quiet.
        case changedDuringValidation
        /// No verdict, through no fault of the version (the daemon is stopping, the validation process could not
        /// start): it stays pending and is looked at again at the next start or rescan.
        case deferred
        case valid(ValidatedCheckpoint, rolledBack: Bool)
    }

    /// Looks at one name: records a removal, or validates new or changed files and records the outcome. Does not
    /// activate anything. `revalidate`: validate a valid version again although its files are unchanged (one
    /// validated by a sentimentd that kept no digests of them).
    func examine(_ name: String, revalidate: Bool = false) -> Examination {
        guard CheckpointFolder.isVersionName(name) else { return .unchanged }
        do {
            let record = try store.version(name)
            var isDirectory: ObjCBool = false
            let path = modelsDirectory.appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                if let record, record.status != .removed {
                    try store.recordRemoved(version: name, reason: "the folder was removed")
                    if active?.version == name {
                        logger.warning("the active version's folder was removed; its loaded copy keeps serving",
                                       metadata: ["version": "\(name)"])
                    } else {
                        logger.info("model version removed", metadata: ["version": "\(name)"])
                    }
                    refreshRecords()
                }
                state.withLock { s in
                    if s.onDemand?.version == name { s.onDemand = nil }
                    if s.awaitingCheck?.version == name { s.awaitingCheck = nil }   // its check stops; never activated
                }
                return .gone
            }
            let folder: CheckpointFolder
            do {
                folder = try CheckpointFolder.read(version: name, in: modelsDirectory)
            } catch {
                if record?.status != .rejected || record?.fingerprint != "" {
                    try store.recordArrival(version: name, fingerprint: "")
                    try store.recordRejected(version: name, fingerprint: "", reason: "\(error)")
                    logger.warning("model version rejected", metadata: ["version": "\(name)", "reason": "\(error)"])
                    rejected(because: error)
                    refreshRecords()
                }
                return .rejected
            }
            let unchanged = record.map { $0.fingerprint == folder.fingerprint && ($0.status == .valid || $0.status == .rejected) } ?? false
            if unchanged && !(revalidate && record?.status == .valid) { return .unchanged }

            if !unchanged { try store.recordArrival(version: name, fingerprint: folder.fingerprint) }
            logger.info(record == nil ? "new model version" : unchanged ? "validating a model version again"
                            : "model version changed; validating again",
                        metadata: ["version": "\(name)"])
            state.withLock { s in
                s.validating.insert(name)
                if s.onDemand?.version == name { s.onDemand = nil }
                // A copy of its former files waiting for its int8 check is not activated: the new files decide.
                if s.awaitingCheck?.version == name { s.awaitingCheck = nil }
            }
            // The mark goes in before a byte of the files is read: a daemon that dies validating them leaves it.
            try store.beginValidation(version: name)
            refreshRecords()
            defer {
                state.withLock { _ = $0.validating.remove(name) }
                refreshRecords()
            }
            let serving = active != nil
            let outcome: Result<ValidatedCheckpoint, Error> = Result {
                try validator.validate(folder, whileServing: serving, modelsDirectory: modelsDirectory, watch: watch,
                                       logger: logger, isStopping: { [weak self] in self?.isStopping ?? true })
            }
            if case let .failure(error as ValidationProcessError) = outcome {
                try store.endValidation(version: name)
                if case .stopped = error {
                    logger.info("validation stopped: the daemon is stopping", metadata: ["version": "\(name)"])
                } else {
                    logger.error("model version not validated", metadata: ["version": "\(name)", "error": "\(error)"])
                }
                return .deferred
            }
            let after = try? CheckpointFolder.read(version: name, in: modelsDirectory)
            guard after?.fingerprint == folder.fingerprint else {
                try store.endValidation(version: name)
                logger.info("model folder changed while it was validated; waiting for it to settle",
                            metadata: ["version": "\(name)"])
                return .changedDuringValidation
            }
            switch outcome {
            case let .success(checkpoint):
                try store.recordValid(version: name, fingerprint: folder.fingerprint,
                                      manifestSHA256: checkpoint.manifestSHA256, family: checkpoint.family,
                                      labels: checkpoint.labels, fileDigests: checkpoint.digests.json)
                logger.info("model version validated", metadata: [
                    "version": "\(name)", "family": "\(checkpoint.family)",
                    "manifest": "\(checkpoint.manifestSHA256 == nil ? "none" : "verified")",
                ])
                return .valid(checkpoint, rolledBack: record?.isRolledBack ?? false)
            case let .failure(error):
                reject(name, fingerprint: folder.fingerprint, because: error)
                return .rejected
            }
        } catch {
            logger.error("model registry database error", metadata: ["version": "\(name)", "error": "\(error)"])
            return .rejected
        }
    }

    func reject(_ version: String, fingerprint: String, because error: Error) {
        do {
            try store.recordRejected(version: version, fingerprint: fingerprint, reason: "\(error)")
        } catch {
            logger.error("model registry database error", metadata: ["version": "\(version)", "error": "\(error)"])
        }
        if active?.version == version {
            logger.error("files of the active version changed and were rejected; the copy loaded before keeps serving",
                         metadata: ["version": "\(version)", "reason": "\(error)"])
        } else {
            logger.warning("model version rejected", metadata: ["version": "\(version)", "reason": "\(error)"])
        }
        rejected(because: error)
        refreshRecords()
    }
}
