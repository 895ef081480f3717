import Foundation
import XCTest
@testable import SentimentCheckpoint
@testable import SentimentTokenizers
@testable import SentimentEngine
@testable import SentimentTraining
import SentimentCore
import SentimentTestSupport

/// FineTuneJob with method lora: new adapters over a model folder, adapters trained further over
/// their base, PEFT output folders that reload to the in-memory model's logits, resumable runs, and
/// recipes with and without the method key.
final class LoRAFineTuneTests: XCTestCase, FineTuneTesting {
    var tinyRoberta: URL { ModelFixtures.folder("tiny-roberta") }
    var tinyBert: URL { ModelFixtures.folder("tiny-bert") }

    func recipe(epochs: Int = 3, lr: Float = 1e-2, r: Int = 4) -> TrainingRecipe {
        var rec = smallRecipe(epochs: epochs, lr: lr)
        rec.method = .lora
        rec.lora = LoRAConfig(r: r, alpha: 8, dropout: 0.05)
        return rec
    }

    static let probeTexts = SyntheticData.examples(12, offset: 2000).map(\.text) + ["", "a completely different sentence, with punctuation!"]

    /// The output folder loaded as an adapter over a freshly loaded base gives the trained model's logits.
    func checkReload(_ out: URL, base baseFolder: URL, result: TrainingResult, file: StaticString = #filePath, line: UInt = #line) throws -> SentimentModel {
        let base = try BaseModel.load(folder: baseFolder)
        let model = try SentimentModel.load(adapterFolder: out, base: base)
        let encoded = Self.probeTexts.map(model.encode)
        let memory = TransformerEncoder(weights: result.weights, lora: result.lora).logits(encoded)
        let reloaded = model.logits(encoded: encoded)
        for (a, b) in zip(reloaded, memory) { assertClose(a, b, tolerance: 1e-6, "reloaded vs in-memory logits", file: file, line: line) }
        return model
    }

