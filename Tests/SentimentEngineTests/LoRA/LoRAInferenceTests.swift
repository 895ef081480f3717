import Foundation
import XCTest
@testable import SentimentCheckpoint
@testable import SentimentEngine
import SentimentCore
import SentimentTestSupport

/// PEFT adapter folders: reading adapter_config.json and adapter_model.safetensors as peft writes
/// them, the unmerged forward pass against peft's logits, buffer sharing with the base, and the
/// errors for what sentimentd does not support.
final class LoRAInferenceTests: XCTestCase {
    func checkLogits(_ family: String) throws {
        let fx = try LoRAFixtures.fixture(family)
        let base = try BaseModel.load(folder: LoRAFixtures.base(family))
        let model = try SentimentModel.load(adapterFolder: LoRAFixtures.adapter(family), base: base,
                                            options: ModelLoadOptions(normalizeTweets: false, maxLength: 64))
        XCTAssertEqual(model.adapter?.r, fx.lora.r)
        XCTAssertEqual(model.labels, base.config.id2label, "no training_info.json: the base's labels")
        // The tokenizer path gives the ids peft saw.
        XCTAssertEqual(fx.texts.map(model.encode), fx.input_ids)
        let logits = model.logits(encoded: fx.input_ids)
        var worst: Float = 0
        for (i, row) in logits.enumerated() {
            assertClose(row, fx.logits[i], tolerance: fx.tolerance.logits_abs, "\(family) adapter logits of text \(i)")
            worst = max(worst, zip(row, fx.logits[i]).map { abs($0 - $1) }.max()!)
        }
        // Not vacuous: the adapter moves the logits far beyond the tolerance, and the base alone differs.
        let baseLogits = try base.classifier().logits(encoded: fx.input_ids)
        let effect = zip(baseLogits.joined(), logits.joined()).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(effect, 100 * fx.tolerance.logits_abs, "\(family): the adapter must change the logits")
        for (i, row) in baseLogits.enumerated() { assertClose(row, fx.base_logits[i], tolerance: 1e-4, "\(family) base logits \(i)") }
        print("LoRA \(family) inference parity: max |Δlogit| vs peft \(worst) (adapter effect \(effect))")
    }

    func testRobertaAdapterLogitsMatchPeft() throws { try checkLogits("roberta") }

    func testBertAdapterLogitsMatchPeft() throws { try checkLogits("bert") }

    func testAdapterConfig_readsPeftFileAndSelectsTheExpectedModules() throws {
        let roberta = try AdapterFolder.readConfig(LoRAFixtures.adapter("roberta"))
        XCTAssertEqual(roberta.r, 8)
        XCTAssertEqual(roberta.alpha, 16)
        XCTAssertEqual(roberta.scale, 2)
        XCTAssertEqual(roberta.baseModelNameOrPath, "tiny-roberta")
        XCTAssertEqual(roberta.resolvedModulesToSave(.roberta), ["classifier", "score"])
        XCTAssertEqual(roberta.adaptedTargets(layer: 1, family: .roberta), LoRATarget.allCases)
        let bert = try AdapterFolder.readConfig(LoRAFixtures.adapter("bert"))
        XCTAssertEqual(bert.resolvedModulesToSave(.bert), ["classifier", "pooler", "score"], "duplicates dropped")
        // "output.dense" is a suffix of attention.output.dense too, as in peft.
        XCTAssertEqual(bert.adaptedTargets(layer: 0, family: .bert), [.query, .value, .attentionOutput, .output])
        XCTAssertEqual(LoRAConfig().adaptedTargets(layer: 0, family: .bert), LoRATarget.allCases)
        XCTAssertTrue(AdapterFolder.isAdapter(LoRAFixtures.adapter("bert")))
        XCTAssertFalse(AdapterFolder.isAdapter(LoRAFixtures.base("bert")))
        XCTAssertThrowsError(try AdapterFolder.readConfig(LoRAFixtures.base("bert"))) {
            XCTAssertEqual($0 as? LoRAError, .notAnAdapter(folder: LoRAFixtures.base("bert").path))
        }
    }

