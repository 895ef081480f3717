import Foundation
import Logging
import SentimentCore
import SentimentEngine
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
            do {
                try commit(ActiveModel(version: version, model: checkpoint.model, fingerprint: checkpoint.folder.fingerprint),
                           reason: .arrival, uid: ownUID)
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

    func startupScan() throws {
        let present = (try? CheckpointFolder.versionNames(in: modelsDirectory)) ?? []
        refreshRecords()
        let records = try storeCall { try self.store.versions() }
        for record in records where record.status != .removed && !present.contains(record.version) {
            try storeCall { try self.store.recordRemoved(version: record.version, reason: "the folder was removed") }
        }

        // The version served before the restart, if its files are unchanged and still load.
        let last = try storeCall { try self.store.latestActivation() }
        var restored: ActiveModel?
        if let last, let record = try storeCall({ try self.store.version(last.version) }), record.status == .valid,
           present.contains(record.version),
           let folder = try? CheckpointFolder.read(version: record.version, in: modelsDirectory),
           folder.fingerprint == record.fingerprint {
            do {
                let model = try validator.loadAndProbe(folder, thorough: false, precision: loadPrecision(record))
                restored = ActiveModel(version: record.version, model: model, fingerprint: folder.fingerprint)
            } catch {
                reject(record.version, fingerprint: folder.fingerprint, because: error)
            }
        }

        // Folders that are new or changed since the daemon last looked (a run's candidate counts only while its
        // parent is the version that served last).
        var newest: ValidatedCheckpoint?
        for folder in foldersOldestFirst(present) {
            if case let .valid(checkpoint, rolledBack) = examine(folder.version), !rolledBack,
               orphanedRunCandidate(checkpoint.folder, serving: last?.version) == nil {
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

    func startupFallback(lastVersion: String?, newest: ValidatedCheckpoint?) throws {
        let records = try storeCall { try self.store.versions() }
        let usable = records.filter { $0.status == .valid && !$0.isRolledBack }
        var candidates = usable.sorted { $0.arrivalSequence > $1.arrivalSequence }.map(\.version)
        if let lastVersion, let i = candidates.firstIndex(of: lastVersion) {
            candidates.insert(candidates.remove(at: i), at: 0)
        }
        for version in candidates {
            guard let folder = try? CheckpointFolder.read(version: version, in: modelsDirectory) else { continue }
            let model: SentimentModel
            if let newest, newest.folder.version == version, newest.folder.fingerprint == folder.fingerprint {
                model = newest.model
            } else {
                do {
                    model = try validator.loadAndProbe(folder, precision: loadPrecision(version: version, fingerprint: folder.fingerprint))
                } catch {
                    reject(version, fingerprint: folder.fingerprint, because: error)
                    continue
                }
            }
            try commit(ActiveModel(version: version, model: model, fingerprint: folder.fingerprint),
                       reason: .startup, uid: ownUID)
            return
        }
    }

    enum Examination {
        case unchanged
        case gone
        case rejected
        /// Files changed while being validated; the watcher reports the folder again once it is quiet.
        case changedDuringValidation
        case valid(ValidatedCheckpoint, rolledBack: Bool)
    }

    /// Looks at one name: records a removal, or validates new or changed files and records the outcome. Does not
    /// activate anything.
    func examine(_ name: String) -> Examination {
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
                state.withLock { if $0.onDemand?.version == name { $0.onDemand = nil } }
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
            if let record, record.fingerprint == folder.fingerprint, record.status == .valid || record.status == .rejected {
                return .unchanged
            }

            try store.recordArrival(version: name, fingerprint: folder.fingerprint)
            logger.info(record == nil ? "new model version" : "model version changed; validating again",
                        metadata: ["version": "\(name)"])
            state.withLock { s in
                s.validating.insert(name)
                if s.onDemand?.version == name { s.onDemand = nil }
            }
            refreshRecords()
            defer {
                state.withLock { _ = $0.validating.remove(name) }
                refreshRecords()
            }
            let serving = active != nil
            let outcome: Result<ValidatedCheckpoint, Error> = Result { try validator.validate(folder, whileServing: serving) }
            let after = try? CheckpointFolder.read(version: name, in: modelsDirectory)
            guard after?.fingerprint == folder.fingerprint else {
                logger.info("model folder changed while it was validated; waiting for it to settle",
                            metadata: ["version": "\(name)"])
                return .changedDuringValidation
            }
            switch outcome {
            case let .success(checkpoint):
                try store.recordValid(version: name, fingerprint: folder.fingerprint,
                                      manifestSHA256: checkpoint.manifestSHA256, family: checkpoint.family,
                                      labels: checkpoint.labels)
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
