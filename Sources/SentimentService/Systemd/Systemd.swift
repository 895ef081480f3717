import CSystemd
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one file that calls libsystemd (`sd_*`). Everything here is a no-op outside systemd: sd_notify does
/// nothing without NOTIFY_SOCKET, sd_listen_fds finds nothing without LISTEN_FDS, and the journal is used only
/// when JOURNAL_STREAM says stderr is connected to it.
enum Systemd {
    /// The first descriptor systemd passes (SD_LISTEN_FDS_START).
    static let listenFDsStart: Int32 = 3

    /// Sends a state string to the service manager. Returns false when there is no manager to tell.
    @discardableResult
    static func notify(_ state: String) -> Bool {
        sd_notify(0, state) > 0
    }

    static func ready(status: String) {
        notify("READY=1\nSTATUS=\(sanitised(status))\nMAINPID=\(getpid())")
    }

    static func status(_ status: String) {
        notify("STATUS=\(sanitised(status))")
    }

    /// RELOADING=1 with the CLOCK_MONOTONIC timestamp systemd (≥ 253) uses to match the reload; READY=1 must follow.
    static func reloading(status: String) {
        notify("RELOADING=1\nMONOTONIC_USEC=\(monotonicMicroseconds())\nSTATUS=\(sanitised(status))")
    }

    static func stopping(status: String) {
        notify("STOPPING=1\nSTATUS=\(sanitised(status))")
    }

    static func watchdogPing() {
        notify("WATCHDOG=1")
    }

    /// The watchdog interval systemd expects pings within (WatchdogSec=), nil when the watchdog is off.
    static func watchdogInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec))
    }

    /// Listening sockets passed by socket activation (sd_listen_fds_with_names), each checked to be a stream socket in
    /// listening state, with its `FileDescriptorName=` and, for a Unix socket, the path it is bound to. The LISTEN_*
    /// variables are removed so that child processes do not think they were activated.
    static func activationSockets() throws -> [ActivatedSocket] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let n = sd_listen_fds_with_names(1, &names)
        if n < 0 { throw SystemdError.listenFDs(reason: String(cString: strerror(-n))) }
        defer {
            if let names {
                for i in 0..<Int(n) { free(names[i]) }
                free(names)
            }
        }
        var sockets: [ActivatedSocket] = []
        for i in 0..<n {
            let fd = listenFDsStart + i
            guard sd_is_socket(fd, AF_UNSPEC, Int32(SOCK_STREAM.rawValue), 1) > 0 else {
                throw SystemdError.notStreamListener(fd: fd)
            }
            let name = names?[Int(i)].map { String(cString: $0) } ?? "unknown"
            sockets.append(ActivatedSocket(fd: fd, name: name, unixPath: unixPath(of: fd),
                                           isUnix: sd_is_socket_unix(fd, Int32(SOCK_STREAM.rawValue), 1, nil, 0) > 0))
        }
        return sockets
    }

    /// The path a Unix socket is bound to (nil for other families and abstract or unnamed sockets).
    static func unixPath(of fd: Int32) -> String? {
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0, address.sun_family == sa_family_t(AF_UNIX) else { return nil }
        let path = withUnsafeBytes(of: address.sun_path) { raw -> String in
            let bytes = raw.prefix(while: { $0 != 0 })
            return String(decoding: bytes, as: UTF8.self)
        }
        return path.isEmpty ? nil : path
    }

    /// True when stderr is the journal stream systemd connected us to (JOURNAL_STREAM names its device:inode).
    static func stderrIsJournal(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }

    /// Sends one structured entry to the journal. `fields` are (NAME, value) pairs; names must already be valid
    /// journal field names (A-Z, 0-9, _; not starting with _).
    @discardableResult
    static func journalSend(_ fields: [(String, String)]) -> Bool {
        let strings = fields.map { "\($0.0)=\($0.1)" }
        let cStrings = strings.map { strdup($0)! }
        defer { cStrings.forEach { free($0) } }
        var iov = cStrings.map { iovec(iov_base: UnsafeMutableRawPointer($0), iov_len: strlen($0)) }
        return iov.withUnsafeMutableBufferPointer { buf in
            sd_journal_sendv(buf.baseAddress, Int32(buf.count)) == 0
        }
    }

    static func monotonicMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
    }

    /// STATUS= is one line: a newline would start another assignment.
    private static func sanitised(_ s: String) -> String {
        s.replacingOccurrences(of: "\n", with: " ")
    }
}

/// One listening socket systemd passed.
package struct ActivatedSocket: Sendable, Equatable {
    package var fd: Int32
    /// `FileDescriptorName=` of its socket unit (the unit's name when not set).
    package var name: String
    /// The path of a Unix socket.
    package var unixPath: String?
    package var isUnix: Bool

    package init(fd: Int32, name: String, unixPath: String?, isUnix: Bool) {
        self.fd = fd
        self.name = name
        self.unixPath = unixPath
        self.isUnix = isUnix
    }

    /// `FileDescriptorName=` of `sentimentd-http.socket`: every socket named so serves HTTP.
    package static let httpName = "http"
}

enum SystemdError: Error, Equatable, CustomStringConvertible {
    case listenFDs(reason: String)
    case notUnixStreamListener(fd: Int32)
    case notStreamListener(fd: Int32)

    var description: String {
        switch self {
        case let .listenFDs(reason): return "socket activation: sd_listen_fds failed: \(reason)"
        case let .notUnixStreamListener(fd):
            return "socket activation: descriptor \(fd) is not a listening Unix stream socket (check ListenStream= in sentimentd.socket)"
        case let .notStreamListener(fd):
            return "socket activation: descriptor \(fd) is not a listening stream socket (check ListenStream= in the socket units)"
        }
    }
}
