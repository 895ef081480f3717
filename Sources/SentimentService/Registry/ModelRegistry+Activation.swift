import Foundation
import SentimentCheckpoint
import SentimentCore
import Logging
import SentimentStore

/// Activation, rollback and the pointer swap. Everything here runs on the registry's queue.
extension ModelRegistry {
    /// Activates `version`. `rollingBack`: the version a rollback leaves, marked rolled back in the same transaction
    /// as the activation. An admin's choice (manual, rollback) clears the chosen version's own rolled-back mark,
    /// in that transaction too.
    func activateOnQueue(_ version: String, reason: ActivationReason, uid: UInt32, rollingBack: String? = nil) throws {
        let (loaded, isActiveCopy, record) = try prepare(version)
        let clearing = record.isRolledBack && (reason == .manual || reason == .rollback)
        if isActiveCopy {
            if clearing { try clearRolledBack(version) }
            return
        }
        try commit(loaded, reason: reason, uid: uid, clearingRolledBack: clearing, rollingBack: rollingBack)
    }

    /// `version` ready to serve: the active copy when its files are unchanged (`isActiveCopy`), the copy loaded on
    /// demand, or a fresh load. Looks at the folder first: it may have changed or vanished since the last event.
    func prepare(_ version: String) throws -> (ActiveModel, isActiveCopy: Bool, record: ModelVersionRecord) {
        guard let record = try storeCall({ try self.store.version(version) }) else {
            throw RegistryError.unknownVersion(version)
        }
        switch record.status {
        case .pending: throw RegistryError.notReady(version: version)
        case .removed:
            if !FileManager.default.fileExists(atPath: modelsDirectory.appendingPathComponent(version).path) {
                throw RegistryError.removed(version: version)
            }
        case .valid, .rejected: break
        }
        switch examine(version) {
        case .gone: throw RegistryError.removed(version: version)
        case .changedDuringValidation, .deferred: throw RegistryError.notReady(version: version)
        case .rejected:
            let why = (try? store.version(version))??.reason ?? "validation failed"
            throw RegistryError.rejected(version: version, reason: why)
        case let .valid(checkpoint, _):
            return (ActiveModel(version: version, model: checkpoint.model, fingerprint: checkpoint.folder.fingerprint),
                    false, record)
        case .unchanged:
            if record.status == .rejected {
                throw RegistryError.rejected(version: version, reason: record.reason ?? "validation failed")
            }
            let folder: CheckpointFolder
            do {
                folder = try CheckpointFolder.read(version: version, in: modelsDirectory)
            } catch {
                throw RegistryError.rejected(version: version, reason: "\(error)")
            }
            let (current, onDemand, waiting) = state.withLock { ($0.active, $0.onDemand, $0.awaitingCheck) }
            if let current, current.version == version, current.fingerprint == folder.fingerprint {
                return (current, true, record)
            }
            // A copy in memory: loaded on demand, or waiting for its int8 check (an operator's activation does not wait).
            for copy in [onDemand, waiting] {
                if let copy, copy.version == version, copy.fingerprint == folder.fingerprint { return (copy, false, record) }
            }
            guard let digests = FolderDigests(json: record.fileDigests) else {
                // Validated by a sentimentd that kept no digests: validated again, in the validation process.
                switch examine(version, revalidate: true) {
                case let .valid(checkpoint, _):
                    return (ActiveModel(version: version, model: checkpoint.model, fingerprint: folder.fingerprint), false, record)
                case .changedDuringValidation, .deferred:
                    throw RegistryError.notReady(version: version)
                default:
                    let why = (try? store.version(version))??.reason ?? "validation failed"
                    throw RegistryError.rejected(version: version, reason: why)
                }
            }
            do {
                let model = try validator.load(folder, expecting: digests, whileServing: active != nil, watch: watch,
                                               precision: loadPrecision(record))
                return (ActiveModel(version: version, model: model, fingerprint: folder.fingerprint), false, record)
            } catch {
                reject(version, fingerprint: folder.fingerprint, because: error)
                throw RegistryError.rejected(version: version, reason: "\(error)")
            }
        }
    }

