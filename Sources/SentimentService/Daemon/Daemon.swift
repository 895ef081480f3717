import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import SentimentEngine
import SentimentProtocol
import SentimentStore
import ServiceLifecycle
import SentimentCore

/// Command-line settings that win over the configuration file, also after a reload.
public struct ConfigOverrides: Sendable, Equatable {
    var socketPath: String?
    var modelsDirectory: String?
    var databasePath: String?

    public init(socketPath: String? = nil, modelsDirectory: String? = nil, databasePath: String? = nil) {
        self.socketPath = socketPath
        self.modelsDirectory = modelsDirectory
        self.databasePath = databasePath
    }

    func apply(to config: inout DaemonConfig) {
        if let socketPath { config.socketPath = socketPath }
        if let modelsDirectory { config.modelsDirectory = modelsDirectory }
        if let databasePath { config.databasePath = databasePath }
    }
}

enum DaemonError: Error, CustomStringConvertible {
    case cannotCreateDirectory(path: String, setting: String, reason: String)
    case store(path: String, reason: String)
    case sentimentModel(value: String, reason: String)

    var description: String {
        switch self {
        case let .cannotCreateDirectory(path, setting, reason):
            return "\(path) (\(setting)): cannot create the directory: \(reason)"
        case let .store(path, reason): return "\(path) (store.database): cannot open the database: \(reason)"
        case let .sentimentModel(value, reason): return "SENTIMENT_MODEL=\(value): \(reason)"
        }
    }
}

/// The serving daemon: builds and wires configuration, stores, registry, batcher, router, socket server, training
/// and systemd glue, then runs them as parts of one swift-service-lifecycle `ServiceGroup` (`ServiceSequence`):
/// SIGTERM/SIGINT drain and return; SIGHUP reloads.
public final class Daemon: @unchecked Sendable {
    let configPath: String?
    private let overrides: ConfigOverrides
    private let sentimentModel: String?
    private let frontEnds: [FrontEndFactory]
    private let logger: Logger
    private let initialConfig: DaemonConfig
    private let reloadLock = AsyncSerialLock()

    /// - Parameters:
    ///   - config: the configuration read from `configPath` (or defaults), overrides not yet applied.
    ///   - sentimentModel: `SENTIMENT_MODEL`: a model folder (or a version name in the models directory) to serve.
    ///   - frontEnds: ways in beside the JSON-RPC socket (the HTTP front end), built once serving is wired.
    public init(config: DaemonConfig, configPath: String?, overrides: ConfigOverrides = .init(),
                sentimentModel: String? = nil, frontEnds: [FrontEndFactory] = [], logger: Logger) {
        var config = config
        overrides.apply(to: &config)
        self.initialConfig = config
        self.configPath = configPath
        self.overrides = overrides
        self.sentimentModel = sentimentModel
        self.frontEnds = frontEnds
        self.logger = logger
    }

    /// Runs until SIGTERM/SIGINT (drains, then returns) or a fatal error (throws, after stopping what had started).
    public func runUntilSignalled() async throws {
        // SIGHUP's default action ends the process: ignore it from the start; a handler reloads once serving.
        signal(SIGHUP, SIG_IGN)
        DaemonLogging.level = initialConfig.logLevel
        try await ServiceSequence(parts: try makeServices()).makeGroup(logger: logger).run()
        logger.notice("stopped")
    }

