import Foundation
import SentimentProtocol

/// What the router needs from the model registry. `RegistryCatalog` adapts `ModelRegistry` to it; the seam keeps
/// the server testable with a fixed model and keeps every registry call in one file.
package protocol ModelCatalog: Sendable {
    /// The version unqualified predictions go to.
    var active: ServingModel? { get }
    /// When the active version became active (nil when unknown).
    var activeSince: Date? { get }
    /// A version by name for `predict {"model": V}`, only if it is in memory: never loads (safe on an event loop).
    func loadedModel(version: String) -> ServingModel?
    /// A version by name, loading it off the caller's thread when it is not in memory. Throws `RPCError`.
    func loadModel(version: String) async throws -> ServingModel
    func list() -> ModelsListMethod.Result
    func activate(version: String, byUID: UInt32) async throws -> ActivationResult
    func rollback(to version: String?, byUID: UInt32) async throws -> ActivationResult
    /// Look at the models directory again (SIGHUP, `reload`).
    func rescan() async
    /// What the registry's queue is doing (nil: no registry).
    var registryStatus: RegistryStatus? { get }
    /// Set when the version active before the last start could not be served.
    var startupFallback: StartupFallbackStatus? { get }
}

extension ModelCatalog {
    public var registryStatus: RegistryStatus? { nil }
    public var startupFallback: StartupFallbackStatus? { nil }
}

/// A catalog of one model that never changes: for `SENTIMENT_MODEL` pointing outside the models directory layered
/// over the registry (see `PinnedCatalog`), and for tests.
final class FixedCatalog: ModelCatalog, @unchecked Sendable {
    private let serving: ServingModel
    private let since = Date()

    init(_ serving: ServingModel) { self.serving = serving }

    var active: ServingModel? { serving }
    var activeSince: Date? { since }

    func loadedModel(version: String) -> ServingModel? { version == serving.version ? serving : nil }

    func loadModel(version: String) async throws -> ServingModel {
        guard let m = loadedModel(version: version) else { throw RPCError.modelNotFound(version: version, reason: nil) }
        return m
    }

    func list() -> ModelsListMethod.Result {
        .init(active: serving.version, models: [.init(version: serving.version, state: "active", arrivedAt: since,
                                                   lastActivatedAt: since, labels: serving.model.config.id2label)])
    }

    func activate(version: String, byUID: UInt32) async throws -> ActivationResult {
        guard version == serving.version else { throw RPCError.modelNotFound(version: version, reason: nil) }
        return ActivationResult(active: version, previous: version)
    }

    func rollback(to version: String?, byUID: UInt32) async throws -> ActivationResult {
        throw RPCError.activationFailed(version: version ?? "(previous)",
                                        reason: "the daemon serves one fixed model; there is nothing to roll back to")
    }

    func rescan() async {}
}

/// `SENTIMENT_MODEL` naming a folder outside the models directory: that model answers unqualified predictions
/// until an administrator activates or rolls back to a registry version, which ends the pin. Everything else is
/// the registry's; with no pin (the daemon pins at start-up, when SENTIMENT_MODEL says so), everything is.
final class PinnedCatalog: ModelCatalog, @unchecked Sendable {
    private let base: ModelCatalog
    private let pin: LockedBox<(ServingModel, Date)?>

    init(pinned: ServingModel? = nil, over base: ModelCatalog) {
        self.base = base
        self.pin = LockedBox(pinned.map { ($0, Date()) })
    }

    /// Serves `pinned` for unqualified predictions from now on.
    func pin(_ pinned: ServingModel) {
        pin.value = (pinned, Date())
    }

    var active: ServingModel? { pin.value?.0 ?? base.active }
    var activeSince: Date? { pin.value?.1 ?? base.activeSince }

    func loadedModel(version: String) -> ServingModel? {
        if let (p, _) = pin.value, p.version == version { return p }
        return base.loadedModel(version: version)
    }

    func loadModel(version: String) async throws -> ServingModel {
        if let (p, _) = pin.value, p.version == version { return p }
        return try await base.loadModel(version: version)
    }

    func list() -> ModelsListMethod.Result {
        var result = base.list()
        if let (p, since) = pin.value {
            result.active = p.version
            result.models.removeAll { $0.version == p.version }
            result.models = result.models.map { m in
                var m = m
                if m.state == "active" { m.state = "available" }
                return m
            }
            result.models.insert(.init(version: p.version, state: "active",
                                       reason: "pinned by SENTIMENT_MODEL (outside the models directory)",
                                       arrivedAt: since, lastActivatedAt: since,
                                       labels: p.model.config.id2label), at: 0)
        }
        return result
    }

    func activate(version: String, byUID: UInt32) async throws -> ActivationResult {
        let previous = pin.value?.0.version
        var result = try await base.activate(version: version, byUID: byUID)
        if let previous {
            pin.value = nil
            result.previous = previous
        }
        return result
    }

    func rollback(to version: String?, byUID: UInt32) async throws -> ActivationResult {
        if let (p, _) = pin.value {
            // Rolling back from the pin means: serve what the registry serves (or the named version).
            if let version {
                var result = try await base.activate(version: version, byUID: byUID)
                pin.value = nil
                result.previous = p.version
                return result
            }
            guard let registryActive = base.active else {
                throw RPCError.activationFailed(version: "(previous)", reason: "the registry has no version to go back to")
            }
            pin.value = nil
            return ActivationResult(active: registryActive.version, previous: p.version)
        }
        return try await base.rollback(to: version, byUID: byUID)
    }

    func rescan() async { await base.rescan() }
    var registryStatus: RegistryStatus? { base.registryStatus }
    var startupFallback: StartupFallbackStatus? { base.startupFallback }
}
