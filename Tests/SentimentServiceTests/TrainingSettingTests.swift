import Foundation
import SentimentCore
import SentimentEngine
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
        XCTAssertEqual(try ConfigFile.parse("[training]\nlearning_rate = 1e-12\n", path: "t.conf").training.recipe.learningRate, 1e-12)

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

    /// One value, 1e-50 as a learning rate: inside (0, 1] as a Double, 0 as the Float the trainer holds. Every surface
    /// used to take it and the run failed later in the trainer; now each refuses it where it is said, in its words.
    func testASingleValue_isRefusedByConfigRPCAndBothCommands_eachInItsOwnWords() throws {
        let problem = try XCTUnwrap(TrainingSetting.learningRate.problem(1e-50))
        XCTAssertTrue(problem.hasPrefix("must be in (0, 1]"), problem)

        // Config file: the key and the line.
        XCTAssertThrowsError(try ConfigFile.parse("[training]\nepochs = 1\nlearning_rate = 1e-50\n", path: "t.conf")) { error in
            guard case let .badValue(_, key, line, reason)? = error as? DaemonConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "training.learning_rate")
            XCTAssertEqual(line, 3)
            XCTAssertEqual(reason, "1e-50 " + problem)
        }

        // The train RPC: the field.
        XCTAssertThrowsError(try RunPlan.resolve(TrainingSettings(), labels: ["a", "b"], overrides: RunRecipe(learningRate: 1e-50))) {
            XCTAssertEqual("\($0)", "\(RPCError.invalidParams("train: recipe.learning_rate " + problem))")
        }

        // sentimentctl train: the flag, before any call (no daemon listens on this socket).
        let dir = try TemporaryDirectory("settings")
        let ctl = try runSentimentctl(["train", "--learning-rate", "1e-50"], socket: dir.path("none.sock"))
        XCTAssertNotEqual(ctl.status, 0)
        XCTAssertTrue(ctl.err.contains("--learning-rate must be in (0, 1]"), ctl.err)

        // sentimentd finetune: its flag, before it reads anything.
        let finetune = try runExecutable("sentimentd", ["finetune", "--base", dir.path("base"), "--train", dir.path("t.jsonl"),
                                                         "--val", dir.path("v.jsonl"), "--out", dir.path("out"), "--lr", "1e-50"])
        XCTAssertNotEqual(finetune.status, 0)
        XCTAssertTrue(finetune.err.contains("--lr must be in (0, 1]"), finetune.err)
    }

    /// `sentimentctl train` checks the fields the RPC's recipe has (`RunRecipe.numericSettings`), each by its flag.
    func testSentimentctlTrain_refusesEachSettingByItsFlag() throws {
        let dir = try TemporaryDirectory("settings")
        let cases: [(flag: String, setting: TrainingSetting, value: String)] = [
            ("--epochs", .epochs, "0"), ("--batch-size", .batchSize, "5000"), ("--learning-rate", .learningRate, "2"),
            ("--max-length", .maxLength, "2"), ("--warmup-ratio", .warmupRatio, "1.5"), ("--weight-decay", .weightDecay, "11"),
            ("--replay-ratio", .replayRatio, "-1"),
        ]
        for c in cases {
            let r = try runSentimentctl(["train", "\(c.flag)=\(c.value)"], socket: dir.path("none.sock"))
            XCTAssertEqual(r.status, 2, "\(c.flag): \(r.err)")
            XCTAssertTrue(r.err.contains("\(c.flag) " + c.setting.problem(Double(c.value)!)!), "\(c.flag): \(r.err)")
        }
    }

    /// The daemon's runs and `sentimentd finetune` share the trainer's one recipe type: the `[training]` keys and the
    /// RPC's fields land in `TrainingRecipe`, whose defaults fill the rest.
    func testConfigAndRPC_mapOntoTheTrainersRecipe() throws {
        let config = try ConfigFile.parse("[training]\nmethod = \"lora\"\nlearning_rate = 5e-4\nlora_rank = 4\n", path: "t.conf")
        XCTAssertEqual(config.training.recipe.method, .lora)
        XCTAssertEqual(config.training.recipe.learningRate, 5e-4)
        XCTAssertEqual(config.training.newAdapter.r, 4)
        let plan = try RunPlan.resolve(config.training, labels: ["a", "b"], overrides: RunRecipe(epochs: 5, maxLength: 64, seed: 9))
        XCTAssertEqual(plan.recipe.learningRate, 5e-4, "stored as written, not as 5.000000237487257e-4")
        var expected = TrainingRecipe()
        expected.epochs = 5
        expected.learningRate = 5e-4
        expected.maxLength = 64
        expected.seed = 9
        expected.checkpointEvery = 0
        expected.method = .lora
        expected.lora = LoRAConfig(r: 4)
        XCTAssertEqual(plan.trainingRecipe(runID: 3), expected)
        XCTAssertEqual(try RunPlan.decode(plan.json()).trainingRecipe(runID: 3), expected, "a stored run trains the same recipe")
    }

    /// A resumed run must keep every setting the recipe holds except evaluation and bookkeeping (patience, the
    /// evaluation batch, the checkpoint interval); the check reads the table of settings, each conflict says the
    /// setting's key, and a value is shown as it was set (2e-05, not the Double it widens to).
    func testResumeConflicts_nameEverySettingThatShapesTheRun_byItsKey() throws {
        let base = TrainingRecipe()
        let changeable: Set<TrainingSetting> = [.patience, .evalBatchSize, .checkpointEvery]
        for setting in TrainingRecipe.numericSettings {
            let range = try XCTUnwrap(setting.range, setting.key)
            let now = base.value(of: setting)
            let value = try XCTUnwrap([range.bounds.lowerBound, range.bounds.upperBound, 2, 1, 0.5].first {
                setting.problem($0) == nil && $0 != now
            }, setting.key)
            var changed = base
            XCTAssertTrue(changed.assign(setting, value), setting.key)
            let conflicts = changed.resumeConflicts(with: base)
            if changeable.contains(setting) {
                XCTAssertEqual(conflicts, [], setting.key)
            } else {
                XCTAssertEqual(conflicts.count, 1, "\(setting.key): \(conflicts)")
                XCTAssertTrue(conflicts.first?.hasPrefix("\(setting.key): checkpoint ") == true, "\(conflicts)")
            }
        }
        var other = base
        other.learningRate = 3e-5
        other.seed = 7
        other.method = .lora
        other.freezeEmbeddings = true
        other.classWeighting = .balanced
        other.normalizeTweets = false
        other.lora = LoRAConfig(r: 4)
        XCTAssertEqual(Set(other.resumeConflicts(with: base)), [
            "learning_rate: checkpoint 2e-05, now 3e-05", "seed: checkpoint 42, now 7", "method: checkpoint full, now lora",
            "freeze_embeddings: checkpoint false, now true", "class_weights: checkpoint none, now balanced",
            "normalize_tweets: checkpoint auto, now false",
            "lora: checkpoint default, now r 4, alpha 16.0, dropout 0.05, targets \(LoRAConfig.defaultTargetModules)",
        ])
        XCTAssertEqual(base.resumeConflicts(with: base), [])
    }

    /// The trainer's messages name settings and actions, never a command's flags; `sentimentd finetune` adds its own.
    func testTrainerMessages_nameNoFlag_andFinetuneAddsItsOwn() {
        let errors: [TrainingError] = [
            .badSetting(.learningRate, reason: "must be in (0, 1]"), .noTrainingExamples,
            .labelsDifferFromHead(folder: "/m", head: ["a", "b"], requested: ["x", "y"]), .freezeTooMuch(layers: 2, requested: 4),
            .nonFiniteLoss(step: 3, epoch: 1, lastCheckpoint: "/w/ckpt"), .nonFiniteLoss(step: 3, epoch: 1, lastCheckpoint: nil),
            .nonFiniteGradient(step: 3, epoch: 1, lastCheckpoint: "/w/ckpt"), .noCheckpoint(path: "/w"),
            .checkpointExists(directory: "/w"), .checkpointMismatch(path: "/w/ckpt", reasons: ["epochs: checkpoint 2, now 3"]),
            .badCheckpoint(path: "/w/ckpt", reason: "short"), .outputExists(path: "/out"),
            .badExampleLabel(set: "train", index: 1, label: 7, classes: 3), .workDirectoryBusy(path: "/w"),
        ]
        for error in errors {
            XCTAssertFalse(error.description.contains("--"), error.description)
        }
        XCTAssertFalse(ModelFolderWriter.WriteError.outputExists(path: "/out").description.contains("--"))
        XCTAssertTrue(TrainingError.nonFiniteLoss(step: 3, epoch: 1, lastCheckpoint: "/w/ckpt").description
            .contains("resume from it, perhaps with a lower learning_rate"))
    }

    /// The real command: the trainer's words, then the command's own flags.
    func testFinetune_saysTheTrainersWords_thenItsFlags() throws {
        let dir = try TemporaryDirectory("settings")
        try FileManager.default.createDirectory(atPath: dir.path("out"), withIntermediateDirectories: true)
        let r = try runExecutable("sentimentd", ["finetune", "--base", dir.path("base"), "--train", dir.path("t.jsonl"),
                                                  "--val", dir.path("v.jsonl"), "--out", dir.path("out")])
        XCTAssertEqual(r.status, 1, r.err)
        XCTAssertTrue(r.err.contains("\(dir.path("out")) already exists (choose another output folder, or allow replacing it)"), r.err)
        XCTAssertTrue(r.err.contains("\nchoose another --out, or pass --overwrite to replace it"), r.err)
    }
}
