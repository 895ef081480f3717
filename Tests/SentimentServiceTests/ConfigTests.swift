import Foundation
import Logging
@testable import SentimentService
import XCTest

final class DaemonConfigTests: XCTestCase {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    func testShippedConfigFile_setsEverySettingToItsDefault() throws {
        let path = Self.repositoryRoot.appendingPathComponent("etc/sentimentd.conf").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(try ConfigFile.load(path: path), DaemonConfig())
        // Every key the parser knows appears in the file, so the file documents them all.
        for setting in ConfigFile.settings {
            XCTAssertTrue(text.contains("\n[\(setting.table)]\n"), "table [\(setting.table)] is not in the shipped file")
            XCTAssertNotNil(text.range(of: "\n\(setting.key) = "), "\(setting.table).\(setting.key) is not in the shipped file")
        }
    }

    func testParse_readsEveryKind() throws {
        let c = try ConfigFile.parse("""
        [server]
        socket = "run/s.sock"
        socket_mode = "0600"
        admin_group = ""
        max_texts = 8
        [batching]
        max_batch = 4
        max_delay_ms = 0
        [models]
        activate = "manual"
        [log]
        level = "debug"
        """, path: "t.conf", baseDirectory: URL(fileURLWithPath: "/etc/x"))
        XCTAssertEqual(c.socketPath, "/etc/x/run/s.sock")
        XCTAssertEqual(c.socketMode, 0o600)
        XCTAssertNil(c.adminGroup)
        XCTAssertEqual(c.maxTexts, 8)
        XCTAssertEqual(c.maxBatch, 4)
        XCTAssertEqual(c.maxDelayMilliseconds, 0)
        XCTAssertEqual(c.activate, .manual)
        XCTAssertEqual(c.logLevel, .debug)
        XCTAssertEqual(c.modelsDirectory, DaemonConfig().modelsDirectory)
    }

    private func error(_ text: String) -> DaemonConfigError? {
        do {
            _ = try ConfigFile.parse(text, path: "t.conf")
            XCTFail("expected an error for:\n\(text)")
            return nil
        } catch let e as DaemonConfigError {
            return e
        } catch {
            XCTFail("unexpected error type \(error)")
            return nil
        }
    }

    func testUnknownKey_isAnErrorNamingTheKeyAndLine() {
        let e = error("# comment\n[server]\nmax_texts = 3\nmax_text = 4\n")
        XCTAssertEqual(e, .unknownKey(path: "t.conf", key: "server.max_text", line: 4, known: ConfigFile.settings.filter {
            $0.table == "server"
        }.map(\.key)))
        XCTAssertTrue(e.map { "\($0)" }?.hasPrefix("t.conf:4: unknown key \"server.max_text\"") ?? false, "\(String(describing: e))")
    }

    func testUnknownTable_isAnErrorWithItsLine() {
        guard case let .unknownTable(_, table, line, _)? = error("[server]\n\n[sever2]\nx = 1\n") else { return XCTFail() }
        XCTAssertEqual(table, "sever2")
        XCTAssertEqual(line, 3)
    }

    func testBadValues_nameKeyLineAndReason() {
        guard case let .wrongType(_, key, line, expected, found)? = error("[batching]\nmax_batch = \"32\"\n") else {
            return XCTFail()
        }
        XCTAssertEqual([key, expected, found], ["batching.max_batch", "an integer", "a string"])
        XCTAssertEqual(line, 2)
        guard case let .badValue(_, key2, line2, reason)? = error("[batching]\n\nmax_batch = 0\n") else { return XCTFail() }
        XCTAssertEqual(key2, "batching.max_batch")
        XCTAssertEqual(line2, 3)
        XCTAssertTrue(reason.contains("out of range"), reason)
        guard case .badValue? = error("[models]\nactivate = \"oldest\"\n") else { return XCTFail() }
        guard case .badValue? = error("[server]\nsocket_mode = \"rw\"\n") else { return XCTFail() }
        guard case .badValue? = error("[log]\nlevel = \"loud\"\n") else { return XCTFail() }
    }

    func testSyntaxError_carriesLineAndColumn() {
        guard case let .syntax(_, line, _, _)? = error("[server]\nmax_texts = 3\nmax_batch = = 2\n") else {
            return XCTFail()
        }
        XCTAssertEqual(line, 3)
    }

    func testMissingFile_isUnreadable() {
        XCTAssertThrowsError(try ConfigFile.load(path: "/nonexistent/sentimentd.conf")) { e in
            guard case .unreadable? = e as? DaemonConfigError else { return XCTFail("\(e)") }
        }
    }

    func testRestartOnlyDifferences_listsOnlyThoseSettings() {
        var a = DaemonConfig()
        a.maxBatch = 7
        a.socketPath = "/x"
        XCTAssertEqual(a.restartOnlyDifferences(from: DaemonConfig()), ["server.socket"])
    }
}
