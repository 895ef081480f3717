import Foundation
import Logging
import SentimentCore
import SentimentEngine
import SentimentTraining

/// Every setting of `etc/sentimentd.conf`, with its default. The file documents each one; keep them in step
/// (`ConfigTests` checks that the shipped file sets every key to its default here).
public struct DaemonConfig: Sendable, Equatable {
    enum ActivationSetting: String, Sendable, Equatable, CaseIterable {
        /// Serve each new valid arrival.
        case newest
        /// Serve only what `models.activate` / `rollback` choose.
        case manual
    }

    // [server]
    /// Path of the Unix socket bound when not socket-activated.
    var socketPath = "/run/sentimentd/sentimentd.sock"
    /// Permission bits of a socket the daemon binds itself (the JSON-RPC one and the HTTP one).
    package var socketMode: UInt32 = 0o660
    /// Unix socket of the HTTP front end as configured (nil: none): a path, or a bare file name put in the folder of
    /// `socketPath` (the default, `http.sock`, sits beside the JSON-RPC socket). See `httpSocketPath`.
    package var httpSocket: String? = "http.sock"
    /// TCP address of the HTTP front end when running outside systemd (nil: none; under systemd TCP arrives
    /// through `sentimentd-http.socket`). Requests on TCP need a bearer token.
    package var httpListen: TCPAddress?
    /// Open connections of peers that are not admins; admins have `adminConnections` more (see `ConnectionLedger`).
    var maxConnections = 256
    /// Connections kept for admins (uid 0, the daemon's uid, the admin group) beyond `maxConnections`.
    var adminConnections = 16
    /// Open connections of one uid that is not an admin.
    var maxConnectionsPerUID = 32
    /// Longest request line, in bytes, without the newline.
    package var requestLineBytes = 1 << 20
    /// Texts in one predict request.
    var maxTexts = 256
    /// Characters (Unicode scalars) of one text; within it, texts are truncated by tokens like the model does.
    var maxTextChars = 20_000
    /// Requests one connection may have in flight before the daemon stops reading from it.
    var maxPipelined = 64
    /// Requests all connections of one uid may have in flight before the daemon stops reading from them.
    var maxPipelinedPerUID = 256
    /// A connection that completes no request and takes no answer for this long is closed (idle, trickling or
    /// not reading); one whose requests are being worked on is not.
    package var idleTimeoutSeconds: Double = 120
    /// Roles (`Authorizer`): nil for the reader group means every peer that may open the socket is a reader; nil
    /// for the labeller or admin group means no peer holds that role by group.
    var readerGroup: String?
    var labellerGroup: String? = "sentimentd-label"
    var adminGroup: String? = "sentimentd-admin"

    // [batching]
    var maxBatch = 32
    /// Longest wait of the oldest queued text for company while the model is idle (see `Batcher`).
    var maxDelayMilliseconds = 2
    /// Texts waiting for the model across all connections; beyond it predict answers "overloaded".
    var maxQueuedTexts = 4096

    // [models]
    var modelsDirectory = "/var/lib/sentimentd/models"
    var activate = ActivationSetting.newest
    /// A new or changed folder must be quiet this long before it is validated.
    var settleMilliseconds = 2000
    /// Folders searched for the base model of a LoRA adapter version (then the models directory itself): the
    /// operator's, then the one the Debian package sentimentd-model-minilm fills.
    var baseDirectories: [String] = ["/var/lib/sentimentd/bases", "/usr/share/sentimentd/bases"]
    /// Keep a copy of each served model's dense weights packed for the few-row AVX2 kernel (faster single
    /// texts and small batches, for as much memory again as those weights); ignored on CPUs without AVX2.
    var packWeights = true
    /// How the thread validating a new version competes with serving for CPU (see `LoadPriority`).
    var loadPriority = LoadPriority.idle
    /// Versions published by training runs that retention keeps (the newest), besides the protected ones
    /// (see `ModelRetention`).
    var keepVersions = 3
    /// A folder that stays rejected (its files unchanged) this long is moved to models/.quarantine.
    var quarantineAfterSeconds: Double = 3600
    /// The precision versions serve in: int8 only for a version whose int8 check passed (see `Int8Check`); fp32
    /// while its check runs and when it fails.
    var precision = Precision.fp32
    /// How close int8 must stay to fp32 in a version's check (`int8_min_agreement`, `int8_max_f1_drop`,
    /// `int8_min_labels`).
    var int8Tolerance = PrecisionTolerance()
    /// Seconds a validation (or a load) may go without progress before it is stopped and the version rejected;
    /// also when the watchdog calls the registry stuck (see `RegistryWatch`).
    var validationTimeoutSeconds: Double = 120

