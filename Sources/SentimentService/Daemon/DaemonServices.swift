import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix

// The parts the daemon runs (`ServiceSequence`), each with what it does at start-up and at graceful shutdown.
// Their order is in `Daemon.makeServices`.

/// The model registry (its startup scan, the first version it serves or the previous good one when that cannot be
/// loaded, its watcher of the models directory), and then `SENTIMENT_MODEL`. Stopped last: the active model stays
/// readable until then.
struct ModelsService: DaemonService {
    let name = "models"
    let registry: ModelRegistry
    let catalog: ModelCatalog
    let metrics: ServiceMetrics
    let logger: Logger
    /// Applies SENTIMENT_MODEL once the registry has started (nil: the variable is not set).
    let applySentimentModel: (@Sendable () async throws -> Void)?

    func start() async throws {
        try await registry.start()
        metrics.startupFallback(registry.startupFallback)
        // A SENTIMENT_MODEL that cannot be served is an error in the log, not a daemon that will not start (a
        // restart loop): the registry's choice serves instead.
        do {
            try await applySentimentModel?()
        } catch {
            logger.error("SENTIMENT_MODEL cannot be served; serving the models directory's active version instead",
                         metadata: ["error": "\(error)", "model_version": "\(catalog.active?.version ?? "none")"])
        }
        metrics.activeModelChanged(to: catalog.active?.version)
    }

    func stop() async {
        await registry.shutdown()
    }
}

/// Training runs: start-up recovery of what a previous daemon left unfinished (before any client can start a run),
/// then the schedule. Stopping cancels a run in progress and waits for its worker.
struct TrainingService: DaemonService {
    let name = "training"
    let coordinator: TrainingCoordinator

    func start() async throws {
        coordinator.recover()
        coordinator.start()
    }

    func stop() async {
        await coordinator.shutdown()
    }
}

/// The sweep that abandons label imports left idle.
struct LabelImportSweepService: DaemonService {
    let name = "label-imports"
    let labels: LabelService

    func start() async throws { labels.start() }
    func stop() async { labels.stop() }
}

/// Database copies for `backup.*`: the sweep of idle ones; stopping removes every copy (after the connections that
/// read them are closed).
struct BackupsService: DaemonService {
    let name = "backups"
    let backups: BackupService

    func start() async throws { backups.start() }
    func stop() async { backups.stop() }
}

/// Versions prune themselves (`ModelRetention`): at start (after emptying a removal's leftovers), on a timer and
/// after every activation.
struct RetentionService: DaemonService {
    let name = "retention"
    let retention: ModelRetention

    func start() async throws { retention.start() }
    func stop() async { retention.stop() }
}

/// The socket server's event loop thread, shut down once every connection is closed.
struct EventLoopService: DaemonService {
    let name = "event-loop"
    let group: MultiThreadedEventLoopGroup

    func start() async throws {}

    func stop() async {
        try? await group.shutdownGracefully()
    }
}

/// The event loop's beat for the serving watchdog (`ServingWatchdog`: WATCHDOG=1 goes out from the batcher's loop only
/// while the event loop beats too).
final class WatchdogService: DaemonService, @unchecked Sendable {
    let name = "watchdog"
    private let watchdog: ServingWatchdog
    private let eventLoop: EventLoop
    private let beat = LockedBox<RepeatedTask?>(nil)

    init(watchdog: ServingWatchdog, eventLoop: EventLoop) {
        self.watchdog = watchdog
        self.eventLoop = eventLoop
    }

    func start() async throws {
        let watchdog = self.watchdog
        beat.value = eventLoop.scheduleRepeatedTask(initialDelay: .zero,
                                                    delay: .nanoseconds(Int64(watchdog.beatInterval.seconds * 1e9))) { _ in
            watchdog.eventLoopBeat()
        }
    }

    func stop() async {
        beat.value?.cancel()
    }
}

/// The open connections: at shutdown, they close once their answers are out (stragglers after 10 s).
struct ConnectionsService: DaemonService {
    let name = "connections"
    let server: SocketServer

    func start() async throws {}

    func stop() async {
        await server.waitForConnections(timeout: .seconds(10))
    }
}

/// The batcher's worker thread. Stopping runs every text still queued.
struct BatcherService: DaemonService {
    let name = "batcher"
    let batcher: Batcher

    func start() async throws {
        batcher.start()
    }

    func stop() async {
        let batcher = self.batcher
        // drain() blocks until the last batch is done: not on a cooperative thread.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                batcher.drain()
                done.resume()
            }
        }
    }
}

/// The listening socket. Stopping closes it (the socket file goes) and tells every connection to finish the
/// requests it has sent; requests after that are answered "shutting down".
struct ListenerService: DaemonService {
    let name = "listener"
    let server: SocketServer
    let target: ListenTarget

    func start() async throws {
        try await server.start(target)
    }

    func stop() async {
        await server.drain()
    }
}

/// READY=1 once everything before it has started; STOPPING=1 first thing at shutdown.
struct ReadinessService: DaemonService {
    let name = "readiness"
    let state: ServingState
    let logger: Logger

    func start() async throws {
        let config = state.config
        logger.notice("serving", metadata: [
            "socket": "\(state.socketDescription)", "model_version": "\(state.catalog.active?.version ?? "-")",
            "models_directory": "\(config.modelsDirectory)",
        ])
        Systemd.ready(status: Daemon.statusLine(state.catalog))
    }

    func stop() async {
        let queued = state.batcher.queuedTexts
        Systemd.stopping(status: "draining: finishing \(queued) queued texts")
        logger.notice("draining", metadata: ["queued_texts": "\(queued)", "connections": "\(state.openConnections)"])
    }
}

/// SIGHUP reloads (re-reads the configuration, rescans the models directory) while the daemon serves. The signal is
/// ignored from the start of the process (its default action ends it); Dispatch delivers it here.
final class HangupService: DaemonService, @unchecked Sendable {
    let name = "sighup"
    private let reload: @Sendable () async throws -> Void
    private let source = LockedBox<DispatchSourceSignal?>(nil)

    init(reload: @escaping @Sendable () async throws -> Void) {
        self.reload = reload
    }

    func start() async throws {
        let reload = self.reload
        let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hup.setEventHandler {
            // A failed reload has logged why; the running configuration stays.
            Task { try? await reload() }
        }
        hup.resume()
        source.value = hup
    }

    func stop() async {
        source.value?.cancel()
    }
}

/// The listeners of the front ends beside the socket (`FrontEnd`: the HTTP one): they accept after the JSON-RPC socket
/// listens; stopping stops accepting and lets requests in progress finish.
struct FrontEndListenerService: DaemonService {
    let name = "front-end-listeners"
    let frontEnds: [any FrontEnd]

    func start() async throws {
        for frontEnd in frontEnds { try await frontEnd.start() }
    }

    func stop() async {
        for frontEnd in frontEnds { await frontEnd.drain() }
    }
}

/// The front ends' open connections: at shutdown, they close once their answers are out (stragglers after 10 s).
struct FrontEndConnectionsService: DaemonService {
    let name = "front-end-connections"
    let frontEnds: [any FrontEnd]

    func start() async throws {}

    func stop() async {
        for frontEnd in frontEnds { await frontEnd.waitForConnections(timeout: .seconds(10)) }
    }
}
