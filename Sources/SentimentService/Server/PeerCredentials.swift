import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Who is on the other end of a Unix socket connection, as the kernel says: the effective uid and gid of the
/// process that connected (SO_PEERCRED) and its supplementary groups (SO_PEERGROUPS), both as they were at
/// connect time. Roles are decided from these, the way the kernel decides file access: a group the user was added
/// to after the process started does not count, a group the process dropped does not either.
package struct PeerCredentials: Sendable, Equatable {
    package var pid: Int32
    package var uid: UInt32
    package var gid: UInt32
    /// Supplementary groups of the connecting process. Never holds gid 0: see `supplementaryGroups`.
    package var groups: [UInt32]

    package init(pid: Int32, uid: UInt32, gid: UInt32, groups: [UInt32] = []) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }

    /// Whether the process was in group `gid` (primary or supplementary).
    func isMember(of gid: UInt32) -> Bool { self.gid == gid || groups.contains(gid) }

    /// `struct ucred` of <sys/socket.h> (Linux): pid_t, uid_t, gid_t.
    struct UCred: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// SO_PEERCRED from <asm-generic/socket.h>; Glibc's Swift overlay does not always export it.
    static let soPeerCred: Int32 = 17

    /// SO_PEERGROUPS (Linux 4.13) from <asm-generic/socket.h>.
    static let soPeerGroups: Int32 = 59
    /// Supplementary groups read at most; a process in more is judged by its primary group alone (getsockopt
    /// answers ERANGE), which can only deny a role, never grant one.
    static let maxGroups = 256
    typealias GroupList = InlineArray<256, UInt32>

    /// Reads the peer's credentials of an accepted connection.
    package static func of(_ channel: Channel) -> EventLoopFuture<PeerCredentials> {
        guard let provider = channel as? SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(PeerCredentialsError.notASocket)
        }
        let credentials: EventLoopFuture<UCred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(soPeerCred))
        return credentials.flatMap { cred in
            let groups: EventLoopFuture<GroupList> = provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(soPeerGroups))
            return groups.map { list in
                PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid, groups: supplementaryGroups(list))
            }.recover { _ in
                PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid)
            }
        }
    }

    /// The groups of an SO_PEERGROUPS answer. The kernel writes them sorted ascending and NIO zero-fills the rest
    /// of the buffer without saying how many were written, so a 0 cannot be told from padding: gid 0 is dropped
    /// (membership of group 0 then counts only as the primary group, from SO_PEERCRED: a role may be denied by
    /// this, never granted).
    static func supplementaryGroups(_ list: GroupList) -> [UInt32] {
        var out: [UInt32] = []
        for i in list.indices where list[i] != 0 { out.append(list[i]) }
        return out
    }
}

enum PeerCredentialsError: Error, CustomStringConvertible {
    case notASocket
    var description: String { "the connection is not a socket; cannot read SO_PEERCRED" }
}
