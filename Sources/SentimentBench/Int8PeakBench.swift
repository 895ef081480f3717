import Foundation
import SentimentEngine

extension InferenceBench {
    /// `bench --int8-peak`: the clock (dependent one-cycle adds), then each int8 path's multiply instructions on
    /// registers only (`Int8Kernels.peakProbe`), on one core and on every worker at once: the ceiling that
    /// `bench --gemm`'s int8 rates are read against. An "op" is a multiply or an add (2 per byte product), as
    /// GFLOP counts them for fp32.
    public func runInt8Peak() {
        let rounds = quick ? 20_000_000 : 100_000_000
        let clock = BenchMeasure.time(n: 3, warmup: 1) { _ = Int8Kernels.clockProbe(iterations: rounds) }
        let ghz = Double(8 * rounds) / clock.min / 1e9
        print(String(format: "clock: %.2f GHz (8 dependent adds per round, best of 3; other_cores=%.2f)", ghz, clock.otherCores))
        for path in Int8KernelPath.supported where path != .portable {
            let iterations = quick ? 2_000_000 : 20_000_000
            var products = 0
            let one = BenchMeasure.time(n: 3, warmup: 1) { products = Int8Kernels.peakProbe(path: path, iterations: iterations) ?? 0 }
            let workers = Parallel.workers
            let all = BenchMeasure.time(n: 3, warmup: 1) {
                Parallel.forEach(workers) { _ in _ = Int8Kernels.peakProbe(path: path, iterations: iterations) }
            }
            let perCycle = Double(products) / one.min / (ghz * 1e9)
            print(String(format: "%@ peak: 1 core %.1f GOP/s (%.1f byte products per cycle), %d workers %.1f GOP/s (other_cores=%.2f)",
                         path.rawValue, 2 * Double(products) / one.min / 1e9, perCycle, workers,
                         2 * Double(products * workers) / all.min / 1e9, all.otherCores))
        }
    }
}
