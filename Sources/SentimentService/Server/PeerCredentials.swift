import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Who is on the other end of a Unix socket connection, as the kernel says (SO_PEERCRED): the credentials of
/// the process that connected, at connect time.
public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    /// `struct ucred` of <sys/socket.h> (Linux): pid_t, uid_t, gid_t.
    struct UCred: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// SO_PEERCRED from <asm-generic/socket.h>; Glibc's Swift overlay does not always export it.
    static let soPeerCred: Int32 = 17

    /// Reads the peer's credentials of an accepted connection.
    static func of(_ channel: Channel) -> EventLoopFuture<PeerCredentials> {
        guard let provider = channel as? SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(PeerCredentialsError.notASocket)
        }
        let future: EventLoopFuture<UCred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(soPeerCred))
        return future.map { PeerCredentials(pid: $0.pid, uid: $0.uid, gid: $0.gid) }
    }
}

enum PeerCredentialsError: Error, CustomStringConvertible {
    case notASocket
    var description: String { "the connection is not a socket; cannot read SO_PEERCRED" }
}

/// Who may change the daemon's state (activate, rollback, reload; later train and labels): uid 0, the daemon's own
/// uid, or a member of the configured admin group (primary group of the connecting process, or a supplementary
/// group of its user).
public struct AdminPolicy: Sendable, Equatable {
    public var daemonUID: UInt32
    public var adminGroup: String?

    public init(daemonUID: UInt32 = getuid(), adminGroup: String?) {
        self.daemonUID = daemonUID
        self.adminGroup = adminGroup
    }

    public func allows(_ peer: PeerCredentials) -> Bool {
        if peer.uid == 0 || peer.uid == daemonUID { return true }
        guard let adminGroup, let gid = Self.groupID(named: adminGroup) else { return false }
        if peer.gid == gid { return true }
        return Self.groups(ofUID: peer.uid).contains(gid)
    }

    static func groupID(named name: String) -> UInt32? {
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrnam_r(name, &group, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return group.gr_gid
    }

    /// The groups of the user (primary and supplementary, from the group database).
    static func groups(ofUID uid: UInt32) -> [UInt32] {
        var pw = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwuid_r(uid, &pw, &buffer, buffer.count, &result) == 0, result != nil, let name = pw.pw_name else {
            return []
        }
        var count: Int32 = 64
        while true {
            var list = [gid_t](repeating: 0, count: Int(count))
            let needed = count
            if getgrouplist(name, pw.pw_gid, &list, &count) >= 0 {
                return Array(list.prefix(Int(count)))
            }
            if count <= needed { return [] }
        }
    }
}
