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
    public var socketPath: String?
    public var modelsDirectory: String?
    public var databasePath: String?

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

public enum DaemonError: Error, CustomStringConvertible {
    case cannotCreateDirectory(path: String, setting: String, reason: String)
    case store(path: String, reason: String)
    case sentimentModel(value: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotCreateDirectory(path, setting, reason):
            return "\(path) (\(setting)): cannot create the directory: \(reason)"
        case let .store(path, reason): return "\(path) (store.database): cannot open the database: \(reason)"
        case let .sentimentModel(value, reason): return "SENTIMENT_MODEL=\(value): \(reason)"
        }
    }
}

/// The serving daemon: wires configuration, registry, batcher, router, socket server and systemd together, and runs
/// them as a swift-service-lifecycle service (SIGTERM/SIGINT drain and exit 0; SIGHUP reloads).
public final class Daemon: Service, @unchecked Sendable {
    public let configPath: String?
    private let overrides: ConfigOverrides
    private let sentimentModel: String?
    private let logger: Logger
    private let initialConfig: DaemonConfig
    private let reloadLock = AsyncSerialLock()

    /// - Parameters:
    ///   - config: the configuration read from `configPath` (or defaults), overrides not yet applied.
    ///   - sentimentModel: `SENTIMENT_MODEL`: a model folder (or a version name in the models directory) to serve.
    public init(config: DaemonConfig, configPath: String?, overrides: ConfigOverrides = .init(),
                sentimentModel: String? = nil, logger: Logger) {
        var config = config
        overrides.apply(to: &config)
        self.initialConfig = config
        self.configPath = configPath
        self.overrides = overrides
        self.sentimentModel = sentimentModel
        self.logger = logger
    }

