import Foundation
import SentimentCore
import SentimentProtocol
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The promotion gate in the real daemon with its real training worker: a walked-down sequence of candidates,
/// each within the tolerance of the version it started from, is stopped by the best version published so far.
final class DaemonGateTests: XCTestCase {
    private func waitForRun(_ daemon: DaemonProcess, id: Int64, timeout: TimeInterval = 300) throws -> RunSummary {
        try daemon.waitForRun(id: id, timeout: timeout) { $0.isFinished }
    }

    /// Waits until a published run's candidate serves (the next run starts from it).
    private func waitUntilServing(_ daemon: DaemonProcess, _ run: RunSummary) throws {
        guard run.status == "published", let version = run.candidateVersion else { return }
        try daemon.waitForActive(version, timeout: 120)
    }

    /// Each step: new labels that all say "neutral" (train split only, so the eval split stays the same) and a
    /// short, gentle recipe, so each candidate loses a little of what its champion knew. With the champion as the
    /// only reference every one of them would be published and the served quality would slide step by step; the
    /// gate holds every published version within the tolerance of the best one and refuses the step that would
    /// fall below it.
    func testWalkedDownSequence_isRefusedAgainstTheBestPublishedSoFar() throws {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess()
        let tolerance = 0.2
        daemon.extraTables = ["training": [
            "enabled": "false", "min_eval_labels": "10", "epochs": "4", "batch_size": "16", "learning_rate": "0.001",
            "max_length": "24", "gate_tolerance": "\(tolerance)", "nice": "5", "replay_ratio": "1.0",
        ]]
        try daemon.writeConfig()
        try daemon.installModel(version: "v1")
        try daemon.start()

        // The best: a candidate that learns the template task.
        _ = try daemon.call(LabelsAddMethod.self, .init(items: DaemonTrainingTests.examples(count: 450, tag: "good")))
        let first = try waitForRun(daemon, id: try daemon.call(TrainMethod.self, .init()).id)
        XCTAssertEqual(first.status, "published", "\(first)")
        try waitUntilServing(daemon, first)
        let bestF1 = try XCTUnwrap(first.candidateF1)

        var steps: [RunSummary] = []
        for step in 1...8 {
            let poison = DaemonTrainingTests.examples(count: 90, tag: "walk\(step)")
                .map { LabelItem(text: $0.text, label: .name("neutral")) }
            _ = try daemon.call(LabelsAddMethod.self, .init(items: poison, split: .train))
            let started = try daemon.call(TrainMethod.self, .init(recipe: RunRecipe(epochs: 1, learningRate: 0.0001,
                                                                                      replayRatio: 0)))
            let run = try waitForRun(daemon, id: started.id)
            steps.append(run)
            if run.status != "published" { break }
            try waitUntilServing(daemon, run)
        }
        let sequence = steps.map { "\($0.status) \(Show(f: $0.championF1)) -> \(Show(f: $0.candidateF1))" }
        // Every published version stays within the tolerance of the best.
        for run in steps where run.status == "published" {
            XCTAssertGreaterThanOrEqual(try XCTUnwrap(run.candidateF1), bestF1 - tolerance,
                                        "the served quality walked down: best \(bestF1), steps \(sequence)")
        }
        // The walk is refused: a step within the tolerance of its champion but not of the best.
        let refused = try XCTUnwrap(steps.last, "\(sequence)")
        XCTAssertEqual(refused.status, "rejected", "never refused: best \(bestF1), steps \(sequence)")
        XCTAssertGreaterThan(steps.filter { $0.status == "published" }.count, 0, "no step was small: \(sequence)")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(refused.candidateF1), try XCTUnwrap(refused.championF1) - tolerance,
                                    "the refused step was not within the tolerance of its champion: \(sequence)")
        let detail = try daemon.call(RunsShowMethod.self, .init(id: refused.id))
        let gate = try XCTUnwrap(detail.gate)
        let best = try XCTUnwrap(gate.comparisons.first { $0.role.contains("best") }, "\(gate)")
        XCTAssertEqual(best.version, first.candidateVersion)
        XCTAssertLessThan(best.lowerBound, -tolerance, "\(gate)")
        XCTAssertEqual(gate.tolerance, tolerance)
        // runs show prints the gate's numbers.
        let shown = try runSentimentctl(["runs", "show", String(refused.id)], socket: daemon.socketPath)
        XCTAssertTrue(shown.out.contains("GATE: COMPARED WITH") && shown.out.contains("rule: publish only if"), shown.out)
        XCTAssertEqual(try daemon.stop(), 0)
    }
}

/// Four decimals, "-" for nil (the failure messages).
private struct Show: CustomStringConvertible {
    let f: Double?
    var description: String { f.map { String(format: "%.4f", $0) } ?? "-" }
}