    func testAdapterConfig_writtenAsPeftDoesAndReadBack() throws {
        let mine = LoRAConfig(r: 4, alpha: 12, dropout: 0.05, baseModelNameOrPath: "all-MiniLM-L6-v2")
        let data = AdapterConfigFile.serialized(mine, family: .bert)
        guard case let .object(obj) = try JSONValue.parse(data) else { return XCTFail("not an object") }
        guard case let .object(peft) = try JSONValue.parse(Data(contentsOf: LoRAFixtures.adapter("bert").appendingPathComponent("adapter_config.json"))) else {
            return XCTFail("fixture")
        }
        XCTAssertEqual(Set(obj.keys), Set(peft.keys).subtracting(["peft_version"]), "the keys peft 0.21 writes (peft_version is peft's own)")
        XCTAssertEqual(obj["lora_dropout"], .number(0.05))
        XCTAssertEqual(obj["task_type"], .string("SEQ_CLS"))
        XCTAssertTrue(String(decoding: data, as: UTF8.self).contains("\"lora_dropout\" : 0.05"), "decimal text, not the float's expansion")
        XCTAssertEqual(obj["modules_to_save"], .array([.string("classifier"), .string("pooler"), .string("score")]))
        var back = try AdapterConfigFile.parse(obj, path: "x")
        XCTAssertEqual(back.resolvedModulesToSave(.bert), ["classifier", "pooler", "score"])
        back.modulesToSave = nil
        XCTAssertEqual(back, mine)
    }

    func testAdaptersShareTheBaseBuffers() throws {
        let base = try BaseModel.load(folder: LoRAFixtures.base("roberta"))
        let a = try SentimentModel.load(adapterFolder: LoRAFixtures.adapter("roberta"), base: base)
        let b = try SentimentModel.load(adapterFolder: LoRAFixtures.adapter("roberta"), base: base)
        let plain = try base.classifier()
        for m in [a, b, plain] {
            let w = m.encoder.weights
            XCTAssertTrue(w.embeddings.word === base.weights.embeddings.word)
            for (l, layer) in w.layers.enumerated() {
                let bl = base.weights.layers[l]
                XCTAssertTrue(layer.qkv.weight === bl.qkv.weight && layer.ffnUp.weight === bl.ffnUp.weight
                              && layer.ffnDown.weight === bl.ffnDown.weight && layer.attnOut.weight === bl.attnOut.weight
                              && layer.attnNorm.weight === bl.attnNorm.weight, "layer \(l) shares the base's buffers")
            }
        }
        guard case let .roberta(dense, _)? = a.encoder.weights.head, case let .roberta(baseDense, _)? = base.weights.head else {
            return XCTFail("heads")
        }
        XCTAssertFalse(dense.weight === baseDense.weight, "the adapter's head is its own")
        XCTAssertNotEqual(dense.weight.array, baseDense.weight.array)
        XCTAssertNil(plain.adapter)
        // Serving an adapter does not write into the base.
        let before = base.weights.layers[0].qkv.weight.array
        _ = a.predict(["what a great day", "awful"])
        XCTAssertEqual(base.weights.layers[0].qkv.weight.array, before)
    }

