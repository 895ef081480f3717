import Foundation
import Logging
import ServiceLifecycle

/// One long-running part of the daemon (the registry, the batcher, the socket listener, …): what it does to start
/// and what it does when the daemon shuts down.
protocol DaemonService: Sendable {
    /// The part's name in the group's logs.
    var name: String { get }
    /// Returns once the part does its job (the registry serves a version, the socket accepts connections). A throw
    /// stops the daemon: the parts already started are stopped, the later ones never start.
    func start() async throws
    /// Graceful shutdown: returns once the part has finished what it had in hand.
    func stop() async
}

/// The daemon's parts as one swift-service-lifecycle `ServiceGroup`, in the order of `parts`:
///
/// - start-up: each part starts once every part before it has started, so the list is the start-up order;
/// - graceful shutdown (SIGTERM, SIGINT, or a part failing): the group stops the parts one at a time in the reverse
///   order, each after the one after it has finished stopping; a part not started yet does not start.
///
/// Each part runs as a `Service` whose `run()` is: wait for its turn, `start()`, wait for graceful shutdown, `stop()`.
struct ServiceSequence {
    let parts: [any DaemonService]

    /// `handlingSignals`: SIGTERM and SIGINT start the graceful shutdown (false for tests, which call
    /// `triggerGracefulShutdown`).
    func makeGroup(logger: Logger, handlingSignals: Bool = true) -> ServiceGroup {
        let turns = StartupTurns()
        let services = parts.enumerated().map { index, part in
            ServiceGroupConfiguration.ServiceConfiguration(
                service: SequencedService(part: part, index: index, turns: turns),
                successTerminationBehavior: .gracefullyShutdownGroup,
                failureTerminationBehavior: .gracefullyShutdownGroup)
        }
        return ServiceGroup(configuration: .init(services: services,
                                                 gracefulShutdownSignals: handlingSignals ? [.sigterm, .sigint] : [],
                                                 cancellationSignals: [], logger: logger))
    }
}

/// A part in the group. It returns only after its own graceful shutdown was asked for, and never starts once that
/// has happened.
private struct SequencedService: Service, CustomStringConvertible {
    let part: any DaemonService
    let index: Int
    let turns: StartupTurns

    var description: String { part.name }

    func run() async throws {
        // Only this part's own graceful shutdown makes it give up waiting (the group takes a part that returns
        // before it was asked to for a failure).
        let mayStart = await withGracefulShutdownHandler {
            await turns.wait(for: index)
        } onGracefulShutdown: {
            turns.giveUp(index)
        }
        guard mayStart else { return }
        try await part.start()
        turns.started(index)
        try? await gracefulShutdown()
        await part.stop()
    }
}

/// Whose turn it is to start: part `i` may start once parts `0..<i` have.
final class StartupTurns: @unchecked Sendable {
    private let lock = NSLock()
    private var startedCount = 0
    private var waiting: [Int: CheckedContinuation<Bool, Never>] = [:]
    private var gaveUp: Set<Int> = []

    /// True once every part before `index` has started; false when `giveUp(index)` comes first.
    func wait(for index: Int) async -> Bool {
        await withCheckedContinuation { continuation in
            lock.lock()
            if gaveUp.contains(index) {
                lock.unlock()
                continuation.resume(returning: false)
            } else if startedCount == index {
                lock.unlock()
                continuation.resume(returning: true)
            } else {
                waiting[index] = continuation
                lock.unlock()
            }
        }
    }

    /// Part `index` will not start (its graceful shutdown came first).
    func giveUp(_ index: Int) {
        lock.lock()
        gaveUp.insert(index)
        let continuation = waiting.removeValue(forKey: index)
        lock.unlock()
        continuation?.resume(returning: false)
    }

    /// Part `index` has started: the next one's turn.
    func started(_ index: Int) {
        lock.lock()
        startedCount = index + 1
        let continuation = waiting.removeValue(forKey: index + 1)
        lock.unlock()
        continuation?.resume(returning: true)
    }
}
