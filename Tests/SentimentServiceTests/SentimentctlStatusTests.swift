import Foundation
import SentimentCore
import SentimentProtocol
import XCTest

/// `sentimentctl status` as a probe, and the one version string, against the real binaries.
final class SentimentctlStatusTests: XCTestCase {
    /// Exit 6 while the daemon answers but serves no model, 0 once a model is served, 3 once the daemon is gone.
    func testStatus_isAProbe_nonZeroUntilAModelIsServed() throws {
        let daemon = try DaemonProcess()
        try daemon.start()

        let empty = try runSentimentctl(["status"], socket: daemon.socketPath)
        XCTAssertEqual(empty.status, 6, "no model served: \(empty.out) \(empty.err)")
        XCTAssertEqual(Self.field("active model", in: empty.out), "none", "the status is printed either way: \(empty.out)")
        XCTAssertTrue(empty.err.contains("serves no model (state no_model)"), empty.err)
        XCTAssertEqual(empty.err.split(separator: "\n").count, 1, "one readable line: \(empty.err)")
        let emptyJSON = try runSentimentctl(["status", "--json"], socket: daemon.socketPath)
        XCTAssertEqual(emptyJSON.status, 6, emptyJSON.err)
        let parsed = try RPCCoding.decoder().decode(StatusMethod.Result.self, from: Data(emptyJSON.out.utf8))
        XCTAssertEqual(parsed.state, "no_model")

        try daemon.installModel(version: "v1")
        let deadline = Date().addingTimeInterval(300)
        var serving = try runSentimentctl(["status"], socket: daemon.socketPath)
        while serving.status != 0 && Date() < deadline {
            XCTAssertEqual(serving.status, 6, "until the model is live: \(serving.err)")
            usleep(100_000)
            serving = try runSentimentctl(["status"], socket: daemon.socketPath)
        }
        XCTAssertEqual(serving.status, 0, "a model is served: \(serving.out) \(serving.err)")
        XCTAssertEqual(Self.field("active model", in: serving.out), "v1", serving.out)
        XCTAssertEqual(serving.err, "")

        XCTAssertEqual(try daemon.stop(), 0)
        let gone = try runSentimentctl(["status"], socket: daemon.socketPath)
        XCTAssertEqual(gone.status, 3, gone.err)
    }

    /// The value of a `name:   value` line of the status table.
    static func field(_ name: String, in table: String) -> String? {
        table.split(separator: "\n").first { $0.hasPrefix(name + ":") }
            .map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) }
    }

    /// `sentimentd --version`, `sentimentctl --version` and the daemon's status all say SentimentVersion.current.
    func testVersion_isTheOneConstant_everywhere() throws {
        let ctl = try runSentimentctl(["--version"], socket: "/nonexistent")
        XCTAssertEqual(ctl.status, 0, ctl.err)
        XCTAssertEqual(ctl.out, SentimentVersion.current + "\n")

        let p = Process()
        p.executableURL = try TestPaths.executable("sentimentd")
        p.arguments = ["--version"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let printed = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual(String(decoding: printed, as: UTF8.self), SentimentVersion.current + "\n")

        let daemon = try DaemonProcess()
        try daemon.start()
        XCTAssertEqual(try daemon.client().call(StatusMethod.self, NoParams()).daemonVersion, SentimentVersion.current)
        XCTAssertEqual(try daemon.stop(), 0)
    }
}
