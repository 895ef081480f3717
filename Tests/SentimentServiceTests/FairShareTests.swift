import Foundation
import SentimentCore
import SentimentProtocol
@testable import SentimentService
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Fair sharing of the socket, with the real daemon and clients run as other uids: idle connections cannot lock
/// anyone out (per-uid quota, admins' reserved slots, idle timeout), a client trickling a request is closed, and
/// imports are bounded per uid, in bytes and in time.
final class FairShareTests: XCTestCase {
    private func makeDaemon(server: [String: String] = [:], labels: [String: String] = [:]) throws -> DaemonProcess {
        try DaemonProcess.withRoles(server: server, labels: labels)
    }

    private func connections(_ daemon: DaemonProcess) throws -> Int {
        try daemon.client(timeout: 10).call(StatusMethod.self, NoParams()).connections
    }

    /// The issue's lockout: unprivileged users open idle connections until the table is full. Each uid gets its
    /// quota and no more; root still gets in (reserved slots); a new uid is told which limit it hit; once the idle
    /// timeout passes every idle connection is closed and the newcomer gets in.
    func testIdleConnections_cannotLockOutRootOrOthers_andAreClosedAfterTheIdleTimeout() throws {
        let daemon = try makeDaemon(server: ["max_connections": "8", "max_connections_per_uid": "3",
                                             "admin_connections": "2", "idle_timeout_seconds": "4"])
        // Three uids try 20 idle connections each: 3 + 3 + 2 fill max_connections.
        var clients: [RunningClient] = []
        for uid: UInt32 in [65534, 65533, 65532] {
            let client = try IdleClient.start(as: OtherUser(uid: uid, gid: 65534), socket: daemon.socketPath, count: 20)
            try client.waitForOutput("opened ")
            clients.append(client)
            // Wait until the daemon has sorted this uid's connections before the next uid starts.
            let deadline = Date().addingTimeInterval(30)
            while try connections(daemon) < min(8, 3 * clients.count) + 1 && Date() < deadline { usleep(20_000) }
        }
        // Root (the status call itself) is served though the table is full; the daemon says 8 are held.
        XCTAssertEqual(try connections(daemon), 9, "8 idle connections and this one")
        let admin = try OtherUser.member(of: OtherUser.adminGroup, uid: 65530)
        XCTAssertEqual(try admin.sentimentctl(["status"], daemon: daemon).status, 0, "the admin group was locked out")
        // A fourth uid is refused, and told why.
        let newcomer = OtherUser(uid: 65531, gid: 65534)
        let refused = try newcomer.sentimentctl(["status"], daemon: daemon)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.err.contains("max_connections"), refused.err)

