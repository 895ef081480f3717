import Foundation

/// WATCHDOG=1 comes from the serving path, not from a timer of its own: the batcher's worker loop calls `batcherBeat`
/// on every turn (at least every `beatInterval`), and the ping goes out only if the event loop has also beaten
/// recently and the model registry's queue is not stuck (`RegistryWatch`: no progress for
/// `models.validation_timeout`). So a wedged forward pass, a blocked event loop or a registry that can no longer
/// take a new version, roll back or stop stops the pings and systemd restarts the daemon.
final class ServingWatchdog: @unchecked Sendable {
    /// systemd's WatchdogSec, nil when the watchdog is off.
    let interval: Duration?
    /// How often the serving loops must beat: a quarter of the watchdog interval, at most one second.
    let beatInterval: Duration

    private let lock = NSLock()
    private var lastLoopBeat = ContinuousClock.now
    private var lastPing = ContinuousClock.now
    private let ping: @Sendable () -> Void
    private var registryStuck: @Sendable () -> Bool = { false }

    init(interval: Duration?, ping: @escaping @Sendable () -> Void = { Systemd.watchdogPing() }) {
        self.interval = interval
        self.ping = ping
        if let interval {
            beatInterval = min(.seconds(1), interval / 4)
        } else {
            beatInterval = .seconds(1)
        }
    }

    /// Also requires the registry's queue to make progress.
    func watchRegistry(_ isStuck: @escaping @Sendable () -> Bool) {
        lock.lock()
        registryStuck = isStuck
        lock.unlock()
    }

    /// From a task scheduled on the event loop.
    func eventLoopBeat() {
        lock.lock()
        lastLoopBeat = .now
        lock.unlock()
    }

    /// From the batcher's worker loop.
    func batcherBeat() {
        guard let interval else { return }
        let now = ContinuousClock.now
        lock.lock()
        let loopFresh = now - lastLoopBeat < interval / 2
        let due = now - lastPing >= beatInterval
        let registryStuck = self.registryStuck
        lock.unlock()
        guard loopFresh && due, !registryStuck() else { return }
        lock.lock()
        lastPing = now
        lock.unlock()
        ping()
    }
}
