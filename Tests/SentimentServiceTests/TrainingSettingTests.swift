import Foundation
import SentimentCore
import SentimentTraining
import SentimentProtocol
@testable import SentimentService
import XCTest

/// One range per training setting (`TrainingSetting`), said in each surface's own words: the config file by key
/// and line, the `train` RPC by field, `sentimentctl train` and `sentimentd finetune` by flag, and the trainer's
/// recipe by the setting's key and never a flag.
final class TrainingSettingTests: XCTestCase {
    /// A value each surface used to judge differently (the config took 1e-9...1, the RPC (0, 1], the recipe
    /// anything above 0), and one every surface now refuses the same way.
    func testLearningRate_isJudgedByOneRangeEverywhere() throws {
        let problem = try XCTUnwrap(TrainingSetting.learningRate.problem(1.5))
        XCTAssertEqual(problem, "must be in (0, 1]")
        XCTAssertNil(TrainingSetting.learningRate.problem(1e-12), "the RPC and the recipe took it; the config now does too")

        // Config file: the key and the line.
        XCTAssertThrowsError(try ConfigFile.parse("[training]\n\nlearning_rate = 1.5\n", path: "t.conf")) { error in
            guard case let .badValue(_, key, line, reason)? = error as? DaemonConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "training.learning_rate")
            XCTAssertEqual(line, 3)
            XCTAssertEqual(reason, "1.5 " + problem)
        }
        XCTAssertEqual(try ConfigFile.parse("[training]\nlearning_rate = 1e-12\n", path: "t.conf").training.learningRate, 1e-12)

        // The train RPC: the field.
        XCTAssertThrowsError(try RunPlan.resolve(TrainingSettings(), labels: ["a", "b"], overrides: RunRecipe(learningRate: 1.5))) {
            XCTAssertEqual("\($0)", "\(RPCError.invalidParams("train: recipe.learning_rate " + problem))")
        }

        // The trainer's recipe: the setting, no flag.
        var recipe = TrainingRecipe()
        recipe.learningRate = 1.5
        XCTAssertThrowsError(try recipe.validate()) { error in
            XCTAssertEqual(error as? TrainingError, .badSetting(.learningRate, reason: problem))
            XCTAssertEqual("\(error)", "training setting learning_rate " + problem)
        }
    }

    func testEveryRangedSettingOfTheConfig_usesTheSharedRange() throws {
        let cases: [(key: String, setting: TrainingSetting, outside: String)] = [
            ("epochs", .epochs, "101"), ("batch_size", .batchSize, "0"), ("max_length", .maxLength, "2"),
            ("warmup_ratio", .warmupRatio, "1.5"), ("weight_decay", .weightDecay, "11"), ("replay_ratio", .replayRatio, "-1"),
            ("lora_rank", .loraRank, "0"), ("lora_alpha", .loraAlpha, "0"), ("lora_dropout", .loraDropout, "1.0"),
        ]
        for c in cases {
            XCTAssertThrowsError(try ConfigFile.parse("[training]\n\(c.key) = \(c.outside)\n", path: "t.conf"), c.key) { error in
                guard case let .badValue(_, key, 2, reason)? = error as? DaemonConfigError else { return XCTFail("\(c.key): \(error)") }
                XCTAssertEqual(key, "training." + c.key)
                XCTAssertTrue(reason.hasSuffix(c.setting.problem(Double(c.outside)!)!), "\(c.key): \(reason)")
            }
        }
    }

    func testRanges_describeThemselves() {
        XCTAssertEqual(TrainingSetting.epochs.problem(0), "must be a whole number in 1...100")
        XCTAssertNil(TrainingSetting.epochs.problem(100))
        XCTAssertNotNil(TrainingSetting.epochs.problem(2.5))
        XCTAssertEqual(TrainingSetting.dropout.problem(1), "must be in [0, 1)")
        XCTAssertNil(TrainingSetting.dropout.problem(0))
        XCTAssertNotNil(TrainingSetting.warmupRatio.problem(Double.nan))
        XCTAssertNil(TrainingSetting.method.problem(7), "a setting without a range has no numeric problem")
    }
}
