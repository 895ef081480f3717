import Foundation

// MARK: - Versions prune themselves; models rm, pin, unpin (admin)
//
// `[models] keep = N`: folders published by training runs beyond the newest N are removed, except the active
// version, its rollback target, pinned versions, a base an adapter in the models directory needs, the base of a run
// in progress and the gate's best version on the current evaluation split. Folders someone copied in are never
// removed by the daemon; one that stays rejected for `models.quarantine_after` is moved to models/.quarantine/, not
// deleted. `models.list` says, per version, how much disk it takes and why it is kept (`retention`).

/// Removes one version's folder (admin): moved out of the models directory first (one rename, so a crash leaves
/// either the whole folder or none), then deleted. Refused for the active version, a pinned one, a base an adapter
/// needs and the base of a run in progress.
public enum ModelsRemoveMethod: RPCMethod {
    public static let name = "models.remove"
    public static let requiredRole = Role.admin

    public struct Params: Codable, Sendable, Equatable {
        public var version: String
        public init(version: String) { self.version = version }
    }

    public struct Result: Codable, Sendable, Equatable {
        public var version: String
        /// Disk space the folder took.
        public var bytes: Int64
        /// What the version was kept for, if anything, before this removal (e.g. "rollback target").
        public var was: [String]

        public init(version: String, bytes: Int64, was: [String]) {
            self.version = version
            self.bytes = bytes
            self.was = was
        }
    }
}

/// Pins a version (retention never removes it) or unpins it (admin).
public enum ModelsPinMethod: RPCMethod {
    public static let name = "models.pin"
    public static let requiredRole = Role.admin

    public struct Params: Codable, Sendable, Equatable {
        public var version: String
        /// false unpins. Absent: pin.
        public var pinned: Bool?
        public var note: String?
        public init(version: String, pinned: Bool? = nil, note: String? = nil) {
            self.version = version
            self.pinned = pinned
            self.note = note
        }
    }

    public struct Result: Codable, Sendable, Equatable {
        public var version: String
        public var pinned: Bool
        public init(version: String, pinned: Bool) {
            self.version = version
            self.pinned = pinned
        }
    }
}
