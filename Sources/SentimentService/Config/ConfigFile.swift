import Foundation
import SentimentCore
import SentimentEngine
import SentimentTraining
import Logging
import TOMLKit

/// What can be wrong with a configuration file. Every case names the file, the key and its line.
enum DaemonConfigError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case syntax(path: String, line: Int, column: Int, message: String)
    case unknownTable(path: String, table: String, line: Int?, known: [String])
    case unknownKey(path: String, key: String, line: Int?, known: [String])
    case wrongType(path: String, key: String, line: Int?, expected: String, found: String)
    case badValue(path: String, key: String, line: Int?, reason: String)

    var description: String {
        func at(_ path: String, _ line: Int?) -> String { line.map { "\(path):\($0)" } ?? path }
        switch self {
        case let .unreadable(path, reason): return "\(path): cannot read the configuration: \(reason)"
        case let .syntax(path, line, column, message): return "\(path):\(line):\(column): TOML syntax error: \(message)"
        case let .unknownTable(path, table, line, known):
            return "\(at(path, line)): unknown table [\(table)] (known: \(known.map { "[\($0)]" }.joined(separator: ", ")))"
        case let .unknownKey(path, key, line, known):
            return "\(at(path, line)): unknown key \"\(key)\" (known here: \(known.joined(separator: ", ")))"
        case let .wrongType(path, key, line, expected, found):
            return "\(at(path, line)): \(key) must be \(expected), not \(found)"
        case let .badValue(path, key, line, reason): return "\(at(path, line)): \(key): \(reason)"
        }
    }
}

/// Reads `sentimentd.conf` (TOML). Tables and keys are a closed set: an unknown one is an error, so a typo never
/// silently leaves a default in place.
public enum ConfigFile {
    /// Where the packaged daemon looks when `--config` is not given.
    public static let defaultPath = "/etc/sentimentd/sentimentd.conf"

    /// One key: its TOML type and how it lands in `DaemonConfig`.
    struct Setting {
        let table: String
        let key: String
        let apply: (inout DaemonConfig, Value, Context) throws -> Void
    }

    /// A value with what is needed to report it.
    struct Value {
        let raw: TOMLValueConvertible
        let name: String
        let line: Int?
        let path: String

        func wrongType(_ expected: String) -> DaemonConfigError {
            .wrongType(path: path, key: name, line: line, expected: expected, found: describe(raw.type))
        }

        func bad(_ reason: String) -> DaemonConfigError {
            .badValue(path: path, key: name, line: line, reason: reason)
        }

        func int(in range: ClosedRange<Int>) throws -> Int {
            guard raw.type == .int, let i = raw.int else { throw wrongType("an integer") }
            guard range.contains(i) else { throw bad("\(i) is out of range \(range.lowerBound)...\(range.upperBound)") }
            return i
        }

        func double(in range: ClosedRange<Double>) throws -> Double {
            let d: Double
            if raw.type == .double, let v = raw.double { d = v }
            else if raw.type == .int, let v = raw.int { d = Double(v) }
            else { throw wrongType("a number") }
            guard d.isFinite, range.contains(d) else { throw bad("\(d) is out of range \(range.lowerBound)...\(range.upperBound)") }
            return d
        }

        /// A training setting, checked against its one range (`TrainingSetting`, shared with the RPC and the
        /// command lines); whole-number settings must be TOML integers.
        func training(_ setting: TrainingSetting) throws -> Double {
            let d: Double
            if setting.range?.integersOnly == true {
                guard raw.type == .int, let i = raw.int else { throw wrongType("an integer") }
                d = Double(i)
            } else if raw.type == .double, let v = raw.double { d = v }
            else if raw.type == .int, let v = raw.int { d = Double(v) }
            else { throw wrongType("a number") }
            if let problem = setting.problem(d) { throw bad("\(raw.type == .int ? String(Int(d)) : "\(d)") \(problem)") }
            return d
        }

        /// A setting of the runs' recipe, checked (as above) and set in `recipe` (`TrainingRecipe.set`).
        func training(_ setting: TrainingSetting, into recipe: inout TrainingRecipe) throws {
            let d = try training(setting)
            do {
                try recipe.set(setting, d)
            } catch let TrainingError.badSetting(_, reason) {
                throw bad("\(d) \(reason)")
            }
        }

