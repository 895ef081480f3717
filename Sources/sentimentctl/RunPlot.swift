import Foundation
import SentimentProtocol

/// `runs show N --plot FILE.svg`: one self-contained SVG of a run (no script, no external font or style, nothing to
/// fetch; any browser or image viewer opens it): the training loss by step with the eval loss of each epoch, the
/// eval metrics by epoch with the champion's and the candidate's final macro-F1, and the confusion matrices of both
/// evaluations on the frozen eval split.
///
/// The drawing is hand-written SVG 1.1. Every number drawn is also an attribute (`data-value`, `data-true`,
/// `data-pred`, `data-points`), so a program (or a test) can read the run back out of the picture.
struct RunPlot {
    let detail: RunDetail

    static let width = 960.0
    private static let palette = (loss: "#1f77b4", evalLoss: "#ff7f0e", accuracy: "#2ca02c", macroF1: "#d62728",
                                  recall: "#9467bd", champion: "#7f7f7f", candidate: "#d62728")

    /// Side of a confusion matrix cell.
    static let cell = 56.0

    func render() -> String {
        let names = labelNames
        let chartTop = 70.0, chartHeight = 280.0, legendRows = 5.0
        let matrixTop = chartTop + chartHeight + 20 + legendRows * 15 + 20
        let matrixHeight = 60 + Double(max(names.count, 1)) * Self.cell + 30
        let r = detail.run
        let footer = Self.wrap("decision: \(r.decision ?? "none")" + (r.reason.map { " — \($0)" } ?? ""), width: 150)
        let height = matrixTop + matrixHeight + Double(footer.count) * 15 + 20
        var svg = SVG(width: Self.width, height: height)
        var title = "sentimentd run \(r.id): \(r.status)"
        if let decision = r.decision, decision != r.status { title += " (gate: \(decision))" }
        svg.text(title, x: 20, y: 30, size: 18, weight: "bold")
        var subtitle = "\(r.method) fine-tuning of \(r.baseVersion ?? "?")"
        if let candidate = r.candidateVersion { subtitle += " into \(candidate)" }
        if let started = r.startedAt { subtitle += ", started \(ISO8601DateFormatter().string(from: started))" }
        svg.text(subtitle, x: 20, y: 50, size: 12, color: "#444")

        lossChart(&svg, x: 20, y: chartTop, w: 440, h: chartHeight)
        metricsChart(&svg, x: 500, y: chartTop, w: 440, h: chartHeight)
        confusion(&svg, id: "confusion-champion", title: "champion \(r.baseVersion ?? "")", metrics: detail.champion,
                  names: names, x: 20, y: matrixTop)
        confusion(&svg, id: "confusion-candidate", title: "candidate \(r.candidateVersion ?? "(not published)")",
                  metrics: detail.candidate, names: names, x: 500, y: matrixTop)
        for (i, line) in footer.enumerated() {
            svg.text(line, x: 20, y: matrixTop + matrixHeight + 15 * Double(i), size: 11, color: "#444")
        }
        return svg.document
    }

    /// `text` in lines of at most about `width` characters, broken at spaces.
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = [], current = ""
        for word in text.split(separator: " ") {
            if !current.isEmpty && current.count + 1 + word.count > width {
                lines.append(current)
                current = ""
            }
            current += (current.isEmpty ? "" : " ") + word
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }

    private var labelNames: [String] {
        if let labels = detail.labels { return labels }
        let n = detail.candidate?.confusion?.count ?? detail.champion?.confusion?.count ?? 0
        return (0..<n).map { "class \($0)" }
    }

    // MARK: Charts

