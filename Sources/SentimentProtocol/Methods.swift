import Foundation
import SentimentCore

/// One JSON-RPC method: its name, its parameter and result types, and the role a caller needs (`Role`; the daemon
/// checks it on every request and answers `RPCError.unauthorised` otherwise).
///
/// New methods (labels.*, train, runs) are new conforming types; both executables pick them up by type.
public protocol RPCMethod {
    associatedtype Params: Codable & Sendable
    associatedtype Result: Codable & Sendable
    static var name: String { get }
    static var requiredRole: Role { get }
}

/// Params of methods that take none. Decodes from an absent `params`, `{}` or `[]`.
public struct NoParams: Codable, Sendable, Equatable {
    public init() {}
    public init(from decoder: Decoder) throws {}
    public func encode(to encoder: Encoder) throws {
        _ = encoder.container(keyedBy: AnyKey.self)
    }
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

// MARK: - predict

public enum PredictMethod: RPCMethod {
    public static let name = "predict"
    public static let requiredRole = Role.reader

    public struct Params: Codable, Sendable, Equatable {
        public var texts: [String]
        /// A version to ask instead of the active one. Any caller may name a version that is in memory (the active
        /// one, or the one kept for comparisons); loading another one needs the admin role.
        public var model: String?
        public init(texts: [String], model: String? = nil) {
            self.texts = texts
            self.model = model
        }
    }

    public struct Result: Codable, Sendable, Equatable {
        /// The version that answered.
        public var model: String
        /// Label names by class index; `probabilities` of every prediction is indexed the same way.
        public var labels: [String]
        public var predictions: [Prediction]
        public init(model: String, labels: [String], predictions: [Prediction]) {
            self.model = model
            self.labels = labels
            self.predictions = predictions
        }
    }

    public struct Prediction: Codable, Sendable, Equatable {
        public var label: String
        public var labelIndex: Int
        /// One probability per label, in the order of `Result.labels`; they sum to 1.
        public var probabilities: [Float]
        /// Tokens the model saw, special tokens included (after truncation to the model's maximum).
        public var tokens: Int
        public var truncated: Bool

        enum CodingKeys: String, CodingKey {
            case label
            case labelIndex = "label_index"
            case probabilities, tokens, truncated
        }

        public init(label: String, labelIndex: Int, probabilities: [Float], tokens: Int, truncated: Bool) {
            self.label = label
            self.labelIndex = labelIndex
            self.probabilities = probabilities
            self.tokens = tokens
            self.truncated = truncated
        }
    }
}

// MARK: - status

public enum StatusMethod: RPCMethod {
    public static let name = "status"
    public static let requiredRole = Role.reader
    public typealias Params = NoParams

    public struct Result: Codable, Sendable, Equatable {
        /// `serving`, `no_model` or `draining`.
        public var state: String
        public var daemonVersion: String
        public var pid: Int32
        public var uid: UInt32
        public var uptimeSeconds: Double
        /// The version unqualified predictions go to, nil when none is loaded.
        public var activeModel: String?
        public var activeSince: Date?
        public var labels: [String]?
        public var maxTokens: Int?
        public var policy: String
        public var modelsDirectory: String
        public var socket: String
        public var connections: Int
        public var queuedTexts: Int
        public var requestsServed: UInt64
        public var textsPredicted: UInt64
        public var maxBatch: Int
        public var maxDelayMilliseconds: Int
        public var configFile: String?
        /// The active version's precision and int8 check.
        public var precision: PrecisionStatus?
        /// What the model registry is doing (validating, loading) and whether it makes progress.
        public var registry: RegistryStatus?
        /// Set when the version active before the last start could not be served and another one is.
        public var fallback: StartupFallbackStatus?

        enum CodingKeys: String, CodingKey {
            case precision, registry, fallback
            case state
            case daemonVersion = "daemon_version"
            case pid, uid
            case uptimeSeconds = "uptime_seconds"
            case activeModel = "active_model"
            case activeSince = "active_since"
            case labels
            case maxTokens = "max_tokens"
            case policy
            case modelsDirectory = "models_directory"
            case socket, connections
            case queuedTexts = "queued_texts"
            case requestsServed = "requests_served"
            case textsPredicted = "texts_predicted"
            case maxBatch = "max_batch"
            case maxDelayMilliseconds = "max_delay_ms"
            case configFile = "config_file"
        }