        func bool() throws -> Bool {
            guard raw.type == .bool, let b = raw.bool else { throw wrongType("a boolean (true or false)") }
            return b
        }

        /// "90s", "15m", "6h", "1d" (one number and one unit).
        func duration(in range: ClosedRange<Double>) throws -> Double {
            let s = try string().trimmingCharacters(in: .whitespaces)
            let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
            guard let unit = s.last, let factor = units[unit], let n = Double(s.dropLast()), n.isFinite, n >= 0 else {
                throw bad("\"\(s)\" is not a duration like \"90s\", \"15m\", \"6h\" or \"1d\"")
            }
            let seconds = n * factor
            guard range.contains(seconds) else {
                throw bad("\"\(s)\" is out of range (\(Int(range.lowerBound)) s to \(Int(range.upperBound)) s)")
            }
            return seconds
        }

        /// A group name, or "" for none (nil).
        func groupName() throws -> String? {
            let s = try string()
            if s.isEmpty { return nil }
            guard s.allSatisfy({ $0.isLetter || $0.isNumber || "_-.".contains($0) }) else {
                throw bad("\"\(s)\" is not a group name")
            }
            return s
        }

        func string() throws -> String {
            guard raw.type == .string, let s = raw.string else { throw wrongType("a string") }
            return s
        }

        func path(relativeTo base: URL?) throws -> String {
            let s = try string()
            guard !s.isEmpty else { throw bad("must not be empty") }
            guard !s.contains("\0") else { throw bad("contains a NUL character") }
            if s.hasPrefix("/") || base == nil { return s }
            return base!.appendingPathComponent(s).standardizedFileURL.path
        }

        private func describe(_ t: TOMLType) -> String {
            switch t {
            case .int: return "an integer"
            case .double: return "a float"
            case .string: return "a string"
            case .bool: return "a boolean"
            case .array: return "an array"
            case .table: return "a table"
            case .date, .time, .dateTime: return "a date/time"
            }
        }
    }

    struct Context {
        /// Relative paths in the file are relative to the file's folder.
        let baseDirectory: URL?
    }

