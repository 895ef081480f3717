import Foundation
import Logging

/// A swift-log handler that writes structured journal entries: MESSAGE, PRIORITY (syslog levels), the code
/// location, and every metadata key as an upper-case field (`model_version` -> `MODEL_VERSION`), so
/// `journalctl -u sentimentd MODEL_VERSION=v3` finds the entries about one version.
struct JournaldLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level
    var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let identifier: String

    init(label: String, identifier: String = "sentimentd", level: Logger.Level = .info,
         metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.identifier = identifier
        self.logLevel = level
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        var fields: [(String, String)] = [
            ("MESSAGE", event.message.description),
            ("PRIORITY", String(Self.priority(event.level))),
            ("SYSLOG_IDENTIFIER", identifier),
            ("LOGGER", label),
            ("CODE_FILE", event.file),
            ("CODE_LINE", String(event.line)),
            ("CODE_FUNC", event.function),
        ]
        if let error = event.error { fields.append(("ERROR", "\(error)")) }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            guard let name = Self.fieldName(key) else { continue }
            fields.append((name, "\(value)"))
        }
        Systemd.journalSend(fields)
    }

    /// syslog(3) priorities as journald expects them.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// Journal field names: upper-case ASCII letters, digits and underscores, not starting with an underscore
    /// (those are trusted fields journald sets itself) or a digit, at most 64 characters.
    static func fieldName(_ key: String) -> String? {
        var out = ""
        for scalar in key.unicodeScalars {
            switch scalar {
            case "a"..."z": out.unicodeScalars.append(Unicode.Scalar(scalar.value - 32)!)
            case "A"..."Z", "0"..."9": out.unicodeScalars.append(scalar)
            default: out.append("_")
            }
        }
        while out.hasPrefix("_") { out.removeFirst() }
        guard let first = out.unicodeScalars.first, !("0"..."9").contains(first) else { return nil }
        let reserved: Set = ["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "LOGGER"]
        if reserved.contains(out) { out = "META_" + out }
        return String(out.prefix(64))
    }
}

/// Chooses the log handler the way the issue describes: the journal when JOURNAL_STREAM says stderr is connected to
/// it, plain lines on stderr otherwise. For `LoggingSystem.bootstrap` in the executable. The level is shared by
/// every logger so that `reload` can change it (`log.level`).
public enum DaemonLogging {
    private static let sharedLevel = LockedBox(Logger.Level.info)

    public static var level: Logger.Level {
        get { sharedLevel.value }
        set { sharedLevel.value = newValue }
    }

    public static func makeHandler(label: String,
                                   environment: [String: String] = ProcessInfo.processInfo.environment) -> LogHandler {
        if Systemd.stderrIsJournal(environment: environment) {
            return SharedLevelHandler(inner: JournaldLogHandler(label: label, level: .trace))
        }
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = .trace
        return SharedLevelHandler(inner: handler)
    }

    /// Filters by the shared level; the wrapped handler itself passes everything.
    struct SharedLevelHandler: LogHandler {
        var inner: LogHandler

        /// The shared level (`log.level`); setting it on one logger is ignored, so a library cannot raise it.
        var logLevel: Logger.Level {
            get { DaemonLogging.level }
            set {}
        }

        var metadata: Logger.Metadata {
            get { inner.metadata }
            set { inner.metadata = newValue }
        }

        var metadataProvider: Logger.MetadataProvider? {
            get { inner.metadataProvider }
            set { inner.metadataProvider = newValue }
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { inner[metadataKey: key] }
            set { inner[metadataKey: key] = newValue }
        }

        func log(event: LogEvent) {
            inner.log(event: event)
        }
    }
}
