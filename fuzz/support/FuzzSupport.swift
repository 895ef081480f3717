// Shared by every harness (scripts/fuzz.sh compiles it into each one).
import Foundation

/// Files a harness writes its input to, in the folder scripts/fuzz.sh makes for the run ($FUZZ_SCRATCH, removed
/// afterwards; a tmpfs when there is one) or the temporary directory.
enum FuzzScratch {
    static let folder: String = {
        let base = ProcessInfo.processInfo.environment["FUZZ_SCRATCH"] ?? NSTemporaryDirectory()
        let dir = "\(base)/\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    /// Writes `bytes` to `name` in the scratch folder and returns its path.
    static func write(_ name: String, _ bytes: Data) -> String {
        let path = "\(folder)/\(name)"
        _ = FileManager.default.createFile(atPath: path, contents: bytes)
        return path
    }

    /// Files separated by `%%FILE name` lines: the input of the harnesses that read a whole folder. Returns the
    /// (name, contents) pairs in order; bytes before the first marker are ignored.
    static func files(in bytes: Data) -> [(name: String, contents: Data)] {
        let marker = Array("%%FILE ".utf8)
        let b = [UInt8](bytes)
        var starts: [Int] = []
        var i = 0
        while i + marker.count <= b.count {
            if (i == 0 || b[i - 1] == 0x0A) && Array(b[i..<i + marker.count]) == marker { starts.append(i) }
            i += 1
        }
        var out: [(String, Data)] = []
        for (k, start) in starts.enumerated() {
            let end = k + 1 < starts.count ? starts[k + 1] : b.count
            guard let nl = b[start..<end].firstIndex(of: 0x0A) else { continue }
            let name = String(decoding: b[(start + marker.count)..<nl], as: UTF8.self)
            var bodyEnd = end
            if k + 1 < starts.count { bodyEnd -= 1 }   // the newline before the next marker
            out.append((name, Data(b[(nl + 1)..<max(nl + 1, bodyEnd)])))
        }
        return out
    }
}
