import Foundation
import SentimentCore
import SentimentEngine
import SentimentTraining
import SentimentProtocol
@testable import SentimentService
import SentimentTestSupport
import XCTest

/// The shipped default model (models/tweet-sentiment-minilm-lora over all-MiniLM-L6-v2) and the quickstart's
/// configuration: the metrics in its training_info.json are what it really scores on the validation tweets,
/// and the daemon started the quickstart's way answers obvious tweets correctly.
final class DefaultModelTests: XCTestCase {
    static let root = TestPaths.repositoryRoot
    static let adapter = root.appendingPathComponent("models/tweet-sentiment-minilm-lora")
    static let vendor = root.appendingPathComponent("vendor-models")
    static let valTexts = SharedData.folder.appendingPathComponent("tweet-sentiment/val_text.txt")
    static let valLabels = SharedData.folder.appendingPathComponent("tweet-sentiment/val_labels.txt")

    private func requireBase() throws {
        guard FileManager.default.fileExists(atPath: Self.vendor.appendingPathComponent("all-MiniLM-L6-v2/model.safetensors").path) else {
            throw XCTSkip("vendor-models/all-MiniLM-L6-v2 is missing: run scripts/fetch-minilm.sh (scripts/test.sh does)")
        }
    }

    func testDevConfig_pointsAtTheCheckout() throws {
        let path = Self.root.appendingPathComponent("etc/sentimentd.dev.conf").path
        let c = try ConfigFile.load(path: path)
        XCTAssertEqual(c.modelsDirectory, Self.root.appendingPathComponent("models").standardizedFileURL.path)
        XCTAssertEqual(c.baseDirectories, [Self.vendor.standardizedFileURL.path])
        XCTAssertEqual(c.socketPath, Self.root.appendingPathComponent("var/sentimentd.sock").standardizedFileURL.path)
        XCTAssertEqual(c.training.recipe.method, .lora)
        XCTAssertTrue(AdapterFolder.isAdapter(Self.adapter), "the default model is not in models/")
    }

    func testShippedMetrics_areWhatTheModelScoresOnTheValidationTweets() throws {
        try requireBase()
        guard FileManager.default.fileExists(atPath: Self.valTexts.path) else {
            throw XCTSkip(SharedData.absence("tweet-sentiment/val_text.txt"))
        }
        let info = try TrainingInfo.decode(Data(contentsOf: Self.adapter.appendingPathComponent("training_info.json")))
        let recorded = try XCTUnwrap(info.bestValidation)
        XCTAssertEqual(info.method, .lora)
        XCTAssertEqual(info.labels, ["negative", "neutral", "positive"])

        let loader = ModelLoader(modelsDirectory: Self.adapter.deletingLastPathComponent(), baseDirectories: [Self.vendor])
        let model = try loader.load(Self.adapter)
        let texts = try String(contentsOf: Self.valTexts, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init).filter { !$0.isEmpty }
        let labels = try String(contentsOf: Self.valLabels, encoding: .utf8).split(separator: "\n").compactMap { Int($0) }
        XCTAssertEqual(texts.count, 2000)
        XCTAssertEqual(labels.count, 2000)
        var logits: [[Float]] = []
        var start = 0
        while start < texts.count {
            let chunk = Array(texts[start..<min(start + 64, texts.count)])
            logits += model.logits(encoded: chunk.map { model.encode($0) })
            start += chunk.count
        }
        let m = ClassificationMetrics(logits: logits, labels: labels, classCount: 3)
        XCTAssertEqual(m.accuracy, recorded.accuracy, accuracy: 1e-3)
        XCTAssertEqual(m.macroF1, recorded.macroF1, accuracy: 1e-3)
        XCTAssertEqual(m.macroRecall, recorded.macroRecall, accuracy: 1e-3)
        // Well above a frozen-embedding + logistic-regression baseline (~0.64 macro-recall on TweetEval).
        XCTAssertGreaterThan(m.macroRecall, 0.67)
    }

    func testQuickstartDaemon_answersObviousTweets() throws {
        try requireBase()
        let daemon = try DaemonProcess()
        // The quickstart's layout in a temporary folder: the shipped adapter in models/, the base in vendor-models/.
        let target = daemon.modelsDirectory.appendingPathComponent("tweet-sentiment-minilm-lora")
        try FileManager.default.copyItem(at: Self.adapter, to: target)
        daemon.extraTables = ["training": ["enabled": "false"]]
        try daemon.writeConfig(models: ["base_directories": "[\"\(Self.vendor.path)\"]"])
        try daemon.start()
        let deadline = Date().addingTimeInterval(60)
        while try daemon.client().call(StatusMethod.self, NoParams()).activeModel == nil && Date() < deadline { usleep(50_000) }
        let cases: [(String, String)] = [
            ("I love this so much, best day ever!", "positive"),
            ("Absolutely amazing game tonight, so proud of the team", "positive"),
            ("This is the worst service I have ever had, I hate it", "negative"),
            ("My flight got cancelled again, this is terrible", "negative"),
            ("The meeting is moved to Tuesday at 3pm", "neutral"),
        ]
        let r = try runSentimentctl(["predict", "--json"] + cases.map(\.0), socket: daemon.socketPath)
        XCTAssertEqual(r.status, 0, r.err + daemon.stderr.suffix(2000))
        let result = try RPCCoding.decoder().decode(PredictMethod.Result.self, from: Data(r.out.utf8))
        XCTAssertEqual(result.model, "tweet-sentiment-minilm-lora")
        XCTAssertEqual(result.predictions.map(\.label), cases.map(\.1))
        XCTAssertEqual(try daemon.stop(), 0)
    }
}
