import Foundation
import SentimentOpenInference
import SentimentProtocol
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The HTTP front end of the real daemon: every route on the Unix socket, bearer tokens on TCP (401 without or with a
/// revoked token, 403 with a role too weak), the limits, and the binary tensor extension's edge cases over the wire.
final class HTTPDaemonTests: XCTestCase {
    /// A daemon serving the tiny RoBERTa as v1; `port` adds a TCP listener on 127.0.0.1.
    private func makeDaemon(port: Int? = nil, server: [String: String] = [:], models: [String: String] = [:]) throws -> DaemonProcess {
        _ = try TestPaths.requireTinyRoberta()
        var settings = server
        if let port { settings["http_listen"] = "\"127.0.0.1:\(port)\"" }
        let daemon = try DaemonProcess(serverSettings: settings, models: models)
        try daemon.installModel(version: "v1")
        try daemon.start()
        try waitUntil("the model is ready") { (try? self.unix(daemon).request("GET", "/v2/health/ready").status) == 200 }
        return daemon
    }

    private func unix(_ daemon: DaemonProcess) throws -> RawHTTPConnection {
        try RawHTTPConnection(unixPath: daemon.httpSocketPath)
    }

    /// An error from `condition` counts as "not yet" (the listener may not be up).
    private func waitUntil(_ what: String, timeout: TimeInterval = 120, _ condition: () throws -> Bool) throws {
        try pollUntil(what, timeout: timeout) { (try? condition()) == true }
    }

    private func jsonBody(_ object: Any) throws -> [UInt8] {
        [UInt8](try JSONSerialization.data(withJSONObject: object))
    }

    private func inferJSON(_ texts: [String]) throws -> [UInt8] {
        try jsonBody(["inputs": [["name": "text", "shape": [texts.count], "datatype": "BYTES", "data": texts]]])
    }

    /// A request the way tritonclient sends it: texts in the binary section, outputs asked in binary.
    private func inferBinary(_ texts: [String], outputs: [[String: Any]]? = nil) throws -> (body: [UInt8], headerLength: Int) {
        var data: [UInt8] = []
        BinaryTensorData.appendBytesElements(texts, to: &data)
        var request: [String: Any] = [
            "inputs": [["name": "text", "shape": [texts.count, 1], "datatype": "BYTES",
                        "parameters": ["binary_data_size": data.count]]],
        ]
        request["outputs"] = outputs ?? [["name": "probabilities", "parameters": ["binary_data": true]],
                                         ["name": "label", "parameters": ["binary_data": true]]]
        let json = try jsonBody(request)
        return (json + data, json.count)
    }

    private func error(_ response: RawHTTPConnection.Response) -> String {
        (response.json?["error"] as? String) ?? "(no error member: \(response.text))"
    }

    // MARK: routes on the Unix socket

    func testUnixSocket_everyRouteAnswersAsDocumented() throws {
        let daemon = try makeDaemon()
        let texts = ["I love this", "this is the worst", "the meeting is at 3pm"]
        let expected = try daemon.client().call(PredictMethod.self, .init(texts: texts))
        let http = try unix(daemon)

        let live = try http.request("GET", "/v2/health/live")
        XCTAssertEqual(live.status, 200)
        XCTAssertEqual(live.json?["live"] as? Bool, true)

        let server = try http.request("GET", "/v2")
        XCTAssertEqual(server.status, 200, server.text)
        XCTAssertEqual(server.json?["name"] as? String, "sentimentd")
        XCTAssertEqual(server.json?["extensions"] as? [String], ["binary_tensor_data", "classification"])

        let alias = try http.request("GET", "/v2/models/sentiment")
        XCTAssertEqual(alias.status, 200, alias.text)
        XCTAssertEqual(alias.json?["versions"] as? [String], ["v1"])
        let outputs = try XCTUnwrap(alias.json?["outputs"] as? [[String: Any]])
        XCTAssertEqual(outputs.first?["shape"] as? [Int], [-1, expected.labels.count])
        XCTAssertEqual(try http.request("GET", "/v2/models/v1").json?["name"] as? String, "v1")
        XCTAssertEqual(try http.request("GET", "/v2/models/sentiment/versions/v1").status, 200)
        XCTAssertEqual(try http.request("GET", "/v2/models/sentiment/ready").json?["ready"] as? Bool, true)
        XCTAssertEqual(try http.request("GET", "/v2/models/v1/versions/v1/ready").status, 200)

        let missing = try http.request("GET", "/v2/models/nope")
        XCTAssertEqual(missing.status, 404)
        XCTAssertTrue(error(missing).contains("no model \"nope\""), error(missing))
        XCTAssertEqual(try http.request("GET", "/v2/models/sentiment/versions/v9").status, 404)

        // JSON in, JSON out: the same probabilities as JSON-RPC predict.
        let json = try http.request("POST", "/v2/models/sentiment/infer", body: try inferJSON(texts))
        XCTAssertEqual(json.status, 200, json.text)
        XCTAssertEqual(json.json?["model_name"] as? String, "sentiment")
        XCTAssertEqual(json.json?["model_version"] as? String, "v1")
        let jsonOutputs = try XCTUnwrap(json.json?["outputs"] as? [[String: Any]])
        let probabilities = try XCTUnwrap(jsonOutputs.first { $0["name"] as? String == "probabilities" }?["data"] as? [Double])
        XCTAssertEqual(probabilities.count, texts.count * expected.labels.count)
        for (got, want) in zip(probabilities, expected.predictions.flatMap(\.probabilities)) {
            XCTAssertEqual(Float(got), want, accuracy: 1e-6)
        }
        XCTAssertEqual(jsonOutputs.first { $0["name"] as? String == "label" }?["data"] as? [String],
                       expected.predictions.map(\.label))

        // Binary in, binary out: the bits of JSON-RPC's floats.
        let (body, headerLength) = try inferBinary(texts)
        let binary = try http.request("POST", "/v2/models/sentiment/infer",
                                      headers: ["Inference-Header-Content-Length": String(headerLength)], body: body)
        XCTAssertEqual(binary.status, 200, binary.text)
        let jsonLength = try XCTUnwrap(binary.header("Inference-Header-Content-Length").flatMap(Int.init))
        let header = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(binary.body[..<jsonLength])) as? [String: Any])
        let binaryOutputs = try XCTUnwrap(header["outputs"] as? [[String: Any]])
        let probSize = try XCTUnwrap((binaryOutputs[0]["parameters"] as? [String: Any])?["binary_data_size"] as? Int)
        let floats = try BinaryTensorData.decodeFP32(binary.body[jsonLength..<(jsonLength + probSize)], path: "probabilities")
        XCTAssertEqual(floats, expected.predictions.flatMap(\.probabilities))
        let labels = try BinaryTensorData.decodeBytesElements(binary.body[(jsonLength + probSize)...], path: "label")
        XCTAssertEqual(labels.map { String(decoding: $0, as: UTF8.self) }, expected.predictions.map(\.label))

        // The v1 form.
        let v1 = try http.request("POST", "/v1/models/sentiment:predict", body: try jsonBody(["instances": texts]))
        XCTAssertEqual(v1.status, 200, v1.text)
        let predictions = try XCTUnwrap(v1.json?["predictions"] as? [[String: Any]])
        XCTAssertEqual(predictions.map { $0["label"] as? String }, expected.predictions.map(\.label))

        // Metrics: what `sentimentctl metrics` prints, plus the process and HTTP families.
        let metrics = try http.request("GET", "/metrics")
        XCTAssertEqual(metrics.status, 200)
        for family in ["process_resident_memory_bytes ", "process_cpu_seconds_total ", "process_open_fds ",
                       "process_max_fds ", "process_start_time_seconds ", "sentimentd_build_info{version=",
                       "sentimentd_http_requests_total{", "sentimentd_model_load_duration_seconds_bucket",
                       "sentimentd_texts_predicted_total "] {
            XCTAssertTrue(metrics.text.contains(family), "\(family) missing from /metrics")
        }

        let openapi = try http.request("GET", "/openapi.yaml")
        XCTAssertEqual(openapi.status, 200)
        XCTAssertTrue(openapi.text.hasPrefix("openapi: 3"), String(openapi.text.prefix(40)))

        let wrongMethod = try http.request("DELETE", "/v2/models/sentiment/infer")
        XCTAssertEqual(wrongMethod.status, 405)
        XCTAssertEqual(wrongMethod.header("Allow"), "POST")
        let unknown = try http.request("GET", "/v3/anything")
        XCTAssertEqual(unknown.status, 404)
        XCTAssertFalse(error(unknown).isEmpty)
        try daemon.stop()
    }

    func testReadiness_followsTheActiveModel() throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        let http = try unix(daemon)
        let notReady = try http.request("GET", "/v2/health/ready")
        XCTAssertEqual(notReady.status, 503)
        XCTAssertEqual(notReady.json?["ready"] as? Bool, false)
        XCTAssertEqual(try http.request("GET", "/v2/health/live").status, 200)
        let infer = try http.request("POST", "/v2/models/sentiment/infer", body: try inferJSON(["x"]))
        XCTAssertEqual(infer.status, 503, infer.text)
        try daemon.installModel(version: "v1")
        try waitUntil("the arriving version is ready") { try http.request("GET", "/v2/health/ready").status == 200 }
    }

    // MARK: tokens on TCP

    func testTCP_needsALiveTokenWithAStrongEnoughRole() throws {
        let port = freeTCPPort()
        let daemon = try makeDaemon(port: port, models: ["activate": "\"manual\""])
        // A second version on disk that is not in memory: asking it means loading it, an admin's call.
        try daemon.installModel(version: "v2")
        try waitUntil("v2 is available") {
            try daemon.client().call(ModelsListMethod.self, NoParams()).models.contains { $0.version == "v2" && $0.state == "available" }
        }
        let tcp = try RawHTTPConnection(port: port)
        XCTAssertEqual(try tcp.request("GET", "/v2/health/live").status, 200)
        XCTAssertEqual(try tcp.request("GET", "/v2/health/ready").status, 200)
        for (method, path) in [("GET", "/v2"), ("GET", "/v2/models/sentiment"), ("GET", "/metrics"), ("GET", "/openapi.yaml")] {
            let refused = try RawHTTPConnection(port: port).request(method, path)
            XCTAssertEqual(refused.status, 401, "\(path): \(refused.text)")
            XCTAssertEqual(refused.header("WWW-Authenticate"), #"Bearer realm="sentimentd""#)
            XCTAssertTrue(error(refused).contains("bearer token"), error(refused))
        }
        let noToken = try RawHTTPConnection(port: port).request("POST", "/v2/models/sentiment/infer", body: try inferJSON(["a"]))
        XCTAssertEqual(noToken.status, 401)

        func addToken(_ role: String) throws -> String {
            let r = try runSentimentctl(["tokens", "add", "--role", role, "--name", "t-\(role)"], socket: daemon.socketPath)
            XCTAssertEqual(r.status, 0, r.err)
            return r.out.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let reader = try addToken("reader")
        let labeller = try addToken("labeller")
        let admin = try addToken("admin")
        XCTAssertTrue(reader.hasPrefix("sntd_"), reader)
        let listed = try runSentimentctl(["tokens", "list"], socket: daemon.socketPath)
        XCTAssertTrue(listed.out.contains("t-reader") && !listed.out.contains(reader), listed.out)

        func call(_ token: String?, _ method: String, _ path: String, body: [UInt8] = []) throws -> RawHTTPConnection.Response {
            try RawHTTPConnection(port: port).request(method, path, headers: token.map { ["Authorization": "Bearer \($0)"] } ?? [:],
                                                      body: body)
        }
        XCTAssertEqual(try call(reader, "GET", "/v2").status, 200)
        XCTAssertEqual(try call(reader, "GET", "/metrics").status, 200)
        XCTAssertEqual(try call(reader, "POST", "/v2/models/sentiment/infer", body: try inferJSON(["a"])).status, 200)

        // A version not in memory: reader and labeller are refused with 403, an admin's request loads it.
        for token in [reader, labeller] {
            let weak = try call(token, "POST", "/v2/models/sentiment/versions/v2/infer", body: try inferJSON(["a"]))
            XCTAssertEqual(weak.status, 403, weak.text)
            XCTAssertTrue(error(weak).contains("needs the admin role"), error(weak))
        }
        let loaded = try call(admin, "POST", "/v2/models/sentiment/versions/v2/infer", body: try inferJSON(["a"]))
        XCTAssertEqual(loaded.status, 200, loaded.text)
        XCTAssertEqual(loaded.json?["model_version"] as? String, "v2")

        // Wrong and revoked tokens.
        let forged = try call(String(reader.dropLast()) + (reader.hasSuffix("0") ? "1" : "0"), "GET", "/v2")
        XCTAssertEqual(forged.status, 401)
        XCTAssertEqual(forged.header("WWW-Authenticate"), #"Bearer realm="sentimentd", error="invalid_token""#)
        XCTAssertEqual(try call("garbage", "GET", "/v2").status, 401)
        XCTAssertEqual(try RawHTTPConnection(port: port).request("GET", "/v2", headers: ["Authorization": "Basic eDp5"]).status, 401)
        let keptOpen = try RawHTTPConnection(port: port)
        XCTAssertEqual(try keptOpen.request("GET", "/v2", headers: ["Authorization": "Bearer \(reader)"]).status, 200)
        let revoked = try runSentimentctl(["tokens", "revoke", "t-reader"], socket: daemon.socketPath)
        XCTAssertEqual(revoked.status, 0, revoked.err)
        XCTAssertEqual(try keptOpen.request("GET", "/v2", headers: ["Authorization": "Bearer \(reader)"]).status, 401,
                       "a revoked token still worked on a connection opened before")
        XCTAssertEqual(try call(reader, "GET", "/v2").status, 401)
        XCTAssertEqual(try call(labeller, "GET", "/v2").status, 200)

        // Tokens are admin business on the socket.
        let stored = try String(contentsOfFile: daemon.directory.path("state.sqlite"), encoding: .isoLatin1)
        XCTAssertFalse(stored.contains(admin), "the token itself was stored")
        try daemon.stop()
    }

    func testUnixSocket_peerWithoutTheRoleIsRefused() throws {
        try OtherUser.require()
        let daemon = try DaemonProcess.withRoles(server: ["reader_group": "\"\(OtherUser.adminGroup)\""])
        chmod(daemon.httpSocketPath, 0o666)
        let curl = "/usr/bin/curl"
        guard FileManager.default.isExecutableFile(atPath: curl) else { throw XCTSkip("curl is not installed") }
        func asNobody(_ path: String) throws -> (status: String, body: String) {
            let r = try OtherUser.nobody.run(curl, ["-s", "-w", "\n%{http_code}", "--unix-socket", daemon.httpSocketPath,
                                                    "http://localhost\(path)"])
            let lines = r.out.split(separator: "\n", omittingEmptySubsequences: false)
            return (String(lines.last ?? ""), lines.dropLast().joined(separator: "\n"))
        }
        XCTAssertEqual(try asNobody("/v2/health/live").status, "200")
        let refused = try asNobody("/v2")
        XCTAssertEqual(refused.status, "403", refused.body)
        XCTAssertTrue(refused.body.contains("holds no role"), refused.body)
    }

    // MARK: limits

    func testLimits_bodyTextsAndTextLength() throws {
        let daemon = try makeDaemon(server: ["request_line_bytes": "1024", "max_texts": "2", "max_text_chars": "20"])
        let http = try unix(daemon)
        let big = try http.request("POST", "/v2/models/sentiment/infer", body: try inferJSON([String(repeating: "a", count: 2000)]))
        XCTAssertEqual(big.status, 413, big.text)
        XCTAssertTrue(error(big).contains("request_line_bytes"), error(big))
        let http2 = try unix(daemon)
        let many = try http2.request("POST", "/v2/models/sentiment/infer", body: try inferJSON(["a", "b", "c"]))
        XCTAssertEqual(many.status, 413, many.text)
        XCTAssertTrue(error(many).contains("max_texts"), error(many))
        let long = try http2.request("POST", "/v1/models/sentiment:predict",
                                     body: try jsonBody(["instances": [String(repeating: "b", count: 30)]]))
        XCTAssertEqual(long.status, 413, long.text)
        XCTAssertTrue(error(long).contains("max_text_chars"), error(long))
        // The connection stays usable after a refused request that was read in full.
        XCTAssertEqual(try http2.request("GET", "/v2/health/live").status, 200)
    }

    func testLimits_connectionSlotsAreShared_andRefusedWith503() throws {
        let port = freeTCPPort()
        let daemon = try makeDaemon(port: port, server: ["max_connections": "1", "admin_connections": "1"])
        // The harness is the daemon's own uid, an admin: max_connections + admin_connections slots. Two JSON-RPC
        // connections take them; HTTP on the Unix socket is then refused, as is TCP (which has no admin slots).
        // Connections of the start-up checks may still be closing: take slots until two tries half a second apart
        // are both refused.
        var held: [UnixSocketClient] = []
        var refusals = 0
        while refusals < 2 && held.count < 8 {
            let client = try daemon.client()
            if (try? client.call(StatusMethod.self, NoParams())) != nil {
                held.append(client)
                refusals = 0
            } else {
                refusals += 1
                usleep(500_000)
            }
        }
        XCTAssertEqual(held.count, 2, "max_connections 1 + admin_connections 1")
        let refused = try unix(daemon).request("GET", "/v2/health/live")
        XCTAssertEqual(refused.status, 503, refused.text)
        XCTAssertEqual(refused.header("Retry-After"), "1")
        XCTAssertTrue(error(refused).contains("max_connections"), error(refused))
        let tcpRefused = try RawHTTPConnection(port: port).request("GET", "/v2/health/live")
        XCTAssertEqual(tcpRefused.status, 503, tcpRefused.text)
        held.forEach { $0.close() }
        try waitUntil("a slot is free again") { try self.unix(daemon).request("GET", "/v2/health/live").status == 200 }
    }

    /// A uid that is not an admin past `max_connections_per_uid` is told 429 (its own quota), not 503.
    func testLimits_aUIDOverItsQuotaGets429() throws {
        try OtherUser.require()
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else { throw XCTSkip("\(python) is not installed") }
        let daemon = try DaemonProcess.withRoles(server: ["max_connections_per_uid": "1"])
        // As nobody: hold one connection, then ask on a second one.
        let script = """
            import socket, sys
            def connect():
                s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); return s
            held = connect()
            held.sendall(b"GET /v2/health/live HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"); held.recv(4096)
            second = connect()
            second.sendall(b"GET /v2/health/live HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            print(second.recv(4096).decode(errors="replace"))
            """
        let r = try OtherUser.nobody.run(python, ["-c", script, daemon.httpSocketPath])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.hasPrefix("HTTP/1.1 429"), r.out)
        XCTAssertTrue(r.out.contains("max_connections_per_uid"), r.out)
    }

    func testIdleRule_closesTricklingAndIdleClients() throws {
        let daemon = try makeDaemon(server: ["idle_timeout_seconds": "1"])
        // A client that trickles its request is closed after the idle timeout, although bytes keep coming.
        let trickler = try unix(daemon)
        let request = Array("GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8) + [UInt8](repeating: 0x61, count: 4000)
        var closed = false
        let deadline = Date().addingTimeInterval(60)
        var i = 0
        while Date() < deadline, i < request.count {
            do {
                try trickler.send([request[i]])
            } catch {
                closed = true
                break
            }
            i += 1
            if trickler.waitForClose(timeout: 0.1) { closed = true; break }
        }
        XCTAssertTrue(closed, "a trickling client was not closed (sent \(i) bytes)")
        // An idle keep-alive connection is closed too.
        let idle = try unix(daemon)
        XCTAssertEqual(try idle.request("GET", "/v2/health/live").status, 200)
        XCTAssertTrue(idle.waitForClose(timeout: 30), "an idle connection was kept")
        // One that keeps asking is not.
        let busy = try unix(daemon)
        for _ in 0..<15 {
            XCTAssertEqual(try busy.request("GET", "/v2/health/live").status, 200)
            usleep(200_000)
        }
    }

    // MARK: the binary extension over the wire

    func testBinaryExtension_edgeCasesAnswer400WithTheProtocolsError() throws {
        let daemon = try makeDaemon()
        func post(_ body: [UInt8], headerLength: String?) throws -> RawHTTPConnection.Response {
            try unix(daemon).request("POST", "/v2/models/sentiment/infer",
                                     headers: headerLength.map { ["Inference-Header-Content-Length": $0] } ?? [:], body: body)
        }
        let (good, length) = try inferBinary(["one", "two"])
        XCTAssertEqual(try post(good, headerLength: String(length)).status, 200)
        var cases: [(String, [UInt8], String?)] = [
            ("header length past the body", good, String(good.count + 1)),
            ("header length not a number", good, "12abc"),
            ("binary without the header", good, nil),
            ("a byte missing", Array(good.dropLast()), String(length)),
            ("a byte too many", good + [0], String(length)),
        ]
        var lying = good
        lying[length] = 0xFF // the first element claims 255 bytes
        cases.append(("an element longer than the tensor", lying, String(length)))
        var notUTF8 = good
        notUTF8[length + 4] = 0xC3
        notUTF8[length + 5] = 0x28
        cases.append(("a text that is not UTF-8", notUTF8, String(length)))
        for (name, body, header) in cases {
            let r = try post(body, headerLength: header)
            XCTAssertEqual(r.status, 400, "\(name): \(r.text)")
            XCTAssertFalse(error(r).isEmpty, name)
        }
        // Outputs: JSON by default for one, binary for the other; the classification extension.
        let (mixed, mixedLength) = try inferBinary(["great"], outputs: [
            ["name": "label"], ["name": "probabilities", "parameters": ["binary_data": true, "classification": 2]],
        ])
        let r = try post(mixed, headerLength: String(mixedLength))
        XCTAssertEqual(r.status, 200, r.text)
        let jsonLength = try XCTUnwrap(r.header("Inference-Header-Content-Length").flatMap(Int.init))
        let top = try BinaryTensorData.decodeBytesElements(r.body[jsonLength...], path: "classes")
        XCTAssertEqual(top.count, 2)
        XCTAssertEqual(String(decoding: top[0], as: UTF8.self).split(separator: ":").count, 3)
    }
}
