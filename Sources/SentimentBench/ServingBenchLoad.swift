import Foundation
import SentimentOpenInference
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
/// next (cycling through the tweets from its own starting point), until `stop()`. Through the JSON-RPC socket, or
/// through the HTTP API's Unix socket as `tritonclient` sends it (Open Inference Protocol v2, the text and the
/// probabilities in the binary tensor extension) on a kept-alive connection: the same model, batcher and clients,
/// so the difference is what HTTP costs.
final class ServingBenchLoad: @unchecked Sendable {
    enum Transport {
        case jsonRPC
        case http(socket: String)
    }

    /// One client's connection and what it recorded; touched only by its thread until `stop()` joins it.
    final class Client {
        let index: Int
        var connection: UnixSocketClient?
        var http: RawHTTPConnection?
        var samples: [ServingBenchSample] = []
        var errors: [String] = []
        init(index: Int) { self.index = index }
    }

    let socketPath: String
    let transport: Transport
    let tweets: [String]
    let labelCount: Int
    let sightings: ServingBenchSightings
    private(set) var clients: [Client] = []
    private let group = DispatchGroup()
    private let lock = NSLock()
    private var stopping = false

    init(socketPath: String, transport: Transport = .jsonRPC, tweets: [String], clients count: Int, labelCount: Int,
         sightings: ServingBenchSightings) {
        self.socketPath = socketPath
        self.transport = transport
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
                try connect(client)
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
        for client in clients {
            client.connection?.close()
            client.http = nil
        }
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
                let result = try predict(text, client)
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
                if error is ClientConnectionError || error is RawHTTPConnection.Failure {
                    // Count it and carry on with a new connection, as a client library would.
                    client.connection?.close()
                    if (try? connect(client)) == nil { usleep(50_000) }
                }
            }
        }
    }

    private func connect(_ client: Client) throws {
        switch transport {
        case .jsonRPC: client.connection = try UnixSocketClient(path: socketPath, timeoutSeconds: 120)
        case let .http(socket): client.http = try RawHTTPConnection(unixPath: socket, timeout: 120)
        }
    }

    private func predict(_ text: String, _ client: Client) throws -> PredictMethod.Result {
        switch transport {
        case .jsonRPC:
            guard let connection = client.connection else { throw ClientConnectionError.closedByDaemon }
            return try connection.call(PredictMethod.self, .init(texts: [text]))
        case .http:
            guard let http = client.http else { throw RawHTTPConnection.Failure.closed(received: 0) }
            return try Self.inferOverHTTP(text, http)
        }
    }

    /// One `POST /v2/models/sentiment/infer` as tritonclient sends it: the text as a binary BYTES element, both
    /// outputs asked in binary; the answer read back into a predict result.
    static func inferOverHTTP(_ text: String, _ http: RawHTTPConnection) throws -> PredictMethod.Result {
        var data: [UInt8] = []
        BinaryTensorData.appendBytesElements([text], to: &data)
        let header = Array(("{\"inputs\":[{\"name\":\"text\",\"shape\":[1,1],\"datatype\":\"BYTES\","
            + "\"parameters\":{\"binary_data_size\":\(data.count)}}],\"outputs\":[{\"name\":\"probabilities\","
            + "\"parameters\":{\"binary_data\":true}},{\"name\":\"label\",\"parameters\":{\"binary_data\":true}}]}").utf8)
        let response = try http.request("POST", "/v2/models/sentiment/infer",
                                        headers: ["Inference-Header-Content-Length": String(header.count)],
                                        body: header + data)
        guard response.status == 200, let jsonLength = response.header("Inference-Header-Content-Length").flatMap(Int.init),
              jsonLength <= response.body.count,
              let json = try? JSONSerialization.jsonObject(with: Data(response.body[..<jsonLength])) as? [String: Any],
              let version = json["model_version"] as? String,
              let outputs = json["outputs"] as? [[String: Any]], outputs.count == 2,
              let shape = outputs[0]["shape"] as? [Int], shape.count == 2,
              let size = (outputs[0]["parameters"] as? [String: Any])?["binary_data_size"] as? Int,
              size == 4 * shape[1], jsonLength + size <= response.body.count else {
            throw ServingBenchError.badHTTPAnswer(status: response.status, body: String(response.text.prefix(300)))
        }
        let bytes = response.body
        let probabilities = try BinaryTensorData.decodeFP32(bytes[jsonLength..<(jsonLength + size)], path: "probabilities")
        let labels = try BinaryTensorData.decodeBytesElements(bytes[(jsonLength + size)...], path: "label")
        let label = labels.first.map { String(decoding: $0, as: UTF8.self) } ?? ""
        let best = probabilities.indices.max { probabilities[$0] < probabilities[$1] } ?? 0
        return PredictMethod.Result(model: version, labels: [], predictions: [
            .init(label: label, labelIndex: best, probabilities: probabilities, tokens: 0, truncated: false),
        ])
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