    static let settings: [Setting] = [
        Setting(table: "server", key: "socket") { c, v, ctx in c.socketPath = try v.path(relativeTo: ctx.baseDirectory) },
        Setting(table: "server", key: "socket_mode") { c, v, _ in
            let s = try v.string()
            guard s.count >= 3, s.count <= 4, let mode = UInt32(s, radix: 8), mode <= 0o777 else {
                throw v.bad("\"\(s)\" is not an octal permission like \"0660\"")
            }
            c.socketMode = mode
        },
        Setting(table: "server", key: "http_socket") { c, v, ctx in
            let s = try v.string()
            // A bare name is resolved against server.socket's folder when used (DaemonConfig.httpSocketPath).
            c.httpSocket = s.isEmpty ? nil : s.contains("/") ? try v.path(relativeTo: ctx.baseDirectory) : s
        },
        Setting(table: "server", key: "http_listen") { c, v, _ in
            let s = try v.string()
            if s.isEmpty { c.httpListen = nil; return }
            switch TCPAddress.parse(s) {
            case let .success(address): c.httpListen = address
            case let .failure(error): throw v.bad(error.reason)
            }
        },
        Setting(table: "server", key: "max_connections") { c, v, _ in c.maxConnections = try v.int(in: 1...65536) },
        Setting(table: "server", key: "request_line_bytes") { c, v, _ in
            c.requestLineBytes = try v.int(in: 1024...(256 << 20))
        },
        Setting(table: "server", key: "max_texts") { c, v, _ in c.maxTexts = try v.int(in: 1...100_000) },
        Setting(table: "server", key: "max_text_chars") { c, v, _ in c.maxTextChars = try v.int(in: 1...(64 << 20)) },
        Setting(table: "server", key: "max_pipelined") { c, v, _ in c.maxPipelined = try v.int(in: 1...100_000) },
        Setting(table: "server", key: "max_pipelined_per_uid") { c, v, _ in
            c.maxPipelinedPerUID = try v.int(in: 1...1_000_000)
        },
        Setting(table: "server", key: "admin_connections") { c, v, _ in c.adminConnections = try v.int(in: 1...4096) },
        Setting(table: "server", key: "max_connections_per_uid") { c, v, _ in
            c.maxConnectionsPerUID = try v.int(in: 1...65536)
        },
        Setting(table: "server", key: "idle_timeout_seconds") { c, v, _ in
            c.idleTimeoutSeconds = try v.double(in: 0.1...86400)
        },
        Setting(table: "server", key: "reader_group") { c, v, _ in c.readerGroup = try v.groupName() },
        Setting(table: "server", key: "labeller_group") { c, v, _ in c.labellerGroup = try v.groupName() },
        Setting(table: "server", key: "admin_group") { c, v, _ in c.adminGroup = try v.groupName() },
        Setting(table: "batching", key: "max_batch") { c, v, _ in c.maxBatch = try v.int(in: 1...4096) },
        Setting(table: "batching", key: "max_delay_ms") { c, v, _ in c.maxDelayMilliseconds = try v.int(in: 0...10_000) },
        Setting(table: "batching", key: "max_queued_texts") { c, v, _ in c.maxQueuedTexts = try v.int(in: 1...10_000_000) },
        Setting(table: "models", key: "directory") { c, v, ctx in
            c.modelsDirectory = try v.path(relativeTo: ctx.baseDirectory)
        },
        Setting(table: "models", key: "activate") { c, v, _ in
            let s = try v.string()
            guard let policy = DaemonConfig.ActivationSetting(rawValue: s) else {
                throw v.bad("\"\(s)\" is not a policy (use \"newest\" or \"manual\")")
            }
            c.activate = policy
        },
        Setting(table: "models", key: "base_directories") { c, v, ctx in
            guard v.raw.type == .array, let array = v.raw.array else { throw v.wrongType("an array of folder paths") }
            var out: [String] = []
            for element in array {
                guard element.type == .string, let s = element.string, !s.isEmpty, !s.contains("\0") else {
                    throw v.bad("every entry must be a non-empty path string")
                }
                out.append(s.hasPrefix("/") || ctx.baseDirectory == nil ? s
                           : ctx.baseDirectory!.appendingPathComponent(s).standardizedFileURL.path)
            }
            c.baseDirectories = out
        },
        Setting(table: "models", key: "settle_ms") { c, v, _ in c.settleMilliseconds = try v.int(in: 0...600_000) },
        Setting(table: "models", key: "pack_weights") { c, v, _ in c.packWeights = try v.bool() },
        Setting(table: "models", key: "load_priority") { c, v, _ in
            let s = try v.string()
            guard let priority = LoadPriority(rawValue: s) else {
                throw v.bad("\"\(s)\" is not a load priority (use \"idle\" or \"low\")")
            }
            c.loadPriority = priority
        },
        Setting(table: "models", key: "keep") { c, v, _ in c.keepVersions = try v.int(in: 0...100_000) },
        Setting(table: "models", key: "quarantine_after") { c, v, _ in
            c.quarantineAfterSeconds = try v.duration(in: 0...(366 * 86400))
        },
        Setting(table: "models", key: "precision") { c, v, _ in
            let s = try v.string()
            guard let precision = Precision(rawValue: s) else {
                throw v.bad("\"\(s)\" is not a precision (use \"fp32\" or \"int8\")")
            }
            c.precision = precision
        },
        Setting(table: "models", key: "int8_min_agreement") { c, v, _ in
            c.int8Tolerance.minimumAgreement = try v.double(in: 0.5...1)
        },
        Setting(table: "models", key: "int8_max_f1_drop") { c, v, _ in
            c.int8Tolerance.maximumMacroF1Drop = try v.double(in: 0...1)
        },
        Setting(table: "models", key: "int8_min_labels") { c, v, _ in
            c.int8Tolerance.minimumLabelled = try v.int(in: 1...10_000_000)
        },
        Setting(table: "models", key: "validation_timeout") { c, v, _ in
            c.validationTimeoutSeconds = try v.duration(in: 1...86400)
        },
        Setting(table: "store", key: "database") { c, v, ctx in c.databasePath = try v.path(relativeTo: ctx.baseDirectory) },
        Setting(table: "log", key: "level") { c, v, _ in
            let s = try v.string()
            guard let level = Logger.Level(rawValue: s) else {
                throw v.bad("\"\(s)\" is not a level (\(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            c.logLevel = level
        },
        Setting(table: "labels", key: "names") { c, v, _ in
            guard v.raw.type == .array, let array = v.raw.array else { throw v.wrongType("an array of strings") }
            var names: [String] = []
            for element in array {
                guard element.type == .string, let s = element.string, !s.isEmpty else {
                    throw v.bad("every label name must be a non-empty string")
                }
                guard !names.contains(where: { $0.lowercased() == s.lowercased() }) else {
                    throw v.bad("\"\(s)\" appears twice")
                }
                names.append(s)
            }
            guard names.count >= 2 else { throw v.bad("needs at least two labels") }
            c.labelNames = names
        },
        Setting(table: "labels", key: "eval_fraction") { c, v, _ in c.evalFraction = try v.double(in: 0.0...0.5) },
        Setting(table: "labels", key: "max_import_items") { c, v, _ in c.maxImportItems = try v.int(in: 1...100_000_000) },
        Setting(table: "labels", key: "max_import_bytes") { c, v, _ in c.maxImportBytes = try v.int(in: 1024...(1 << 40)) },
        Setting(table: "labels", key: "max_open_imports_per_uid") { c, v, _ in
            c.maxOpenImportsPerUID = try v.int(in: 1...10_000)
        },
        Setting(table: "labels", key: "import_idle_timeout_seconds") { c, v, _ in
            c.importIdleTimeoutSeconds = try v.double(in: 1...(7 * 86400))
        },
        Setting(table: "labels", key: "trust_labellers") { c, v, _ in c.trustLabellers = try v.bool() },
        Setting(table: "training", key: "enabled") { c, v, _ in c.training.enabled = try v.bool() },
        Setting(table: "training", key: "every") { c, v, _ in c.training.everySeconds = try v.duration(in: 1...(366 * 86400)) },
        Setting(table: "training", key: "min_new_labels") { c, v, _ in c.training.minNewLabels = try v.int(in: 1...100_000_000) },
        Setting(table: "training", key: "quiet_hours") { c, v, _ in
            let s = try v.string().trimmingCharacters(in: .whitespaces)
            if s.isEmpty { c.training.quietHours = nil; return }
            func minutes(_ part: Substring) -> Int? {
                let hm = part.split(separator: ":")
                guard hm.count == 2, hm[0].count == 2, hm[1].count == 2, let h = Int(hm[0]), let m = Int(hm[1]),
                      (0..<24).contains(h), (0..<60).contains(m) else { return nil }
                return h * 60 + m
            }
            let parts = s.split(separator: "-")
            guard parts.count == 2, let a = minutes(parts[0]), let b = minutes(parts[1]), a != b else {
                throw v.bad("\"\(s)\" is not a window like \"22:00-06:00\" (local time, HH:MM-HH:MM)")
            }
            c.training.quietHours = (a, b)
        },
        Setting(table: "training", key: "method") { c, v, _ in
            let s = try v.string()
            guard let method = TrainingMethod(rawValue: s) else { throw v.bad("\"\(s)\" is not a method (use \"full\" or \"lora\")") }
            c.training.recipe.method = method
        },
        Setting(table: "training", key: "lora_rank") { c, v, _ in c.training.newAdapter.r = Int(try v.training(.loraRank)) },
        Setting(table: "training", key: "lora_alpha") { c, v, _ in c.training.newAdapter.alpha = try v.training(.loraAlpha) },
        Setting(table: "training", key: "lora_dropout") { c, v, _ in c.training.newAdapter.dropout = Float(try v.training(.loraDropout)) },
        Setting(table: "training", key: "replay_ratio") { c, v, _ in c.training.replayRatio = try v.training(.replayRatio) },
        Setting(table: "training", key: "gate_tolerance") { c, v, _ in c.training.gateTolerance = try v.double(in: 0...1) },
        Setting(table: "training", key: "gate_confidence") { c, v, _ in
            c.training.gateConfidence = try v.double(in: 0.5...0.999)
        },
        Setting(table: "training", key: "min_eval_labels") { c, v, _ in c.training.minEvalLabels = try v.int(in: 1...10_000_000) },
        Setting(table: "training", key: "nice") { c, v, _ in c.training.nice = try v.int(in: 0...19) },
        Setting(table: "training", key: "threads") { c, v, _ in c.training.threads = try v.int(in: 1...256) },
        Setting(table: "training", key: "cancel_grace_seconds") { c, v, _ in
            c.training.cancelGraceSeconds = try v.double(in: 1...3600)
        },
    ] + recipeKeys.map { setting in
        Setting(table: "training", key: setting.key) { c, v, _ in try v.training(setting, into: &c.training.recipe) }
    }

    /// The `[training]` keys that set the runs' recipe (`TrainingRecipe`) directly: the same keys as the recipe's
    /// settings and as the `train` RPC's recipe fields.
    static let recipeKeys: [TrainingSetting] = [.epochs, .batchSize, .learningRate, .maxLength, .warmupRatio, .weightDecay]

    /// Reads and validates a configuration file; defaults fill what it does not set.
    public static func load(path: String) throws -> DaemonConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "not readable UTF-8 text" : "no such file"
            throw DaemonConfigError.unreadable(path: path, reason: reason)
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        return try parse(text, path: path, baseDirectory: base)
    }

    /// Parses configuration text. `path` only names the source in errors.
    static func parse(_ text: String, path: String, baseDirectory: URL? = nil) throws -> DaemonConfig {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw DaemonConfigError.syntax(path: path, line: error.source.begin.line, column: error.source.begin.column,
                                           message: error.description)
        }
        let lines = KeyLines(text)
        let tables = Dictionary(grouping: settings, by: \.table)
        let tableOrder = ["server", "batching", "models", "store", "log", "labels", "training"]
        var config = DaemonConfig()
        let context = Context(baseDirectory: baseDirectory)
        for (tableName, tableValue) in root {
            guard let known = tables[tableName] else {
                if tableValue.type == .table {
                    throw DaemonConfigError.unknownTable(path: path, table: tableName, line: lines.tableLine(tableName),
                                                         known: tableOrder)
                }
                throw DaemonConfigError.unknownKey(path: path, key: tableName, line: lines.keyLine(table: "", key: tableName),
                                                   known: tableOrder.map { "[\($0)]" })
            }
            guard tableValue.type == .table, let table = tableValue.table else {
                throw DaemonConfigError.wrongType(path: path, key: tableName, line: lines.keyLine(table: "", key: tableName),
                                                  expected: "a table", found: "a value")
            }
            for (key, raw) in table {
                guard let setting = known.first(where: { $0.key == key }) else {
                    throw DaemonConfigError.unknownKey(path: path, key: "\(tableName).\(key)",
                                                       line: lines.keyLine(table: tableName, key: key),
                                                       known: known.map(\.key))
                }
                let value = Value(raw: raw, name: "\(tableName).\(key)", line: lines.keyLine(table: tableName, key: key),
                                  path: path)
                try setting.apply(&config, value, context)
            }
        }
        return config
    }
}