    // [store]
    var databasePath = "/var/lib/sentimentd/sentimentd.sqlite"

    // [log]
    var logLevel = Logger.Level.info

    // [labels]
    /// Label names, by class index. Labels sent as indexes map through this list; training needs the active
    /// model's labels to be these names (in any order).
    package var labelNames = ["negative", "neutral", "positive"]
    /// Share of new texts assigned (once, by a hash of the normalised text) to the frozen eval split.
    var evalFraction = 0.1
    /// Items one import may stage.
    var maxImportItems = 2_000_000
    /// Bytes of text and label one import may stage.
    var maxImportBytes = 256 << 20
    /// Imports one uid may have open at once.
    var maxOpenImportsPerUID = 4
    /// An open import that receives nothing for this long is abandoned (its staged rows deleted).
    var importIdleTimeoutSeconds: Double = 600
    /// When true, labellers' new texts are assigned to a split by their hash like an admin's, and labellers may
    /// change labels in the evaluation split. False keeps the split an admin matter.
    var trustLabellers = false

    // [training]
    var training = TrainingSettings()

    public init() {}

    /// One setting that only takes effect at start: its key in the file, and the field that holds it.
    private struct RestartOnly {
        let key: String
        let differs: (DaemonConfig, DaemonConfig) -> Bool
        let keep: (inout DaemonConfig, DaemonConfig) -> Void
        init<T: Equatable>(_ key: String, _ field: WritableKeyPath<DaemonConfig, T>) {
            self.key = key
            differs = { $0[keyPath: field] != $1[keyPath: field] }
            keep = { $0[keyPath: field] = $1[keyPath: field] }
        }
    }

    /// The one list that both `restartOnlyDifferences` and `keepRestartOnlySettings` read, so a setting cannot be
    /// reported as restart-only yet take effect on reload.
    private static var restartOnly: [RestartOnly] {
        [
            RestartOnly("server.socket", \.socketPath),
            RestartOnly("server.socket_mode", \.socketMode),
            RestartOnly("server.http_socket", \.httpSocket),
            RestartOnly("server.http_listen", \.httpListen),
            RestartOnly("server.request_line_bytes", \.requestLineBytes),
            RestartOnly("models.directory", \.modelsDirectory),
            RestartOnly("models.activate", \.activate),
            RestartOnly("models.settle_ms", \.settleMilliseconds),
            RestartOnly("models.base_directories", \.baseDirectories),
            RestartOnly("models.pack_weights", \.packWeights),
            RestartOnly("models.load_priority", \.loadPriority),
            RestartOnly("models.precision", \.precision),
            RestartOnly("models.int8_min_agreement", \.int8Tolerance.minimumAgreement),
            RestartOnly("models.int8_max_f1_drop", \.int8Tolerance.maximumMacroF1Drop),
            RestartOnly("models.int8_min_labels", \.int8Tolerance.minimumLabelled),
            RestartOnly("models.validation_timeout", \.validationTimeoutSeconds),
            RestartOnly("store.database", \.databasePath),
            RestartOnly("labels.names", \.labelNames),
        ]
    }

