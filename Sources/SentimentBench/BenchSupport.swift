import Foundation

/// Timing and resource accounting for `sentimentd bench`, following the peers' method
/// (median of n runs after warm-up; CPU used by other processes reported so noisy runs are visible).
enum BenchClock {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}

struct BenchResult {
    var median: Double
    var min: Double
    var n: Int
    var otherCores: Double
}

enum BenchMeasure {
    /// Busy jiffies of the whole machine and of this process (incl. threads).
    static func busyJiffies() -> (system: Double, own: Double) {
        var system = 0.0, own = 0.0
        if let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
           let line = stat.split(separator: "\n").first {
            let v = line.split(separator: " ").dropFirst().compactMap { Double($0) }
            if v.count >= 8 { system = v[0..<8].reduce(0, +) - v[3] - v[4] }
        }
        if let s = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let close = s.lastIndex(of: ")") {
            let f = s[s.index(after: close)...].split(separator: " ")
            if f.count > 14 { own = [11, 12, 13, 14].compactMap { Double(f[$0]) }.reduce(0, +) }
        }
        return (system, own)
    }

    static func time(n: Int, warmup: Int, _ body: () -> Void) -> BenchResult {
        for _ in 0..<warmup { body() }
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        let b0 = busyJiffies()
        let t0 = BenchClock.now()
        var samples: [Double] = []
        for _ in 0..<n {
            let s = BenchClock.now()
            body()
            samples.append(BenchClock.now() - s)
        }
        let dt = BenchClock.now() - t0
        let b1 = busyJiffies()
        let other = max(0, ((b1.system - b0.system) - (b1.own - b0.own)) / hz / max(dt, 1e-9))
        samples.sort()
        return BenchResult(median: samples[samples.count / 2], min: samples[0], n: n, otherCores: other)
    }

    /// Peak resident set size of this process, MiB (VmHWM).
    static func peakRSSMiB() -> Double {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kb / 1024
        }
        return 0
    }
}
