import Foundation
import SentimentProtocol
import SentimentCore
#if canImport(Glibc)
import Glibc
#endif

/// A compact text table: columns separated by two spaces, numbers right-aligned, the last column never padded
/// (it is usually free text).
struct TextTable {
    var header: [String]
    var rows: [[String]] = []
    /// Columns whose cells are aligned to the right (numbers).
    var rightAligned: Set<Int> = []

    init(_ header: [String], rightAligned: Set<Int> = []) {
        self.header = header
        self.rightAligned = rightAligned
    }

    mutating func add(_ row: [String]) { rows.append(row) }

    func render() -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { i < $0.count ? $0[i].count : 0 }.max() ?? 0 }
        return all.map { row -> String in
            var cells: [String] = []
            for i in header.indices {
                let cell = i < row.count ? row[i] : ""
                let gap = String(repeating: " ", count: widths[i] - cell.count)
                if rightAligned.contains(i) { cells.append(gap + cell) }
                else if i == header.count - 1 { cells.append(cell) }
                else { cells.append(cell + gap) }
            }
            var line = cells.joined(separator: "  ")
            while line.last == " " { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }
}

// MARK: - Formatting of values in tables and reports

enum Show {
    /// A score such as macro-F1: four decimals, "-" when unknown.
    static func score(_ value: Double?) -> String {
        value.map { String(format: "%.4f", $0) } ?? "-"
    }

    /// A signed difference of scores: "+0.0142".
    static func change(_ value: Double?) -> String {
        value.map { String(format: "%+.4f", $0) } ?? "-"
    }

    static func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }

    static func learningRate(_ value: Double?) -> String {
        value.map { String(format: "%.2e", $0) } ?? "-"
    }

    static func count(_ value: Int?) -> String { value.map(String.init) ?? "-" }

    /// Bytes in binary units: "512 B", "12.3 KiB", "498.6 MiB", "1.42 GiB".
    static func bytes(_ n: Int64) -> String {
        let v = Double(n)
        if v < 1024 { return "\(n) B" }
        if v < 1024 * 1024 { return String(format: "%.1f KiB", v / 1024) }
        if v < 1024 * 1024 * 1024 { return String(format: "%.1f MiB", v / 1024 / 1024) }
        return String(format: "%.2f GiB", v / 1024 / 1024 / 1024)
    }

    /// The user name of `uid` on this machine, nil when it has none.
    static func userName(_ uid: UInt32) -> String? {
        var pw = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwuid_r(uid, &pw, &buffer, buffer.count, &result) == 0, result != nil, let name = pw.pw_name else {
            return nil
        }
        return String(cString: name)
    }

    /// Local time to the minute: "2025-06-01 14:03".
    static func time(_ date: Date?) -> String {
        guard let date else { return "-" }
        return minuteFormatter.string(from: date)
    }

    private static let minuteFormatter: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = .current
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f
    }()

    /// From `start` to `end` (or to now while still running).
    static func duration(from start: Date?, to end: Date?) -> String {
        guard let start else { return "-" }
        return formatDuration(max(0, (end ?? Date()).timeIntervalSince(start)))
    }

    /// A text on one table line: control characters as spaces, cut at `limit` characters with an ellipsis.
    static func text(_ text: String, limit: Int = 60) -> String {
        let flat = String(text.map { $0.isNewline || $0 == "\t" ? " " : $0 })
        return flat.count <= limit ? flat : String(flat.prefix(limit - 1)) + "…"
    }

    /// A label as the user gave it: a name as is, an index as "class N".
    static func label(_ label: LabelValue) -> String {
        switch label {
        case let .name(name): return name
        case let .index(i): return "class \(i)"
        }
    }
}

// MARK: - Terminal

/// Whether standard error is a terminal (progress lines are drawn in place only there).
var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// One status line on standard error, redrawn in place on a terminal.
final class StatusLine {
    private let isTerminal = standardErrorIsTerminal
    private var drawn = false
    private var lastDraw = Date.distantPast

    /// Redraws the line (at most ten times a second unless `force`); does nothing when stderr is not a terminal.
    func draw(_ text: String, force: Bool = false) {
        guard isTerminal else { return }
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        // Cut to the terminal's width: a wrapped line cannot be redrawn in place.
        let width = Self.terminalColumns()
        let shown = text.count < width ? text : String(text.prefix(max(1, width - 2))) + "…"
        FileHandle.standardError.write(Data("\r\u{1B}[K\(shown)".utf8))
        drawn = true
    }

    private static func terminalColumns() -> Int {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    /// Removes the drawn line so that ordinary output can follow.
    func clear() {
        guard drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        drawn = false
    }
}

/// Ctrl-C as a request to stop at the next safe point: the first SIGINT sets `requested` (and says so), a
/// second one ends the process at once with 130.
final class InterruptRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    private var source: DispatchSourceSignal?

    /// `message` is printed at the first Ctrl-C, when the stop is not immediate.
    init(message: String?) {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [weak self] in
            guard let self else { return }
            self.lock.lock()
            let again = self.flag
            self.flag = true
            self.lock.unlock()
            if again { _exit(130) }
            if let message {
                FileHandle.standardError.write(Data("\n\(message) (Ctrl-C again to quit at once)\n".utf8))
            }
        }
        source.resume()
        self.source = source
    }

    var requested: Bool {
        lock.lock()
        defer { lock.unlock() }
        return flag
    }

    func cancel() {
        source?.cancel()
        source = nil
        signal(SIGINT, SIG_DFL)
    }
}