        public init(state: String, daemonVersion: String, pid: Int32, uid: UInt32, uptimeSeconds: Double,
                    activeModel: String?, activeSince: Date?, labels: [String]?, maxTokens: Int?, policy: String,
                    modelsDirectory: String, socket: String, connections: Int, queuedTexts: Int,
                    requestsServed: UInt64, textsPredicted: UInt64, maxBatch: Int, maxDelayMilliseconds: Int,
                    configFile: String?, precision: PrecisionStatus? = nil, registry: RegistryStatus? = nil,
                    fallback: StartupFallbackStatus? = nil) {
            self.precision = precision
            self.registry = registry
            self.fallback = fallback
            self.state = state
            self.daemonVersion = daemonVersion
            self.pid = pid
            self.uid = uid
            self.uptimeSeconds = uptimeSeconds
            self.activeModel = activeModel
            self.activeSince = activeSince
            self.labels = labels
            self.maxTokens = maxTokens
            self.policy = policy
            self.modelsDirectory = modelsDirectory
            self.socket = socket
            self.connections = connections
            self.queuedTexts = queuedTexts
            self.requestsServed = requestsServed
            self.textsPredicted = textsPredicted
            self.maxBatch = maxBatch
            self.maxDelayMilliseconds = maxDelayMilliseconds
            self.configFile = configFile
        }
    }
}

// MARK: - models.list

/// One model version as the registry knows it.
public struct ModelVersionSummary: Codable, Sendable, Equatable {
    public var version: String
    /// `active`, `available`, `rejected`, `rolled_back`, `loading` or `removed`.
    public var state: String
    /// Why a version was rejected (or what is served instead of a vanished active one); nil otherwise.
    public var reason: String?
    /// When its current files arrived.
    public var arrivedAt: Date?
    public var lastActivatedAt: Date?
    public var rolledBackAt: Date?
    /// SHA-256 of the folder's manifest (`sentimentd.json`), when it has one.
    public var manifestSHA256: String?
    public var family: String?
    public var labels: [String]?
    /// Disk space of the folder (allocated blocks of every file in it, as `du` counts), nil when it is gone.
    public var diskBytes: Int64?
    /// The training run that published it (its manifest says so), nil for a folder copied in.
    public var run: Int64?
    public var pinned: Bool?
    /// Why retention keeps it, or what it will do with it ("active", "rollback target", "pinned", "newest 3 runs",
    /// "beyond keep = 3: removed at the next pass", ...).
    public var retention: [String]?
    /// The precision it serves in and its int8 check (nil from a daemon that has no int8).
    public var precision: PrecisionStatus?

    enum CodingKeys: String, CodingKey {
        case version, state, reason
        case arrivedAt = "arrived_at"
        case lastActivatedAt = "last_activated_at"
        case rolledBackAt = "rolled_back_at"
        case manifestSHA256 = "manifest_sha256"
        case family, labels, run, pinned, retention, precision
        case diskBytes = "disk_bytes"
    }

    public init(version: String, state: String, reason: String? = nil, arrivedAt: Date? = nil,
                lastActivatedAt: Date? = nil, rolledBackAt: Date? = nil, manifestSHA256: String? = nil,
                family: String? = nil, labels: [String]? = nil, precision: PrecisionStatus? = nil) {
        self.precision = precision
        self.version = version
        self.state = state
        self.reason = reason
        self.arrivedAt = arrivedAt
        self.lastActivatedAt = lastActivatedAt
        self.rolledBackAt = rolledBackAt
        self.manifestSHA256 = manifestSHA256
        self.family = family
        self.labels = labels
    }
}

/// The precision a version serves in (`[models] precision`) and its int8 check: in `models.list` per version, in
/// `status` for the active one.
public struct PrecisionStatus: Codable, Sendable, Equatable {
    /// `fp32` or `int8`: what the version's copy in memory computes in; nil when it is not in memory.
    public var serving: String?
    /// `models.precision`: what versions serve in once their int8 check passes.
    public var configured: String
    /// The int8 check of its current files: `checking`, `passed`, `failed`; nil when none ran (fp32 configured, or
    /// not checked yet: a version is checked when it is activated).
    public var check: String?
    /// Why it serves fp32 although int8 is configured (its check runs, or failed and why).
    public var reason: String?
    /// The last check's figures, nil before one finished.
    public var figures: Int8CheckRecord?

    enum CodingKeys: String, CodingKey {
        case serving, configured, check, reason, figures
    }

    public init(serving: String?, configured: String, check: String? = nil, reason: String? = nil,
                figures: Int8CheckRecord? = nil) {
        self.serving = serving
        self.configured = configured
        self.check = check
        self.reason = reason
        self.figures = figures
    }
}

public enum ModelsListMethod: RPCMethod {
    public static let name = "models.list"
    public static let requiredRole = Role.reader
    public typealias Params = NoParams