/// Finds the line of a table header or a key in TOML text. TOMLKit's values carry no positions; this covers
/// the shapes a configuration file has (`[table]` headers, `key = value` lines, `table.key = value` at top).
struct KeyLines {
    private var tables: [String: Int] = [:]
    private var keys: [String: Int] = [:]

    init(_ text: String) {
        var current = ""
        for (i, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") && !line.hasPrefix("[[") {
                if let close = line.firstIndex(of: "]") {
                    current = Self.unquote(String(line[line.index(after: line.startIndex)..<close]))
                    if tables[current] == nil { tables[current] = i + 1 }
                }
                continue
            }
            guard !line.hasPrefix("#"), let eq = line.firstIndex(of: "=") else { continue }
            let key = Self.unquote(String(line[..<eq]))
            let full = current.isEmpty ? key : current + "." + key
            if keys[full] == nil { keys[full] = i + 1 }
            // `server.socket = ...` at the top level also defines table "server".
            if current.isEmpty, let dot = key.firstIndex(of: ".") {
                let t = String(key[..<dot])
                if tables[t] == nil { tables[t] = i + 1 }
            }
        }
    }

    private static func unquote(_ s: String) -> String {
        s.split(separator: ".").map {
            $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
        }.joined(separator: ".")
    }

    func tableLine(_ table: String) -> Int? { tables[table] }

    func keyLine(table: String, key: String) -> Int? {
        keys[table.isEmpty ? key : table + "." + key]
    }
}