    func clearRolledBack(_ version: String) throws {
        try storeCall { try self.store.setRolledBack(version: version, at: nil) }
        refreshRecords()
    }

    func rollbackOnQueue(to target: String?, uid: UInt32) throws -> String {
        guard let current = active else {
            throw RegistryError.nothingToRollBackTo(reason: "no version is active")
        }
        TestHooks.pause("rolling back \(current.version)")
        if let target {
            guard target != current.version else { throw RegistryError.alreadyActive(version: target) }
            try activateOnQueue(target, reason: .rollback, uid: uid, rollingBack: current.version)
        } else {
            let history = try storeCall { try self.store.activations() }
            var seen: Set<String> = [current.version]
            var candidates: [String] = []
            for entry in history where !seen.contains(entry.version) {
                seen.insert(entry.version)
                candidates.append(entry.version)
            }
            var skipped: [String] = []
            var chosen: String?
            for candidate in candidates {
                guard let record = try storeCall({ try self.store.version(candidate) }) else { continue }
                if record.isRolledBack {
                    skipped.append("\"\(candidate)\" was rolled back")
                    continue
                }
                do {
                    try activateOnQueue(candidate, reason: .rollback, uid: uid, rollingBack: current.version)
                    chosen = candidate
                    break
                } catch let error as RegistryError {
                    skipped.append(error.description)
                }
            }
            guard chosen != nil else {
                throw RegistryError.nothingToRollBackTo(reason: candidates.isEmpty
                    ? "\"\(current.version)\" is the only version ever activated"
                    : "no earlier version can be served (\(skipped.joined(separator: "; ")))")
            }
        }
        refreshRecords()
        logger.notice("rolled back", metadata: ["from": "\(current.version)", "to": "\(active?.version ?? "")",
                                                 "uid": "\(uid)"])
        return active?.version ?? ""
    }

    /// Records the activation (with the rolled-back marks it implies, one transaction), then swaps the pointer. A
    /// failed write leaves the old model serving and nothing recorded. Any activation ends the wait of a version whose
    /// int8 check runs before its activation: an operator's choice or a newer version wins over it (its check stops),
    /// and that version's own activation ends it too. `followingPrecision`: see `install`.
    func commit(_ model: ActiveModel, reason: ActivationReason, uid: UInt32, clearingRolledBack: Bool = false,
                rollingBack: String? = nil, followingPrecision: Bool = true) throws {
        let previous = active?.version
        TestHooks.pause("activating \(model.version)")
        try storeCall {
            try self.store.recordActivation(version: model.version, reason: reason.rawValue, uid: uid,
                                            fingerprint: model.fingerprint, clearingRolledBack: clearingRolledBack,
                                            markingRolledBack: rollingBack)
        }
        TestHooks.pause("activated \(model.version)")
        let dropped = state.withLock { s -> ActiveModel? in
            defer { s.awaitingCheck = nil }
            return s.awaitingCheck
        }
        if let dropped, dropped.version != model.version {
            logger.notice("the version whose int8 check runs before its activation will not be activated: another version is",
                          metadata: ["version": "\(dropped.version)", "activated": "\(model.version)"])
        }
        install(ActiveModel(version: model.version, model: model.model, fingerprint: model.fingerprint, since: Date()),
                followingPrecision: followingPrecision)
        // A start-up fallback is over once anything else is chosen.
        if reason != .startup { state.withLock { $0.fallback = nil } }
        refreshRecords()
        logger.notice("model activated", metadata: [
            "version": "\(model.version)", "reason": "\(reason.rawValue)", "uid": "\(uid)",
            "previous": "\(previous ?? "none")",
        ])
        notifyHandlers(model.version)
    }

    /// Swaps the pointer; in int8 mode, an fp32 copy is then checked (or converted) in the background, unless
    /// `followingPrecision` is false (the copy that check or conversion made).
    func install(_ model: ActiveModel, followingPrecision: Bool = true) {
        state.withLock { s in
            s.active = model
            if s.onDemand?.version == model.version { s.onDemand = nil }
        }
        if followingPrecision { followPrecision(model) }
    }

    func notifyHandlers(_ version: String) {
        for handler in state.withLock({ $0.handlers }) { handler(version) }
    }
}
