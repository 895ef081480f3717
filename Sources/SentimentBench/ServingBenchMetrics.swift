import Foundation
import SentimentProtocol

/// The daemon's Prometheus series at one moment (from the `metrics` method), for what happened inside it during
/// a load window: batch sizes, forward time per batch, queue wait.
struct ServingBenchMetrics {
    /// Series (name with its labels, as printed) -> value.
    var series: [String: Double] = [:]

    init?(socket: String) {
        guard let text = try? UnixSocketClient(path: socket, timeoutSeconds: 30).call(MetricsMethod.self, NoParams()).text
        else { return nil }
        self.init(text: text)
    }

    init(text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            series[String(line[..<space])] = value
        }
    }

    /// Mean of a histogram's observations between two snapshots (sum and count deltas).
    static func mean(_ name: String, from a: ServingBenchMetrics, to b: ServingBenchMetrics) -> Double? {
        guard let s0 = a.series[name + "_sum"], let s1 = b.series[name + "_sum"],
              let c0 = a.series[name + "_count"], let c1 = b.series[name + "_count"], c1 > c0 else { return nil }
        return (s1 - s0) / (c1 - c0)
    }

    /// Observations per histogram bucket between two snapshots, smallest bucket first, empty buckets left out:
    /// ("1", 12) means 12 batches of one text, ("3-4", 5) five of three or four.
    static func buckets(_ name: String, from a: ServingBenchMetrics, to b: ServingBenchMetrics) -> [ServingBenchBucket] {
        let prefix = name + "_bucket{le=\""
        var bounds: [(le: Double, label: String, count: Double)] = []
        for (key, v1) in b.series where key.hasPrefix(prefix) {
            let le = key.dropFirst(prefix.count).prefix { $0 != "\"" }
            let bound = le == "+Inf" ? Double.infinity : Double(le) ?? .nan
            guard !bound.isNaN else { continue }
            bounds.append((bound, String(le), v1 - (a.series[key] ?? 0)))
        }
        bounds.sort { $0.le < $1.le }
        var result: [ServingBenchBucket] = []
        var below = 0.0, lower = 0.0
        for (le, label, cumulative) in bounds {
            let n = cumulative - below
            if n > 0 {
                let from = lower.rounded(.down) + 1
                let text = le.isInfinite ? ">\(Int(lower))" : (from >= le ? label.replacingOccurrences(of: ".0", with: "")
                                                                 : "\(Int(from))-\(Int(le))")
                result.append(ServingBenchBucket(sizes: text, count: Int(n)))
            }
            below = cumulative
            lower = le
        }
        return result
    }
}

struct ServingBenchBucket: Codable {
    var sizes: String
    var count: Int
}
