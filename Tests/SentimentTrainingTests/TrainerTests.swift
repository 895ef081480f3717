import Foundation
import XCTest
@testable import SentimentTokenizers
@testable import SentimentEngine
@testable import SentimentTraining
import SentimentCore
import SentimentTestSupport
@testable import SentimentCheckpoint

/// Small synthetic sentiment data that a tiny model can learn a little of in a few epochs.
enum SyntheticData {
    static let things = ["game", "phone", "movie", "show", "team", "update", "album", "trip"]
    static let templates = [
        ["i hate this %", "what an awful %", "so sad about the %", "the % is terrible", "worst % ever"],
        ["the % is at noon", "read about the % today", "the % opens on monday", "a % was announced", "news about the %"],
        ["i love this %", "what a great %", "so happy with the %", "the % is wonderful", "best % ever"],
    ]

    /// `count` examples cycling through labels, templates and things from `offset`.
    static func examples(_ count: Int, offset: Int = 0) -> [TrainingExample] {
        (0..<count).map { i in
            let n = i + offset
            let label = n % 3
            let template = templates[label][(n / 3) % 5]
            let thing = things[(n / 15 + n) % things.count]
            return TrainingExample(text: template.replacingOccurrences(of: "%", with: thing), label: label, line: i + 1)
        }
    }

    static func jsonl(_ examples: [TrainingExample]) -> String {
        let names = ["negative", "neutral", "positive"]
        return examples.map { "{\"text\": \"\($0.text)\", \"label\": \"\(names[$0.label])\"}\n" }.joined()
    }
}

final class TrainerTests: XCTestCase, FineTuneTesting {
    var tinyRoberta: URL { ModelFixtures.folder("tiny-roberta") }

    func recipe(epochs: Int = 3, lr: Float = 3e-3) -> TrainingRecipe { smallRecipe(epochs: epochs, lr: lr) }

    func job(_ dir: TemporaryDirectory, out: String = "out", recipe: TrainingRecipe, train: Int = 64, val: Int = 24) -> FineTuneJob {
        job(dir, base: tinyRoberta, out: out, recipe: recipe, train: train, val: val)
    }

    // MARK: Batching

    func testBatchPlanner_deterministicCompleteAndBucketedByLength() {
        var rng = SeededRandom(seed: 7)
        let lengths = (0..<1000).map { _ in 3 + Int(rng.next() % 60) }
        let a = BatchPlanner.epochBatches(lengths: lengths, batchSize: 16, windowBatches: 10, seed: 42, epoch: 0)
        XCTAssertEqual(a, BatchPlanner.epochBatches(lengths: lengths, batchSize: 16, windowBatches: 10, seed: 42, epoch: 0),
                       "same seed and epoch, same plan")
        let b = BatchPlanner.epochBatches(lengths: lengths, batchSize: 16, windowBatches: 10, seed: 42, epoch: 1)
        let c = BatchPlanner.epochBatches(lengths: lengths, batchSize: 16, windowBatches: 10, seed: 43, epoch: 0)
        XCTAssertNotEqual(a, b, "another epoch, another order")
        XCTAssertNotEqual(a, c, "another seed, another order")
        for plan in [a, b, c] {
            XCTAssertEqual(plan.flatMap { $0 }.sorted(), Array(0..<1000), "every example exactly once")
            XCTAssertEqual(plan.filter { $0.count != 16 }.map(\.count), [1000 % 16], "only one short batch")
        }
        // Bucketing: the tokens a padded batch would spend (size × longest) are far fewer than with
        // batches of random examples, and batches are contiguous runs of one sorted window.
        func padded(_ plan: [[Int]]) -> Int { plan.reduce(0) { $0 + $1.count * $1.map { lengths[$0] }.max()! } }
        let real = lengths.reduce(0, +)
        let random = stride(from: 0, to: 1000, by: 16).map { Array($0..<min(1000, $0 + 16)) }
        XCTAssertLessThan(Double(padded(a) - real), 0.25 * Double(padded(random) - real),
                          "bucketed batches waste under a quarter of what random batches waste")
        // The batch order is shuffled: consecutive batches are not sorted by length.
        let firstLengths = a.prefix(20).map { $0.map { lengths[$0] }.min()! }
        XCTAssertNotEqual(firstLengths, firstLengths.sorted())
    }

