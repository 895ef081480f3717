import Foundation
@testable import SentimentEngine
import XCTest
import SentimentTestSupport

/// The int8 encoder against `transformers`' fp32 outputs for the tiny fixtures (tools/fixtures_models.py) and
/// the real all-MiniLM-L6-v2, on every kernel path.
///
/// Tolerance. int8 changes each dense output by its rounding: per product at most half a weight step (max |w|
/// of the channel / 126) times |x|, plus half an activation step ((max - min of the token) / 510) times |w|, about
/// 1 % of an output's typical size; the errors of every layer add up, and the tiny fixtures' random-init
/// weights (std 0.02, LayerNorm near identity) pass them on undamped. Measured here for weights ±63 /
/// activations 0...255 (the standard scheme): logits within 0.038 (RoBERTa) and 0.061 (BERT) of transformers',
/// probabilities within 0.0072 and 0.015, no label changed; with weights ±127 the same 0.035 / 0.036, with ±31
/// 0.068 / 0.077. The bounds are about twice the measured error: a regression that doubles the error (a
/// wrong zero point or scale costs far more) fails, the scheme's own rounding passes. fp32 itself is held to
/// 1e-4 by ForwardParityTests; what int8 costs on real weights is measured on MiniLM and the default model.
final class Int8ForwardTests: XCTestCase {
    func checkLogits(model: String, logitTolerance: Float, probabilityTolerance: Float) throws {
        let out = try ModelFixtures.outputs(model)
        let w = try ModelFixtures.weights(model, file: "model.safetensors")
        let quantized = QuantizedEncoderLayer.quantizeAll(w.layers)
        var firstPath: [[Float]]?
        for path in Int8KernelPath.supported {
            let encoder = TransformerEncoder(weights: w, quantized: quantized, int8Path: path)
            XCTAssertEqual(encoder.precision, .int8)
            XCTAssertNil(encoder.packed)
            let logits = encoder.logits(out.input_ids)
            var worst: Float = 0, fromFP32: Float = 0, probabilities: Float = 0
            let fp32 = TransformerEncoder(weights: w).logits(out.input_ids)
            for (i, row) in logits.enumerated() {
                worst = max(worst, zip(row, out.logits[i]).map { abs($0 - $1) }.max()!)
                fromFP32 = max(fromFP32, zip(row, fp32[i]).map { abs($0 - $1) }.max()!)
                let p = softmax(row), want = out.probabilities[i]
                probabilities = max(probabilities, zip(p, want).map { abs($0 - $1) }.max()!)
                XCTAssertEqual(p.indices.max { p[$0] < p[$1] }, want.indices.max { want[$0] < want[$1] },
                               "\(model) \(path): text \(i) changes label")
            }
            XCTAssertLessThanOrEqual(worst, logitTolerance, "\(model) \(path): int8 logits off transformers' by \(worst)")
            XCTAssertLessThanOrEqual(probabilities, probabilityTolerance, "\(model) \(path): probabilities off by \(probabilities)")
            // int8 really ran: its rounding shows (fp32 agrees with transformers to 1e-5 here).
            XCTAssertGreaterThan(fromFP32, 1e-5, "\(model) \(path): the int8 encoder gave fp32's logits")
            // Batched equals one by one (per-token activation scales: a text's neighbours do not change it).
            // (The fp32 parts, attention on OpenBLAS, round differently per batch shape: 1e-5 as in fp32.)
            for (i, ids) in out.input_ids.enumerated() {
                assertClose(encoder.logits([ids])[0], logits[i], tolerance: 1e-5, "\(model) \(path): text \(i) alone vs in the batch")
            }
            if let firstPath {
                XCTAssertEqual(logits, firstPath, "\(model) \(path): another path gave other bits")
            }
            firstPath = logits
        }
    }

    func testTinyRoberta_int8_withinTolerance_ofTransformersFP32() throws {
        try checkLogits(model: "tiny-roberta", logitTolerance: 0.08, probabilityTolerance: 0.015)
    }

    func testTinyBert_int8_withinTolerance_ofTransformersFP32() throws {
        try checkLogits(model: "tiny-bert", logitTolerance: 0.12, probabilityTolerance: 0.03)
    }

