import Foundation
import Logging
import SentimentEngine
import XCTest
@testable import SentimentService

/// The smoke test's rules on single predictions (the registry tests run it on real, damaged checkpoints).
final class RegistryValidatorTests: XCTestCase {
    private let labels = ["negative", "neutral", "positive"]

    private func problem(_ index: Int, _ label: String, _ p: [Float]) -> String? {
        do {
            try CheckpointValidator.check(Prediction(labelIndex: index, label: label, probabilities: p),
                                          labels: labels, probe: "probe")
            return nil
        } catch let rejection as CheckpointRejection {
            guard case let .smokeTestFailed(probe, problem) = rejection else { return "unexpected \(rejection)" }
            XCTAssertEqual(probe, "probe")
            return problem
        } catch {
            return "unexpected \(error)"
        }
    }

    func testCheck_acceptsAWellFormedPrediction() {
        XCTAssertNil(problem(2, "positive", [0.1, 0.2, 0.7]))
        XCTAssertNil(problem(0, "negative", [0.99995, 0.00003, 0.00002]))
    }

    func testCheck_rejectsNonFiniteOutOfRangeWrongCountAndBadSums() {
        XCTAssertEqual(problem(0, "negative", [.nan, 0.5, 0.5]),
                       "probability of \"negative\" is nan, not a finite value in [0, 1]")
        XCTAssertNotNil(problem(1, "neutral", [0, .infinity, 0]))
        XCTAssertNotNil(problem(0, "negative", [1.2, -0.2, 0]))
        XCTAssertEqual(problem(0, "negative", [0.5, 0.5]), "2 probabilities for 3 labels")
        let sum = problem(2, "positive", [0.2, 0.2, 0.5]) ?? ""
        XCTAssertTrue(sum.hasPrefix("probabilities sum to 0.9") && sum.hasSuffix(", not 1"), sum)
        XCTAssertNotNil(problem(0, "negative", [0.3, 0.3, 0.4002]), "a sum off by 2e-4 passes")
    }

    func testCheck_rejectsALabelThatIsNotTheMostProbableOrMisnamed() {
        XCTAssertNotNil(problem(0, "negative", [0.2, 0.3, 0.5]))
        XCTAssertNotNil(problem(2, "neutral", [0.2, 0.3, 0.5]))
        XCTAssertNotNil(problem(3, "other", [0.2, 0.3, 0.5]))
    }

    func testProbes_includeATextLongerThanAnyPositionTable() {
        XCTAssertTrue(CheckpointValidator.probes.contains { $0.split(separator: " ").count > 600 })
    }

    /// The validating thread runs at the configured priority (SCHED_IDLE, or nice +10 under the normal policy)
    /// with serving's kernel helpers quiet, and the thread that asked is left as it was.
    func testInBackground_runsTheBodyAtTheConfiguredPriority() throws {
        #if os(Linux)
        func observed() -> (policy: Int32, nice: Int32, serial: Bool, quiet: Bool) {
            errno = 0
            let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
            return (sched_getscheduler(0), nice, Parallel.workers == 1, Parallel.helpersAreQuiet)
        }
        let before = observed()
        XCTAssertFalse(before.quiet)
        let idle = try CheckpointValidator.inBackground(.idle) { observed() }
        XCTAssertEqual(idle.policy, LoadPriority.schedIdle)
        XCTAssertTrue(idle.serial)
        XCTAssertTrue(idle.quiet, "serving's kernel helpers kept spinning during a background load")
        let low = try CheckpointValidator.inBackground(.low) { observed() }
        XCTAssertEqual(low.policy, 0)   // SCHED_OTHER
        XCTAssertEqual(low.nice, 10)
        XCTAssertTrue(low.serial)
        XCTAssertTrue(low.quiet)
        let after = observed()
        XCTAssertEqual(after.policy, before.policy)
        XCTAssertEqual(after.nice, before.nice)
        XCTAssertFalse(after.quiet)
        #endif
    }

    func testInBackground_passesErrorsThrough() {
        struct Boom: Error {}
        XCTAssertThrowsError(try CheckpointValidator.inBackground(.idle) { () throws -> Int in throw Boom() }) { e in
            XCTAssertTrue(e is Boom)
        }
    }

    /// An arrival while another version serves is validated in the background at the configured priority; with
    /// nothing served yet (start-up) every request waits for it, so it runs on the registry's own thread, at the
    /// daemon's priority, with the parallel kernels.
    func testValidate_runsInTheBackgroundOnlyWhileAnotherVersionServes() throws {
        #if os(Linux)
        let models = FileManager.default.temporaryDirectory.appendingPathComponent("validator-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: models) }
        try FileManager.default.createDirectory(at: models.appendingPathComponent("v1"), withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: models.appendingPathComponent("v1/config.json"))
        let folder = try CheckpointFolder.read(version: "v1", in: models)

        // What the loader saw: its thread's scheduling policy, and whether kernels may fan out.
        let box = LockedBox<(policy: Int32, workers: Int)?>(nil)
        let observing = CheckpointValidator(loader: { _, _, _ in
            box.value = (sched_getscheduler(0), Parallel.workers)
            throw CocoaError(.fileReadUnknown)
        }, priority: .idle)
        let logger = Logger(label: "validator-test", factory: { _ in SwiftLogNoOpLogHandler() })
        func validate(whileServing: Bool) throws {
            _ = try observing.validate(folder, whileServing: whileServing, modelsDirectory: models, watch: nil,
                                       logger: logger, isStopping: { false })
        }
        XCTAssertThrowsError(try validate(whileServing: true))
        XCTAssertEqual(box.value?.policy, LoadPriority.schedIdle)
        XCTAssertEqual(box.value?.workers, 1)
        XCTAssertThrowsError(try validate(whileServing: false))
        XCTAssertEqual(box.value?.policy, sched_getscheduler(0))
        XCTAssertEqual(box.value?.workers, Parallel.workers)
        #endif
    }
}