    /// Where the HTTP front end's Unix socket is bound (when not socket-activated), nil when it is off.
    package var httpSocketPath: String? {
        guard let httpSocket else { return nil }
        if httpSocket.contains("/") { return httpSocket }
        return ((socketPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent(httpSocket)
    }

    /// Settings that only take effect at start; `reload` reports them when they changed.
    func restartOnlyDifferences(from other: DaemonConfig) -> [String] {
        Self.restartOnly.filter { $0.differs(self, other) }.map(\.key)
    }

    /// Puts back the running value of every restart-only setting (`reload`: they stay in force, and status shows
    /// what is in force, until a restart).
    mutating func keepRestartOnlySettings(of running: DaemonConfig) {
        for setting in Self.restartOnly { setting.keep(&self, running) }
    }
}

/// `host:port` for a TCP listener: an IPv4 address, a bracketed IPv6 address (`[::1]:8080`) or a host name.
public struct TCPAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Why a `host:port` does not parse.
    public struct ParseError: Error, Equatable {
        public let reason: String
    }

    /// Parses `host:port`, or says why not.
    public static func parse(_ text: String) -> Result<TCPAddress, ParseError> {
        guard let colon = text.lastIndex(of: ":") else {
            return .failure(ParseError(reason: "\"\(text)\" is not host:port (e.g. \"127.0.0.1:8080\" or \"[::1]:8080\")"))
        }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        guard let port = Int(portText), (1...65535).contains(port), portText.allSatisfy(\.isNumber) else {
            return .failure(ParseError(reason: "the port in \"\(text)\" must be a number from 1 to 65535"))
        }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            return .failure(ParseError(reason: "\"\(text)\": write an IPv6 address in brackets, like \"[::1]:\(port)\""))
        }
        guard !host.isEmpty else { return .failure(ParseError(reason: "\"\(text)\" names no host (e.g. \"127.0.0.1:\(port)\")")) }
        // "[[::1]]:80" would be host "[::1]", which no listener can bind and `description` writes as another address.
        guard !host.contains("["), !host.contains("]") else {
            return .failure(ParseError(reason: "\"\(text)\": a host has no brackets but the one pair around an IPv6 address, like \"[::1]:\(port)\""))
        }
        return .success(TCPAddress(host: host, port: port))
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// `[training]`: when runs start on their own, and the recipe they use.
struct TrainingSettings: Sendable, Equatable {
    /// Scheduled runs; `train` from a client works either way.
    var enabled = true
    /// Time between scheduled runs (from the end of the last completed run, or the daemon's start).
    var everySeconds: Double = 6 * 3600
    /// New train-split labels needed before a scheduled run starts.
    var minNewLabels = 200
    /// Local time window in which scheduled runs do not start, minutes after midnight (start, end); may wrap.
    var quietHours: (start: Int, end: Int)?
    /// The recipe of the daemon's runs: the trainer's own settings, defaults and ranges (`TrainingRecipe`), which
    /// the `[training]` keys and the `train` RPC's `recipe` set field by field. One default differs: a run trains
    /// on the labels new since the last run plus a replay sample, so 2 epochs instead of the guide's 3.
    var recipe = TrainingSettings.defaultRecipe
    /// LoRA rank, alpha and dropout for a new adapter (an adapter trained further keeps its own rank and alpha).
    var newAdapter = LoRAConfig()
    /// Older train labels replayed per new label (a uniform sample; 1.0 = as many old as new).
    var replayRatio = 1.0
    /// How far (macro-F1) a candidate may fall below the best version published so far on the same evaluation
    /// split and still be published (see `PromotionGate`).
    var gateTolerance = 0.01
    /// Confidence of the gate's paired bootstrap bound: a candidate is published only if, at this confidence, it
    /// is at most `gateTolerance` below the reference.
    var gateConfidence = 0.95
    /// Eval-split labels needed before a run can be judged.
    var minEvalLabels = 100
    /// Niceness of the training worker process.
    var nice = 10
    /// Threads the worker's matrix products use (the rest of the machine keeps serving).
    var threads = 1
    /// Seconds the worker gets to stop after train.cancel before it is killed.
    var cancelGraceSeconds: Double = 30

    init() {}

    static func == (a: TrainingSettings, b: TrainingSettings) -> Bool {
        a.enabled == b.enabled && a.everySeconds == b.everySeconds && a.minNewLabels == b.minNewLabels
            && a.quietHours?.start == b.quietHours?.start && a.quietHours?.end == b.quietHours?.end
            && a.recipe == b.recipe && a.newAdapter == b.newAdapter
            && a.replayRatio == b.replayRatio && a.gateTolerance == b.gateTolerance
            && a.gateConfidence == b.gateConfidence
            && a.minEvalLabels == b.minEvalLabels && a.nice == b.nice && a.threads == b.threads
            && a.cancelGraceSeconds == b.cancelGraceSeconds
    }

    /// `TrainingRecipe`'s defaults, but for the epochs, the seed (each run's id unless the client gives one) and
    /// mid-epoch checkpoints (a cancelled run is not resumed).
    static var defaultRecipe: TrainingRecipe {
        var r = TrainingRecipe()
        r.epochs = 2
        r.checkpointEvery = 0
        return r
    }

    /// Whether `date` falls in the quiet hours (local time).
    func isQuiet(at date: Date, calendar: Calendar = .current) -> Bool {
        guard let q = quietHours else { return false }
        let c = calendar.dateComponents([.hour, .minute], from: date)
        let m = (c.hour ?? 0) * 60 + (c.minute ?? 0)
        if q.start == q.end { return false }
        return q.start < q.end ? (m >= q.start && m < q.end) : (m >= q.start || m < q.end)
    }
}
