import Foundation
import SentimentProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Who is calling, as far as authorisation cares: a socket peer (its kernel credentials), or a caller whose role
/// was settled elsewhere (a bearer token of an HTTP front end), so that every transport shares one `Authorizer`.
package enum Caller: Sendable, Equatable, CustomStringConvertible {
    case peer(PeerCredentials)
    /// A bearer token of the HTTP front end: its public id (`tokens list`), its name and the role it carries.
    case token(id: String, name: String, role: Role)

    /// The uid recorded with what the caller writes (labels, imports, runs): the peer's. A token reaches only the
    /// HTTP routes, and they write nothing (predict, metadata, metrics), so no record is ever made under a token's
    /// placeholder uid (the daemon's); a route that writes for a token must record its id (`caller`) instead.
    package func recordedUID(daemonUID: UInt32) -> UInt32 {
        switch self {
        case let .peer(p): return p.uid
        case .token: return daemonUID
        }
    }

    package var description: String {
        switch self {
        case let .peer(p): return "uid \(p.uid)"
        case let .token(id, name, _): return "token \"\(name)\" (id \(id))"
        }
    }
}

/// The role rule, one small value so that the socket server and any later front end check it the same way.
///
/// Policy: uid 0 and the daemon's own uid are admin; a peer in `adminGroup` is admin, in `labellerGroup` a labeller;
/// everyone else who reached the socket is a reader — or, when `readerGroup` is set, only its members are, and
/// other peers may call nothing. Groups are the connecting process's (primary and supplementary, from the kernel:
/// `PeerCredentials`), group names are looked up in the group database when a request is checked (through a
/// cache of a few seconds), so a group created or renumbered after the daemon started counts without a restart.
/// The role is checked on every request against the configuration in force, so a reload that changes a group
/// applies to open connections too. A group name that does not resolve grants nothing.
package struct Authorizer: Sendable, Equatable {
    var daemonUID: UInt32
    var readerGroup: String?
    var labellerGroup: String?
    var adminGroup: String?

    init(daemonUID: UInt32 = getuid(), readerGroup: String? = nil, labellerGroup: String? = nil,
         adminGroup: String? = nil) {
        self.daemonUID = daemonUID
        self.readerGroup = readerGroup
        self.labellerGroup = labellerGroup
        self.adminGroup = adminGroup
    }

    /// The rule of a configuration (`server.reader_group`, `labeller_group`, `admin_group`).
    init(config: DaemonConfig, daemonUID: UInt32 = getuid()) {
        self.init(daemonUID: daemonUID, readerGroup: config.readerGroup, labellerGroup: config.labellerGroup,
                  adminGroup: config.adminGroup)
    }

    /// The caller's role; nil when it holds none (only possible with a `readerGroup`).
    func role(of caller: Caller) -> Role? {
        switch caller {
        case let .token(_, _, role): return role
        case let .peer(peer): return role(of: peer)
        }
    }

    package func role(of peer: PeerCredentials) -> Role? {
        if peer.uid == 0 || peer.uid == daemonUID { return .admin }
        func member(_ group: String?) -> Bool {
            guard let group, let gid = GroupDirectory.shared.gid(named: group) else { return false }
            return peer.isMember(of: gid)
        }
        if member(adminGroup) { return .admin }
        if member(labellerGroup) { return .labeller }
        if readerGroup == nil || member(readerGroup) { return .reader }
        return nil
    }

    /// The caller's role when it includes `needed`; otherwise the `unauthorised` error that says who holds it.
    package func authorize(_ caller: Caller, needs needed: Role, for action: String) -> Result<Role, RPCError> {
        let role = role(of: caller)
        if let role, role.includes(needed) { return .success(role) }
        return .failure(.unauthorised(action: action, needed: needed, caller: caller.description, role: role,
                                      holders: holders(of: needed)))
    }

    /// Who holds `role` (or more) here, for error messages: "uid 0, uid 998 (the daemon's user) and members of
    /// group \"sentimentd-admin\"".
    func holders(of role: Role) -> String {
        var who = ["uid 0"]
        if daemonUID != 0 { who.append("uid \(daemonUID) (the daemon's user)") }
        func group(_ name: String?, _ what: String = "") {
            if let name { who.append("members of group \"\(name)\"\(what)") }
        }
        switch role {
        case .admin:
            group(adminGroup)
        case .labeller:
            group(adminGroup, " (admins)")
            group(labellerGroup)
        case .reader:
            guard let readerGroup else { return "all peers who may open the socket" }
            group(adminGroup, " (admins)")
            group(labellerGroup, " (labellers)")
            group(readerGroup)
        }
        var text = who.count <= 2 ? who.joined(separator: " and ")
            : who.dropLast().joined(separator: ", ") + " and " + who.last!
        if role == .admin && adminGroup == nil { text += " (server.admin_group is empty)" }
        return text
    }
}

/// Group name -> gid through the group database (`getgrnam_r`), cached for `lifetime` seconds: a lookup may go to
/// a directory service, and requests are checked on the event loop.
final class GroupDirectory: @unchecked Sendable {
    static let shared = GroupDirectory()

    let lifetime: TimeInterval
    private let lock = NSLock()
    private var cache: [String: (gid: UInt32?, at: TimeInterval)] = [:]

    init(lifetime: TimeInterval = 5) { self.lifetime = lifetime }

    func gid(named name: String) -> UInt32? {
        let now = ProcessInfo.processInfo.systemUptime
        if let hit = lock.withLock({ cache[name] }), now - hit.at < lifetime { return hit.gid }
        let gid = Self.lookUp(name)
        lock.withLock { cache[name] = (gid, now) }
        return gid
    }

    static func lookUp(_ name: String) -> UInt32? {
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrnam_r(name, &group, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return group.gr_gid
    }
}
