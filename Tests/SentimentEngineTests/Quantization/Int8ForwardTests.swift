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

    /// Int8 models load through the public options, share a base's quantized layers, and keep no fp32 copy.
    func testModelFolder_loadsInInt8_fromOptions() throws {
        let folder = ModelFixtures.folder("tiny-roberta")
        let fp32 = try SentimentModel.load(folder: folder, options: ModelLoadOptions(normalizeTweets: false))
        let int8 = try SentimentModel.load(folder: folder, options: ModelLoadOptions(normalizeTweets: false, precision: .int8))
        XCTAssertEqual(fp32.precision, .fp32)
        XCTAssertEqual(int8.precision, .int8)
        XCTAssertNil(int8.encoder.packed)
        let out = try ModelFixtures.outputs("tiny-roberta")
        for (a, b) in zip(int8.predict(out.texts), fp32.predict(out.texts)) { XCTAssertEqual(a.label, b.label) }
    }
}
