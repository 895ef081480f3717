import Foundation
import Logging
import SentimentCore
import SentimentEngine
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
        pack_weights = false
        load_priority = "low"
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
        XCTAssertFalse(c.packWeights)
        XCTAssertTrue(DaemonConfig().packWeights)
        XCTAssertEqual(c.loadPriority, .low)
        XCTAssertEqual(DaemonConfig().loadPriority, .idle)
        XCTAssertEqual(c.logLevel, .debug)
        XCTAssertEqual(c.modelsDirectory, DaemonConfig().modelsDirectory)
    }

    /// `[models] precision` and the int8 check's tolerances: defaults (fp32; 98 %, half a point, 200 labels), values
    /// read, and every bad value named with its key and line.
    func testParse_precisionAndInt8Tolerances() throws {
        XCTAssertEqual(DaemonConfig().precision, .fp32)
        XCTAssertEqual(DaemonConfig().int8Tolerance, PrecisionTolerance(minimumAgreement: 0.98, maximumMacroF1Drop: 0.005, minimumLabelled: 200))
        let c = try ConfigFile.parse("""
        [models]
        precision = "int8"
        int8_min_agreement = 0.995
        int8_max_f1_drop = 0.01
        int8_min_labels = 50
        """, path: "t.conf")
        XCTAssertEqual(c.precision, .int8)
        XCTAssertEqual(c.int8Tolerance, PrecisionTolerance(minimumAgreement: 0.995, maximumMacroF1Drop: 0.01, minimumLabelled: 50))
        guard case let .badValue(_, key, line, reason)? = error("[models]\n\nprecision = \"int4\"\n") else { return XCTFail() }
        XCTAssertEqual(key, "models.precision")
        XCTAssertEqual(line, 3)
        XCTAssertTrue(reason.contains("\"int4\"") && reason.contains("\"int8\""), reason)
        guard case let .wrongType(_, key2, line2, _, _)? = error("[models]\nprecision = 8\n") else { return XCTFail() }
        XCTAssertEqual([key2, "\(line2 ?? 0)"], ["models.precision", "2"])
        guard case let .badValue(_, key3, _, reason3)? = error("[models]\nint8_min_agreement = 1.5\n") else { return XCTFail() }
        XCTAssertEqual(key3, "models.int8_min_agreement")
        XCTAssertTrue(reason3.contains("out of range"), reason3)
        guard case let .badValue(_, key4, _, _)? = error("[models]\nint8_max_f1_drop = -0.1\n") else { return XCTFail() }
        XCTAssertEqual(key4, "models.int8_max_f1_drop")
        guard case let .wrongType(_, key5, _, _, _)? = error("[models]\nint8_min_labels = 2.5\n") else { return XCTFail() }
        XCTAssertEqual(key5, "models.int8_min_labels")
        var changed = DaemonConfig()
        changed.precision = .int8
        changed.int8Tolerance.minimumLabelled = 10
        XCTAssertEqual(changed.restartOnlyDifferences(from: DaemonConfig()), ["models.precision", "models.int8_min_labels"])
    }

    func testParse_trainingAndLabels() throws {
        let c = try ConfigFile.parse("""
        [labels]
        names = ["neg", "pos"]
        eval_fraction = 0.2
        [training]
        enabled = false
        every = "90m"
        min_new_labels = 5
        quiet_hours = "22:30-06:00"
        method = "lora"
        learning_rate = 1e-4
        gate_tolerance = 0
        nice = 19
        """, path: "t.conf")
        XCTAssertEqual(c.labelNames, ["neg", "pos"])
        XCTAssertEqual(c.evalFraction, 0.2)
        XCTAssertFalse(c.training.enabled)
        XCTAssertEqual(c.training.everySeconds, 5400)
        XCTAssertEqual(c.training.minNewLabels, 5)
        XCTAssertEqual(c.training.quietHours?.start, 22 * 60 + 30)
        XCTAssertEqual(c.training.quietHours?.end, 6 * 60)
        XCTAssertEqual(c.training.recipe.method, .lora)
        XCTAssertEqual(c.training.recipe.learningRate, 1e-4)
        XCTAssertEqual(c.training.gateTolerance, 0)
        XCTAssertEqual(c.training.nice, 19)
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        func at(_ h: Int, _ m: Int) -> Date { utc.date(from: DateComponents(year: 2026, month: 1, day: 1, hour: h, minute: m))! }
        XCTAssertTrue(c.training.isQuiet(at: at(23, 0), calendar: utc))
        XCTAssertTrue(c.training.isQuiet(at: at(5, 59), calendar: utc))
        XCTAssertFalse(c.training.isQuiet(at: at(6, 0), calendar: utc))
        XCTAssertFalse(c.training.isQuiet(at: at(22, 29), calendar: utc))

        guard case .badValue? = error("[training]\nevery = \"6 hours\"\n") else { return XCTFail() }
        guard case .badValue? = error("[training]\nquiet_hours = \"25:00-01:00\"\n") else { return XCTFail() }
        guard case .badValue? = error("[training]\nmethod = \"half\"\n") else { return XCTFail() }
        guard case .wrongType? = error("[training]\nenabled = 1\n") else { return XCTFail() }
        guard case .badValue? = error("[labels]\nnames = [\"a\", \"A\"]\n") else { return XCTFail() }
        guard case let .badValue(_, key, line, _)? = error("[labels]\n\neval_fraction = 0.9\n") else { return XCTFail() }
        XCTAssertEqual(key, "labels.eval_fraction")
        XCTAssertEqual(line, 3)
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
        guard case let .wrongType(_, key3, _, _, _)? = error("[models]\npack_weights = \"yes\"\n") else { return XCTFail() }
        XCTAssertEqual(key3, "models.pack_weights")
        guard case let .badValue(_, key4, _, reason4)? = error("[models]\nload_priority = \"high\"\n") else { return XCTFail() }
        XCTAssertEqual(key4, "models.load_priority")
        XCTAssertTrue(reason4.contains("\"high\""), reason4)
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
        a.packWeights = false
        XCTAssertEqual(a.restartOnlyDifferences(from: DaemonConfig()), ["server.socket", "models.pack_weights"])
        a.loadPriority = .low
        XCTAssertEqual(a.restartOnlyDifferences(from: DaemonConfig()),
                       ["server.socket", "models.pack_weights", "models.load_priority"])
    }

    /// `reload` keeps every restart-only setting at its running value (labels.names and
    /// models.base_directories included) and takes the others from the file.
    func testKeepRestartOnlySettings_restoresEveryReportedSettingAndNothingElse() {
        var running = DaemonConfig()
        running.socketPath = "/run/a.sock"
        running.socketMode = 0o600
        running.requestLineBytes = 4096
        running.modelsDirectory = "/m"
        running.activate = .manual
        running.settleMilliseconds = 5
        running.baseDirectories = ["/b"]
        running.packWeights = false
        running.loadPriority = .low
        running.precision = .int8
        running.int8Tolerance = PrecisionTolerance(minimumAgreement: 0.9, maximumMacroF1Drop: 0.02, minimumLabelled: 5)
        running.databasePath = "/d.sqlite"
        running.labelNames = ["bad", "good"]
        var fresh = DaemonConfig()
        fresh.maxBatch = 7
        XCTAssertEqual(fresh.restartOnlyDifferences(from: running).count, 15)
        fresh.keepRestartOnlySettings(of: running)
        XCTAssertEqual(fresh.restartOnlyDifferences(from: running), [])
        XCTAssertEqual(fresh.labelNames, ["bad", "good"])
        XCTAssertEqual(fresh.baseDirectories, ["/b"])
        XCTAssertEqual(fresh.loadPriority, .low)
        XCTAssertEqual(fresh.maxBatch, 7)
    }
}