    public struct Result: Codable, Sendable, Equatable {
        public var active: String?
        public var models: [ModelVersionSummary]
        /// `models.keep`: how many training runs' versions retention keeps.
        public var keep: Int?
        /// Disk space of every version folder, and of models/.quarantine.
        public var diskBytes: Int64?
        public var quarantineBytes: Int64?

        enum CodingKeys: String, CodingKey {
            case active, models, keep
            case diskBytes = "disk_bytes"
            case quarantineBytes = "quarantine_bytes"
        }

        public init(active: String?, models: [ModelVersionSummary], keep: Int? = nil, diskBytes: Int64? = nil,
                    quarantineBytes: Int64? = nil) {
            self.active = active
            self.models = models
            self.keep = keep
            self.diskBytes = diskBytes
            self.quarantineBytes = quarantineBytes
        }
    }
}

// MARK: - models.activate, rollback

/// What state-changing model methods answer: the version now serving.
public struct ActivationResult: Codable, Sendable, Equatable {
    public var active: String
    public var previous: String?
    public init(active: String, previous: String?) {
        self.active = active
        self.previous = previous
    }
}

public enum ModelsActivateMethod: RPCMethod {
    public static let name = "models.activate"
    public static let requiredRole = Role.admin

    public struct Params: Codable, Sendable, Equatable {
        public var version: String
        public init(version: String) { self.version = version }
    }
    public typealias Result = ActivationResult
}

public enum RollbackMethod: RPCMethod {
    public static let name = "rollback"
    public static let requiredRole = Role.admin

    public struct Params: Codable, Sendable, Equatable {
        /// The version to go back to; nil means the one active before the current one.
        public var to: String?
        public init(to: String? = nil) { self.to = to }
    }
    public typealias Result = ActivationResult
}

// MARK: - reload

public enum ReloadMethod: RPCMethod {
    public static let name = "reload"
    public static let requiredRole = Role.admin
    public typealias Params = NoParams

    public struct Result: Codable, Sendable, Equatable {
        /// The configuration file that was read again (nil when running on defaults).
        public var configFile: String?
        /// Settings that changed but take effect only after a restart (socket path, models directory, ...).
        public var needsRestart: [String]
        public var active: String?

        enum CodingKeys: String, CodingKey {
            case configFile = "config_file"
            case needsRestart = "needs_restart"
            case active
        }

        public init(configFile: String?, needsRestart: [String], active: String?) {
            self.configFile = configFile
            self.needsRestart = needsRestart
            self.active = active
        }
    }
}

// MARK: - metrics

public enum MetricsMethod: RPCMethod {
    public static let name = "metrics"
    public static let requiredRole = Role.reader
    public typealias Params = NoParams

    public struct Result: Codable, Sendable, Equatable {
        /// Prometheus text exposition format, version 0.0.4.
        public var text: String
        public init(text: String) { self.text = text }
    }
}

extension RPCRequest {
    /// A request for a typed method.
    public init<M: RPCMethod>(_ method: M.Type, id: RPCID?, params: M.Params) throws {
        self.init(id: id, method: M.name, params: try JSONValue(encoding: params))
    }
}

/// `status.registry`: the model registry's queue.
public struct RegistryStatus: Codable, Sendable, Equatable {
    /// `idle`, `working`, or `stuck` (no progress for `models.validation_timeout`: the watchdog stops pinging).
    public var state: String
    /// What it works on ("validating v2", "loading v2").
    public var task: String?
    public var busySeconds: Double?
    public var noProgressSeconds: Double?

    public init(state: String, task: String? = nil, busySeconds: Double? = nil, noProgressSeconds: Double? = nil) {
        self.state = state
        self.task = task
        self.busySeconds = busySeconds
        self.noProgressSeconds = noProgressSeconds
    }

    enum CodingKeys: String, CodingKey {
        case state, task
        case busySeconds = "busy_seconds"
        case noProgressSeconds = "no_progress_seconds"
    }
}

/// `status.fallback`: the version active before the last start could not be loaded; another one serves.
public struct StartupFallbackStatus: Codable, Sendable, Equatable {
    /// The version that was active.
    public var from: String
    public var reason: String
    /// What serves instead (nil: nothing could be).
    public var serving: String?
    public var since: Date

    public init(from: String, reason: String, serving: String?, since: Date) {
        self.from = from
        self.reason = reason
        self.serving = serving
        self.since = since
    }
}