    func testFisherYatesAndUniform_areUnbiasedEnough() {
        var rng = SeededRandom(seed: 1)
        var counts = [Int](repeating: 0, count: 3)
        for _ in 0..<30_000 { counts[Int(BatchPlanner.uniform(3, &rng))] += 1 }
        for c in counts { XCTAssertEqual(Double(c), 10_000, accuracy: 400) }
        var first = [Int](repeating: 0, count: 4)
        for _ in 0..<8_000 {
            var a = [0, 1, 2, 3]
            BatchPlanner.fisherYates(&a, &rng)
            first[a[0]] += 1
        }
        for c in first { XCTAssertEqual(Double(c), 2_000, accuracy: 200) }
    }

    func testStepsPerEpoch_withAccumulation() {
        var r = TrainingRecipe()
        r.batchSize = 8
        XCTAssertEqual(Trainer.stepsPerEpoch(examples: 64, recipe: r), 8)
        XCTAssertEqual(Trainer.stepsPerEpoch(examples: 65, recipe: r), 9)
        r.gradientAccumulation = 3
        XCTAssertEqual(Trainer.stepsPerEpoch(examples: 65, recipe: r), 3, "9 batches in groups of 3")
        XCTAssertEqual(Trainer.stepsPerEpoch(examples: 64, recipe: r), 3, "8 batches: 3 + 3 + 2")
    }

    func testClassWeighting_balancedAsScikitLearn() {
        // n = 6, classes 3: counts 3, 2, 1 -> 6 / (3 · 3) = 2/3, 6 / (3 · 2) = 1, 6 / (3 · 1) = 2.
        let w = ClassWeighting.balanced.weights(labels: [0, 0, 0, 1, 1, 2], classCount: 3)!
        XCTAssertEqual(w[0], 2.0 / 3, accuracy: 1e-6)
        XCTAssertEqual(w[1], 1, accuracy: 1e-6)
        XCTAssertEqual(w[2], 2, accuracy: 1e-6)
        XCTAssertNil(ClassWeighting.none.weights(labels: [0], classCount: 3))
        let json = try! JSONEncoder().encode([ClassWeighting.none, .balanced, .explicit([1, 2.5])])
        XCTAssertEqual(String(decoding: json, as: UTF8.self), "[\"none\",\"balanced\",[1,2.5]]")
        XCTAssertEqual(try JSONDecoder().decode([ClassWeighting].self, from: json), [.none, .balanced, .explicit([1, 2.5])])
    }

    // MARK: End to end

