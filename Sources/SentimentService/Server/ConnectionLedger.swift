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
package final class ConnectionLedger: @unchecked Sendable {
    package struct Limits: Equatable {
        var maxConnections: Int
        var adminConnections: Int
        var perUID: Int
        var pipelinedPerUID: Int

        package init(_ config: DaemonConfig) {
            maxConnections = config.maxConnections
            adminConnections = config.adminConnections
            perUID = config.maxConnectionsPerUID
            pipelinedPerUID = config.maxPipelinedPerUID
        }
    }

    /// One admitted connection; hand it back with `release`.
    package struct Ticket: Hashable, Sendable {
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

    /// Why a connection was refused: the `overloaded` error that names the limit, and whether it was the uid's own
    /// quota (HTTP answers 429 for that, 503 when the daemon's slots are all taken).
    package struct Refusal: Error, Sendable {
        package let error: RPCError
        package let perUID: Bool
    }

    /// A ticket for one more connection of `uid`, or the refusal that says which limit it hit.
    package init() {}

    /// A ticket for a connection whose caller is not known when it opens (HTTP over TCP: the token comes with each
    /// request). It takes one of the `max_connections` slots; no per-uid quota applies, and no admin slot.
    package func admitAnonymous(limits: Limits) -> Result<Ticket, Refusal> {
        lock.withLock {
            guard open < limits.maxConnections else {
                return .failure(Refusal(error: .overloaded("\(open) connections are open; the limit is "
                    + "\(limits.maxConnections) (max_connections)"), perUID: false))
            }
            open += 1
            nextID += 1
            return .success(Ticket(id: nextID, uid: Self.anonymousUID, isAdmin: false))
        }
    }

    /// The uid anonymous tickets are filed under: never a real one (it is (uid_t)-1).
    package static let anonymousUID = UInt32.max

    package func admit(uid: UInt32, isAdmin: Bool, limits: Limits) -> Result<Ticket, Refusal> {
        lock.withLock {
            let mine = uids[uid]?.connections ?? 0
            if isAdmin {
                guard open < limits.maxConnections + limits.adminConnections else {
                    return .failure(Refusal(error: .overloaded("\(open) connections are open; the limit is "
                        + "\(limits.maxConnections) (max_connections) plus \(limits.adminConnections) kept for admins "
                        + "(admin_connections)"), perUID: false))
                }
            } else {
                guard open < limits.maxConnections else {
                    return .failure(Refusal(error: .overloaded("\(open) connections are open; the limit is "
                        + "\(limits.maxConnections) (max_connections; admins have \(limits.adminConnections) more, "
                        + "admin_connections)"), perUID: false))
                }
                guard mine < limits.perUID else {
                    return .failure(Refusal(error: .overloaded("uid \(uid) has \(mine) connections open; the limit per "
                        + "uid is \(limits.perUID) (max_connections_per_uid): close some"), perUID: true))
                }
            }
            open += 1
            nextID += 1
            uids[uid, default: PerUID()].connections += 1
            return .success(Ticket(id: nextID, uid: uid, isAdmin: isAdmin))
        }
    }

    package func release(_ ticket: Ticket) {
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

    package var openConnections: Int { lock.withLock { open } }

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
