import Foundation
import SentimentCore
import SentimentProtocol

/// What the request handlers share: the models, the batcher, the live configuration, counters.
package final class ServingState: @unchecked Sendable {
    package enum Phase: String, Sendable {
        case serving
        case draining
    }

    package let catalog: ModelCatalog
    package let batcher: Batcher
    package let metrics: ServiceMetrics
    /// The file the configuration was read from; nil when running on defaults.
    let configPath: String?
    /// Where clients connect (the bound path, or the activated socket's description).
    let socketDescription: String
    package let daemonUID: UInt32
    let startedAt = Date()
    /// Who holds which connection slots, shared by every front end (JSON-RPC and HTTP), so the limits hold over
    /// all of a uid's connections.
    package let ledger = ConnectionLedger()

    private let configBox: LockedBox<DaemonConfig>
    private let phaseBox = LockedBox(Phase.serving)
    private let counters = LockedBox((requests: UInt64(0), texts: UInt64(0), connections: 0))
    private let reloadBox = LockedBox<(@Sendable () async throws -> ReloadMethod.Result)?>(nil)
    private let annotationBox = LockedBox<(@Sendable (inout ModelsListMethod.Result) -> Void)?>(nil)

    init(config: DaemonConfig, configPath: String?, socketDescription: String, catalog: ModelCatalog,
         batcher: Batcher, metrics: ServiceMetrics, daemonUID: UInt32 = getuid()) {
        self.configBox = LockedBox(config)
        self.configPath = configPath
        self.socketDescription = socketDescription
        self.catalog = catalog
        self.batcher = batcher
        self.metrics = metrics
        self.daemonUID = daemonUID
    }

    package var config: DaemonConfig {
        get { configBox.value }
        set { configBox.value = newValue }
    }

    package var phase: Phase {
        get { phaseBox.value }
        set { phaseBox.value = newValue }
    }

    /// The role rule of the configuration in force.
    package var authorizer: Authorizer { Authorizer(config: config, daemonUID: daemonUID) }

    /// What `reload` (and SIGHUP) does; set by the daemon.
    var reloadAction: (@Sendable () async throws -> ReloadMethod.Result)? {
        get { reloadBox.value }
        set { reloadBox.value = newValue }
    }

    /// What the daemon adds to `models.list` beyond the catalog's view (disk use, pins, retention); set by the daemon.
    public var modelListAnnotation: (@Sendable (inout ModelsListMethod.Result) -> Void)? {
        get { annotationBox.value }
        set { annotationBox.value = newValue }
    }

    /// `models.list`: the catalog's versions, annotated.
    public func listModels() -> ModelsListMethod.Result {
        var result = catalog.list()
        modelListAnnotation?(&result)
        return result
    }

    package func requestAnswered(texts: Int) {
        counters.withLock {
            $0.requests += 1
            $0.texts += UInt64(texts)
        }
    }

    package func connectionOpened() -> Int {
        counters.withLock {
            $0.connections += 1
            return $0.connections
        }
    }

    package func connectionClosed() -> Int {
        counters.withLock {
            $0.connections -= 1
            return $0.connections
        }
    }

    var openConnections: Int { counters.value.connections }

    func status() -> StatusMethod.Result {
        let c = counters.value
        let config = self.config
        let active = catalog.active
        let state: String
        switch phase {
        case .draining: state = "draining"
        case .serving: state = active == nil ? "no_model" : "serving"
        }
        return StatusMethod.Result(
            state: state, daemonVersion: SentimentVersion.current, pid: getpid(), uid: daemonUID,
            uptimeSeconds: Date().timeIntervalSince(startedAt), activeModel: active?.version,
            activeSince: active == nil ? nil : catalog.activeSince, labels: active?.model.config.id2label,
            maxTokens: active?.model.maxLength, policy: config.activate.rawValue,
            modelsDirectory: config.modelsDirectory, socket: socketDescription, connections: c.connections,
            queuedTexts: batcher.queuedTexts, requestsServed: c.requests, textsPredicted: c.texts,
            maxBatch: config.maxBatch, maxDelayMilliseconds: config.maxDelayMilliseconds, configFile: configPath,
            precision: active.map { active in
                catalog.list().models.first { $0.version == active.version }?.precision
                    ?? PrecisionStatus(serving: active.model.precision.rawValue, configured: config.precision.rawValue)
            },
            registry: catalog.registryStatus, fallback: catalog.startupFallback)
    }
}