        // The idle timeout closes every idle connection (the clients read them to their end).
        for client in clients {
            try client.waitForOutput("closed 20", timeout: 60)
            XCTAssertEqual(IdleClient.number("opened", in: client.output), 20)
            XCTAssertGreaterThanOrEqual(IdleClient.number("refused", in: client.output) ?? 0, 17, client.output)
        }
        let deadline = Date().addingTimeInterval(30)
        while try connections(daemon) > 1 && Date() < deadline { usleep(50_000) }
        XCTAssertEqual(try connections(daemon), 1)
        XCTAssertEqual(try newcomer.sentimentctl(["status"], daemon: daemon).status, 0)
        let metrics = try daemon.client().call(MetricsMethod.self, NoParams()).text
        XCTAssertTrue(metrics.contains("sentimentd_connections_timed_out_total 8"), metrics)
        XCTAssertEqual(try daemon.stop(), 0)
    }

    /// A client that sends a request one byte at a time (never finishing a line) makes no progress and is closed
    /// after the idle timeout, though bytes keep arriving.
    func testTricklingClient_isClosedAfterTheIdleTimeout() throws {
        let daemon = try makeDaemon(server: ["idle_timeout_seconds": "2"])
        let script = #"""
        use strict; use warnings; use IO::Socket::UNIX; use IO::Select; use IO::Handle;
        $SIG{PIPE} = 'IGNORE';
        my $c = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $ARGV[0]) or die "connect: $!";
        my $sel = IO::Select->new($c); my $sent = 0; my $start = time;
        while (time - $start < 60) {
            defined(syswrite($c, "x", 1)) or last; $sent++;
            if ($sel->can_read(0.25)) { my $buf; my $n = sysread($c, $buf, 4096); last if !$n; }
        }
        print "closed after ", time - $start, " s and $sent bytes\n"; STDOUT->flush;
        """#
        let client = try OtherUser.nobody.start("/usr/bin/perl", ["-e", script, daemon.socketPath])
        try client.waitForOutput("closed after", timeout: 90)
        let seconds = Int(client.output.split(separator: " ")[2]) ?? 99
        XCTAssertLessThan(seconds, 30, "a trickling client held its connection: \(client.output)")
        XCTAssertEqual(try daemon.stop(), 0)
    }

    /// One uid pipelines requests on four connections (and reads its answers): together they never have more than
    /// max_pipelined_per_uid requests in the daemon, whatever max_pipelined allows each connection; and every
    /// request is answered in the end.
    func testPipelinedRequestsOfOneUID_areBoundedAcrossItsConnections() throws {
        let daemon = try makeDaemon(server: ["max_pipelined": "8", "max_pipelined_per_uid": "2"])
        let texts = (0..<64).map { "a long text number \($0) " + String(repeating: "that goes on and on ", count: 100) }
        let line = String(decoding: try RPCRequest(PredictMethod.self, id: .int(1), params: .init(texts: texts)).encodedLine(),
                          as: UTF8.self)
        let requestsPerConnection = 12
        let script = #"""
        use strict; use warnings; use IO::Socket::UNIX; use IO::Handle;
        my ($path, $connections, $count, $line) = @ARGV; my @pids;
        for my $k (1..$connections) {
            my $c = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $path) or die "connect: $!";
            my $reader = fork();
            if ($reader == 0) { my $n = 0; while (<$c>) { $n++; last if $n == $count } print "answered $n\n"; exit 0 }
            my $writer = fork();
            if ($writer == 0) { print $c "$line\n" for 1..$count; $c->flush; sleep 600; exit 0 }
            push @pids, [$reader, $writer];
        }
        for my $p (@pids) { waitpid($p->[0], 0); kill 'KILL', $p->[1]; waitpid($p->[1], 0) }
        print "done\n";
        """#
        let client = try OtherUser.nobody.start("/usr/bin/perl", ["-e", script, daemon.socketPath, "4",
                                                                  String(requestsPerConnection), line])
        var most = 0
        let deadline = Date().addingTimeInterval(300)
        while !client.output.contains("done") && Date() < deadline {
            most = max(most, try daemon.client(timeout: 30).call(StatusMethod.self, NoParams()).queuedTexts)
            usleep(10_000)
        }
        try client.waitForOutput("done", timeout: 10)
        XCTAssertEqual(client.output.components(separatedBy: "answered \(requestsPerConnection)").count - 1, 4, client.output)
        XCTAssertLessThanOrEqual(most, 2 * texts.count, "more than max_pipelined_per_uid requests of one uid were queued")
        XCTAssertGreaterThan(most, 0, "the load never queued anything: the test saw nothing")
        XCTAssertEqual(try daemon.stop(), 0)
    }

    // MARK: imports

    /// Open imports per uid, bytes per import and an idle timeout for imports.
    func testImportLimits_perUID_inBytes_andInTime() throws {
        let daemon = try makeDaemon(server: [:], labels: ["max_open_imports_per_uid": "2", "max_import_bytes": "4096",
                                                          "import_idle_timeout_seconds": "3"])
        let root = try daemon.client()
        let a = try root.call(LabelsImportBeginMethod.self, .init(source: "a", format: .jsonl))
        _ = try root.call(LabelsImportBeginMethod.self, .init(source: "b", format: .jsonl))
        XCTAssertThrowsError(try root.call(LabelsImportBeginMethod.self, .init(source: "c", format: .jsonl))) { error in
            let e = error as? RPCErrorObject
            XCTAssertEqual(e?.data?.kind, "overloaded")
            XCTAssertTrue(e?.message.contains("max_open_imports_per_uid") ?? false, "\(String(describing: e))")
        }
        // Another uid has its own quota: a labeller's import goes through.
        let labeller = try OtherUser.member(of: OtherUser.labellerGroup)
        let file = daemon.directory.path("small.jsonl")
        try #"{"text": "a labeller's text", "label": "positive"}"#.appending("\n").write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o644)
        XCTAssertEqual(try labeller.sentimentctl(["import", file], daemon: daemon).status, 0)

        // Bytes: a chunk that would take the import past max_import_bytes is refused, nothing of it staged.
        let big = (0..<40).map { LabelItem(text: String(repeating: "b", count: 100) + " #\($0)", label: .name("positive")) }
        XCTAssertThrowsError(try root.call(LabelsImportChunkMethod.self, .init(importID: a.importID, items: big))) { error in
            XCTAssertTrue((error as? RPCErrorObject)?.message.contains("max_import_bytes") ?? false, "\(error)")
        }
        // Time: both imports are abandoned once idle for longer than the timeout, which frees the quota.
        let deadline = Date().addingTimeInterval(60)
        var reopened = false
        while !reopened && Date() < deadline {
            reopened = (try? root.call(LabelsImportBeginMethod.self, .init(source: "d", format: .jsonl))) != nil
            if !reopened { usleep(200_000) }
        }
        XCTAssertTrue(reopened, "idle imports were never abandoned")
        XCTAssertThrowsError(try root.call(LabelsImportCommitMethod.self, .init(importID: a.importID))) { error in
            XCTAssertEqual((error as? RPCErrorObject)?.data?.kind, "not_found")
        }
        XCTAssertEqual(try daemon.stop(), 0)
    }

    // MARK: the ledger's rules

    func testLedger_quotasAndReservedSlots() {
        let ledger = ConnectionLedger()
        var config = DaemonConfig()
        config.maxConnections = 4
        config.adminConnections = 2
        config.maxConnectionsPerUID = 2
        config.maxPipelinedPerUID = 3
        let limits = ConnectionLedger.Limits(config)
        let a1 = try? ledger.admit(uid: 1000, isAdmin: false, limits: limits).get()
        XCTAssertNotNil(try? ledger.admit(uid: 1000, isAdmin: false, limits: limits).get())
        guard case let .failure(perUID) = ledger.admit(uid: 1000, isAdmin: false, limits: limits) else {
            return XCTFail("a third connection of one uid was admitted")
        }
        XCTAssertTrue(perUID.error.message.contains("max_connections_per_uid"), perUID.error.message)
        XCTAssertTrue(perUID.perUID)
        XCTAssertNotNil(try? ledger.admit(uid: 1001, isAdmin: false, limits: limits).get())
        XCTAssertNotNil(try? ledger.admit(uid: 1001, isAdmin: false, limits: limits).get())
        guard case .failure = ledger.admit(uid: 1002, isAdmin: false, limits: limits) else {
            return XCTFail("max_connections was passed")
        }
        // Admins: two more, however full; then no more.
        let root1 = try? ledger.admit(uid: 0, isAdmin: true, limits: limits).get()
        let root2 = try? ledger.admit(uid: 0, isAdmin: true, limits: limits).get()
        XCTAssertNotNil(root1)
        XCTAssertNotNil(root2)
        guard case .failure = ledger.admit(uid: 0, isAdmin: true, limits: limits) else {
            return XCTFail("admin_connections was passed")
        }
        // Pipelining: the uid's connections together have three requests unanswered, then wait for an answer.
        let ticket = a1!
        for _ in 0..<3 {
            XCTAssertTrue(ledger.mayRead(ticket, limits: limits) {})
            ledger.requestStarted(ticket)
        }
        let woken = LockedData()
        XCTAssertFalse(ledger.mayRead(ticket, limits: limits) { woken.append(Data([1])) })
        ledger.requestFinished(ticket)
        XCTAssertEqual(woken.value.count, 1, "the waiting connection was not woken")
        XCTAssertTrue(ledger.mayRead(ticket, limits: limits) {})
        // Released slots come back.
        for t in [ticket, root1!, root2!] { ledger.release(t) }
        XCTAssertNotNil(try? ledger.admit(uid: 1002, isAdmin: false, limits: limits).get())
    }
}
