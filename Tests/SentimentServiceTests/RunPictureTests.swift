import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import SentimentProtocol
import XCTest

/// A real run of the real daemon (the tiny RoBERTa on a learnable template task), shown by the real sentimentctl:
/// `runs show` prints both confusion matrices, `--plot` writes an SVG that is valid XML and holds the run's numbers.
final class RunPictureTests: XCTestCase {
    private func trainedDaemon() throws -> (DaemonProcess, RunDetail) {
        _ = try TestPaths.requireTinyRoberta()
        let daemon = try DaemonProcess()
        daemon.extraTables = ["training": ["enabled": "false", "min_eval_labels": "10", "epochs": "3", "batch_size": "16",
                                           "learning_rate": "0.001", "max_length": "24", "gate_tolerance": "0.0",
                                           "nice": "5"]]
        try daemon.writeConfig()
        try daemon.installModel(version: "v1")
        try daemon.start()
        let client = try daemon.client(timeout: 120)
        let items = DaemonTrainingTests.examples(count: 300, tag: "p")
        _ = try client.call(LabelsAddMethod.self, .init(items: items))
        let run = try client.call(TrainMethod.self, .init())
        let deadline = Date().addingTimeInterval(600)
        var last: RunSummary?
        while Date() < deadline {
            last = try daemon.client().call(RunsListMethod.self, .init(limit: 1)).runs.first
            if last?.isFinished == true { break }
            usleep(200_000)
        }
        let detail = try daemon.client().call(RunsShowMethod.self, .init(id: run.id))
        XCTAssertTrue(["published", "rejected"].contains(detail.run.status), "run ended \(detail.run.status): \(detail.run.reason ?? "")\n\(daemon.stderr.suffix(3000))")
        return (daemon, detail)
    }

    func testRunsShow_printsBothConfusionMatrices_andPlotWritesAnSVGHoldingTheRun() throws {
        let (daemon, detail) = try trainedDaemon()
        let champion = try XCTUnwrap(detail.champion?.confusion, "the champion's confusion matrix was not recorded")
        let candidate = try XCTUnwrap(detail.candidate?.confusion, "the candidate's confusion matrix was not recorded")
        XCTAssertEqual(champion.count, 3)
        XCTAssertEqual(champion.flatMap { $0 }.reduce(0, +), detail.run.evalExamples)
        XCTAssertEqual(candidate.flatMap { $0 }.reduce(0, +), detail.run.evalExamples)
        let accuracy = Double((0..<3).map { candidate[$0][$0] }.reduce(0, +)) / Double(detail.run.evalExamples ?? 1)
        XCTAssertEqual(accuracy, detail.candidate?.accuracy ?? -1, accuracy: 1e-9, "the matrix is not the evaluation's")
        let curve = try XCTUnwrap(detail.curve, "no training curve recorded")
        let totalSteps = try XCTUnwrap(detail.run.totalSteps)
        XCTAssertEqual(curve.last?.step, totalSteps)
        XCTAssertEqual(curve.map(\.step), curve.map(\.step).sorted())
        XCTAssertLessThanOrEqual(curve.count, 201)

        // The text report.
        let shown = try runSentimentctl(["runs", "show", String(detail.run.id)], socket: daemon.socketPath)
        XCTAssertEqual(shown.status, 0, shown.err)
        XCTAssertTrue(shown.out.contains("confusion matrix of the champion v1 on the eval split"), shown.out)
        XCTAssertTrue(shown.out.contains("confusion matrix of the candidate"), shown.out)
        for (name, row) in zip(["negative", "neutral", "positive"], candidate) {
            let cells = row.map(String.init) + [String(row.reduce(0, +))]
            let line = shown.out.split(separator: "\n").first { $0.hasPrefix("  \(name)") && $0.split(separator: " ").count == 5
                && Array($0.split(separator: " ").dropFirst()).map(String.init) == cells }
            XCTAssertNotNil(line, "no candidate row \(name) \(cells) in:\n\(shown.out)")
        }

        // The picture.
        let svgPath = daemon.directory.path("run.svg")
        let plotted = try runSentimentctl(["runs", "show", String(detail.run.id), "--plot", svgPath], socket: daemon.socketPath)
        XCTAssertEqual(plotted.status, 0, plotted.err)
        let svg = try Data(contentsOf: URL(fileURLWithPath: svgPath))
        let reader = SVGReader()
        let parser = XMLParser(data: svg)
        parser.delegate = reader
        XCTAssertTrue(parser.parse(), "the SVG is not well-formed XML: \(String(describing: parser.parserError))")
        XCTAssertEqual(reader.root, "svg")
        XCTAssertEqual(reader.rootNamespace, "http://www.w3.org/2000/svg")
        XCTAssertFalse(reader.hasExternalReference, "the SVG refers to something outside itself")
        for (id, matrix) in [("confusion-champion", champion), ("confusion-candidate", candidate)] {
            let cells = try XCTUnwrap(reader.counts[id], "no \(id) group")
            XCTAssertEqual(cells.count, 9)
            for t in 0..<3 {
                for p in 0..<3 {
                    XCTAssertEqual(cells["\(t),\(p)"], String(matrix[t][p]), "\(id)[\(t)][\(p)]")
                }
            }
        }
        XCTAssertEqual(reader.polylinePoints["train-loss"], curve.count, "the loss curve does not have the run's points")
        let f1s = detail.epochs.compactMap { $0.metrics.map { plotNumber($0.macroF1) } }
        XCTAssertEqual(reader.values["epoch-macro-f1"], f1s, "the epochs' macro-F1 are not in the picture")
        XCTAssertEqual(reader.values["candidate-f1"], [plotNumber(detail.candidate!.macroF1)])
        XCTAssertEqual(reader.values["champion-f1"], [plotNumber(detail.champion!.macroF1)])
        XCTAssertEqual(try daemon.stop(), 0)
    }
}

/// The picture's number format (four decimals, no trailing zeros), as RunPlot writes it.
func plotNumber(_ v: Double) -> String {
    var s = String(format: "%.4f", v)
    while s.hasSuffix("0") { s.removeLast() }
    if s.hasSuffix(".") { s.removeLast() }
    return s == "-0" ? "0" : s
}

/// Reads back what RunPlot writes: the confusion counts per group, the points of each polyline, `data-value`s.
final class SVGReader: NSObject, XMLParserDelegate {
    var root: String?
    var rootNamespace: String?
    var hasExternalReference = false
    var counts: [String: [String: String]] = [:]
    var polylinePoints: [String: Int] = [:]
    var values: [String: [String]] = [:]
    private var group: String?
    private var cell: String?
    private var text = ""

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes a: [String: String] = [:]) {
        if root == nil {
            root = name
            rootNamespace = a["xmlns"]
        }
        if a.keys.contains(where: { $0 == "href" || $0.hasSuffix(":href") }) || ["image", "script", "foreignObject", "use"].contains(name) {
            hasExternalReference = true
        }
        if name == "g", let id = a["id"] { group = id; counts[id] = [:] }
        if name == "text", a["class"] == "count", let t = a["data-true"], let p = a["data-pred"] { cell = "\(t),\(p)"; text = "" }
        if name == "polyline", let id = a["id"], let points = a["points"] {
            polylinePoints[id] = points.split(separator: " ").count
        }
        if let value = a["data-value"], let key = a["class"] ?? a["id"] { values[key, default: []].append(value) }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { if cell != nil { text += string } }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text", let c = cell, let g = group { counts[g]?[c] = text; cell = nil }
        if name == "g" { group = nil }
    }
}