    /// Training loss by step (the curve), eval loss at the end of each epoch.
    private func lossChart(_ svg: inout SVG, x: Double, y: Double, w: Double, h: Double) {
        let curve = (detail.curve ?? []).filter { $0.loss.map { $0.isFinite } ?? false }
        let totalSteps = Double(max(detail.run.totalSteps ?? 0, curve.last?.step ?? 0, 1))
        let epochs = detail.epochs
        let epochCount = Double(max(detail.recipe.epochs ?? epochs.count, epochs.count, 1))
        let evalPoints = epochs.compactMap { e -> (Double, Double)? in
            guard let loss = e.metrics?.loss, loss.isFinite else { return nil }
            return (totalSteps * Double(e.epoch) / epochCount, loss)
        }
        let values = curve.compactMap(\.loss) + evalPoints.map(\.1)
        let frame = ChartFrame(x: x, y: y, w: w, h: h, xRange: 0...totalSteps,
                               yRange: Self.range(values, floorAtZero: true))
        frame.draw(&svg, title: "training loss by step", xLabel: "step")
        if curve.isEmpty {
            svg.text("no training curve recorded", x: x + w / 2, y: y + h / 2, size: 12, anchor: "middle", color: "#888")
        } else {
            let points = curve.map { frame.point(Double($0.step), $0.loss!) }
            svg.polyline(points, id: "train-loss", color: Self.palette.loss, extra: "data-points=\"\(curve.count)\"")
        }
        for (i, p) in evalPoints.enumerated() {
            let at = frame.point(p.0, p.1)
            svg.circle(at, r: 4, color: Self.palette.evalLoss,
                       extra: "class=\"eval-loss\" data-epoch=\"\(epochs[i].epoch)\" data-value=\"\(Self.number(p.1))\"")
        }
        svg.legend([("training loss (mean of the steps since the last point)", Self.palette.loss, nil),
                    ("eval loss at the end of each epoch", Self.palette.evalLoss, nil)], x: x + 52, y: y + h + 20)
    }

    /// Eval accuracy, macro-F1 and macro-recall by epoch; the final champion and candidate macro-F1 as lines.
    private func metricsChart(_ svg: inout SVG, x: Double, y: Double, w: Double, h: Double) {
        let epochs = detail.epochs.filter { $0.metrics != nil }
        let last = Double(max(detail.recipe.epochs ?? 0, epochs.last?.epoch ?? 0, 1))
        var values: [Double] = []
        for e in epochs { if let m = e.metrics { values += [m.accuracy, m.macroF1, m.macroRecall] } }
        if let c = detail.champion?.macroF1 { values.append(c) }
        if let c = detail.candidate?.macroF1 { values.append(c) }
        let frame = ChartFrame(x: x, y: y, w: w, h: h, xRange: (last > 1 ? 1 : 0)...last,
                               yRange: Self.range(values, floorAtZero: false, unit: true))
        frame.draw(&svg, title: "scores on the eval split, by epoch", xLabel: "epoch", integerX: true)
        if epochs.isEmpty {
            svg.text("no epoch metrics recorded", x: x + w / 2, y: y + h / 2, size: 12, anchor: "middle", color: "#888")
        }
        let series: [(String, String, String?, (EvalMetrics) -> Double)] = [
            ("accuracy", Self.palette.accuracy, nil, { $0.accuracy }),
            ("macro-f1", Self.palette.macroF1, nil, { $0.macroF1 }),
            ("macro-recall", Self.palette.recall, "5,3", { $0.macroRecall }),
        ]
        for (name, color, dash, pick) in series {
            let points = epochs.map { frame.point(Double($0.epoch), pick($0.metrics!)) }
            if points.count > 1 { svg.polyline(points, id: "epoch-\(name)", color: color, dash: dash) }
            for (e, p) in zip(epochs, points) {
                svg.circle(p, r: 3.5, color: color,
                           extra: "class=\"epoch-\(name)\" data-epoch=\"\(e.epoch)\" data-value=\"\(Self.number(pick(e.metrics!)))\"")
            }
        }
        for (id, metrics, color, dash) in [("champion-f1", detail.champion, Self.palette.champion, "6,4"),
                                           ("candidate-f1", detail.candidate, Self.palette.candidate, "2,3")] {
            guard let f1 = metrics?.macroF1 else { continue }
            let a = frame.point(frame.xRange.lowerBound, f1), b = frame.point(frame.xRange.upperBound, f1)
            svg.line(a, b, color: color, dash: dash, extra: "id=\"\(id)\" data-value=\"\(Self.number(f1))\"")
        }
        svg.legend([("accuracy", Self.palette.accuracy, nil), ("macro-F1", Self.palette.macroF1, nil),
                    ("macro-recall (dashed; equal to accuracy when the classes are balanced)", Self.palette.recall, "5,3"),
                    ("champion macro-F1, final evaluation", Self.palette.champion, "6,4"),
                    ("candidate macro-F1, final evaluation", Self.palette.candidate, "2,3")], x: x + 52, y: y + h + 20)
    }

