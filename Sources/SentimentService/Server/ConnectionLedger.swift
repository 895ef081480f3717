import Foundation
import SentimentProtocol

/// Fair sharing of the socket between uids: who may open one more connection, and who may send one more request.
///
/// Policy. Peers that are not admins share `max_connections` slots, at most `max_connections_per_uid` each, and
/// all connections of one such uid together have at most `max_pipelined_per_uid` requests unanswered (beyond that
/// the daemon stops reading from them until answers go out, as it does per connection at `max_pipelined`). Admins
/// (uid 0, the daemon's uid, the admin group) are held to neither per-uid quota and have `admin_connections` slots
/// of their own on top of `max_connections`, so an operator always gets in to look and to act, however many
/// connections others hold. Idle connections are closed by `ConnectionHandler` (`idle_timeout_seconds`), so held
/// slots come back even from a client that never sends anything.
///
/// Thread-safe; a connection calls it from its event loop.
final class ConnectionLedger: @unchecked Sendable {
    struct Limits: Equatable {
        var maxConnections: Int
        var adminConnections: Int
        var perUID: Int
        var pipelinedPerUID: Int

        init(_ config: DaemonConfig) {
            maxConnections = config.maxConnections
            adminConnections = config.adminConnections
            perUID = config.maxConnectionsPerUID
            pipelinedPerUID = config.maxPipelinedPerUID
        }
    }

    /// One admitted connection; hand it back with `release`.
    struct Ticket: Hashable, Sendable {
        let id: UInt64
        let uid: UInt32
        let isAdmin: Bool
    }

    private struct PerUID {
        var connections = 0
        var unanswered = 0
        /// Connections of this uid that stopped reading because of the uid's quota: woken when it drops.
        var wakers: [UInt64: @Sendable () -> Void] = [:]
    }

    private let lock = NSLock()
    private var open = 0
    private var nextID: UInt64 = 0
    private var uids: [UInt32: PerUID] = [:]

    /// A ticket for one more connection of `uid`, or the `overloaded` error that says which limit it hit.
    func admit(uid: UInt32, isAdmin: Bool, limits: Limits) -> Result<Ticket, RPCError> {
        lock.withLock {
            let mine = uids[uid]?.connections ?? 0
            if isAdmin {
                guard open < limits.maxConnections + limits.adminConnections else {
                    return .failure(.overloaded("\(open) connections are open; the limit is \(limits.maxConnections) "
                        + "(max_connections) plus \(limits.adminConnections) kept for admins (admin_connections)"))
                }
            } else {
                guard open < limits.maxConnections else {
                    return .failure(.overloaded("\(open) connections are open; the limit is \(limits.maxConnections) "
                        + "(max_connections; admins have \(limits.adminConnections) more, admin_connections)"))
                }
                guard mine < limits.perUID else {
                    return .failure(.overloaded("uid \(uid) has \(mine) connections open; the limit per uid is "
                        + "\(limits.perUID) (max_connections_per_uid): close some"))
                }
            }
            open += 1
            nextID += 1
            uids[uid, default: PerUID()].connections += 1
            return .success(Ticket(id: nextID, uid: uid, isAdmin: isAdmin))
        }
    }

    func release(_ ticket: Ticket) {
        lock.withLock {
            open -= 1
            guard var entry = uids[ticket.uid] else { return }
            entry.connections -= 1
            entry.wakers[ticket.id] = nil
            if entry.connections <= 0 && entry.unanswered <= 0 {
                uids[ticket.uid] = nil
            } else {
                uids[ticket.uid] = entry
            }
        }
    }

    var openConnections: Int { lock.withLock { open } }

    // MARK: requests

    func requestStarted(_ ticket: Ticket) {
        lock.withLock { uids[ticket.uid, default: PerUID()].unanswered += 1 }
    }

    /// One request of the ticket's uid was answered: connections of that uid waiting for the quota may read again.
    func requestFinished(_ ticket: Ticket) {
        let wake: [@Sendable () -> Void] = lock.withLock {
            guard var entry = uids[ticket.uid] else { return [] }
            entry.unanswered -= 1
            let wakers = Array(entry.wakers.values)
            entry.wakers.removeAll()
            uids[ticket.uid] = entry
            return wakers
        }
        for w in wake { w() }
    }

    /// Whether the ticket's connection may read another request as far as its uid's quota goes. When it may not,
    /// `waker` is kept and called once the uid's unanswered requests drop.
    func mayRead(_ ticket: Ticket, limits: Limits, waker: @escaping @Sendable () -> Void) -> Bool {
        if ticket.isAdmin { return true }
        return lock.withLock {
            let unanswered = uids[ticket.uid]?.unanswered ?? 0
            if unanswered < limits.pipelinedPerUID { return true }
            uids[ticket.uid, default: PerUID()].wakers[ticket.id] = waker
            return false
        }
    }
}
