import Foundation
import SentimentEngine
import SentimentProtocol
@testable import SentimentService
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Tests that start the real `sentimentd` binary and talk to it over its socket.
final class DaemonServingTests: XCTestCase {
    static let texts = [
        "I love this so much!",
        "This is the worst service I have ever had.",
        "The meeting is at 3pm.",
        "@user meh http",
        "😀🔥 ok",
        "",
        String(repeating: "very long text that goes on and on ", count: 40),
        "Café crème, naïve façade — déjà vu.",
    ]

    private func startDaemon(batching: [String: String] = [:], server: [String: String] = [:]) throws -> DaemonProcess {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess(serverSettings: server, batching: batching)
        try daemon.installModel(version: "v1")
        try daemon.start()
        return daemon
    }

    private func assertSame(_ got: PredictMethod.Prediction, _ expected: Prediction, _ message: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.label, expected.label, message, file: file, line: line)
        XCTAssertEqual(got.labelIndex, expected.labelIndex, message, file: file, line: line)
        XCTAssertEqual(got.probabilities.count, expected.probabilities.count, message, file: file, line: line)
        for (a, b) in zip(got.probabilities, expected.probabilities) {
            XCTAssertEqual(a, b, accuracy: 1e-5, message, file: file, line: line)
        }
    }

    func testPredictThroughTheSocket_equalsInProcessPredict() throws {
        let daemon = try startDaemon()
        let model = try SentimentModel.load(folder: daemon.modelsDirectory.appendingPathComponent("v1"))
        let expected = model.predict(Self.texts)
        let client = try daemon.client()
        let result = try client.call(PredictMethod.self, .init(texts: Self.texts))
        XCTAssertEqual(result.model, "v1")
        XCTAssertEqual(result.labels, model.config.id2label)
        XCTAssertEqual(result.predictions.count, Self.texts.count)
        for (i, (got, want)) in zip(result.predictions, expected).enumerated() {
            assertSame(got, want, "text \(i)")
            XCTAssertEqual(got.tokens, model.encode(Self.texts[i]).count, "text \(i)")
            XCTAssertEqual(abs(got.probabilities.reduce(0, +) - 1), 0, accuracy: 1e-4)
        }
        XCTAssertTrue(result.predictions[6].truncated, "the long text fills the model's maximum length")
        XCTAssertFalse(result.predictions[0].truncated)
        // The same text alone gives the same answer as within a batch.
        let single = try client.call(PredictMethod.self, .init(texts: [Self.texts[1]], model: "v1"))
        assertSame(single.predictions[0], expected[1], "single")
        XCTAssertEqual(try daemon.stop(), 0)
    }

    func testThirtyTwoConcurrentClients_allGetCorrectAnswers() throws {
        let daemon = try startDaemon(batching: ["max_batch": "16", "max_delay_ms": "2"])
        let model = try SentimentModel.load(folder: daemon.modelsDirectory.appendingPathComponent("v1"))
        let pool = Self.texts + (0..<24).map { "client text number \($0) " + String(repeating: "x ", count: $0) }
        let expected = Dictionary(uniqueKeysWithValues: zip(pool, model.predict(pool)).map { ($0.0, $0.1) })
        let failures = LockedBox<[String]>([])
        let answered = LockedBox(0)
        concurrently(32) { client in
            do {
                let connection = try daemon.client()
                for round in 0..<8 {
                    let n = 1 + (client + round) % 4
                    let texts = (0..<n).map { pool[(client * 7 + round * 3 + $0) % pool.count] }
                    let result = try connection.call(PredictMethod.self, .init(texts: texts))
                    for (text, p) in zip(texts, result.predictions) {
                        let want = expected[text]!
                        if p.label != want.label
                            || zip(p.probabilities, want.probabilities).contains(where: { abs($0 - $1) > 1e-5 }) {
                            failures.withLock { $0.append("client \(client) round \(round): \(text)") }
                        }
                    }
                    answered.withLock { $0 += 1 }
                }
            } catch {
                failures.withLock { $0.append("client \(client): \(error)") }
            }
        }
        XCTAssertEqual(failures.value, [])
        XCTAssertEqual(answered.value, 32 * 8)
        // The batcher did batch: fewer batches than texts.
        let metrics = try daemon.client().call(MetricsMethod.self, NoParams()).text
        let batches = Self.metricValue(metrics, "sentimentd_batch_size_count")
        let texts = Self.metricValue(metrics, "sentimentd_batch_size_sum")
        XCTAssertNotNil(batches)
        if let batches, let texts {
            XCTAssertLessThan(batches, texts, "no batching happened:\n\(metrics)")
        }
        XCTAssertEqual(try daemon.stop(), 0)
    }

    static func metricValue(_ text: String, _ name: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") || line.hasPrefix(name + "{") {
            return Double(line.split(separator: " ").last!)
        }
        return nil
    }

    /// Sends raw lines and reads one response per expected answer.
    private func exchange(_ client: UnixSocketClient, _ raw: String) throws -> RPCResponse {
        try client.send(raw: Array(raw.utf8))
        return try RPCResponse.parse(line: client.receiveLine())
    }

    private func errorCode(_ r: RPCResponse) -> Int? {
        if case let .failure(_, e) = r { return e.code }
        return nil
    }

    func testProtocolErrors_areAnsweredAndTheConnectionGoesOn() throws {
        let daemon = try startDaemon(server: ["request_line_bytes": "2048", "max_texts": "4", "max_text_chars": "100"])
        let c = try daemon.client()

        // Oversized line: answered with request_too_large, then the next request on the same connection works.
        let big = #"{"jsonrpc":"2.0","id":1,"method":"predict","params":{"texts":[""# + String(repeating: "a", count: 5000) + "\"]}}\n"
        let tooLarge = try exchange(c, big)
        XCTAssertEqual(errorCode(tooLarge), RPCErrorCode.requestTooLarge.rawValue)
        XCTAssertEqual(tooLarge.id, .null)
        XCTAssertEqual(try c.call(StatusMethod.self, NoParams()).activeModel, "v1")

        let malformed = try exchange(c, "{this is not json\n")
        XCTAssertEqual(errorCode(malformed), -32700)
        XCTAssertEqual(malformed.id, .null)

        let unknown = try exchange(c, #"{"jsonrpc":"2.0","id":"u1","method":"frobnicate"}"# + "\n")
        XCTAssertEqual(errorCode(unknown), -32601)
        XCTAssertEqual(unknown.id, .string("u1"))

        let badParams = try exchange(c, #"{"jsonrpc":"2.0","id":2,"method":"predict","params":{"texts":"one"}}"# + "\n")
        XCTAssertEqual(errorCode(badParams), -32602)

        let invalid = try exchange(c, #"{"jsonrpc":"2.0","id":3}"# + "\n")
        XCTAssertEqual(errorCode(invalid), -32600)
        XCTAssertEqual(invalid.id, .int(3))

        // A notification gets no answer, a blank line is ignored: the next answer is the next request's.
        let afterNotification = try exchange(c, #"{"jsonrpc":"2.0","method":"status"}"# + "\n\n  \n"
            + #"{"jsonrpc":"2.0","id":4,"method":"status"}"# + "\n")
        XCTAssertEqual(afterNotification.id, .int(4))
        XCTAssertNil(errorCode(afterNotification))

        for (params, code) in [
            (PredictMethod.Params(texts: ["a", "b", "c", "d", "e"]), RPCErrorCode.tooManyTexts),
            (PredictMethod.Params(texts: ["ok", String(repeating: "é", count: 101)]), .textTooLong),
            (PredictMethod.Params(texts: ["ok"], model: "v9"), .modelNotFound),
            (PredictMethod.Params(texts: []), .invalidParams),
        ] {
            XCTAssertThrowsError(try c.call(PredictMethod.self, params)) { error in
                XCTAssertEqual((error as? RPCErrorObject)?.knownCode, code, "\(error)")
            }
        }
        // Pipelined requests come back in order.
        let lines = (10..<30).map { #"{"jsonrpc":"2.0","id":\#($0),"method":"predict","params":{"texts":["text \#($0)"]}}"# }
        try c.send(raw: Array((lines.joined(separator: "\n") + "\n").utf8))
        for expectedID in 10..<30 {
            let r = try RPCResponse.parse(line: c.receiveLine())
            XCTAssertEqual(r.id, .int(Int64(expectedID)))
        }
        XCTAssertEqual(try daemon.stop(), 0)
    }

    func testNoModel_servesStatusAndAnswersNoModelLoaded() throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        let c = try daemon.client()
        let status = try c.call(StatusMethod.self, NoParams())
        XCTAssertEqual(status.state, "no_model")
        XCTAssertNil(status.activeModel)
        XCTAssertThrowsError(try c.call(PredictMethod.self, .init(texts: ["x"]))) { error in
            XCTAssertEqual((error as? RPCErrorObject)?.knownCode, .noModelLoaded)
        }
        XCTAssertEqual(try daemon.stop(), 0)
    }

    func testSIGTERM_finishesQueuedRequestsThenExitsZero() throws {
        // A long max_delay keeps the request queued (waiting for company) until SIGTERM makes it run at once.
        let daemon = try startDaemon(batching: ["max_batch": "64", "max_delay_ms": "5000"])
        let c = try daemon.client()
        let request = try RPCRequest(PredictMethod.self, id: .int(1), params: .init(texts: ["one", "two", "three"]))
        try c.send(line: request.encodedLine())
        // Wait until the daemon has queued it.
        let watcher = try daemon.client()
        let deadline = Date().addingTimeInterval(10)
        while try watcher.call(StatusMethod.self, NoParams()).queuedTexts < 3 {
            XCTAssertLessThan(Date(), deadline, "the request never reached the queue")
            usleep(10_000)
        }
        watcher.close()
        let sent = Date()
        daemon.signal(SIGTERM)
        let response = try RPCResponse.parse(line: c.receiveLine())
        guard case let .success(_, value) = response else { return XCTFail("queued request failed: \(response)") }
        XCTAssertEqual(try value.decode(PredictMethod.Result.self).predictions.count, 3)
        XCTAssertLessThan(Date().timeIntervalSince(sent), 4, "draining must not wait for max_delay")
        XCTAssertEqual(try daemon.waitForExit(), 0, daemon.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: daemon.socketPath), "the bound socket is removed")
        XCTAssertThrowsError(try UnixSocketClient(path: daemon.socketPath))
    }

    func testStaleSocketIsReplaced_liveDaemonIsNotDisplaced() throws {
        _ = try TestPaths.requireTinyRoberta()
        let first = try DaemonProcess()
        try first.installModel(version: "v1")
        // A stale socket: bound, then its owner gone.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            let b = Array(first.socketPath.utf8)
            raw.copyBytes(from: b)
            raw[b.count] = 0
        }
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
        XCTAssertTrue(FileManager.default.fileExists(atPath: first.socketPath))
        try first.start()

        // A second daemon on the same socket refuses to start and says why.
        let second = try DaemonProcess()
        try second.writeConfig(serverSettings: ["socket": "\"\(first.socketPath)\""])
        try second.start(waitForSocket: false)
        let status = try second.waitForExit()
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(second.stderr.contains("another daemon"), second.stderr)
        XCTAssertEqual(try first.client().call(StatusMethod.self, NoParams()).activeModel, "v1")
        XCTAssertEqual(try first.stop(), 0)
    }

    func testBadConfiguration_failsAtStartWithKeyAndLine_andIsRejectedOnReload() throws {
        let daemon = try startDaemon()
        let good = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        // Reload with a bad file: rejected, the old configuration stays.
        try good.replacingOccurrences(of: "[batching]\n", with: "[batching]\nmax_batch = \"many\"\n")
            .write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        let c = try daemon.client()
        XCTAssertThrowsError(try c.call(ReloadMethod.self, NoParams())) { error in
            let e = error as? RPCErrorObject
            XCTAssertEqual(e?.knownCode, .configRejected, "\(error)")
            XCTAssertTrue(e?.message.contains("max_batch") ?? false, "\(error)")
        }
        XCTAssertEqual(try c.call(StatusMethod.self, NoParams()).state, "serving")
        // A good change applies at once; a restart-only one is reported.
        try daemon.writeConfig(serverSettings: ["max_texts": "2", "socket": "\"\(daemon.directory.path("other.sock"))\""])
        let reloaded = try c.call(ReloadMethod.self, NoParams())
        XCTAssertEqual(reloaded.needsRestart, ["server.socket"])
        XCTAssertThrowsError(try c.call(PredictMethod.self, .init(texts: ["a", "b", "c"]))) { error in
            XCTAssertEqual((error as? RPCErrorObject)?.knownCode, .tooManyTexts)
        }
        XCTAssertEqual(try daemon.stop(), 0)

        // At start, a bad file stops the daemon with status 78 and a message naming the key and its line.
        try "[server]\nmax_textz = 3\n".write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        try daemon.start(waitForSocket: false)
        XCTAssertEqual(try daemon.waitForExit(), 78)
        XCTAssertTrue(daemon.stderr.contains(":2: unknown key \"server.max_textz\""), daemon.stderr)
    }

    func testSentimentctl_endToEnd() throws {
        let daemon = try startDaemon()
        func run(_ args: [String], stdin: String? = nil) throws -> (status: Int32, out: String, err: String) {
            try runSentimentctl(args, socket: daemon.socketPath, stdin: stdin)
        }
        let json = try run(["predict", "--json", "good day", "bad day"])
        XCTAssertEqual(json.status, 0, json.err)
        let parsed = try RPCCoding.decoder().decode(PredictMethod.Result.self, from: Data(json.out.utf8))
        XCTAssertEqual(parsed.predictions.count, 2)
        XCTAssertEqual(parsed.model, "v1")

        let table = try run(["predict", "-"], stdin: "first line\n\nsecond line\n")
        XCTAssertEqual(table.status, 0, table.err)
        XCTAssertEqual(table.out.split(separator: "\n").count, 3, table.out) // header + 2 texts

        let models = try run(["models"])
        XCTAssertEqual(models.status, 0)
        XCTAssertTrue(models.out.contains("v1"))

        let unknown = try run(["activate", "nope"])
        XCTAssertEqual(unknown.status, 1, unknown.err)
        XCTAssertEqual(unknown.err.split(separator: "\n").count, 1, "one readable line: \(unknown.err)")
        XCTAssertTrue(unknown.err.contains("nope"), unknown.err)

        let usage = try run(["predict"])
        XCTAssertEqual(usage.status, 2)
        let noDaemon = try run(["status", "--socket", daemon.directory.path("absent.sock")])
        XCTAssertEqual(noDaemon.status, 3)

        let metrics = try run(["metrics"])
        XCTAssertEqual(metrics.status, 0)
        XCTAssertTrue(metrics.out.contains("sentimentd_requests_total"), metrics.out)
        XCTAssertTrue(metrics.out.contains(#"sentimentd_model_info{version="v1"} 1"#), metrics.out)
        XCTAssertEqual(try daemon.stop(), 0)
    }

    func testConnectionLimit_extraConnectionIsToldWhyAndClosed() throws {
        // The tests run as root, an admin: max_connections plus the admins' own slot.
        let daemon = try startDaemon(server: ["max_connections": "1", "admin_connections": "1"])
        let a = try daemon.client()
        // The harness's own probe connection may still be closing: wait until only `a` counts.
        let settled = Date().addingTimeInterval(10)
        while try a.call(StatusMethod.self, NoParams()).connections != 1 && Date() < settled { usleep(10_000) }
        let b = try daemon.client()
        XCTAssertEqual(try b.call(StatusMethod.self, NoParams()).connections, 2)
        let c = try daemon.client(timeout: 10)
        let line = try c.receiveLine()
        guard case let .failure(_, error) = try RPCResponse.parse(line: line) else { return XCTFail("expected an error line") }
        XCTAssertEqual(error.knownCode, .overloaded)
        XCTAssertTrue(error.message.contains("max_connections"), error.message)
        XCTAssertThrowsError(try c.receiveLine(), "closed after the error")
        a.close()
        // A freed slot is usable again.
        let deadline = Date().addingTimeInterval(10)
        var served = false
        while !served && Date() < deadline {
            if let d = try? daemon.client(timeout: 5), (try? d.call(StatusMethod.self, NoParams())) != nil { served = true }
            usleep(20_000)
        }
        XCTAssertTrue(served)
        XCTAssertEqual(try daemon.stop(), 0)
    }

    func testAClientThatNeverReads_doesNotStallOthers() throws {
        let daemon = try startDaemon(server: ["max_pipelined": "8"])
        // The greedy client pipelines many large answers and never reads them.
        let greedy = try daemon.client()
        let request = try RPCRequest(PredictMethod.self, id: .int(1), params: .init(texts: Array(repeating: "spam", count: 200)))
        var lines = Data()
        for _ in 0..<200 {
            lines.append(try request.encodedLine())
            lines.append(0x0A)
        }
        let bytes = [UInt8](lines)
        let sender = Thread { try? greedy.send(raw: bytes) } // blocks once the socket buffers fill
        sender.start()
        Thread.sleep(forTimeInterval: 0.5)
        let polite = try daemon.client(timeout: 10)
        for i in 0..<20 {
            let started = Date()
            XCTAssertEqual(try polite.call(PredictMethod.self, .init(texts: ["polite \(i)"])).predictions.count, 1)
            // The first one may queue behind the greedy client's admitted backlog (at most max_pipelined requests);
            // after that, the greedy client is parked and adds nothing.
            if i > 0 {
                XCTAssertLessThan(Date().timeIntervalSince(started), 2, "a polite request waited behind the greedy client")
            }
        }
        let queued = try polite.call(StatusMethod.self, NoParams()).queuedTexts
        XCTAssertLessThanOrEqual(queued, 8 * 200, "the greedy client's unread requests are bounded by max_pipelined")
        greedy.close()
        XCTAssertEqual(try daemon.stop(), 0)
    }
}
