import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Runs the real binaries as another uid, so role and fair-share tests see the daemon as an unprivileged peer does.
/// The tests run as root; `setpriv` (util-linux) drops to the uid, primary gid and supplementary groups given.
///
/// Groups: two groups every Debian system has from base-passwd and that nothing uses at run time stand in for
/// `sentimentd-label` and `sentimentd-admin` (the daemon's group names are configurable), so the tests create and
/// remove nothing on the machine.
struct OtherUser: CustomStringConvertible {
    var uid: UInt32
    var gid: UInt32
    var groups: [UInt32] = []

    static let labellerGroup = "src"
    static let adminGroup = "operator"

    /// `nobody`, in no group of interest.
    static let nobody = OtherUser(uid: 65534, gid: 65534)

    /// Skips the test unless it runs as root with setpriv available.
    static func require() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root to run clients as other uids") }
        guard FileManager.default.isExecutableFile(atPath: setpriv) else { throw XCTSkip("\(setpriv) is missing") }
    }

    static let setpriv = "/usr/bin/setpriv"

    static func gid(of group: String) throws -> UInt32 {
        guard let g = getgrnam(group) else { throw XCTSkip("group \(group) does not exist on this machine") }
        return g.pointee.gr_gid
    }

    /// A member of `group`: through a supplementary group (SO_PEERGROUPS), or as the primary gid (SO_PEERCRED).
    static func member(of group: String, uid: UInt32 = 65534, primary: Bool = false) throws -> OtherUser {
        let gid = try gid(of: group)
        return primary ? OtherUser(uid: uid, gid: gid) : OtherUser(uid: uid, gid: 65534, groups: [gid])
    }

    var description: String { "uid \(uid) gid \(gid) groups \(groups)" }

    var setprivArguments: [String] {
        ["--reuid=\(uid)", "--regid=\(gid)"]
            + (groups.isEmpty ? ["--clear-groups"] : ["--groups=" + groups.map(String.init).joined(separator: ",")])
    }

    /// `executable` if another uid can run it where it is, else a copy in `scratch` (a checkout under a private
    /// home directory is not reachable by nobody).
    static func reachable(_ executable: URL, scratch: URL) throws -> URL {
        var folder = executable.deletingLastPathComponent()
        var reachable = true
        while folder.path != "/" {
            var st = stat()
            if stat(folder.path, &st) != 0 || st.st_mode & 0o001 == 0 { reachable = false; break }
            folder.deleteLastPathComponent()
        }
        if reachable { return executable }
        let copy = scratch.appendingPathComponent(executable.lastPathComponent)
        if !FileManager.default.fileExists(atPath: copy.path) {
            try FileManager.default.copyItem(at: executable, to: copy)
            chmod(copy.path, 0o755)
        }
        return copy
    }

    /// Starts `executable` as this user; standard output and error are collected (read them once it exited).
    func start(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> RunningClient {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.setpriv)
        p.arguments = setprivArguments + ["--", executable] + arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, n in n }
        p.environment = env
        return try RunningClient(p)
    }

    /// Runs `executable` as this user to the end.
    func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
             timeout: TimeInterval = 120) throws -> (status: Int32, out: String, err: String) {
        let client = try start(executable, arguments, environment: environment)
        try client.wait(timeout: timeout)
        return (client.status, client.output, client.errors)
    }

    /// The real sentimentctl against `daemon`, as this user.
    func sentimentctl(_ arguments: [String], daemon: DaemonProcess) throws -> (status: Int32, out: String, err: String) {
        let ctl = try Self.reachable(try TestPaths.executable("sentimentctl"), scratch: daemon.directory.url)
        return try run(ctl.path, arguments, environment: ["SENTIMENTD_SOCKET": daemon.socketPath])
    }
}

