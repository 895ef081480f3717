import Foundation
import SentimentProtocol

/// `ModelCatalog` over the `ModelRegistry`: the one file of the serving side that calls the registry.
final class RegistryCatalog: ModelCatalog, @unchecked Sendable {
    let registry: ModelRegistry

    /// `onActivation` runs after every activation the registry makes (startup, arrival, rollback, manual).
    init(registry: ModelRegistry, onActivation: @escaping @Sendable (String) -> Void) {
        self.registry = registry
        registry.onActivation(onActivation)
    }

    var active: ServingModel? {
        registry.active.map { ServingModel(version: $0.version, model: $0.model) }
    }

    var activeSince: Date? { registry.active?.since }

    func loadedModel(version: String) -> ServingModel? {
        registry.loadedModel(version: version).map { ServingModel(version: $0.version, model: $0.model) }
    }

    func loadModel(version: String) async throws -> ServingModel {
        do {
            let m = try await registry.loadModel(version: version)
            return ServingModel(version: m.version, model: m.model)
        } catch let RegistryError.unknownVersion(v) {
            throw RPCError.modelNotFound(version: v, reason: "the models directory has no such version (see `sentimentctl models`)")
        } catch {
            throw RPCError.modelNotFound(version: version, reason: "\(error)")
        }
    }

    func list() -> ModelsListMethod.Result {
        let versions = registry.list().map { info in
            ModelVersionSummary(
                version: info.version, state: Self.stateName(info.state.rawValue), reason: info.reason,
                arrivedAt: info.arrivedAt, lastActivatedAt: info.lastActivatedAt, rolledBackAt: info.rolledBackAt,
                manifestSHA256: info.manifestSHA256, family: info.family, labels: info.labels,
                precision: PrecisionStatus(serving: info.precision.serving?.rawValue, configured: registry.precision.rawValue,
                                           check: info.precision.check?.rawValue, reason: info.precision.reason,
                                           figures: info.precision.figures))
        }
        return .init(active: registry.active?.version, models: versions)
    }

    func activate(version: String, byUID: UInt32) async throws -> ActivationResult {
        let previous = registry.active?.version
        do {
            try await registry.activate(version: version, reason: .manual, byUID: byUID)
        } catch RegistryError.alreadyActive {
            // Asking for what is already served is not an error for a script.
        } catch {
            throw Self.map(error, version: version)
        }
        return ActivationResult(active: registry.active?.version ?? version, previous: previous)
    }

    func rollback(to version: String?, byUID: UInt32) async throws -> ActivationResult {
        let previous = registry.active?.version
        do {
            let now = try await registry.rollback(to: version, byUID: byUID)
            return ActivationResult(active: now, previous: previous)
        } catch {
            throw Self.map(error, version: version ?? "(previous version)")
        }
    }

    func rescan() async {
        await registry.rescan()
    }

    public var registryStatus: RegistryStatus? { registry.workStatus() }
    public var startupFallback: StartupFallbackStatus? { registry.startupFallback }

    static func map(_ error: Error, version: String) -> RPCError {
        switch error {
        case let RegistryError.unknownVersion(v):
            return .modelNotFound(version: v, reason: "the models directory has no such version (see `sentimentctl models`)")
        case let e as RegistryError:
            return .activationFailed(version: version, reason: e.description)
        default:
            return .activationFailed(version: version, reason: "\(error)")
        }
    }

    /// `rolledBack` -> `rolled_back`: the wire speaks snake_case.
    static func stateName(_ s: String) -> String {
        var out = ""
        for c in s {
            if c.isUppercase {
                out += "_" + c.lowercased()
            } else {
                out.append(c)
            }
        }
        return out
    }
}
