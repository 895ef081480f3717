import Foundation

/// WATCHDOG=1 comes from the serving path, not from a timer of its own: the batcher's worker loop calls `batcherBeat`
/// on every turn (at least every `beatInterval`), and the ping goes out only if the event loop has also beaten
/// recently. So a wedged forward pass or a blocked event loop stops the pings and systemd restarts the daemon.
final class ServingWatchdog: @unchecked Sendable {
    /// systemd's WatchdogSec, nil when the watchdog is off.
    let interval: Duration?
    /// How often the serving loops must beat: a quarter of the watchdog interval, at most one second.
    let beatInterval: Duration

    private let lock = NSLock()
    private var lastLoopBeat = ContinuousClock.now
    private var lastPing = ContinuousClock.now
    private let ping: @Sendable () -> Void

    init(interval: Duration?, ping: @escaping @Sendable () -> Void = { Systemd.watchdogPing() }) {
        self.interval = interval
        self.ping = ping
        if let interval {
            beatInterval = min(.seconds(1), interval / 4)
        } else {
            beatInterval = .seconds(1)
        }
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
        if loopFresh && due { lastPing = now }
        lock.unlock()
        if loopFresh && due { ping() }
    }
}
