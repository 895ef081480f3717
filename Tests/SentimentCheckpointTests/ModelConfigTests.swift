import XCTest
@testable import SentimentCheckpoint
import SentimentCore

final class ModelConfigTests: XCTestCase {
    func testUnknownModelTypeIsRejectedByName() throws {
        let obj: [String: JSONValue] = ["model_type": .string("gpt2"), "hidden_size": .number(8)]
        XCTAssertThrowsError(try ModelConfig(json: obj, path: "x/config.json")) { error in
            XCTAssertEqual(error as? ConfigError, .unsupportedModelType(path: "x/config.json", modelType: "gpt2"))
        }
    }

    /// Found by fuzz/targets/model-config (the input is fuzz/corpus/model-config/crash-layer-norm-eps-1e-102): an
    /// epsilon that is positive as a Double but 0 or infinite as the engine's Float was taken, and the config the
    /// daemon writes back for a new version then failed to load. It is refused by name, and every epsilon that
    /// loads loads again as written back.
    func testLayerNormEpsilon_mustBePositiveAndFiniteAsAFloat_andSurviveBeingWrittenBack() throws {
        func config(eps: Double) -> [String: JSONValue] {
            ["model_type": .string("bert"), "vocab_size": .number(10), "hidden_size": .number(8),
             "num_hidden_layers": .number(1), "num_attention_heads": .number(2), "intermediate_size": .number(16),
             "layer_norm_eps": .number(eps)]
        }
        for eps in [1e-102, 1e-50, 1e300, 0, -1e-12] {
            XCTAssertThrowsError(try ModelConfig(json: config(eps: eps), path: "c.json"), "eps \(eps)") { error in
                guard case .badField(_, "layer_norm_eps", _)? = error as? ConfigError else {
                    return XCTFail("eps \(eps): \(error)")
                }
            }
        }
        for eps in [1e-12, 1e-5, 1e-30, 0.5] {
            let loaded = try ModelConfig(json: config(eps: eps), path: "c.json")
            let again = try ModelConfig(json: loaded.jsonObject(), path: "c.json")
            XCTAssertEqual(again.layerNormEps, loaded.layerNormEps, "eps \(eps)")
        }
        // The fuzzer's input itself.
        let input = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fuzz/corpus/model-config/crash-layer-norm-eps-1e-102")
        XCTAssertThrowsError(try ModelConfig.load(from: input)) { error in
            guard case .badField(_, "layer_norm_eps", _)? = error as? ConfigError else { return XCTFail("\(error)") }
        }
    }

    /// Found by fuzz/targets/model-config (fuzz/corpus/model-config/crash-pad-default-outside-vocab): a RoBERTa
    /// config without pad_token_id takes 1, which was not checked against the vocabulary as an explicit value is;
    /// with vocab_size 1 it loaded, and the config written back (pad_token_id 1) was refused.
    func testDefaultPadTokenId_isCheckedAgainstTheVocabularyLikeAnExplicitOne() throws {
        var obj: [String: JSONValue] = ["model_type": .string("roberta"), "vocab_size": .number(1),
                                        "hidden_size": .number(8), "num_hidden_layers": .number(1),
                                        "num_attention_heads": .number(2), "intermediate_size": .number(16)]
        XCTAssertThrowsError(try ModelConfig(json: obj, path: "c.json")) { error in
            guard case .outOfRange(_, "pad_token_id", _, _)? = error as? ConfigError else { return XCTFail("\(error)") }
        }
        obj["vocab_size"] = .number(2)
        let loaded = try ModelConfig(json: obj, path: "c.json")
        XCTAssertEqual(loaded.padTokenId, 1)
        XCTAssertEqual(try ModelConfig(json: loaded.jsonObject(), path: "c.json").padTokenId, 1)
        let input = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fuzz/corpus/model-config/crash-pad-default-outside-vocab")
        XCTAssertThrowsError(try ModelConfig.load(from: input)) { error in
            guard case .outOfRange(_, "pad_token_id", _, _)? = error as? ConfigError else { return XCTFail("\(error)") }
        }
    }
}