    func testEndToEnd_tinyRoberta_lossFallsAndTheFolderReloadsWithTheSameLogits() throws {
        let dir = try TemporaryDirectory()
        var events: [TrainingEvent] = []
        var r = recipe(epochs: 4)
        r.classWeighting = .balanced
        let j = job(dir, recipe: r)
        guard let (output, info, result) = completed(try j.run { events.append($0) }) else { return }

        // The loss goes down.
        XCTAssertEqual(info.epochs.count, 4)
        let losses = info.epochs.map(\.trainLoss)
        XCTAssertLessThan(losses.last!, 0.8 * losses.first!, "train loss per epoch: \(losses)")
        let valLosses = info.epochs.compactMap { $0.validation?.loss }
        XCTAssertLessThan(valLosses.min()!, valLosses.first!, "validation loss per epoch: \(valLosses)")
        XCTAssertEqual(info.steps, 4 * 8)
        XCTAssertEqual(info.effective.totalSteps, 32)
        XCTAssertEqual(info.effective.warmupSteps, 4, "ceil(0.1 × 32)")
        let progress = events.compactMap { e -> TrainingProgress? in if case let .progress(p) = e { return p }; return nil }
        XCTAssertEqual(progress.map(\.step), Array(1...32))
        XCTAssertEqual(progress.first?.learningRate, 0, "the first step of a warm-up has rate 0 (HF Trainer)")
        XCTAssertEqual(progress[4].learningRate, r.learningRate, accuracy: 1e-9, "peak after 4 warm-up steps")
        XCTAssertTrue(progress.allSatisfy { $0.gradNorm.isFinite && $0.gradNorm > 0 && $0.examplesPerSecond > 0 })

        // Best epoch by macro-F1, and the kept weights are that epoch's.
        let f1 = info.epochs.map { $0.validation!.macroF1 }
        XCTAssertEqual(info.bestEpoch, f1.firstIndex(of: f1.max()!)! + 1)
        let valExamples = SyntheticData.examples(24, offset: 1000)
        let encoder = TextEncoder(tokenizer: try TokenizerLoader.load(folder: tinyRoberta, config: result.weights.config),
                                  config: result.weights.config, maxLength: 64, normalizeTweets: nil)
        let again = Trainer.evaluate(result.weights, encoded: encoder.encode(valExamples.map(\.text)), labels: valExamples.map(\.label))
        XCTAssertEqual(again.macroF1, f1.max()!, accuracy: 1e-12)

        // The folder: files, and SentimentModel.load gives the in-memory weights' logits.
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: output.path))
        XCTAssertTrue(names.isSuperset(of: ["config.json", "model.safetensors", "vocab.json", "merges.txt", "tokenizer_config.json",
                                            "special_tokens_map.json", "training_info.json", "logs"]), "\(names)")
        // Unpacked, so both sides run the same kernels and must agree bit for bit (packed against unpacked is
        // PackedGemmTests' and ForwardParityTests' business).
        let model = try SentimentModel.load(folder: output, options: ModelLoadOptions(packWeights: false))
        XCTAssertEqual(model.labels, ["negative", "neutral", "positive"])
        let texts = valExamples.map(\.text) + ["@someone check http://x.y it is great"]
        let inMemory = TransformerEncoder(weights: result.weights).logits(texts.map(encoder.encode))
        XCTAssertEqual(model.logits(encoded: texts.map(model.encode)), inMemory)
        let config = try JSONValue.parse(Data(contentsOf: output.appendingPathComponent("config.json")))
        XCTAssertEqual(config["architectures"], .array([.string("RobertaForSequenceClassification")]))
        XCTAssertEqual(config["label2id"]?["positive"], .number(2))

        // training_info.json reads back as written.
        let back = try TrainingInfo.decode(Data(contentsOf: output.appendingPathComponent("training_info.json")))
        XCTAssertEqual(back, info)
        XCTAssertEqual(info.train.fingerprint, DataFingerprint.of(SyntheticData.examples(64), labels: LabelSet(model.labels)))
        XCTAssertEqual(info.train.labelCounts, [22, 21, 21])
        XCTAssertEqual(info.effective.classWeights?.count, 3)
        XCTAssertGreaterThan(info.peakResidentBytes ?? 0, 1_000_000)
        XCTAssertFalse(info.headCreated)

        // TensorBoard: one point per step for the step curves, one per epoch for the evaluation.
        let tb = try EventFileReader.events(in: output.appendingPathComponent("logs"))
        XCTAssertEqual(tb.first?.fileVersion, "brain.Event:2")
        func points(_ tag: String) -> [(Int, Float)] { tb.compactMap { e in e.scalars[tag].map { (e.step, $0) } } }
        XCTAssertEqual(points("train/loss").map(\.0), Array(1...32))
        XCTAssertEqual(points("train/learning_rate").map(\.1), progress.map(\.learningRate))
        XCTAssertEqual(points("train/grad_norm").map(\.1), progress.map(\.gradNorm))
        XCTAssertEqual(points("eval/macro_f1").map(\.0), [8, 16, 24, 32])
        XCTAssertEqual(points("eval/macro_f1").map(\.1), f1.map { Float($0) })
        XCTAssertEqual(points("eval/accuracy").count, 4)

        // The work directory is gone, nothing is left beside the output.
        XCTAssertFalse(FileManager.default.fileExists(atPath: j.resolvedWorkDirectory.path))
        XCTAssertEqual(ModelFolderWriter.leftovers(for: output), [])
    }

    func testTestSetAndSubset() throws {
        let dir = try TemporaryDirectory()
        var r = recipe(epochs: 1)
        r.subset = 40
        var j = job(dir, recipe: r)
        j.test = .examples(SyntheticData.examples(12, offset: 5000), source: "synthetic test")
        guard let (_, info, result) = completed(try j.run()) else { return }
        XCTAssertEqual(info.train.examples, 40, "the first 40 only")
        XCTAssertEqual(info.train.fingerprint, DataFingerprint.of(SyntheticData.examples(40), labels: LabelSet(["negative", "neutral", "positive"])))
        XCTAssertEqual(info.steps, 5)
        XCTAssertEqual(info.testMetrics?.count, 12)
        XCTAssertEqual(result.test, info.testMetrics)
    }

    // MARK: Resume

    /// Weights after a run, by name.
    func weightBytes(_ output: URL) throws -> Data { try Data(contentsOf: output.appendingPathComponent("model.safetensors")) }

    func testResumeAfterCancel_equalsAnUninterruptedRun() throws {
        let dir = try TemporaryDirectory()
        let r = recipe(epochs: 3)   // dropout 0.1 from the config: the random streams must line up too
        guard let (outA, infoA, _) = completed(try job(dir, out: "a", recipe: r).run()) else { return }

        // Cancel in the middle of epoch 2 (step 11 of 24; the last checkpoint was at step 9).
        let control = TrainingControl()
        let b = job(dir, out: "b", recipe: r)
        let first = try b.run(control: control) { event in
            if case let .progress(p) = event, p.step == 11 { control.requestCancel() }
        }
        guard case let .interrupted(checkpoint, step, total) = first else { return XCTFail("expected an interruption") }
        XCTAssertEqual(step, 11)
        XCTAssertEqual(total, 24)
        XCTAssertFalse(FileManager.default.fileExists(atPath: b.outputFolder.path), "no output for an interrupted run")
        XCTAssertEqual(try TrainingCheckpoint.load(directory: checkpoint.deletingLastPathComponent()).state.step, 11)

        var resumed = b
        resumed.resume = true
        var messages: [String] = []
        guard let (outB, infoB, _) = completed(try resumed.run { if case let .message(m) = $0 { messages.append(m) } }) else { return }
        XCTAssertTrue(messages.contains { $0.hasPrefix("resuming from") && $0.contains("step 11 of 24") }, "\(messages)")
        XCTAssertEqual(try weightBytes(outB), try weightBytes(outA), "same final weights, bit for bit")
        XCTAssertEqual(infoB.epochs.map(\.validation), infoA.epochs.map(\.validation))
        XCTAssertEqual(infoB.epochs.map(\.trainLoss), infoA.epochs.map(\.trainLoss))
        XCTAssertEqual(infoB.bestEpoch, infoA.bestEpoch)
        XCTAssertEqual(infoB.sessions, 2)
        XCTAssertEqual(infoB.train.fingerprint, infoA.train.fingerprint)
        // The TensorBoard curve has every step once: 1...11 from the first session, 12...24 from the second.
        let steps = try EventFileReader.events(in: outB.appendingPathComponent("logs")).filter { $0.scalars["train/loss"] != nil }.map(\.step)
        XCTAssertEqual(steps.sorted(), Array(1...24))
    }

    func testResumeAfterCrash_fromTheLastCheckpoint_equalsAnUninterruptedRun() throws {
        let dir = try TemporaryDirectory()
        let r = recipe(epochs: 3)
        let fm = FileManager.default
        // Run A to the end, but keep a copy of its work directory as it was at the step-15 checkpoint:
        // that is what a crash (kill -9) at step 16 or 17 leaves on disk.
        let a = job(dir, out: "a", recipe: r)
        let crashCopy = dir.url.appendingPathComponent("crashed-work")
        guard let (outA, _, _) = completed(try a.run { event in
            if case let .checkpoint(_, step) = event, step == 15 {
                try! fm.copyItem(at: a.resolvedWorkDirectory, to: crashCopy)
            }
        }) else { return }

        var b = job(dir, out: "b", recipe: r)
        b.workDirectory = crashCopy
        b.resume = true
        guard let (outB, infoB, _) = completed(try b.run()) else { return }
        XCTAssertEqual(try weightBytes(outB), try weightBytes(outA))
        XCTAssertEqual(infoB.epochs.count, 3)
    }

    func testResume_refusedWithOtherOptionsOrData_andAFreshRunRefusesAnExistingCheckpoint() throws {
        let dir = try TemporaryDirectory()
        let control = TrainingControl()
        let a = job(dir, recipe: recipe(epochs: 2))
        _ = try a.run(control: control) { if case let .progress(p) = $0, p.step == 2 { control.requestCancel() } }

        XCTAssertThrowsError(try a.run()) { error in
            XCTAssertEqual(error as? TrainingError, .checkpointExists(directory: a.resolvedWorkDirectory.path))
        }
        var other = a
        other.resume = true
        other.recipe.batchSize = 4
        XCTAssertThrowsError(try other.run()) { error in
            guard case let .checkpointMismatch(_, reasons)? = error as? TrainingError else { return XCTFail("\(error)") }
            XCTAssertTrue(reasons.contains { $0.hasPrefix("batch_size: checkpoint 8, now 4") }, "\(reasons)")
        }
        var otherData = a
        otherData.resume = true
        otherData.train = .examples(SyntheticData.examples(64, offset: 1), source: "shifted")
        XCTAssertThrowsError(try otherData.run()) { error in
            guard case let .checkpointMismatch(_, reasons)? = error as? TrainingError else { return XCTFail("\(error)") }
            XCTAssertTrue(reasons.contains { $0.contains("training data differ") }, "\(reasons)")
        }
        var nothing = job(dir, out: "fresh", recipe: recipe(epochs: 2))
        nothing.resume = true
        XCTAssertThrowsError(try nothing.run()) { error in
            guard case .noCheckpoint? = error as? TrainingError else { return XCTFail("\(error)") }
        }
    }

    // MARK: Failures

    func testNaNLoss_stopsNamingTheStepAndKeepsTheLastGoodCheckpoint() throws {
        let dir = try TemporaryDirectory()
        var r = recipe(epochs: 2)
        r.warmupRatio = 0
        r.checkpointEvery = 1
        // Weights that overflow the next forward pass: as a learning rate far past the allowed range once made them
        // (every training setting now has a range, so the test breaks the weights itself), right after step 1's
        // checkpoint is written.
        let base = try FineTuneBase.load(folder: tinyRoberta, seed: r.seed)
        let work = dir.url.appendingPathComponent("work-out")
        var poisoned = false
        let trainer = try Trainer(base: base, recipe: r, train: SyntheticData.examples(64),
                                  validation: SyntheticData.examples(24, offset: 1000), workDirectory: work) { event in
            guard case .checkpoint(_, step: 1) = event, !poisoned, case let .roberta(_, outProj)? = base.weights.head else { return }
            poisoned = true
            outProj.weight.pointer.update(repeating: .greatestFiniteMagnitude, count: outProj.weight.count)
        }
        XCTAssertThrowsError(try trainer.run()) { error in
            guard case let .nonFiniteLoss(step, epoch, checkpoint)? = error as? TrainingError else {
                return XCTFail("expected nonFiniteLoss, got \(error)")
            }
            XCTAssertEqual(step, 2, "step 1 used sane weights; step 2 sees the overflow")
            XCTAssertEqual(epoch, 1)
            XCTAssertEqual(checkpoint, work.appendingPathComponent("checkpoint.safetensors").path)
            XCTAssertTrue("\(error)".contains("at step 2"), "\(error)")
        }
        XCTAssertTrue(poisoned)
        let (state, _) = try TrainingCheckpoint.load(directory: work)
        XCTAssertEqual(state.step, 1, "the checkpoint is the last good one, from before the failing step")
    }

    /// A learning rate outside the one range of the setting never reaches training.
    func testLearningRateOutsideItsRange_isRefusedBeforeTraining() throws {
        let dir = try TemporaryDirectory()
        let j = job(dir, recipe: recipe(epochs: 2, lr: 1e30))
        XCTAssertThrowsError(try j.run()) { error in
            XCTAssertEqual(error as? TrainingError, .badSetting(.learningRate, reason: "must be in (0, 1]"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: j.outputFolder.path))
    }

    func testDiskFullDuringSave_leavesNoOutput_andResumeWritesItWithoutRetraining() throws {
        let dir = try TemporaryDirectory()
        let r = recipe(epochs: 2)
        guard let (reference, _, _) = completed(try job(dir, out: "reference", recipe: r).run()) else { return }

        for failing in ["model.safetensors", "training_info.json", "logs/"] {
            var j = job(dir, out: "out", recipe: r)
            j.keepWorkDirectory = false
            j.beforeOutputFile = { name in
                if name.hasPrefix(failing) { throw AtomicFileError.write(path: name, errno: ENOSPC) }
            }
            XCTAssertThrowsError(try j.run(), failing) { error in
                XCTAssertEqual(error as? AtomicFileError, .write(path: error.pathHint, errno: ENOSPC))
                XCTAssertTrue("\(error)".contains("disk full"))
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: j.outputFolder.path), "nothing under the final name (\(failing))")
            XCTAssertEqual(ModelFolderWriter.leftovers(for: j.outputFolder), [], "the staging directory is removed (\(failing))")
            XCTAssertTrue(TrainingCheckpoint.exists(in: j.resolvedWorkDirectory), "the trained state is kept")

            // With room again, --resume writes the output from the finished checkpoint, no step retrained.
            var again = j
            again.beforeOutputFile = nil
            again.resume = true
            var steps = 0
            guard let (out, info, _) = completed(try again.run { if case .progress = $0 { steps += 1 } }) else { return }
            XCTAssertEqual(steps, 0)
            XCTAssertEqual(info.sessions, 2)
            XCTAssertEqual(try weightBytes(out), try weightBytes(reference))
            try FileManager.default.removeItem(at: out)
        }
    }

    func testStagingDebrisOfADeadWriter_isRemovedAtStart_aLiveOnesIsNot() throws {
        let dir = try TemporaryDirectory()
        var dead: Int32 = 4_000_000
        while kill(dead, 0) == 0 || errno != ESRCH { dead -= 1 }
        let fm = FileManager.default
        let stale = dir.url.appendingPathComponent(".out.staging-\(dead)-17")
        let live = dir.url.appendingPathComponent(".out.staging-1-18")   // pid 1 is alive
        for d in [stale, live] {
            try fm.createDirectory(at: d, withIntermediateDirectories: true)
            try Data("partial".utf8).write(to: d.appendingPathComponent("model.safetensors"))
        }
        var messages: [String] = []
        guard completed(try job(dir, recipe: recipe(epochs: 1)).run { if case let .message(m) = $0 { messages.append(m) } }) != nil else { return }
        XCTAssertFalse(fm.fileExists(atPath: stale.path))
        XCTAssertTrue(fm.fileExists(atPath: live.path), "another process's staging directory is left alone")
        XCTAssertTrue(messages.contains { $0.contains(stale.lastPathComponent) }, "\(messages)")
    }

    func testOutputExists_refusedBeforeTraining_andOverwriteReplacesIt() throws {
        let dir = try TemporaryDirectory()
        let out = dir.url.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try Data("old".utf8).write(to: out.appendingPathComponent("marker"))
        var j = job(dir, recipe: recipe(epochs: 1))
        var steps = 0
        XCTAssertThrowsError(try j.run { if case .progress = $0 { steps += 1 } }) { error in
            XCTAssertEqual(error as? TrainingError, .outputExists(path: out.path))
        }
        XCTAssertEqual(steps, 0, "refused before any training")
        j.overwrite = true
        guard completed(try j.run()) != nil else { return }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("marker").path))
        XCTAssertNoThrow(try SentimentModel.load(folder: out))
        XCTAssertEqual(ModelFolderWriter.leftovers(for: out), [])
    }

    func testOneRunPerWorkDirectory_andLabelsOutOfRange() throws {
        let dir = try TemporaryDirectory()
        let j = job(dir, recipe: recipe(epochs: 1))
        try FileManager.default.createDirectory(at: j.resolvedWorkDirectory, withIntermediateDirectories: true)
        let held = try WorkDirectoryLock(j.resolvedWorkDirectory)
        XCTAssertThrowsError(try j.run()) { error in
            XCTAssertEqual(error as? TrainingError, .workDirectoryBusy(path: j.resolvedWorkDirectory.path))
        }
        held.release()
        guard completed(try j.run()) != nil else { return }

        var bad = job(dir, out: "bad", recipe: recipe(epochs: 1))
        bad.validation = .examples([TrainingExample(text: "fine", label: 1), TrainingExample(text: "odd", label: 3)], source: "x")
        XCTAssertThrowsError(try bad.run()) { error in
            XCTAssertEqual(error as? TrainingError, .badExampleLabel(set: "validation", index: 1, label: 3, classes: 3))
        }
    }

    // MARK: Heads and labels

    /// tiny-bert without its head and pooler, and without the "bert." prefix (as sentence-transformers
    /// saves all-MiniLM-L6-v2), id2label removed from config.json.
    func bareEncoder(_ dir: TemporaryDirectory) throws -> URL {
        let src = ModelFixtures.folder("tiny-bert")
        let dst = dir.url.appendingPathComponent("bare")
        try FileManager.default.createDirectory(at: dst, withIntermediateDirectories: true)
        for f in ["vocab.txt", "tokenizer_config.json", "special_tokens_map.json"] {
            try FileManager.default.copyItem(at: src.appendingPathComponent(f), to: dst.appendingPathComponent(f))
        }
        guard case var .object(config) = try JSONValue.parse(Data(contentsOf: src.appendingPathComponent("config.json"))) else {
            throw XCTSkip("tiny-bert config is not an object")
        }
        config["id2label"] = nil
        config["label2id"] = nil
        config["architectures"] = .array([.string("BertModel")])
        try JSONValue.object(config).serialized().write(to: dst.appendingPathComponent("config.json"))
        let archive = try SafetensorsFile(url: src.appendingPathComponent("model.safetensors"))
        let tensors = try archive.tensorNames.filter { !$0.hasPrefix("classifier") && !$0.contains("pooler") }
            .map { (name: String($0.dropFirst("bert.".count)), tensor: try archive.tensor($0)) }
        try SafetensorsWriter.write(tensors, metadata: [:], to: dst.appendingPathComponent("model.safetensors"))
        return dst
    }

    func testBareEncoder_getsANewHeadAndPooler_andTheOutputLoads() throws {
        let dir = try TemporaryDirectory()
        let bare = try bareEncoder(dir)
        let base = try FineTuneBase.load(folder: bare, seed: 42)
        XCTAssertTrue(base.headCreated)
        XCTAssertTrue(base.poolerCreated)
        XCTAssertEqual(base.config.id2label, ["negative", "neutral", "positive"])
        XCTAssertTrue(base.headDescription.contains("no classification head"), base.headDescription)
        XCTAssertTrue(base.headDescription.contains("created a new classification head"), base.headDescription)
        guard case let .bert(classifier)? = base.weights.head else { return XCTFail("a BERT head") }
        XCTAssertEqual(classifier.outFeatures, 3)
        XCTAssertEqual(classifier.bias.array, [0, 0, 0])
        let w = classifier.weight.array
        let std = (w.map { Double($0 * $0) }.reduce(0, +) / Double(w.count)).squareRoot()
        XCTAssertEqual(std, 0.02, accuracy: 0.006, "normal(0, 0.02) over \(w.count) values")
        XCTAssertEqual(base.weights.pooler!.bias.array, [Float](repeating: 0, count: 32))
        // The same seed gives the same head.
        guard case let .bert(again)? = try FineTuneBase.load(folder: bare, seed: 42).weights.head else { return XCTFail() }
        XCTAssertEqual(again.weight.array, w)

        var j = FineTuneJob(baseFolder: bare, outputFolder: dir.url.appendingPathComponent("out"),
                            train: .examples(SyntheticData.examples(32), source: "synthetic"),
                            validation: .examples(SyntheticData.examples(12, offset: 100), source: "synthetic"),
                            recipe: recipe(epochs: 1))
        var messages: [String] = []
        j.workDirectory = dir.url.appendingPathComponent("work")
        guard let (out, info, _) = completed(try j.run { if case let .message(m) = $0 { messages.append(m) } }) else { return }
        XCTAssertTrue(messages.first?.contains("created a new classification head") == true, "\(messages)")
        XCTAssertTrue(info.headCreated)
        let model = try SentimentModel.load(folder: out)
        XCTAssertEqual(model.labels, ["negative", "neutral", "positive"])
        let config = try JSONValue.parse(Data(contentsOf: out.appendingPathComponent("config.json")))
        XCTAssertEqual(config["architectures"], .array([.string("BertForSequenceClassification")]))
    }

    func testLabels_differingFromTheHeadNeedNewHead() throws {
        XCTAssertThrowsError(try FineTuneBase.load(folder: tinyRoberta, labels: ["bad", "good"], seed: 1)) { error in
            XCTAssertEqual(error as? TrainingError, .labelsDifferFromHead(folder: tinyRoberta.path,
                head: ["negative", "neutral", "positive"], requested: ["bad", "good"]))
        }
        let base = try FineTuneBase.load(folder: tinyRoberta, labels: ["bad", "good"], newHead: true, seed: 1)
        XCTAssertEqual(base.config.id2label, ["bad", "good"])
        guard case let .roberta(_, outProj)? = base.weights.head else { return XCTFail("a RoBERTa head") }
        XCTAssertEqual(outProj.outFeatures, 2)
        XCTAssertThrowsError(try FineTuneBase.load(folder: tinyRoberta, labels: ["a", "A"], newHead: true, seed: 1))
        XCTAssertThrowsError(try FineTuneBase.load(folder: tinyRoberta, labels: ["0", "1"], newHead: true, seed: 1))
    }

    // MARK: Stopping, freezing

    func testStopRequest_evaluatesThePartialEpochAndWritesTheOutput() throws {
        let dir = try TemporaryDirectory()
        let control = TrainingControl()
        guard let (out, info, _) = completed(try job(dir, recipe: recipe(epochs: 3)).run(control: control) { event in
            if case let .progress(p) = event, p.step == 11 { control.requestStop(reason: "enough") }
        }) else { return }
        XCTAssertEqual(info.steps, 11)
        XCTAssertEqual(info.epochs.map(\.partial), [false, true])
        XCTAssertEqual(info.epochs.map(\.step), [8, 11])
        XCTAssertEqual(info.stoppedEarly, "enough")
        XCTAssertNotNil(info.epochs[1].validation)
        XCTAssertNoThrow(try SentimentModel.load(folder: out))
    }

    func testPatience_stopsWhenMacroF1StopsImproving() throws {
        let dir = try TemporaryDirectory()
        var r = recipe(epochs: 5, lr: 1e-12)   // the weights barely move: macro-F1 never improves after epoch 1
        r.patience = 2
        r.dropout = 0
        guard let (_, info, _) = completed(try job(dir, recipe: r).run()) else { return }
        XCTAssertEqual(info.epochs.count, 3, "epoch 1 is the best, epochs 2 and 3 do not improve")
        XCTAssertEqual(info.bestEpoch, 1)
        XCTAssertEqual(info.stoppedEarly, "validation macro-F1 did not improve for 2 epochs")
    }

    func testFreezing_leavesFrozenParametersUnchanged() throws {
        let dir = try TemporaryDirectory()
        var r = recipe(epochs: 1)
        r.freezeEmbeddings = true
        r.freezeLayers = 1
        r.gradientAccumulation = 3
        guard let (out, info, _) = completed(try job(dir, recipe: r).run()) else { return }
        XCTAssertEqual(info.steps, 3, "8 batches in groups of 3")
        let before = try SafetensorsFile(url: tinyRoberta.appendingPathComponent("model.safetensors"))
        let after = try SafetensorsFile(url: out.appendingPathComponent("model.safetensors"))
        for name in before.tensorNames {
            let same = try before.tensor(name) == after.tensor(name)
            let frozen = name.contains("embeddings") || name.contains("encoder.layer.0.")
            if frozen {
                XCTAssertTrue(same, "\(name) is frozen")
            } else if !name.contains("attention.self.key.bias") {
                XCTAssertFalse(same, "\(name) is trained")
            }
        }
    }
}

private extension Error {
    /// The path an AtomicFileError.write names (for comparing the whole error).
    var pathHint: String {
        if case let .write(path, _)? = self as? AtomicFileError { return path }
        return ""
    }
}
