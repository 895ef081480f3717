import Foundation
import SentimentProtocol
import SentimentTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// No file can crash, wedge or restart-loop sentimentd: every hostile folder of `HostileCheckpoints` is refused by
/// name by the real daemon (which never exits or stops answering meanwhile) and by the one-shot commands (which
/// exit 1 with the reason, never on a signal, never hang).
final class DaemonHostileCheckpointTests: XCTestCase {
    private func status(_ daemon: DaemonProcess) throws -> StatusMethod.Result {
        try daemon.client(timeout: 30).call(StatusMethod.self, NoParams())
    }

    func testHostileFolders_areRejectedByName_whileTheServingVersionKeepsAnswering() throws {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess(models: ["settle_ms": "200"])
        try daemon.installModel(version: "v1")
        try daemon.start()
        let pid = daemon.pid
        let cases = HostileCheckpoints.configs + HostileCheckpoints.weights
            + HostileCheckpoints.files(sibling: daemon.modelsDirectory.appendingPathComponent("v1"))
        var versions: [String: HostileCheckpoint] = [:]
        for (i, hostile) in cases.enumerated() {
            let version = String(format: "h%02d", i)
            let staging = daemon.modelsDirectory.appendingPathComponent(".staging-\(version)")
            try hostile.build(at: staging)
            try FileManager.default.moveItem(at: staging, to: daemon.modelsDirectory.appendingPathComponent(version))
            versions[version] = hostile
        }
        let client = try daemon.client()
        var pending = Set(versions.keys)
        var reasons: [String: String] = [:]
        let deadline = Date().addingTimeInterval(600)
        while !pending.isEmpty && Date() < deadline {
            XCTAssertEqual(try client.call(PredictMethod.self, .init(texts: ["still here"])).model, "v1")
            for m in try client.call(ModelsListMethod.self, NoParams()).models where pending.contains(m.version) {
                XCTAssertNotEqual(m.state, "active", "\(m.version) (\(versions[m.version]!.name)) was activated")
                if m.state == "rejected" {
                    reasons[m.version] = m.reason ?? ""
                    pending.remove(m.version)
                }
            }
            usleep(100_000)
        }
        XCTAssertEqual(pending.sorted().map { "\($0) \(versions[$0]!.name)" }, [], "not rejected in time; stderr:\n\(daemon.stderr.suffix(4000))")
        for (version, reason) in reasons.sorted(by: { $0.key < $1.key }) {
            let hostile = versions[version]!
            XCTAssertTrue(reason.contains(hostile.names), "\(hostile.name): the reason does not name \"\(hostile.names)\": \(reason)")
        }
        XCTAssertEqual(daemon.pid, pid)
        XCTAssertEqual(try status(daemon).activeModel, "v1")
        // The registry is not wedged: a good version still goes live.
        try daemon.installModel(version: "z-good")
        let goodDeadline = Date().addingTimeInterval(120)
        while try status(daemon).activeModel != "z-good" && Date() < goodDeadline { usleep(50_000) }
        XCTAssertEqual(try status(daemon).activeModel, "z-good", "stderr:\n\(daemon.stderr.suffix(3000))")
        XCTAssertEqual(try daemon.stop(), 0)
    }

    /// `sentimentd predict` and `sentimentd finetune` refuse the same folders by name: exit status 1, no signal,
    /// no hang (a FIFO is not waited on).
    func testOneShotCommands_refuseHostileFoldersByName() throws {
        let directory = try TemporaryDirectory()
        let sibling = directory.url.appendingPathComponent("good")
        try HostileCheckpoints.copyTiny(to: sibling)
        let cases = HostileCheckpoints.configs + HostileCheckpoints.weights + HostileCheckpoints.files(sibling: sibling)
        for (i, hostile) in cases.enumerated() {
            let folder = directory.url.appendingPathComponent("h\(i)")
            try hostile.build(at: folder)
            let result = try runSentimentd(["predict", "--model", folder.path, "hello there"])
            XCTAssertEqual(result.signal, nil, "\(hostile.name): predict died on signal \(result.signal ?? 0): \(result.err.suffix(800))")
            XCTAssertEqual(result.status, 1, "\(hostile.name): \(result.out) \(result.err.suffix(800))")
            XCTAssertTrue(result.err.contains(hostile.names), "\(hostile.name): stderr does not name \"\(hostile.names)\": \(result.err.suffix(800))")
            XCTAssertEqual(result.out, "", "\(hostile.name) printed an answer")
        }
        // finetune loads its base through the same readers.
        let train = directory.url.appendingPathComponent("train.jsonl")
        try (0..<12).map { #"{"text": "text \#($0)", "label": "\#(["negative", "neutral", "positive"][$0 % 3])"}"# }
            .joined(separator: "\n").write(to: train, atomically: true, encoding: .utf8)
        for hostile in HostileCheckpoints.configs.prefix(3) + HostileCheckpoints.weights.filter({ $0.name.hasPrefix("pytorch-stride") }) {
            let folder = directory.url.appendingPathComponent("ft-\(UUID().uuidString)")
            try hostile.build(at: folder)
            let result = try runSentimentd(["finetune", "--base", folder.path, "--train", train.path, "--val", train.path,
                                            "--out", directory.url.appendingPathComponent("out-\(UUID().uuidString)").path,
                                            "--epochs", "1"])
            XCTAssertEqual(result.signal, nil, "\(hostile.name): finetune died on signal \(result.signal ?? 0): \(result.err.suffix(800))")
            XCTAssertNotEqual(result.status, 0, hostile.name)
            XCTAssertTrue(result.err.contains(hostile.names), "\(hostile.name): \(result.err.suffix(800))")
        }
    }

    /// `sentimentd predict` refuses NaN weights as the daemon does (it printed NaN probabilities and exited 0).
    func testPredictCommand_refusesNaNWeights() throws {
        let directory = try TemporaryDirectory()
        let folder = directory.url.appendingPathComponent("nan")
        try HostileCheckpoints.copyTiny(to: folder)
        try CheckpointDamage.nanClassifierBias(folder)
        for json in [false, true] {
            let result = try runSentimentd(["predict", "--model", folder.path] + (json ? ["--json"] : []) + ["I love this"])
            XCTAssertEqual(result.status, 1, "\(result.out) \(result.err)")
            XCTAssertEqual(result.out, "")
            XCTAssertTrue(result.err.contains("classifier.out_proj.bias\" holds NaN or infinite values"), result.err)
        }
    }
}

/// Runs the real sentimentd with `args` (killed after `timeout` seconds: a hang is a failure, not a stuck test).
func runSentimentd(_ args: [String], timeout: TimeInterval = 120,
                   environment extra: [String: String] = [:]) throws -> (status: Int32, signal: Int32?, out: String, err: String) {
    let run = try runToEnd(try TestPaths.executable("sentimentd"), args, environment: extra, removing: ["SENTIMENT_MODEL"],
                           timeout: timeout)
    return (run.status, run.signal, run.out, run.err)
}
