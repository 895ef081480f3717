import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The process's own resources as Prometheus' `process_*` metrics name them, read from /proc/self at each scrape
/// (Linux; elsewhere every field stays nil and the metrics are left out).
struct ProcessSample {
    var residentBytes: Double?
    var virtualBytes: Double?
    var cpuSeconds: Double?
    var openFDs: Double?
    var maxFDs: Double?
    var startTimeSeconds: Double?

    static func read() -> ProcessSample {
        var sample = ProcessSample()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        // /proc/self/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses, so fields are counted
        // from the last ')'. After it: field 3 is state; utime 14, stime 15, starttime 22, vsize 23, rss 24.
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            func field(_ n: Int) -> Double? { fields.indices.contains(n - 3) ? Double(fields[n - 3]) : nil }
            if let utime = field(14), let stime = field(15), ticks > 0 { sample.cpuSeconds = (utime + stime) / ticks }
            sample.virtualBytes = field(23)
            sample.residentBytes = field(24).map { $0 * page }
            if let start = field(22), ticks > 0, let boot = bootTime() { sample.startTimeSeconds = boot + start / ticks }
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            sample.openFDs = Double(entries.count)
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
            sample.maxFDs = Double(limit.rlim_cur)
        }
        return sample
    }

    /// `btime` of /proc/stat: when the system booted, in seconds since the epoch.
    private static func bootTime() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}
