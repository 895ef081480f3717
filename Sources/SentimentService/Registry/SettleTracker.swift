/// Debounce of folder activity: a name is due once nothing touched it for `settleNanoseconds`.
/// Pure state, driven by the watcher with monotonic times, so its rules are testable without sleeping.
struct SettleTracker: Sendable {
    let settleNanoseconds: UInt64
    private(set) var deadlines: [String: UInt64] = [:]

    init(settleMilliseconds: Int) {
        settleNanoseconds = UInt64(max(0, settleMilliseconds)) * 1_000_000
    }

    /// Something changed in (or about) `name` at `now`: its quiet period starts again.
    mutating func touch(_ name: String, at now: UInt64) {
        deadlines[name] = now + settleNanoseconds
    }

    /// The earliest moment something becomes due, if anything is pending.
    var nextDeadline: UInt64? { deadlines.values.min() }

    /// Removes and returns (sorted) the names whose quiet period has passed at `now`.
    mutating func takeDue(at now: UInt64) -> [String] {
        let due = deadlines.filter { $0.value <= now }.map(\.key).sorted()
        for name in due { deadlines[name] = nil }
        return due
    }

    var isIdle: Bool { deadlines.isEmpty }
}