    /// A heat map of one evaluation's confusion matrix: rows true labels, columns predicted, shaded by the share of
    /// the row.
    private func confusion(_ svg: inout SVG, id: String, title: String, metrics: EvalMetrics?, names: [String],
                           x: Double, y: Double) {
        svg.text("confusion matrix: \(title)", x: x, y: y, size: 13, weight: "bold")
        guard let matrix = metrics?.confusion, !matrix.isEmpty else {
            svg.text(metrics == nil ? "no evaluation recorded" : "not recorded for this run", x: x, y: y + 24, size: 12,
                     color: "#888")
            return
        }
        let cell = Self.cell, left = x + 110, top = y + 40
        svg.raw("<g id=\"\(id)\" data-examples=\"\(metrics?.examples ?? 0)\">")
        svg.text("predicted →", x: left, y: y + 18, size: 11, color: "#444")
        for (j, name) in names.enumerated() where j < matrix.count {
            svg.text(String(name.prefix(9)), x: left + cell * (Double(j) + 0.5) - 1, y: top - 6, size: 10, anchor: "middle")
        }
        for (i, row) in matrix.enumerated() {
            let total = max(row.reduce(0, +), 1)
            let name = i < names.count ? names[i] : "class \(i)"
            svg.text("true " + String(name.prefix(10)), x: left - 8, y: top + cell * (Double(i) + 0.5) + 4, size: 11, anchor: "end")
            for (j, count) in row.enumerated() {
                let share = Double(count) / Double(total)
                let cx = left + cell * Double(j), cy = top + cell * Double(i)
                let color = i == j ? "rgb(31,119,180)" : "rgb(214,39,40)"
                svg.raw("<rect x=\"\(Self.number(cx))\" y=\"\(Self.number(cy))\" width=\"\(Self.number(cell - 2))\" "
                    + "height=\"\(Self.number(cell - 2))\" fill=\"\(color)\" fill-opacity=\"\(Self.number(0.08 + 0.8 * share))\"/>")
                svg.text("\(count)", x: cx + cell / 2 - 1, y: cy + cell / 2 + 4, size: 13, anchor: "middle",
                         color: share > 0.55 ? "#ffffff" : "#000000",
                         extra: "class=\"count\" data-true=\"\(i)\" data-pred=\"\(j)\"")
            }
        }
        if let m = metrics {
            svg.text("accuracy \(Self.number(m.accuracy)), macro-F1 \(Self.number(m.macroF1)), \(m.examples) texts",
                     x: left, y: top + cell * Double(matrix.count) + 16, size: 11, color: "#444")
        }
        svg.raw("</g>")
    }

    // MARK: Helpers

    /// A y range covering `values` with a margin (0...1 for scores when `unit`, never empty).
    static func range(_ values: [Double], floorAtZero: Bool, unit: Bool = false) -> ClosedRange<Double> {
        let finite = values.filter(\.isFinite)
        guard var lo = finite.min(), var hi = finite.max() else { return 0...1 }
        if unit {
            lo = max(0, min(lo, hi) - 0.05)
            hi = min(1, hi + 0.05)
        } else {
            let pad = max((hi - lo) * 0.08, abs(hi) * 0.02, 1e-6)
            lo = floorAtZero ? max(0, lo - pad) : lo - pad
            hi += pad
        }
        if hi <= lo { hi = lo + 1 }
        return lo...hi
    }

    /// A number as the picture writes it: up to four decimals, no trailing zeros.
    static func number(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        var s = String(format: "%.4f", v)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s == "-0" ? "0" : s
    }
}

/// The plot area of one chart: data coordinates to SVG coordinates, axes with ticks.
struct ChartFrame {
    let x: Double, y: Double, w: Double, h: Double
    let xRange: ClosedRange<Double>
    let yRange: ClosedRange<Double>
    /// Margins for the tick labels.
    private let left = 52.0, bottom = 34.0, top = 22.0

    init(x: Double, y: Double, w: Double, h: Double, xRange: ClosedRange<Double>, yRange: ClosedRange<Double>) {
        self.x = x
        self.y = y
        self.w = w
        self.h = h
        self.xRange = xRange.upperBound > xRange.lowerBound ? xRange : xRange.lowerBound...(xRange.lowerBound + 1)
        self.yRange = yRange
    }

    func point(_ dx: Double, _ dy: Double) -> (Double, Double) {
        let px = x + left + (dx - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound) * (w - left - 8)
        let py = y + top + (1 - (dy - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound)) * (h - top - bottom)
        return (px, py)
    }

