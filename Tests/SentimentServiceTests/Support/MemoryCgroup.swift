import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A memory cgroup of the test's own (v1 or v2), to give the real daemon and its children a memory limit the way
/// systemd's MemoryMax= does. nil when this process may not create one (not root, no writable memory controller).
final class MemoryCgroup {
    let path: URL
    let version: Int

    init?() {
        let fm = FileManager.default
        guard getuid() == 0, let lines = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return nil }
        let name = "sentimentd-test-\(UUID().uuidString.prefix(8))"
        for line in lines.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            if parts[1].split(separator: ",").contains("memory") {
                let root = URL(fileURLWithPath: "/sys/fs/cgroup/memory" + parts[2])
                let dir = root.appendingPathComponent(name)
                if (try? fm.createDirectory(at: dir, withIntermediateDirectories: false)) != nil,
                   fm.fileExists(atPath: dir.appendingPathComponent("memory.limit_in_bytes").path) {
                    path = dir
                    version = 1
                    return
                }
            }
            if parts[0] == "0", parts[1].isEmpty {
                for mount in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                    let dir = URL(fileURLWithPath: mount + parts[2]).appendingPathComponent(name)
                    if (try? fm.createDirectory(at: dir, withIntermediateDirectories: false)) != nil {
                        if fm.fileExists(atPath: dir.appendingPathComponent("memory.max").path) {
                            path = dir
                            version = 2
                            return
                        }
                        try? fm.removeItem(at: dir)
                    }
                }
            }
        }
        return nil
    }

    private func write(_ file: String, _ value: String) throws {
        try value.write(to: path.appendingPathComponent(file), atomically: false, encoding: .utf8)
    }

    private func read(_ file: String) -> String {
        (try? String(contentsOf: path.appendingPathComponent(file), encoding: .utf8)) ?? ""
    }

    /// Moves a process (all its threads) in; children it starts later are born inside.
    func add(_ pid: pid_t) throws { try write("cgroup.procs", "\(pid)") }

    /// Bytes charged to the group now.
    var usage: Int { Int(read(version == 1 ? "memory.usage_in_bytes" : "memory.current").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 }

    func limit(_ bytes: Int) throws { try write(version == 1 ? "memory.limit_in_bytes" : "memory.max", "\(bytes)") }

    /// How many processes the kernel's out-of-memory killer killed in the group.
    var oomKills: Int {
        let text = read(version == 1 ? "memory.oom_control" : "memory.events")
        let line = text.split(separator: "\n").first { $0.hasPrefix("oom_kill ") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// Removes the group; its processes must have exited.
    deinit { rmdir(path.path) }
}
