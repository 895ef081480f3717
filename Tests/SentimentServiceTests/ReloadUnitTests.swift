import Foundation
import SentimentProtocol
import XCTest

/// `systemctl reload sentimentd` tells the truth: the unit's ExecReload line, run as it is written (only the program's
/// path and the socket pointed at the test's), exits 0 when the daemon took the new configuration and non-zero when
/// it rejected it (the running configuration kept). systemd is not PID 1 here, so the line is read from the unit
/// file and run the way systemd would run it.
final class ReloadUnitTests: XCTestCase {
    static let unit = TestPaths.repositoryRoot.appendingPathComponent("systemd/sentimentd.service")
    static let socketUnit = TestPaths.repositoryRoot.appendingPathComponent("systemd/sentimentd.socket")

    /// The words of the unit's ExecReload= line (systemd's prefixes such as "-" would make a failure count as success:
    /// there must be none).
    private func execReload() throws -> [String] {
        let text = try String(contentsOf: Self.unit, encoding: .utf8)
        let lines = text.split(separator: "\n").filter { $0.hasPrefix("ExecReload=") }
        XCTAssertEqual(lines.count, 1, "one ExecReload= line")
        let command = String(try XCTUnwrap(lines.first).dropFirst("ExecReload=".count))
        XCTAssertFalse(command.hasPrefix("-"), "a '-' prefix makes systemd ignore the reload command's failure")
        XCTAssertFalse(command.contains("$MAINPID"), "a signal cannot report a rejected configuration")
        return command.split(separator: " ").map(String.init)
    }

    /// Runs the ExecReload line against `daemon`: /usr/bin/sentimentctl is the built one, the socket the daemon's.
    private func reload(_ daemon: DaemonProcess) throws -> (status: Int32, out: String, err: String) {
        var words = try execReload()
        XCTAssertEqual(words.first, "/usr/bin/sentimentctl", "the reload is not sentimentctl's")
        words.removeFirst()
        let socket = try XCTUnwrap(words.firstIndex(of: "--socket"), "the reload does not name the socket")
        let listen = try String(contentsOf: Self.socketUnit, encoding: .utf8).split(separator: "\n")
            .first { $0.hasPrefix("ListenStream=") }.map { String($0.dropFirst("ListenStream=".count)) }
        XCTAssertEqual(words[socket + 1], listen, "the reload's socket is not sentimentd.socket's")
        words[socket + 1] = daemon.socketPath
        return try runExecutable("sentimentctl", words, environment: ["SENTIMENTD_SOCKET": "/nonexistent"])
    }

    func testExecReload_succeedsWhenTheConfigIsTaken_andFailsWhenItIsRejected() throws {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess(batching: ["max_batch": "32"])
        try daemon.installModel(version: "v1")
        try daemon.start()

        // A good change: taken, exit 0.
        try daemon.writeConfig(batching: ["max_batch": "8"])
        let good = try reload(daemon)
        XCTAssertEqual(good.status, 0, "a good reload failed: \(good.err)")
        XCTAssertEqual(try daemon.client().call(StatusMethod.self, NoParams()).maxBatch, 8)

        // A rejected one (an unknown key, a value out of range): non-zero, and it says why; the old one stays.
        for bad in [["max_batch": "8", "max_bathc": "4"], ["max_batch": "0"]] {
            try daemon.writeConfig(batching: bad)
            let rejected = try reload(daemon)
            XCTAssertNotEqual(rejected.status, 0, "systemctl reload would report success for a rejected configuration")
            XCTAssertTrue(rejected.err.contains("configuration rejected, the running one is kept"), rejected.err)
            XCTAssertTrue(rejected.err.contains(daemon.configPath), rejected.err)
            XCTAssertEqual(try daemon.client().call(StatusMethod.self, NoParams()).maxBatch, 8)
        }
        XCTAssertEqual(try daemon.client().call(PredictMethod.self, .init(texts: ["still serving"])).predictions.count, 1)

        // A daemon that is gone: non-zero as well (systemd marks the reload failed).
        XCTAssertEqual(try daemon.stop(), 0)
        XCTAssertNotEqual(try reload(daemon).status, 0)
    }
}