    func testLabels_fromTrainingInfoWhenPresent() throws {
        let dir = try TemporaryDirectory("lora-labels")
        let folder = try LoRAFixtures.copyAdapter("roberta", to: dir.url)
        try Data(#"{"labels": ["bad", "meh", "good"], "method": "lora"}"#.utf8).write(to: folder.appendingPathComponent("training_info.json"))
        let base = try BaseModel.load(folder: LoRAFixtures.base("roberta"))
        let model = try SentimentModel.load(adapterFolder: folder, base: base)
        XCTAssertEqual(model.labels, ["bad", "meh", "good"])
        XCTAssertTrue(["bad", "meh", "good"].contains(model.predict(["fine"])[0].label))
        try Data(#"{"labels": ["bad", "good"]}"#.utf8).write(to: folder.appendingPathComponent("training_info.json"))
        XCTAssertThrowsError(try SentimentModel.load(adapterFolder: folder, base: base)) {
            XCTAssertEqual($0 as? LoRAError, .labelsMismatch(folder: folder.path, labels: ["bad", "good"], headOutputs: 3))
        }
    }

    /// Each unsupported or broken setting fails with an error naming the key or tensor.
    func testBrokenAdapters_failWithTheKeyOrTensorNamed() throws {
        let base = try BaseModel.load(folder: LoRAFixtures.base("roberta"))
        let dir = try TemporaryDirectory("lora-broken")
        var n = 0
        func broken(config: ((inout [String: JSONValue]) -> Void)? = nil, tensors: ((inout [String: Tensor]) -> Void)? = nil,
                    line: UInt = #line, check: (LoRAError, String) -> Void) throws {
            n += 1
            let folder = try LoRAFixtures.copyAdapter("roberta", to: dir.url, name: "a\(n)")
            if let config { try LoRAFixtures.editConfig(folder, config) }
            if let tensors { try LoRAFixtures.editTensors(folder, tensors) }
            XCTAssertThrowsError(try SentimentModel.load(adapterFolder: folder, base: base), line: line) { error in
                guard let e = error as? LoRAError else { return XCTFail("\(error)", line: line) }
                check(e, folder.appendingPathComponent("adapter_config.json").path)
            }
        }
        func unsupported(_ key: String, _ value: JSONValue, line: UInt = #line) throws {
            try broken(config: { $0[key] = value }, line: line) { e, _ in
                guard case let .unsupportedOption(_, k, _, _) = e else { return XCTFail("\(e)", line: line) }
                XCTAssertEqual(k, key, line: line)
                XCTAssertTrue(e.description.contains("\"\(key)\""), e.description, line: line)
            }
        }
        try unsupported("use_dora", .bool(true))
        try unsupported("use_rslora", .bool(true))
        try unsupported("bias", .string("all"))
        try unsupported("fan_in_fan_out", .bool(true))
        try unsupported("rank_pattern", .object(["query": .number(4)]))
        try unsupported("layers_to_transform", .array([.number(0)]))
        try unsupported("some_future_option", .object(["on": .bool(true)]))
        try unsupported("peft_type", .string("IA3"))
        try unsupported("task_type", .string("CAUSAL_LM"))
        try unsupported("target_modules", .string("all-linear"))
        try unsupported("init_lora_weights", .string("pissa"))
        // Harmless keys a newer peft may add (null / false / empty) are accepted.
        let folder = try LoRAFixtures.copyAdapter("roberta", to: dir.url, name: "ok")
        try LoRAFixtures.editConfig(folder) { $0["some_future_option"] = .null; $0["other_flag"] = .bool(false) }
        XCTAssertNoThrow(try SentimentModel.load(adapterFolder: folder, base: base))

        try broken(config: { $0["target_modules"] = .array([.string("dense")]) }) { e, path in
            XCTAssertEqual(e, .targetNotSupported(path: path, targets: "[\"dense\"]", module: "classifier.dense"))
        }
        try broken(config: { $0["target_modules"] = .array([.string("nothing")]) }) { e, path in
            XCTAssertEqual(e, .targetMatchesNothing(path: path, targets: "[\"nothing\"]"))
        }
        try broken(config: { $0["r"] = .number(0) }) { e, path in
            XCTAssertEqual(e, .badField(path: path, key: "r", expected: "an integer from 1 to 4096"))
        }
        let name = "base_model.model.roberta.encoder.layer.1.intermediate.dense.lora_B.weight"
        try broken(tensors: { $0.removeValue(forKey: name) }) { e, _ in
            guard case let .missingTensor(_, n) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(n, name)
        }
        try broken(tensors: { $0[name] = Tensor(zeros: [64, 4]) }) { e, _ in
            guard case let .shapeMismatch(_, n, expected, found) = e else { return XCTFail("\(e)") }
            XCTAssertEqual([n], [name])
            XCTAssertEqual(expected, [64, 8])
            XCTAssertEqual(found, [64, 4])
        }
        let extra = "base_model.model.roberta.embeddings.word_embeddings.lora_A.weight"
        try broken(tensors: { $0[extra] = Tensor(zeros: [8, 32]) }) { e, _ in
            guard case let .unexpectedTensor(_, n) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(n, extra)
        }
        // A config that targets fewer modules than the file holds: the rest are unexpected.
        try broken(config: { $0["target_modules"] = .array([.string("query")]) }) { e, _ in
            guard case .unexpectedTensor = e else { return XCTFail("\(e)") }
        }
        try broken(tensors: { $0.removeValue(forKey: "base_model.model.classifier.out_proj.weight") }) { e, _ in
            guard case let .missingTensor(_, n) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(n, "base_model.model.classifier.out_proj.weight")
        }
    }

    func testAdapterOverTheWrongBase_failsOnShapes() throws {
        // The BERT adapter has rank 4 and BERT names: over the RoBERTa base its tensors are missing.
        let base = try BaseModel.load(folder: LoRAFixtures.base("roberta"))
        XCTAssertThrowsError(try SentimentModel.load(adapterFolder: LoRAFixtures.adapter("bert"), base: base)) {
            guard case let .missingTensor(_, name)? = $0 as? LoRAError else { return XCTFail("\($0)") }
            XCTAssertTrue(name.hasPrefix("base_model.model.roberta.encoder.layer.0."), name)
        }
    }
}