    func draw(_ svg: inout SVG, title: String, xLabel: String, integerX: Bool = false) {
        svg.text(title, x: x, y: y + 12, size: 13, weight: "bold")
        let origin = point(xRange.lowerBound, yRange.lowerBound)
        let xEnd = point(xRange.upperBound, yRange.lowerBound)
        let yEnd = point(xRange.lowerBound, yRange.upperBound)
        svg.line(origin, xEnd, color: "#333")
        svg.line(origin, yEnd, color: "#333")
        for k in 0...4 {
            let fy = yRange.lowerBound + (yRange.upperBound - yRange.lowerBound) * Double(k) / 4
            let p = point(xRange.lowerBound, fy)
            svg.line((p.0 - 4, p.1), (xEnd.0, p.1), color: "#e0e0e0")
            svg.text(RunPlot.number(fy), x: p.0 - 6, y: p.1 + 4, size: 10, anchor: "end", color: "#444")
        }
        let xTicks: [Double]
        if integerX {
            let lo = Int(xRange.lowerBound.rounded(.up)), hi = Int(xRange.upperBound.rounded(.down))
            let stride = max(1, (hi - lo) / 8)
            xTicks = Swift.stride(from: lo, through: hi, by: stride).map(Double.init)
        } else {
            xTicks = (0...4).map { xRange.lowerBound + (xRange.upperBound - xRange.lowerBound) * Double($0) / 4 }
        }
        for fx in xTicks {
            let p = point(fx, yRange.lowerBound)
            svg.line(p, (p.0, p.1 + 4), color: "#333")
            svg.text(integerX ? String(Int(fx)) : RunPlot.number(fx.rounded()), x: p.0, y: p.1 + 16, size: 10,
                     anchor: "middle", color: "#444")
        }
        svg.text(xLabel, x: (origin.0 + xEnd.0) / 2, y: origin.1 + 30, size: 11, anchor: "middle", color: "#444")
    }
}

/// SVG text built by hand; every piece of text is escaped for XML.
struct SVG {
    let width: Double, height: Double
    private var body: [String] = []

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                // XML 1.0 allows no control characters but tab, line feed and carriage return.
                if scalar.value < 0x20 && scalar != "\t" && scalar != "\n" && scalar != "\r" { out += " " }
                else if (0xFFFE...0xFFFF).contains(scalar.value) { out += " " }
                else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }

    mutating func raw(_ s: String) { body.append(s) }

    mutating func text(_ s: String, x: Double, y: Double, size: Double, weight: String = "normal",
                       anchor: String = "start", color: String = "#000000", extra: String = "") {
        body.append("<text x=\"\(RunPlot.number(x))\" y=\"\(RunPlot.number(y))\" font-size=\"\(RunPlot.number(size))\" "
            + "font-weight=\"\(weight)\" text-anchor=\"\(anchor)\" fill=\"\(color)\"\(extra.isEmpty ? "" : " " + extra)>"
            + Self.escape(s) + "</text>")
    }

    mutating func line(_ a: (Double, Double), _ b: (Double, Double), color: String, dash: String? = nil, extra: String = "") {
        body.append("<line x1=\"\(RunPlot.number(a.0))\" y1=\"\(RunPlot.number(a.1))\" x2=\"\(RunPlot.number(b.0))\" "
            + "y2=\"\(RunPlot.number(b.1))\" stroke=\"\(color)\" stroke-width=\"1\""
            + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + (extra.isEmpty ? "" : " " + extra) + "/>")
    }

    mutating func polyline(_ points: [(Double, Double)], id: String, color: String, dash: String? = nil, extra: String = "") {
        let list = points.map { "\(RunPlot.number($0.0)),\(RunPlot.number($0.1))" }.joined(separator: " ")
        body.append("<polyline id=\"\(id)\" points=\"\(list)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\""
            + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + (extra.isEmpty ? "" : " " + extra) + "/>")
    }

    mutating func circle(_ c: (Double, Double), r: Double, color: String, extra: String = "") {
        body.append("<circle cx=\"\(RunPlot.number(c.0))\" cy=\"\(RunPlot.number(c.1))\" r=\"\(RunPlot.number(r))\" "
            + "fill=\"\(color)\"" + (extra.isEmpty ? "" : " " + extra) + "/>")
    }

    mutating func legend(_ entries: [(String, String, String?)], x: Double, y: Double) {
        for (i, (name, color, dash)) in entries.enumerated() {
            let ly = y + Double(i) * 15
            line((x, ly - 4), (x + 18, ly - 4), color: color, dash: dash)
            text(name, x: x + 24, y: ly, size: 10, color: "#333")
        }
    }

    var document: String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            + "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(RunPlot.number(width))\" "
            + "height=\"\(RunPlot.number(height))\" viewBox=\"0 0 \(RunPlot.number(width)) \(RunPlot.number(height))\" "
            + "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
            + "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
            + body.joined(separator: "\n") + "\n</svg>\n"
    }
}
