import Foundation
import GRDB

/// One bearer token as stored: never the token itself, only its SHA-256.
public struct APITokenRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "api_token"

    /// The token's public part (it is in the token, so lookups need no scan); shown by `tokens list`.
    public var id: String
    public var name: String
    /// `reader`, `labeller` or `admin`.
    public var role: String
    /// SHA-256 of the whole token, 64 lowercase hex digits.
    public var sha256: String
    public var createdAt: Date
    public var createdByUID: UInt32
    public var revokedAt: Date?

    public init(id: String, name: String, role: String, sha256: String, createdAt: Date, createdByUID: UInt32,
                revokedAt: Date? = nil) {
        self.id = id
        self.name = name
        self.role = role
        self.sha256 = sha256
        self.createdAt = createdAt
        self.createdByUID = createdByUID
        self.revokedAt = revokedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, name, role, sha256
        case createdAt = "created_at"
        case createdByUID = "created_by_uid"
        case revokedAt = "revoked_at"
    }
}

/// What a token operation can run into besides the database itself.
public enum TokenStoreError: Error, Equatable, CustomStringConvertible {
    /// A live token already has this name.
    case nameTaken(String)
    /// No token has this id or name (or it is already revoked).
    case notFound(String)

    public var description: String {
        switch self {
        case let .nameTaken(name):
            return "a token named \"\(name)\" already exists; revoke it first or choose another name (--name)"
        case let .notFound(which): return "no live token has the id or name \"\(which)\" (see `sentimentctl tokens list`)"
        }
    }
}

/// The bearer tokens, in SQLite.
public final class TokenStore: Sendable {
    private let database: DatabasePool

    /// A store on a pool already opened (and migrated) by `StoreDatabase.open(path:)`.
    public init(pool: DatabasePool) { self.database = pool }

    public func add(_ record: APITokenRecord) throws {
        try database.storeWrite { db in
            if try APITokenRecord.filter(Column("name") == record.name && Column("revoked_at") == nil).fetchCount(db) > 0 {
                throw TokenStoreError.nameTaken(record.name)
            }
            try record.insert(db)
        }
    }

    /// Every token, revoked ones included, oldest first.
    public func all() throws -> [APITokenRecord] {
        try database.read { db in try APITokenRecord.order(Column("created_at"), Column("id")).fetchAll(db) }
    }

    /// Revokes the live token with this id or name; returns it as revoked.
    @discardableResult
    public func revoke(idOrName: String, at date: Date = Date()) throws -> APITokenRecord {
        try database.storeWrite { db in
            let live = try APITokenRecord.filter(Column("revoked_at") == nil)
                .filter(Column("id") == idOrName || Column("name") == idOrName).fetchAll(db)
            guard var record = live.first(where: { $0.id == idOrName }) ?? live.first else {
                throw TokenStoreError.notFound(idOrName)
            }
            record.revokedAt = date
            try record.update(db)
            return record
        }
    }
}