    func testNewAdapter_tinyRoberta_trainsOnlyTheAdapter_andTheFolderReloadsWithTheSameLogits() throws {
        let dir = try TemporaryDirectory("lora-job")
        var j = job(dir, base: tinyRoberta, recipe: recipe())
        j.keepWorkDirectory = true
        let baseFiles = try FileManager.default.contentsOfDirectory(atPath: tinyRoberta.path).sorted()
        var messages: [String] = []
        guard let (out, info, result) = completed(try j.run { if case let .message(m) = $0 { messages.append(m) } }) else { return }
        XCTAssertTrue(messages.contains { $0.hasPrefix("LoRA: a new adapter over") && $0.contains("rank 4") }, "\(messages)")

        // A PEFT adapter folder, not a model folder.
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: out.path))
        XCTAssertTrue(files.isSuperset(of: ["adapter_config.json", "adapter_model.safetensors", "training_info.json",
                                            "vocab.json", "merges.txt", "logs"]), "\(files)")
        XCTAssertFalse(files.contains("model.safetensors") || files.contains("config.json"), "\(files)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tinyRoberta.path).sorted(), baseFiles, "the base folder is untouched")
        let config = try AdapterFolder.readConfig(out)
        XCTAssertEqual(config.baseModelNameOrPath, "tiny-roberta")
        XCTAssertEqual(config.r, 4)
        XCTAssertEqual(config.resolvedModulesToSave(.roberta), ["classifier", "score"])
        XCTAssertEqual(info.method, .lora)
        XCTAssertEqual(info.hyperParameters.method, .lora)
        XCTAssertEqual(info.adapterBaseModel, "tiny-roberta")
        XCTAssertEqual(info.labels, ["negative", "neutral", "positive"])
        let decoded = try TrainingInfo.decode(Data(contentsOf: out.appendingPathComponent("training_info.json")))
        XCTAssertEqual(decoded.method, .lora)
        XCTAssertEqual(decoded.hyperParameters.lora?.r, 4)

        // Trained: the loss fell, B moved off zero.
        XCTAssertLessThan(info.epochs.last!.trainLoss, info.epochs.first!.trainLoss, "\(info.epochs.map(\.trainLoss))")
        guard let lora = result.lora else { return XCTFail("no adapter in the result") }
        XCTAssertTrue(lora.layers.joined().compactMap { $0 }.allSatisfy { $0.b.array.contains { $0 != 0 } })
        // The encoder the run used is the base's, unchanged.
        let fresh = try BaseModel.load(folder: tinyRoberta)
        for (a, b) in zip(result.weights.namedBuffers, fresh.weights.namedBuffers) where !a.name.hasPrefix("classifier") {
            XCTAssertEqual(a.buffer.array, b.buffer.array, "\(a.name) changed")
        }
        // The resumable checkpoint holds only the trained tensors and their moments.
        let checkpoint = try SafetensorsFile(url: j.resolvedWorkDirectory.appendingPathComponent("checkpoint.safetensors"))
        let saved = Set(checkpoint.tensorNames.filter { $0.hasPrefix("weights/") })
        XCTAssertEqual(saved, Set(lora.namedTensors.map { "weights/" + $0.name } + ["dense.weight", "dense.bias", "out_proj.weight", "out_proj.bias"].map { "weights/classifier." + $0 }))

        let model = try checkReload(out, base: tinyRoberta, result: result)
        XCTAssertEqual(model.adapter?.r, 4)
        try exportForPeftCheck(out, base: tinyRoberta, model: model)
    }

    func testNewAdapter_tinyBert_savesThePoolerWithTheHead() throws {
        let dir = try TemporaryDirectory("lora-job-bert")
        var rec = recipe(epochs: 2)
        rec.lora?.targetModules = ["query", "value"]
        let j = job(dir, base: tinyBert, recipe: rec)
        guard let (out, _, result) = completed(try j.run()) else { return }
        let config = try AdapterFolder.readConfig(out)
        XCTAssertEqual(config.resolvedModulesToSave(.bert), ["classifier", "pooler", "score"])
        XCTAssertEqual(config.targetModules, ["query", "value"])
        let tensors = try SafetensorsFile(url: out.appendingPathComponent("adapter_model.safetensors")).tensorNames
        XCTAssertTrue(tensors.contains("base_model.model.bert.pooler.dense.weight"))
        XCTAssertFalse(tensors.contains { $0.contains("intermediate") || $0.contains(".key.") })
        XCTAssertEqual(tensors.filter { $0.contains("lora_") }.count, 2 * 2 * 2)
        let model = try checkReload(out, base: tinyBert, result: result)
        try exportForPeftCheck(out, base: tinyBert, model: model)
    }

    /// An adapter folder as the base: trained further over its base (found by the resolver), starting
    /// from exactly its weights.
    func testAdapterFolderAsBase_isTrainedFurtherOverItsBase() throws {
        let dir = try TemporaryDirectory("lora-continue")
        guard let (first, _, _) = completed(try job(dir, base: tinyRoberta, out: "first", recipe: recipe(epochs: 1)).run()) else { return }
        var asked: [String] = []
        var next = job(dir, base: first, out: "second", recipe: recipe(epochs: 1, lr: 1e-9))
        next.recipe.lora = nil
        let resolver: (String) throws -> URL = { name in asked.append(name); return self.tinyRoberta }
        next.baseResolver = resolver
        guard let (second, info, result) = completed(try next.run()) else { return }
        XCTAssertEqual(asked, ["tiny-roberta"])
        XCTAssertEqual(info.continuedAdapter, first.path)
        XCTAssertEqual(try AdapterFolder.readConfig(second).baseModelNameOrPath, "tiny-roberta", "the adapter's base name is kept")
        // lr ~ 0: the second adapter is the first one (it started from the saved tensors, head included).
        let base = try BaseModel.load(folder: tinyRoberta)
        let a = try SentimentModel.load(adapterFolder: first, base: base), b = try SentimentModel.load(adapterFolder: second, base: base)
        let encoded = Self.probeTexts.map(a.encode)
        for (x, y) in zip(a.logits(encoded: encoded), b.logits(encoded: encoded)) { assertClose(x, y, tolerance: 1e-5, "continued adapter") }
        _ = try checkReload(second, base: tinyRoberta, result: result)

        // Shape-defining settings cannot change when an adapter is trained further.
        var other = job(dir, base: first, out: "third", recipe: recipe(epochs: 1, r: 8))
        other.baseResolver = { _ in self.tinyRoberta }
        XCTAssertThrowsError(try other.run()) { error in
            guard case let .badSetting(setting, reason)? = error as? TrainingError else { return XCTFail("\(error)") }
            XCTAssertEqual(setting, .lora)
            XCTAssertTrue(reason.contains("r 8 (the adapter's: 4)"), reason)
        }
        // A base that cannot be found is an error naming it.
        var lost = job(dir, base: first, out: "fourth", recipe: recipe(epochs: 1))
        lost.recipe.lora = nil
        lost.baseResolver = { name in dir.url.appendingPathComponent("nowhere-\(name)") }
        XCTAssertThrowsError(try lost.run()) { error in
            XCTAssertTrue("\(error)".contains("nowhere-tiny-roberta"), "\(error)")
        }
    }

    /// method full from an adapter folder: the adapter is merged into a fresh copy of its base, which
    /// then trains every weight; the output is a whole model folder.
    func testFullFromAdapterFolder_mergesItIntoACopyOfTheBase() throws {
        let dir = try TemporaryDirectory("lora-merge")
        guard let (adapterFolder, _, _) = completed(try job(dir, base: tinyRoberta, out: "adapter", recipe: recipe(epochs: 1)).run()) else { return }
        let base = try BaseModel.load(folder: tinyRoberta)
        let adapted = try SentimentModel.load(adapterFolder: adapterFolder, base: base)
        let encoded = Self.probeTexts.map(adapted.encode)
        let reference = adapted.logits(encoded: encoded)

        // The merged start equals the adapted model.
        let merged = try FineTuneBase.loadMerged(adapterFolder: adapterFolder, seed: 1, baseResolver: { _ in self.tinyRoberta })
        XCTAssertNil(merged.lora)
        XCTAssertFalse(merged.weights.layers[0].qkv.weight === base.weights.layers[0].qkv.weight, "a copy, not the shared base")
        for (a, b) in zip(TransformerEncoder(weights: merged.weights).logits(encoded), reference) {
            assertClose(a, b, tolerance: 1e-5, "merged vs unmerged logits")
        }
        XCTAssertNotEqual(merged.weights.layers[0].qkv.weight.array, base.weights.layers[0].qkv.weight.array)

        var full = job(dir, base: adapterFolder, out: "full", recipe: TrainingRecipe())
        full.recipe.epochs = 1
        full.recipe.batchSize = 8
        full.recipe.maxLength = 64
        full.recipe.learningRate = 1e-9
        full.baseResolver = { _ in self.tinyRoberta }
        var messages: [String] = []
        guard let (out, info, _) = completed(try full.run { if case let .message(m) = $0 { messages.append(m) } }) else { return }
        XCTAssertTrue(messages.contains { $0.hasPrefix("full fine-tuning from the adapter") }, "\(messages)")
        XCTAssertEqual(info.method, .full)
        XCTAssertEqual(info.continuedAdapter, adapterFolder.path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("model.safetensors").path))
        XCTAssertFalse(AdapterFolder.isAdapter(out))
        let model = try SentimentModel.load(folder: out)
        for (a, b) in zip(model.logits(encoded: encoded), reference) { assertClose(a, b, tolerance: 1e-4, "full model from the adapter") }
    }

    func testResumeAfterCancel_equalsAnUninterruptedRun() throws {
        let dir = try TemporaryDirectory("lora-resume")
        let r = recipe(epochs: 2)
        guard let (outA, _, _) = completed(try job(dir, base: tinyRoberta, out: "a", recipe: r).run()) else { return }
        let control = TrainingControl()
        let b = job(dir, base: tinyRoberta, out: "b", recipe: r)
        let first = try b.run(control: control) { if case let .progress(p) = $0, p.step == 5 { control.requestCancel() } }
        guard case let .interrupted(_, step, _) = first else { return XCTFail("expected an interruption") }
        XCTAssertEqual(step, 5)
        var resumed = b
        resumed.resume = true
        guard let (outB, infoB, _) = completed(try resumed.run()) else { return }
        XCTAssertEqual(infoB.sessions, 2)
        XCTAssertEqual(try Data(contentsOf: outB.appendingPathComponent("adapter_model.safetensors")),
                       try Data(contentsOf: outA.appendingPathComponent("adapter_model.safetensors")), "same adapter, bit for bit")

        // A checkpoint of a LoRA run does not resume as a full run.
        let c = job(dir, base: tinyRoberta, out: "c", recipe: r)
        _ = try c.run(control: control)  // control is still cancelled: stops at once with a checkpoint
        var full = c
        full.resume = true
        full.recipe.method = .full
        full.recipe.lora = nil
        XCTAssertThrowsError(try full.run()) { error in
            guard case let .checkpointMismatch(_, reasons)? = error as? TrainingError else { return XCTFail("\(error)") }
            XCTAssertTrue(reasons.contains("method: checkpoint lora, now full"), "\(reasons)")
        }
    }

    func testRecipe_methodDefaultsToFull_andTheLoRASectionRoundTrips() throws {
        // A recipe as written before LoRA existed: no "method", no "lora".
        var old = try JSONValue.parse(JSONEncoder().encode(TrainingRecipe()))
        guard case var .object(obj) = old else { return XCTFail() }
        obj.removeValue(forKey: "method")
        obj.removeValue(forKey: "lora")
        old = .object(obj)
        let decoded = try JSONDecoder().decode(TrainingRecipe.self, from: JSONEncoder().encode(old))
        XCTAssertEqual(decoded.method, .full)
        XCTAssertNil(decoded.lora)
        XCTAssertEqual(decoded, TrainingRecipe())

        var lora = TrainingRecipe()
        lora.method = .lora
        lora.lora = LoRAConfig(r: 16, alpha: 32, dropout: 0.1, targetModules: ["query", "value"])
        let text = String(decoding: try JSONEncoder().encode(lora), as: UTF8.self)
        XCTAssertTrue(text.contains("\"method\":\"lora\""), text)
        XCTAssertEqual(try JSONDecoder().decode(TrainingRecipe.self, from: Data(text.utf8)), lora)
        // A partial lora section takes the defaults for the rest.
        let partial = try JSONDecoder().decode(LoRAConfig.self, from: Data(#"{"r": 4}"#.utf8))
        XCTAssertEqual(partial, LoRAConfig(r: 4))
        XCTAssertEqual(LoRAConfig().targetModules, ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"])

        var bad = lora
        bad.freezeLayers = 1
        XCTAssertThrowsError(try bad.validate()) {
            guard case let .badSetting(setting, reason)? = $0 as? TrainingError else { return XCTFail("\($0)") }
            XCTAssertEqual(setting, .freezeLayers)
            XCTAssertTrue(reason.contains("does not apply to method lora"), reason)
            XCTAssertFalse("\($0)".contains("--"), "library messages name no command-line flag: \($0)")
        }
        bad = lora
        bad.lora?.dropout = 1
        XCTAssertThrowsError(try bad.validate()) { XCTAssertEqual($0 as? TrainingError, .badSetting(.loraDropout, reason: "must be in [0, 1)")) }
        var fullWithLoRA = TrainingRecipe()
        fullWithLoRA.lora = LoRAConfig()
        XCTAssertThrowsError(try fullWithLoRA.validate()) { XCTAssertTrue("\($0)".contains("method is full"), "\($0)") }
        // Targets naming the head are refused before training.
        var head = lora
        head.lora?.targetModules = ["dense"]
        let dir = try TemporaryDirectory("lora-recipe")
        XCTAssertThrowsError(try job(dir, base: tinyRoberta, recipe: head).run()) { error in
            guard case .targetNotSupported? = error as? LoRAError else { return XCTFail("\(error)") }
        }
    }

    /// With SENTIMENTD_LORA_EXPORT set, the adapter and the logits sentimentd computes for the probe
    /// texts are copied there for tools/check_lora.py (peft must load them to the same logits).
    func exportForPeftCheck(_ out: URL, base: URL, model: SentimentModel) throws {
        guard let target = ProcessInfo.processInfo.environment["SENTIMENTD_LORA_EXPORT"], !target.isEmpty else { return }
        let dest = URL(fileURLWithPath: target).appendingPathComponent("\(base.lastPathComponent)-adapter")
        try? FileManager.default.removeItem(at: dest)
        try FileManager.default.createDirectory(at: dest.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: out, to: dest)
        let encoded = Self.probeTexts.map(model.encode)
        let logits = model.logits(encoded: encoded)
        let json: JSONValue = .object([
            "texts": .array(Self.probeTexts.map { .string(model.normalizesTweets ? TweetNormalizer.normalize($0) : $0) }),
            "input_ids": .array(encoded.map { .array($0.map { .number(Double($0)) }) }),
            "logits": .array(logits.map { .array($0.map { .number(Double($0)) }) }),
            "max_length": .number(Double(model.maxLength)),
        ])
        try json.serialized().write(to: URL(fileURLWithPath: target).appendingPathComponent("\(base.lastPathComponent)-expected.json"))
    }
}
