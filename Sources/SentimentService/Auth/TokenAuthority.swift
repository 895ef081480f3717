import Foundation
import Logging
import SentimentCore
import SentimentProtocol
import SentimentStore

/// Bearer tokens for HTTP over TCP, where SO_PEERCRED cannot say who is calling.
///
/// Policy. A token is `sntd_<id>_<secret>`: `id` is 12 hex digits, public (it names the token in `tokens list` and
/// the logs, and finds its row without a scan), `secret` is 256 bits from the system's random generator as 64 hex
/// digits. Only the SHA-256 of the whole token is stored (`api_token`), so a copy of the database grants nothing; a
/// presented token is hashed and compared with the stored hash in constant time (every byte is looked at whether
/// or not an earlier one differed, and an unknown id is compared against a dummy hash), so response times do not
/// tell how much of a guess was right. Tokens are read into memory at start and changed only through this type
/// (the daemon is the only writer), so a revocation applies to the next request, on connections already open too.
package final class TokenAuthority: @unchecked Sendable {
    /// What a valid token grants.
    package struct Grant: Sendable, Equatable {
        package var id: String
        package var name: String
        package var role: Role
    }

    package static let prefix = "sntd_"

    private struct Entry {
        var digest: [UInt8]
        var grant: Grant
    }

    private let store: TokenStore
    private let lock = NSLock()
    private var live: [String: Entry] = [:]
    private static let dummyDigest = [UInt8](repeating: 0xA5, count: 32)

    package init(store: TokenStore) throws {
        self.store = store
        for record in try store.all() where record.revokedAt == nil {
            guard let role = Role(rawValue: record.role), let digest = Self.bytes(hex: record.sha256) else { continue }
            live[record.id] = Entry(digest: digest, grant: Grant(id: record.id, name: record.name, role: role))
        }
    }

    /// The grant of a presented token, or nil when it is not a live token.
    package func authenticate(_ presented: String) -> Grant? {
        let id = Self.id(of: presented)
        let entry = id.flatMap { id in lock.withLock { live[id] } }
        var hasher = SHA256Hasher()
        hasher.update(presented)
        let digest = Self.bytes(hex: hasher.finalizeHex()) ?? []
        let expected = entry?.digest ?? Self.dummyDigest
        guard Self.constantTimeEqual(digest, expected), let entry else { return nil }
        return entry.grant
    }

    /// A new token for `role`; the secret is returned once and never stored.
    package func add(role: Role, name: String?, byUID uid: UInt32) throws -> TokensAddMethod.Result {
        var generator = SystemRandomNumberGenerator()
        func hex(_ count: Int) -> String {
            (0..<count).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        }
        let id = hex(6)
        let token = "\(Self.prefix)\(id)_\(hex(32))"
        let name = name ?? "token-\(id)"
        var hasher = SHA256Hasher()
        hasher.update(token)
        let sha256 = hasher.finalizeHex()
        let record = APITokenRecord(id: id, name: name, role: role.rawValue, sha256: sha256, createdAt: Date(),
                                    createdByUID: uid)
        try store.add(record)
        lock.withLock {
            live[id] = Entry(digest: Self.bytes(hex: sha256) ?? [], grant: Grant(id: id, name: name, role: role))
        }
        return .init(token: token, summary: Self.summary(record))
    }

    package func list() throws -> [TokenSummary] {
        try store.all().map(Self.summary)
    }

    package func revoke(_ idOrName: String) throws -> TokenSummary {
        let summary = Self.summary(try store.revoke(idOrName: idOrName))
        lock.withLock { _ = live.removeValue(forKey: summary.id) }
        return summary
    }

    /// `tokens.add`, `tokens.list`, `tokens.revoke` on the JSON-RPC router (admin).
    func register(on router: Router) {
        router.registerAsync(TokensAddMethod.self) { [self] params, context in
            if let name = params.name {
                guard !name.isEmpty, name.count <= 64,
                      name.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.@".unicodeScalars.contains($0) }) else {
                    throw RPCError.invalidParams("tokens.add: name \"\(name)\" must be 1 to 64 letters, digits, '-', '_', '.' or '@'")
                }
            }
            let result = try Self.mapped { try self.add(role: params.role, name: params.name, byUID: context.uid) }
            context.logger.notice("token added", metadata: [
                "token_id": "\(result.summary.id)", "token_name": "\(result.summary.name)",
                "role": "\(result.summary.role)", "caller": "\(context.caller)",
            ])
            return result
        }
        router.registerAsync(TokensListMethod.self) { [self] _, _ in
            TokensListMethod.Result(tokens: try Self.mapped { try self.list() })
        }
        router.registerAsync(TokensRevokeMethod.self) { [self] params, context in
            let summary = try Self.mapped { try self.revoke(params.token) }
            context.logger.notice("token revoked", metadata: [
                "token_id": "\(summary.id)", "token_name": "\(summary.name)", "caller": "\(context.caller)",
            ])
            return summary
        }
    }

    private static func mapped<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as TokenStoreError {
            switch error {
            case .nameTaken: throw RPCError.invalidParams(error.description)
            case .notFound: throw RPCError.notFound(error.description)
            }
        } catch let error as StoreError {
            throw RPCError.storeFailed(error.description)
        }
    }

    static func summary(_ r: APITokenRecord) -> TokenSummary {
        TokenSummary(id: r.id, name: r.name, role: Role(rawValue: r.role) ?? .reader, createdAt: r.createdAt,
                     createdByUID: r.createdByUID, revokedAt: r.revokedAt)
    }

    /// The id part of `sntd_<id>_<secret>`, or nil when the token does not have that shape.
    static func id(of token: String) -> String? {
        guard token.hasPrefix(prefix) else { return nil }
        let rest = token.dropFirst(prefix.count)
        guard let underscore = rest.firstIndex(of: "_") else { return nil }
        let id = rest[..<underscore]
        return id.count == 12 ? String(id) : nil
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let hi = value(digits[i]), let lo = value(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
