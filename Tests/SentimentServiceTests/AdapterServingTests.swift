import Foundation
import SentimentEngine
import SentimentProtocol
@testable import SentimentService
import XCTest

/// LoRA adapter folders as model versions: base resolution, one shared base in memory, served by the daemon
/// with the same probabilities as in process, activation and rollback between adapters.
final class AdapterServingTests: XCTestCase {
    static let fixtures = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures")
    static let adapter = fixtures.appendingPathComponent("lora/tiny-roberta/adapter")
    /// The adapter names its base "tiny-roberta": found in this folder.
    static let bases = fixtures.appendingPathComponent("models")

    private func copyAdapter(into models: URL, as name: String, base: String? = nil) throws {
        let target = models.appendingPathComponent(name)
        try FileManager.default.copyItem(at: Self.adapter, to: target)
        if let base {
            let url = target.appendingPathComponent("adapter_config.json")
            var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
            json["base_model_name_or_path"] = base
            try JSONSerialization.data(withJSONObject: json).write(to: url)
        }
    }

    func testLoader_sharesOneBaseBetweenAdapters_andResolvesNames() throws {
        _ = try TestPaths.requireTinyRoberta()
        let dir = try TemporaryDirectory()
        try copyAdapter(into: dir.url, as: "a1")
        try copyAdapter(into: dir.url, as: "a2", base: "some-org/tiny-roberta")
        let loader = ModelLoader(modelsDirectory: dir.url, baseDirectories: [Self.bases])
        let m1 = try loader.load(dir.url.appendingPathComponent("a1"))
        let m2 = try loader.load(dir.url.appendingPathComponent("a2"))
        let m1again = try loader.load(dir.url.appendingPathComponent("a1"))
        XCTAssertEqual(loader.baseLoads, 1, "the base was read more than once")
        XCTAssertTrue(m1.encoder.weights.layers[0].qkv.weight === m2.encoder.weights.layers[0].qkv.weight)
        XCTAssertTrue(m1.encoder.weights.embeddings.word === m1again.encoder.weights.embeddings.word)
        // Same adapter, same base: same probabilities as loading it directly.
        let direct = try SentimentModel.load(adapterFolder: Self.adapter,
                                             base: BaseModel.load(folder: Self.bases.appendingPathComponent("tiny-roberta")))
        let texts = ["hello world", "I love this", "worst day ever"]
        for (a, b) in zip(m2.predict(texts), direct.predict(texts)) {
            for (x, y) in zip(a.probabilities, b.probabilities) { XCTAssertEqual(x, y, accuracy: 1e-6) }
        }
        // A base that is nowhere: a clear error naming the adapter, the name and the places searched.
        try copyAdapter(into: dir.url, as: "a3", base: "nobody/missing-base")
        XCTAssertThrowsError(try loader.load(dir.url.appendingPathComponent("a3"))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("missing-base") && text.contains(Self.bases.path) && text.contains("a3"), text)
        }
    }

    func testDaemon_servesAdapters_activatesAndRollsBackBetweenThem() throws {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess()
        try daemon.writeConfig(models: ["base_directories": "[\"\(Self.bases.path)\"]", "activate": "\"manual\""])
        try copyAdapter(into: daemon.modelsDirectory, as: "a1")
        try daemon.start()
        _ = try daemon.client().call(ModelsActivateMethod.self, .init(version: "a1"))
        let texts = ["hello world", "I love this", "worst day ever"]
        let served = try daemon.client().call(PredictMethod.self, .init(texts: texts))
        XCTAssertEqual(served.model, "a1")
        let direct = try SentimentModel.load(adapterFolder: Self.adapter,
                                             base: BaseModel.load(folder: Self.bases.appendingPathComponent("tiny-roberta")))
        for (a, b) in zip(served.predictions, direct.predict(texts)) {
            for (x, y) in zip(a.probabilities, b.probabilities) { XCTAssertEqual(x, y, accuracy: 1e-5) }
        }
        try copyAdapter(into: daemon.modelsDirectory, as: "a2")
        let deadline = Date().addingTimeInterval(30)
        while try daemon.client().call(ModelsListMethod.self, NoParams()).models.first(where: { $0.version == "a2" })?.state != "available",
              Date() < deadline { usleep(50_000) }
        XCTAssertEqual(try daemon.client().call(ModelsActivateMethod.self, .init(version: "a2")).active, "a2")
        XCTAssertEqual(try daemon.client().call(RollbackMethod.self, .init()).active, "a1")
        XCTAssertEqual(try daemon.client().call(PredictMethod.self, .init(texts: texts)).model, "a1")
        // An adapter whose base cannot be found is rejected with the reason, and never served.
        try copyAdapter(into: daemon.modelsDirectory, as: "a3", base: "nobody/missing-base")
        var reason: String?
        let d2 = Date().addingTimeInterval(30)
        while Date() < d2 {
            let v = try daemon.client().call(ModelsListMethod.self, NoParams()).models.first { $0.version == "a3" }
            if v?.state == "rejected" { reason = v?.reason; break }
            usleep(50_000)
        }
        XCTAssertTrue(reason?.contains("missing-base") ?? false, "\(String(describing: reason))")
        XCTAssertEqual(try daemon.stop(), 0)
    }
}
