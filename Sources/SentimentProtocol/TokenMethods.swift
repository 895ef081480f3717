import Foundation

/// One bearer token of the HTTP front end as `tokens.list` shows it (never the secret: only its hash is kept).
public struct TokenSummary: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var role: Role
    public var createdAt: Date
    public var createdByUID: UInt32
    public var revokedAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, name, role
        case createdAt = "created_at"
        case createdByUID = "created_by_uid"
        case revokedAt = "revoked_at"
    }

    public init(id: String, name: String, role: Role, createdAt: Date, createdByUID: UInt32, revokedAt: Date? = nil) {
        self.id = id
        self.name = name
        self.role = role
        self.createdAt = createdAt
        self.createdByUID = createdByUID
        self.revokedAt = revokedAt
    }
}

/// `tokens.add` (admin): a new bearer token for HTTP over TCP. The token is in the answer once and nowhere else.
public enum TokensAddMethod: RPCMethod {
    public static let name = "tokens.add"
    public static let requiredRole = Role.admin

    public struct Params: Codable, Sendable, Equatable {
        public var role: Role
        /// A name to tell tokens apart (absent: one is made from the id). Unique among live tokens.
        public var name: String?
        public init(role: Role, name: String? = nil) {
            self.role = role
            self.name = name
        }
    }

    public struct Result: Codable, Sendable, Equatable {
        /// The secret, shown this once: `Authorization: Bearer <token>`.
        public var token: String
        public var summary: TokenSummary
        public init(token: String, summary: TokenSummary) {
            self.token = token
            self.summary = summary
        }
    }
}

/// `tokens.list` (admin): every token, revoked ones included.
public enum TokensListMethod: RPCMethod {
    public static let name = "tokens.list"
    public static let requiredRole = Role.admin
    public typealias Params = NoParams

    public struct Result: Codable, Sendable, Equatable {
        public var tokens: [TokenSummary]
        public init(tokens: [TokenSummary]) { self.tokens = tokens }
    }
}

/// `tokens.revoke` (admin): the token stops working at once, on connections already open too.
public enum TokensRevokeMethod: RPCMethod {
    public static let name = "tokens.revoke"
    public static let requiredRole = Role.admin

    public struct Params: Codable, Sendable, Equatable {
        /// The token's id or its name.
        public var token: String
        public init(token: String) { self.token = token }
    }
    public typealias Result = TokenSummary
}