extension DaemonProcess {
    /// A started daemon serving the tiny RoBERTa as v1, whose socket anyone may open (as a member of group
    /// sentimentd would), with the test groups as the labeller and admin groups and training off.
    static func withRoles(server: [String: String] = [:], labels: [String: String] = [:],
                          training: [String: String] = ["enabled": "false"]) throws -> DaemonProcess {
        try OtherUser.require()
        _ = try TestPaths.requireTinyRoberta()
        var settings = ["socket_mode": "\"0666\"", "labeller_group": "\"\(OtherUser.labellerGroup)\"",
                        "admin_group": "\"\(OtherUser.adminGroup)\""]
        settings.merge(server) { _, n in n }
        let daemon = try DaemonProcess(serverSettings: settings)
        daemon.extraTables = ["labels": labels, "training": training]
        try daemon.writeConfig(serverSettings: settings)
        try daemon.installModel(version: "v1")
        try daemon.start()
        return daemon
    }
}

/// A client process started by `OtherUser.start`.
final class RunningClient {
    let process: Process
    private let out = LockedData()
    private let err = LockedData()
    private let outPipe = Pipe()
    private let errPipe = Pipe()
    /// Left when its pipe reached end of file.
    private var readers: [DispatchGroup] = []

    init(_ process: Process) throws {
        self.process = process
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // One thread per pipe reads to the end of file (the client and whatever inherited its output closed it), so
        // `wait` can wait for the last byte instead of guessing how long the reader needs: a readability handler
        // plus a short sleep cut the JSON of `labels list --json` off on a loaded machine.
        for (pipe, sink) in [(outPipe, out), (errPipe, err)] {
            let reading = DispatchGroup()
            reading.enter()
            let handle = pipe.fileHandleForReading
            Thread.detachNewThread {
                while true {
                    let d = handle.availableData
                    if d.isEmpty { break }
                    sink.append(d)
                }
                reading.leave()
            }
            readers.append(reading)
        }
    }

    var output: String { String(decoding: out.value, as: UTF8.self) }
    var errors: String { String(decoding: err.value, as: UTF8.self) }
    var status: Int32 { process.terminationStatus }

    /// Waits until standard output holds `needle`.
    func waitForOutput(_ needle: String, timeout: TimeInterval = 60) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if output.contains(needle) { return }
            if !process.isRunning {
                for reader in readers { _ = reader.wait(timeout: .now() + max(1, deadline.timeIntervalSinceNow)) }
                if output.contains(needle) { return }
                break
            }
            usleep(20_000)
        }
        throw DaemonTestError.timeout("no \"\(needle)\" from the client within \(timeout) s; output:\n\(output)\nerrors:\n\(errors)")
    }

    func wait(timeout: TimeInterval) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            stop()
            throw DaemonTestError.timeout("client did not exit within \(timeout) s; output:\n\(output)\nerrors:\n\(errors)")
        }
        for reader in readers where reader.wait(timeout: .now() + max(1, deadline.timeIntervalSinceNow)) == .timedOut {
            throw DaemonTestError.timeout("the client exited but its output did not reach end of file (a child holds it?); output:\n\(output)\nerrors:\n\(errors)")
        }
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit {
        stop()
    }
}

/// A tiny socket client for the fair-share tests, in Perl (perl-base is on every Debian system): opens `count`
/// connections to `socket` and keeps them open without sending a byte, prints `opened N`, then waits until the
/// daemon has closed every one of them (reading each to its end) and prints `closed N`, counting the lines that
/// said "overloaded" (connections refused at once) as `refused N`.
enum IdleClient {
    static let script = #"""
    use strict; use warnings; use IO::Socket::UNIX; use IO::Handle;
    my ($path, $count) = @ARGV; my @s;
    for (1..$count) {
        my $c = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $path) or last;
        push @s, $c;
    }
    print "opened ", scalar(@s), "\n"; STDOUT->flush;
    my ($closed, $refused) = (0, 0);
    for my $c (@s) {
        while (my $line = <$c>) { $refused++ if $line =~ /overloaded/; }
        $closed++;
    }
    print "refused $refused\nclosed $closed\n"; STDOUT->flush;
    """#

    static func start(as user: OtherUser, socket: String, count: Int) throws -> RunningClient {
        try user.start("/usr/bin/perl", ["-e", script, socket, String(count)])
    }

    /// The number after `word` in the client's output.
    static func number(_ word: String, in output: String) -> Int? {
        for line in output.split(separator: "\n") where line.hasPrefix(word + " ") {
            return Int(line.dropFirst(word.count + 1))
        }
        return nil
    }
}