    /// Runs until SIGTERM/SIGINT (drains, then returns) or a fatal error (throws).
    public func runUntilSignalled() async throws {
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: self, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger))
        try await group.run()
    }

    public func run() async throws {
        // SIGHUP's default action ends the process: ignore it from the start; a handler reloads once serving.
        signal(SIGHUP, SIG_IGN)
        let config = initialConfig
        DaemonLogging.level = config.logLevel
        let metrics = ServiceMetrics()
        let watchdog = ServingWatchdog(interval: Systemd.watchdogInterval())
        let batcher = Batcher(
            limits: Self.limits(config), heartbeatInterval: watchdog.beatInterval,
            observer: BatcherObserver(
                batchCompleted: { size, maxTokens, _, seconds in
                    metrics.batchCompleted(size: size, maxTokens: maxTokens, seconds: seconds)
                },
                queueWait: { metrics.queueWaited(seconds: $0) },
                heartbeat: { watchdog.batcherBeat() }),
            logger: logger)

        // Models and their history.
        try Self.makeDirectory(config.modelsDirectory, setting: "models.directory")
        try Self.makeDirectory((config.databasePath as NSString).deletingLastPathComponent, setting: "store.database")
        let store: VersionStore
        let labelStore: LabelStore
        let runStore: RunStore
        let backupStore: StoreBackup
        do {
            let databaseURL = URL(fileURLWithPath: config.databasePath)
            // One pool for the whole process (see StoreDatabase.checkBeforeOpening for why not two).
            let pool = try StoreDatabase.open(path: databaseURL)
            store = VersionStore(pool: pool)
            labelStore = LabelStore(pool: pool)
            runStore = RunStore(pool: pool)
            backupStore = StoreBackup(pool: pool)
        } catch {
            throw DaemonError.store(path: config.databasePath, reason: "\(error)")
        }
        let logger = self.logger
        let loader = ModelLoader(modelsDirectory: URL(fileURLWithPath: config.modelsDirectory),
                                 baseDirectories: config.baseDirectories.map { URL(fileURLWithPath: $0) })
        let registry = ModelRegistry(
            modelsDirectory: URL(fileURLWithPath: config.modelsDirectory), store: store,
            policy: config.activate == .newest ? .newest : .manual, settleMilliseconds: config.settleMilliseconds,
            loadPriority: config.loadPriority, logger: logger,
            loader: { try loader.load($0, options: ModelLoadOptions(packWeights: config.packWeights)) })
        let registryCatalog = RegistryCatalog(registry: registry) { version in
            metrics.activeModelChanged(to: version)
            Systemd.status("serving model \(version)")
            logger.notice("model active", metadata: ["model_version": "\(version)"])
        }
        try await registry.start()
        var catalog: ModelCatalog = registryCatalog
        if let sentimentModel, !sentimentModel.isEmpty {
            catalog = try await applySentimentModel(sentimentModel, config: config, registry: registry, loader: loader,
                                                    over: catalog)
        }
        metrics.activeModelChanged(to: catalog.active?.version)

        // Serving.
        let listenTarget: ListenTarget
        let activated = try Systemd.activationSockets()
        if let fd = activated.first {
            listenTarget = .activated(fd: fd)
            if activated.count > 1 {
                logger.warning("more than one socket passed; serving the first", metadata: ["count": "\(activated.count)"])
            }
        } else {
            listenTarget = .path(config.socketPath, mode: config.socketMode)
        }
        let socketDescription: String
        switch listenTarget {
        case let .path(p, _): socketDescription = p
        case let .activated(fd): socketDescription = "fd \(fd) from systemd (sentimentd.socket)"
        }
        let state = ServingState(config: config, configPath: configPath, socketDescription: socketDescription,
                                 catalog: catalog, batcher: batcher, metrics: metrics)
        let router = Router(authorizer: { state.authorizer })
        StandardMethods.register(on: router, state: state)

        // Labels and training.
        let everySeconds = config.training.everySeconds
        let coordinator = TrainingCoordinator(
            labels: labelStore, runs: runStore, config: { state.config }, catalog: catalog,
            modelsDirectory: URL(fileURLWithPath: config.modelsDirectory),
            databasePath: URL(fileURLWithPath: config.databasePath),
            baseDirectories: config.baseDirectories,
            workerExecutable: CurrentExecutable.url, logger: logger,
            tickSeconds: max(0.5, min(5, everySeconds / 2)))
        coordinator.recover()
        registry.onActivation { [weak coordinator] version in coordinator?.servingVersionChanged(to: version) }
        let labelService = LabelService(labels: labelStore, runs: runStore, config: { state.config },
                                        runInProgress: { coordinator.currentRunID }, logger: logger)
        labelService.register(on: router)
        coordinator.register(on: router)
        let backups = BackupService(store: backupStore, logger: logger)
        backups.register(on: router)
        // Versions prune themselves (`ModelRetention`): after every activation, on a timer, after a reload.
        let retention = ModelRetention(registry: registry, versions: store, runs: runStore, loader: loader,
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
        batcher.start()
        let loopBeat = eventLoops.next().scheduleRepeatedTask(initialDelay: .zero,
                                                             delay: .nanoseconds(Int64(watchdog.beatInterval.seconds * 1e9))) { _ in
            watchdog.eventLoopBeat()
        }
        do {
            try await server.start(listenTarget)
        } catch {
            loopBeat.cancel()
            batcher.drain()
            try? await eventLoops.shutdownGracefully()
            await registry.shutdown()
            throw error
        }
        logger.notice("serving", metadata: [
            "socket": "\(socketDescription)", "model_version": "\(catalog.active?.version ?? "-")",
            "models_directory": "\(config.modelsDirectory)",
        ])
        Systemd.ready(status: Self.statusLine(catalog))
        coordinator.start()
        labelService.start()
        backups.start()
        retention.start()

        // SIGHUP: reload. Dispatch delivers it; ServiceLifecycle handles TERM/INT.
        let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hup.setEventHandler {
            Task {
                do {
                    _ = try await state.reloadAction?()
                } catch {
                    // reload already logged why; the old configuration stays.
                }
            }
        }
        hup.resume()

        // Serve until a graceful shutdown is requested.
        try? await gracefulShutdown()

        hup.cancel()
        Systemd.stopping(status: "draining: finishing \(batcher.queuedTexts) queued texts")
        logger.notice("draining", metadata: ["queued_texts": "\(batcher.queuedTexts)", "connections": "\(state.openConnections)"])
        await server.drain()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                batcher.drain()
                done.resume()
            }
        }
        await server.waitForConnections(timeout: .seconds(10))
        await coordinator.shutdown()
        labelService.stop()
        backups.stop()
        retention.stop()
        loopBeat.cancel()
        try? await eventLoops.shutdownGracefully()
        await registry.shutdown()
        logger.notice("stopped")
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
                                     over catalog: ModelCatalog) async throws -> ModelCatalog {
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
            return catalog
        }
        guard FileManager.default.fileExists(atPath: folder.path) else {
            throw DaemonError.sentimentModel(value: value, reason: "no such folder")
        }
        let model: SentimentModel
        do {
            model = try loader.load(folder, options: ModelLoadOptions(packWeights: config.packWeights))
        } catch {
            throw DaemonError.sentimentModel(value: value, reason: "\(error)")
        }
        logger.notice("serving SENTIMENT_MODEL, pinned in front of the registry",
                      metadata: ["model_version": "\(folder.lastPathComponent)", "folder": "\(folder.path)"])
        return PinnedCatalog(pinned: ServingModel(version: folder.lastPathComponent, model: model), over: catalog)
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