    /// Int8 models load through the public options and keep no fp32 copy of their dense weights: the layers are
    /// quantized as they are read, with the same bits as quantizing the whole fp32 model afterwards, and an fp32
    /// model's `int8Model()` gives those bits too while the fp32 model keeps working.
    func testModelFolder_loadsInInt8_withoutItsFP32DenseWeights() throws {
        let folder = ModelFixtures.folder("tiny-roberta")
        let fp32 = try SentimentModel.load(folder: folder, options: ModelLoadOptions(normalizeTweets: false))
        let int8 = try SentimentModel.load(folder: folder, options: ModelLoadOptions(normalizeTweets: false, precision: .int8))
        XCTAssertEqual(fp32.precision, .fp32)
        XCTAssertEqual(int8.precision, .int8)
        XCTAssertNil(int8.encoder.packed)
        XCTAssertFalse(int8.encoder.weights.hasDenseWeights, "an int8 model kept its fp32 dense weights")
        XCTAssertTrue(int8.encoder.weights.layers.allSatisfy { [$0.qkv, $0.attnOut, $0.ffnUp, $0.ffnDown].allSatisfy { $0.weight.count == 0 } })
        XCTAssertTrue(fp32.encoder.weights.hasDenseWeights)
        let out = try ModelFixtures.outputs("tiny-roberta")
        let whole = TransformerEncoder(weights: fp32.encoder.weights, quantized: QuantizedEncoderLayer.quantizeAll(fp32.encoder.weights.layers))
        XCTAssertEqual(int8.logits(encoded: out.input_ids), whole.logits(out.input_ids), "quantized while loading ≠ quantized after")
        let fp32Before = fp32.logits(encoded: out.input_ids)
        let derived = fp32.int8Model()
        XCTAssertEqual(derived.precision, .int8)
        XCTAssertFalse(derived.encoder.weights.hasDenseWeights)
        XCTAssertEqual(derived.logits(encoded: out.input_ids), int8.logits(encoded: out.input_ids))
        XCTAssertTrue(fp32.encoder.weights.hasDenseWeights, "int8Model() must not touch the fp32 model")
        XCTAssertEqual(fp32.logits(encoded: out.input_ids), fp32Before)
        for (a, b) in zip(int8.predict(out.texts), fp32.predict(out.texts)) { XCTAssertEqual(a.label, b.label) }
    }

    /// A LoRA adapter in int8 is merged into the dense weights before they are quantized (no low-rank path at run
    /// time; see `QuantizedEncoderLayer.init(_:merging:index:scheme:)`): the same bits as quantizing the merged
    /// fp32 weights, within the int8 tolerance of the fp32 adapter, and the shared base's buffers untouched.
    func testAdapter_inInt8_isMergedBeforeQuantizing() throws {
        for family in ["roberta", "bert"] {
            let base = try BaseModel.load(folder: LoRAFixtures.base(family))
            let before = base.weights.layers.map { $0.qkv.weight.array + $0.ffnDown.weight.array }
            let options = ModelLoadOptions(normalizeTweets: false, maxLength: 64)
            var int8Options = options
            int8Options.precision = .int8
            let fp32 = try SentimentModel.load(adapterFolder: LoRAFixtures.adapter(family), base: base, options: options)
            let int8 = try SentimentModel.load(adapterFolder: LoRAFixtures.adapter(family), base: base, options: int8Options)
            XCTAssertEqual(int8.precision, .int8)
            XCTAssertNil(int8.encoder.lora, "\(family): the int8 adapter kept its low-rank path")
            XCTAssertEqual(int8.adapter?.r, fp32.adapter?.r)
            XCTAssertFalse(int8.encoder.weights.hasDenseWeights)
            XCTAssertEqual(base.weights.layers.map { $0.qkv.weight.array + $0.ffnDown.weight.array }, before, "\(family): the base was written")

            // The reference: W + scale · B A in fp32, then quantized.
            let lora = try XCTUnwrap(fp32.encoder.lora)
            let c = base.config.hiddenSize
            let merged = base.weights.layers.enumerated().map { l, layer -> EncoderLayerParams in
                func add(_ linear: Linear, _ parts: [(LoRATarget, Int)]) -> Linear {
                    var w = linear.weight.array
                    for (t, offset) in parts {
                        guard let p = lora.pair(l, t) else { continue }
                        let a = p.a.array, b = p.b.array
                        for i in 0..<p.outFeatures {
                            for j in 0..<p.inFeatures {
                                var sum: Float = 0
                                for r in 0..<p.rank { sum += b[i * p.rank + r] * a[r * p.inFeatures + j] }
                                w[(offset + i) * p.inFeatures + j] += lora.scale * sum
                            }
                        }
                    }
                    return Linear(weight: FloatBuffer(w), bias: linear.bias, inFeatures: linear.inFeatures, outFeatures: linear.outFeatures)
                }
                return EncoderLayerParams(qkv: add(layer.qkv, [(.query, 0), (.key, c), (.value, 2 * c)]),
                                          attnOut: add(layer.attnOut, [(.attentionOutput, 0)]), attnNorm: layer.attnNorm,
                                          ffnUp: add(layer.ffnUp, [(.intermediate, 0)]), ffnDown: add(layer.ffnDown, [(.output, 0)]),
                                          ffnNorm: layer.ffnNorm)
            }
            let fx = try LoRAFixtures.fixture(family)
            let w = fp32.encoder.weights
            let reference = TransformerEncoder(
                weights: EncoderWeights(config: w.config, embeddings: w.embeddings, layers: merged, pooler: w.pooler, head: w.head),
                quantized: QuantizedEncoderLayer.quantizeAll(merged))
            let logits = int8.logits(encoded: fx.input_ids)
            let expected = reference.logits(fx.input_ids)
            for (row, want) in zip(logits, expected) { assertClose(row, want, tolerance: 1e-4, "\(family): merged int8 vs reference") }
            let fp32Logits = fp32.logits(encoded: fx.input_ids)
            var worst: Float = 0
            for (row, want) in zip(logits, fp32Logits) { worst = max(worst, zip(row, want).map { abs($0 - $1) }.max()!) }
            XCTAssertLessThan(worst, 0.12, "\(family): int8 adapter vs fp32 adapter")
            XCTAssertGreaterThan(worst, 0, "\(family): int8 gave fp32's logits")
        }
    }
}
