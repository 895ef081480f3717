import Foundation
import SentimentProtocol
#if canImport(Glibc)
import Glibc
#endif

/// One answered (or failed) predict request of the serving benchmark. Times are `BenchClock` seconds.
struct ServingBenchSample {
    var start: Double
    var end: Double
    var ok: Bool
    var latency: Double { end - start }
}

/// Latency percentiles in milliseconds (nearest rank).
struct ServingBenchLatency: Codable {
    var count: Int
    var meanMs: Double
    var p50Ms: Double
    var p90Ms: Double
    var p99Ms: Double
    var maxMs: Double

    init?(seconds: [Double]) {
        guard !seconds.isEmpty else { return nil }
        let s = seconds.sorted()
        func rank(_ p: Double) -> Double { s[min(s.count - 1, max(0, Int((p * Double(s.count)).rounded(.up)) - 1))] * 1e3 }
        count = s.count
        meanMs = s.reduce(0, +) / Double(s.count) * 1e3
        p50Ms = rank(0.50)
        p90Ms = rank(0.90)
        p99Ms = rank(0.99)
        maxMs = s[s.count - 1] * 1e3
    }
}

/// CPU time of the whole machine, this process and the daemon, so each line can say how much of the two cores
/// other processes took (`other_cores`) and how the rest split between the daemon and the bench's own clients.
struct ServingBenchCPU {
    var time: Double
    var systemJiffies: Double
    var ownJiffies: Double
    var daemonJiffies: Double

    /// utime + stime of a process, all its threads, without reaped children (a daemon stopped between two
    /// snapshots must not show up as this process's time).
    static func processJiffies(_ pid: Int32) -> Double {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = s.lastIndex(of: ")") else { return 0 }
        let f = s[s.index(after: close)...].split(separator: " ")
        guard f.count > 12 else { return 0 }
        return (Double(f[11]) ?? 0) + (Double(f[12]) ?? 0)
    }

    static func snapshot(daemon: Int32?) -> ServingBenchCPU {
        ServingBenchCPU(time: BenchClock.now(), systemJiffies: BenchMeasure.busyJiffies().system,
                        ownJiffies: processJiffies(getpid()), daemonJiffies: daemon.map(processJiffies) ?? 0)
    }

    /// Cores used on average between two snapshots.
    struct Usage: Codable {
        var otherCores: Double
        var daemonCores: Double
        var benchCores: Double
    }

    static func usage(from a: ServingBenchCPU, to b: ServingBenchCPU) -> Usage {
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        let dt = max(b.time - a.time, 1e-9)
        let own = (b.ownJiffies - a.ownJiffies) / hz / dt
        let daemon = (b.daemonJiffies - a.daemonJiffies) / hz / dt
        let system = (b.systemJiffies - a.systemJiffies) / hz / dt
        return Usage(otherCores: max(0, system - own - daemon), daemonCores: daemon, benchCores: own)
    }
}

/// The first time each model version answered, as seen by any client.
final class ServingBenchSightings: @unchecked Sendable {
    private let lock = NSLock()
    private var first: [String: Double] = [:]

    func saw(_ version: String, at time: Double) {
        lock.lock()
        if first[version] == nil { first[version] = time }
        lock.unlock()
    }

    func firstSeen(_ version: String) -> Double? {
        lock.lock()
        defer { lock.unlock() }
        return first[version]
    }
}

/// Closed-loop clients: each on its own thread and connection sends one tweet, waits for the answer, sends the
/// next (cycling through the tweets from its own starting point), until `stop()`.
final class ServingBenchLoad: @unchecked Sendable {
    /// One client's connection and what it recorded; touched only by its thread until `stop()` joins it.
    final class Client {
        let index: Int
        var connection: UnixSocketClient?
        var samples: [ServingBenchSample] = []
        var errors: [String] = []
        init(index: Int) { self.index = index }
    }

    let socketPath: String
    let tweets: [String]
    let labelCount: Int
    let sightings: ServingBenchSightings
    private(set) var clients: [Client] = []
    private let group = DispatchGroup()
    private let lock = NSLock()
    private var stopping = false

    init(socketPath: String, tweets: [String], clients count: Int, labelCount: Int, sightings: ServingBenchSightings) {
        self.socketPath = socketPath
        self.tweets = tweets
        self.labelCount = labelCount
        self.sightings = sightings
        clients = (0..<count).map(Client.init)
    }

    private var shouldStop: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    /// Connects every client first (so connection set-up is outside the measurement), then starts them.
    func start() throws {
        for client in clients {
            do {
                client.connection = try UnixSocketClient(path: socketPath, timeoutSeconds: 120)
            } catch {
                throw ServingBenchError.clientCannotConnect(socket: socketPath, client: client.index, reason: "\(error)")
            }
        }
        for client in clients {
            group.enter()
            let thread = Thread { [self] in
                run(client)
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Stops every client after its request in flight is answered; returns all samples.
    @discardableResult
    func stop() -> [ServingBenchSample] {
        lock.lock()
        stopping = true
        lock.unlock()
        group.wait()
        for client in clients { client.connection?.close() }
        return clients.flatMap(\.samples)
    }

    var errorCount: Int { clients.reduce(0) { $0 + $1.samples.filter { !$0.ok }.count } }

    /// The first few distinct error messages.
    var errorMessages: [String] {
        var seen: [String] = []
        for client in clients {
            for e in client.errors where !seen.contains(e) && seen.count < 5 { seen.append(e) }
        }
        return seen
    }

    private func run(_ client: Client) {
        var next = client.index * tweets.count / max(1, clients.count)
        client.samples.reserveCapacity(4096)
        while !shouldStop {
            let text = tweets[next % tweets.count]
            next += 1
            let start = BenchClock.now()
            var ok = false
            do {
                guard let connection = client.connection else { throw ClientConnectionError.closedByDaemon }
                let result = try connection.call(PredictMethod.self, .init(texts: [text]))
                let end = BenchClock.now()
                sightings.saw(result.model, at: end)
                if let problem = Self.check(result, labelCount: labelCount) {
                    client.errors.append(problem)
                } else {
                    ok = true
                }
                client.samples.append(ServingBenchSample(start: start, end: end, ok: ok))
            } catch {
                client.samples.append(ServingBenchSample(start: start, end: BenchClock.now(), ok: false))
                client.errors.append("\(error)")
                if error is ClientConnectionError {
                    // Count it and carry on with a new connection, as a client library would.
                    client.connection?.close()
                    client.connection = try? UnixSocketClient(path: socketPath, timeoutSeconds: 120)
                    if client.connection == nil { usleep(50_000) }
                }
            }
        }
    }

    /// An answer counts only if it is one prediction with a probability per label that sum to 1.
    static func check(_ result: PredictMethod.Result, labelCount: Int) -> String? {
        guard result.predictions.count == 1, let p = result.predictions.first else {
            return "predict answered \(result.predictions.count) predictions for one text"
        }
        guard p.probabilities.count == labelCount, p.probabilities.allSatisfy(\.isFinite),
              abs(p.probabilities.reduce(0, +) - 1) < 1e-3 else {
            return "predict answered probabilities \(p.probabilities) (expected \(labelCount) summing to 1)"
        }
        return nil
    }
}