    /// Everything the daemon runs, built and wired but not started, in start-up order. Graceful shutdown stops them in
    /// the reverse order: STOPPING=1, stop accepting, finish the queued texts, close the connections (their answers
    /// out), stop the event loop, stop pruning, remove the backup copies, stop training (a run in progress is
    /// cancelled), stop the registry.
    private func makeServices() throws -> [any DaemonService] {
        let config = initialConfig
        let logger = self.logger
        let metrics = ServiceMetrics()
        let watchdog = ServingWatchdog(interval: Systemd.watchdogInterval())
        let batcher = Self.makeBatcher(config, metrics: metrics, watchdog: watchdog, logger: logger)
        let stores = try Self.openStores(config)
        let loader = ModelLoader(modelsDirectory: URL(fileURLWithPath: config.modelsDirectory),
                                 baseDirectories: config.baseDirectories.map { URL(fileURLWithPath: $0) })
        // int8: a version is loaded in fp32 to be validated and checked, unpacked (that copy is replaced by the int8
        // one, or packed if its check fails); a version whose check passed loads straight into int8.
        let int8Check = config.precision == .int8
            ? Int8Check(tolerance: config.int8Tolerance, evaluationTexts: { try stores.labels.evalSet().map { ($0.text, $0.label) } })
            : nil
        let baseDirectories = config.baseDirectories.map { URL(fileURLWithPath: $0) }
        let registry = ModelRegistry(
            modelsDirectory: URL(fileURLWithPath: config.modelsDirectory), store: stores.versions,
            policy: config.activate == .newest ? .newest : .manual, settleMilliseconds: config.settleMilliseconds,
            loadPriority: config.loadPriority, precision: config.precision, int8Check: int8Check,
            packAfterFailedCheck: config.packWeights,
            validation: .process(executable: CurrentExecutable.url, baseDirectories: baseDirectories),
            validationTimeout: config.validationTimeoutSeconds, logger: logger,
            loader: { url, precision, digests in
                let started = ContinuousClock.now
                let model = try loader.load(url, options: ModelLoadOptions(packWeights: config.packWeights && config.precision == .fp32,
                                                                           precision: precision),
                                            expecting: digests)
                metrics.modelLoaded(seconds: (ContinuousClock.now - started).seconds)
                return model
            })
        watchdog.watchRegistry { registry.watch.check().state == "stuck" }
        registry.onRejection { metrics.versionRejected(reason: $0) }
        // SENTIMENT_MODEL naming a folder outside the models directory pins it in front of the registry.
        let catalog = PinnedCatalog(over: RegistryCatalog(registry: registry) { version in
            metrics.activeModelChanged(to: version)
            metrics.startupFallback(registry.startupFallback)
            Systemd.status("serving model \(version)")
            logger.notice("model active", metadata: ["model_version": "\(version)"])
        })
        let listen = try Self.listenTarget(config, logger: logger)
        let state = ServingState(config: config, configPath: configPath, socketDescription: listen.description,
                                 catalog: catalog, batcher: batcher, metrics: metrics)
        let router = Router(authorizer: { state.authorizer })
        StandardMethods.register(on: router, state: state)

        // Labels and training.
        let coordinator = TrainingCoordinator(
            labels: stores.labels, runs: stores.runs, config: { state.config }, catalog: catalog,
            modelsDirectory: URL(fileURLWithPath: config.modelsDirectory),
            databasePath: URL(fileURLWithPath: config.databasePath),
            baseDirectories: config.baseDirectories,
            workerExecutable: CurrentExecutable.url, logger: logger,
            tickSeconds: max(0.5, min(5, config.training.everySeconds / 2)))
        coordinator.onRunEnded = { metrics.trainingRunEnded(outcome: $0) }
        registry.onActivation { [weak coordinator] version in coordinator?.servingVersionChanged(to: version) }
        let labelService = LabelService(labels: stores.labels, runs: stores.runs, config: { state.config },
                                        runInProgress: { coordinator.currentRunID }, logger: logger)
        labelService.register(on: router)
        coordinator.register(on: router)
        let backups = BackupService(store: stores.backups, logger: logger)
        backups.register(on: router)
        stores.tokens.register(on: router)
        // Versions prune themselves (`ModelRetention`): after every activation, on a timer, after a reload.
        let retention = ModelRetention(registry: registry, versions: stores.versions, runs: stores.runs, loader: loader,
                                       config: { state.config }, logger: logger)
        retention.register(on: router)
        state.modelListAnnotation = { retention.annotate(&$0) }
        state.reloadAction = { [self] in
            let result = try await self.reload(state: state)
            await retention.prune()
            return result
        }

        let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = SocketServer(group: eventLoops, router: router, state: state, logger: logger)
        var applySentimentModel: (@Sendable () async throws -> Void)?
        if let value = sentimentModel, !value.isEmpty {
            applySentimentModel = { [self] in
                try await self.applySentimentModel(value, config: config, registry: registry, loader: loader,
                                                   catalog: catalog)
            }
        }
        // Front ends beside the JSON-RPC socket (HTTP): each listens after the JSON-RPC socket, stops accepting
        // before it, and its connections close with the socket's.
        let context = FrontEndContext(state: state, router: router, tokens: stores.tokens, activated: listen.forHTTP,
                                      eventLoopGroup: eventLoops, logger: logger)
        let frontEnds = try self.frontEnds.compactMap { try $0(context) }
        return [
            ModelsService(registry: registry, catalog: catalog, metrics: metrics, logger: logger,
                          applySentimentModel: applySentimentModel),
            TrainingService(coordinator: coordinator),
            LabelImportSweepService(labels: labelService),
            BackupsService(backups: backups),
            RetentionService(retention: retention),
            EventLoopService(group: eventLoops),
            WatchdogService(watchdog: watchdog, eventLoop: eventLoops.next()),
            ConnectionsService(server: server),
            FrontEndConnectionsService(frontEnds: frontEnds),
            BatcherService(batcher: batcher),
            ListenerService(server: server, target: listen.target),
            FrontEndListenerService(frontEnds: frontEnds),
            ReadinessService(state: state, logger: logger),
            HangupService { _ = try await state.reloadAction?() },
        ]
    }

