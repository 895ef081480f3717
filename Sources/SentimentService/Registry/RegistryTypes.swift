import Foundation
import SentimentCore
import SentimentEngine

/// What the registry does with a valid arrival (`[models] activate` in the config).
enum ActivationPolicy: String, Sendable {
    /// Each valid arrival (a new folder, or changed files) becomes active, unless it was rolled back.
    case newest
    /// Arrivals are validated and recorded; only `activate` and `rollback` change what is served.
    case manual
}

/// Why a version became active; kept in the activation history.
enum ActivationReason: String, Sendable, Codable {
    /// Chosen at start because the last active version was gone or invalid (or there was none).
    case startup
    /// A valid arrival under policy `newest`.
    case arrival
    case rollback
    case manual
}

/// A loaded version. A batch keeps the `ActiveModel` it started with, so a swap never changes the model under
/// it, and the old model's memory goes when the last batch holding it finishes.
struct ActiveModel: Sendable {
    let version: String
    let model: SentimentModel
    /// Fingerprint of the folder's files when this copy was loaded.
    let fingerprint: String
    /// When this copy became active (or was loaded, for a non-active version).
    let since: Date

    init(version: String, model: SentimentModel, fingerprint: String, since: Date = Date()) {
        self.version = version
        self.model = model
        self.fingerprint = fingerprint
        self.since = since
    }
}

/// One version as `models.list` shows it.
struct ModelVersionInfo: Sendable, Codable, Equatable {
    enum State: String, Sendable, Codable {
        /// Serving unqualified predictions.
        case active
        /// Valid; can be activated.
        case available
        /// Failed validation (see `reason`); never served.
        case rejected
        /// Valid, but rolled back from: an arrival or restart never activates it; `activate` or `rollback --to` can.
        case rolledBack
        /// New or changed files being validated (with int8 configured, and another version serving: or checked for
        /// int8 before they are activated).
        case loading
        /// The folder is gone.
        case removed
    }

    let version: String
    let state: State
    /// Why it was rejected; for an active version whose folder changed or vanished, what is being served instead.
    let reason: String?
    let firstSeen: Date
    /// When the current files arrived.
    let arrivedAt: Date
    let lastActivatedAt: Date?
    let rolledBackAt: Date?
    /// See `CheckpointFolder`: size, mtime and inode of every file.
    let fingerprint: String
    /// SHA-256 of the folder's manifest `sentimentd.json` (nil without one).
    let manifestSHA256: String?
    let family: String?
    let labels: [String]?
    /// The precision it serves in, and its int8 check.
    var precision: VersionPrecision = VersionPrecision()
}

/// The precision of one version as `models.list` and `status` show it (see `ModelRegistry+Precision`).
struct VersionPrecision: Sendable, Equatable, Codable {
    enum Check: String, Sendable, Codable {
        case checking, passed, failed
    }

    /// What its copy in memory computes in; nil when it is not in memory.
    var serving: Precision?
    /// The int8 check of its current files (nil: none ran, or none applies).
    var check: Check?
    /// Why it serves (or would serve) fp32 although int8 is configured.
    var reason: String?
    /// The last check of its current files.
    var figures: Int8CheckRecord?

    init(serving: Precision? = nil, check: Check? = nil, reason: String? = nil, figures: Int8CheckRecord? = nil) {
        self.serving = serving
        self.check = check
        self.reason = reason
        self.figures = figures
    }
}

enum RegistryError: Error, Equatable, CustomStringConvertible {
    case unknownVersion(String)
    case rejected(version: String, reason: String)
    /// The version's files are being validated; try again shortly.
    case notReady(version: String)
    case removed(version: String)
    case alreadyActive(version: String)
    case nothingToRollBackTo(reason: String)
    case modelsDirectoryUnavailable(path: String, reason: String)
    case database(reason: String)
    case notStarted
    case alreadyStarted

    var description: String {
        switch self {
        case let .unknownVersion(v):
            return "no model version \"\(v)\" (a version is a folder name in the models directory; see `sentimentctl models`)"
        case let .rejected(v, reason): return "model version \"\(v)\" was rejected: \(reason)"
        case let .notReady(v): return "model version \"\(v)\" is still being validated; try again in a moment"
        case let .removed(v): return "model version \"\(v)\" is no longer in the models directory"
        case let .alreadyActive(v): return "model version \"\(v)\" is already active"
        case let .nothingToRollBackTo(reason): return "nothing to roll back to: \(reason)"
        case let .modelsDirectoryUnavailable(path, reason): return "\(path): models directory unusable: \(reason)"
        case let .database(reason): return "model registry database error: \(reason)"
        case .notStarted: return "the model registry has not been started"
        case .alreadyStarted: return "the model registry was already started"
        }
    }
}
