import Foundation
import Logging

/// Every setting of `etc/sentimentd.conf`, with its default. The file documents each one; keep them in step
/// (`ConfigTests` checks that the shipped file sets every key to its default here).
public struct DaemonConfig: Sendable, Equatable {
    public enum ActivationSetting: String, Sendable, Equatable, CaseIterable {
        /// Serve each new valid arrival.
        case newest
        /// Serve only what `models.activate` / `rollback` choose.
        case manual
    }

    // [server]
    /// Path of the Unix socket bound when not socket-activated.
    public var socketPath = "/run/sentimentd/sentimentd.sock"
    /// Permission bits of a socket the daemon binds itself.
    public var socketMode: UInt32 = 0o660
    public var maxConnections = 256
    /// Longest request line, in bytes, without the newline.
    public var requestLineBytes = 1 << 20
    /// Texts in one predict request.
    public var maxTexts = 256
    /// Characters (Unicode scalars) of one text; within it, texts are truncated by tokens like the model does.
    public var maxTextChars = 20_000
    /// Requests one connection may have in flight before the daemon stops reading from it.
    public var maxPipelined = 64
    /// Members of this group may change the daemon's state; nil disables the group rule.
    public var adminGroup: String? = "sentimentd-admin"

    // [batching]
    public var maxBatch = 32
    /// Longest wait of the oldest queued text for company while the model is idle (see `Batcher`).
    public var maxDelayMilliseconds = 2
    /// Texts waiting for the model across all connections; beyond it predict answers "overloaded".
    public var maxQueuedTexts = 4096

    // [models]
    public var modelsDirectory = "/var/lib/sentimentd/models"
    public var activate = ActivationSetting.newest
    /// A new or changed folder must be quiet this long before it is validated.
    public var settleMilliseconds = 2000

    // [store]
    public var databasePath = "/var/lib/sentimentd/sentimentd.sqlite"

    // [log]
    public var logLevel = Logger.Level.info

    public init() {}

    /// Settings that only take effect at start; `reload` reports them when they changed.
    public func restartOnlyDifferences(from other: DaemonConfig) -> [String] {
        var out: [String] = []
        if socketPath != other.socketPath { out.append("server.socket") }
        if socketMode != other.socketMode { out.append("server.socket_mode") }
        if requestLineBytes != other.requestLineBytes { out.append("server.request_line_bytes") }
        if modelsDirectory != other.modelsDirectory { out.append("models.directory") }
        if activate != other.activate { out.append("models.activate") }
        if settleMilliseconds != other.settleMilliseconds { out.append("models.settle_ms") }
        if databasePath != other.databasePath { out.append("store.database") }
        return out
    }
}