    private static func makeBatcher(_ config: DaemonConfig, metrics: ServiceMetrics, watchdog: ServingWatchdog,
                                    logger: Logger) -> Batcher {
        Batcher(
            limits: limits(config), heartbeatInterval: watchdog.beatInterval,
            observer: BatcherObserver(
                batchCompleted: { size, maxTokens, _, seconds in
                    metrics.batchCompleted(size: size, maxTokens: maxTokens, seconds: seconds)
                },
                queueWait: { metrics.queueWaited(seconds: $0) },
                heartbeat: { watchdog.batcherBeat() },
                nonFiniteOutput: { metrics.nonFiniteOutput(version: $0) }),
            logger: logger)
    }

    /// The models directory, the database's folder, and one database pool for the whole process (see
    /// StoreDatabase.checkBeforeOpening for why not two).
    private static func openStores(_ config: DaemonConfig) throws
        -> (versions: VersionStore, labels: LabelStore, runs: RunStore, backups: StoreBackup, tokens: TokenAuthority) {
        try makeDirectory(config.modelsDirectory, setting: "models.directory")
        try makeDirectory((config.databasePath as NSString).deletingLastPathComponent, setting: "store.database")
        do {
            let pool = try StoreDatabase.open(path: URL(fileURLWithPath: config.databasePath))
            return (VersionStore(pool: pool), LabelStore(pool: pool), RunStore(pool: pool), StoreBackup(pool: pool),
                    try TokenAuthority(store: TokenStore(pool: pool)))
        } catch {
            throw DaemonError.store(path: config.databasePath, reason: "\(error)")
        }
    }

    /// The socket systemd passed (socket activation), else the configured path; and the passed sockets that are
    /// HTTP's: named "http" (sentimentd-http.socket), or the Unix socket bound at server.http_socket.
    private static func listenTarget(_ config: DaemonConfig, logger: Logger) throws
        -> (target: ListenTarget, description: String, forHTTP: [ActivatedSocket]) {
        var activated = try Systemd.activationSockets()
        let forHTTP = activated.filter {
            $0.name == ActivatedSocket.httpName || ($0.unixPath != nil && $0.unixPath == config.httpSocketPath)
        }
        activated.removeAll { forHTTP.contains($0) }
        guard let socket = activated.first else {
            return (.path(config.socketPath, mode: config.socketMode), config.socketPath, forHTTP)
        }
        guard socket.isUnix else { throw SystemdError.notUnixStreamListener(fd: socket.fd) }
        if activated.count > 1 {
            logger.warning("more than one socket passed for JSON-RPC; serving the first",
                           metadata: ["count": "\(activated.count)"])
        }
        return (.activated(fd: socket.fd), "fd \(socket.fd) from systemd (sentimentd.socket)", forHTTP)
    }

    /// SIGHUP and `reload`: re-read the file (a bad one is rejected, the running configuration kept), apply what can
    /// change at run time, rescan the models directory. Serialised: two reloads never interleave.
    func reload(state: ServingState) async throws -> ReloadMethod.Result {
        try await reloadLock.run {
            Systemd.reloading(status: "reloading: configuration and models directory")
            logger.notice("reloading", metadata: ["config_file": "\(configPath ?? "-")"])
            defer { Systemd.ready(status: Self.statusLine(state.catalog)) }
            var needsRestart: [String] = []
            if let configPath {
                var fresh: DaemonConfig
                do {
                    fresh = try ConfigFile.load(path: configPath)
                } catch {
                    logger.error("configuration rejected; keeping the running one", metadata: ["error": "\(error)"])
                    throw RPCError.configRejected("\(error)")
                }
                overrides.apply(to: &fresh)
                let current = state.config
                needsRestart = fresh.restartOnlyDifferences(from: current)
                fresh.keepRestartOnlySettings(of: current)
                state.config = fresh
                state.batcher.updateLimits(Self.limits(fresh))
                DaemonLogging.level = fresh.logLevel
                if !needsRestart.isEmpty {
                    logger.warning("some changed settings take effect only after a restart",
                                   metadata: ["settings": "\(needsRestart.joined(separator: ","))"])
                }
            }
            await state.catalog.rescan()
            return ReloadMethod.Result(configFile: configPath, needsRestart: needsRestart,
                                       active: state.catalog.active?.version)
        }
    }

    /// SENTIMENT_MODEL: a version name in the models directory or a folder inside it is activated (and recorded, so a
    /// restart without the variable keeps it); a folder elsewhere is loaded and pinned in front of the registry.
    private func applySentimentModel(_ value: String, config: DaemonConfig, registry: ModelRegistry, loader: ModelLoader,
                                     catalog: PinnedCatalog) async throws {
        let modelsDir = URL(fileURLWithPath: config.modelsDirectory).standardizedFileURL.resolvingSymlinksInPath()
        let looksLikePath = value.contains("/") || value == "." || value == ".."
        let folder = looksLikePath ? URL(fileURLWithPath: value).standardizedFileURL.resolvingSymlinksInPath()
                                   : modelsDir.appendingPathComponent(value)
        if folder.deletingLastPathComponent().path == modelsDir.path {
            let version = folder.lastPathComponent
            if catalog.active?.version != version {
                do {
                    try await registry.activate(version: version, reason: .manual, byUID: getuid())
                } catch {
                    throw DaemonError.sentimentModel(value: value, reason: "cannot activate version \(version): \(error)")
                }
            }
            return
        }
        guard FileManager.default.fileExists(atPath: folder.path) else {
            throw DaemonError.sentimentModel(value: value, reason: "no such folder")
        }
        // Checked like any arrival (in a validation process), then loaded from the bytes that were checked.
        let model: SentimentModel
        do {
            let checkpoint = try CheckpointFolder.read(version: folder.lastPathComponent, in: folder.deletingLastPathComponent())
            let validator = CheckpointValidator(
                loader: { url, _, digests in try loader.load(url, options: ModelLoadOptions(packWeights: config.packWeights), expecting: digests) },
                isolation: .process(executable: CurrentExecutable.url,
                                    baseDirectories: config.baseDirectories.map { URL(fileURLWithPath: $0) }),
                stallLimit: config.validationTimeoutSeconds)
            model = try validator.validate(checkpoint, whileServing: false, modelsDirectory: folder.deletingLastPathComponent(),
                                           watch: nil, logger: logger, isStopping: { false }).model
        } catch {
            throw DaemonError.sentimentModel(value: value, reason: "\(error)")
        }
        logger.notice("serving SENTIMENT_MODEL, pinned in front of the registry",
                      metadata: ["model_version": "\(folder.lastPathComponent)", "folder": "\(folder.path)"])
        catalog.pin(ServingModel(version: folder.lastPathComponent, model: model))
    }

    static func limits(_ config: DaemonConfig) -> BatchLimits {
        BatchLimits(maxBatch: config.maxBatch, maxDelay: .milliseconds(config.maxDelayMilliseconds),
                    maxQueuedTexts: config.maxQueuedTexts)
    }

    static func statusLine(_ catalog: ModelCatalog) -> String {
        if let active = catalog.active { return "serving model \(active.version)" }
        return "no model loaded: waiting for a checkpoint in the models directory"
    }

    static func makeDirectory(_ path: String, setting: String) throws {
        guard !path.isEmpty, !FileManager.default.fileExists(atPath: path) else { return }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw DaemonError.cannotCreateDirectory(path: path, setting: setting, reason: error.localizedDescription)
        }
    }
}

/// Runs async bodies one at a time, in arrival order.
actor AsyncSerialLock {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if busy {
            await withCheckedContinuation { waiters.append($0) }
        }
        busy = true
        defer {
            if waiters.isEmpty { busy = false } else { waiters.removeFirst().resume() }
        }
        return try await body()
    }
}
