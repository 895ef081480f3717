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
        // TOMLKit hands the text to toml++ as a C string, which a NUL ends: what follows one would be ignored
        // without a word. TOML allows no NUL anywhere, so it is a syntax error, at its place.
        if text.utf8.contains(0) {
            var line = 1, column = 1
            for byte in text.utf8.prefix(while: { $0 != 0 }) {
                if byte == 0x0A { line += 1; column = 1 } else { column += 1 }
            }
            throw DaemonConfigError.syntax(path: path, line: line, column: column,
                                           message: "a NUL character (TOML allows none; is this a text file?)")
        }
        let lines = KeyLines(text)
        // toml++ 3.4 asserts (aborts a debug build; undefined behaviour in a release one) on a table header whose
        // name starts with a character no key starts with, such as `[#`: said here, as the syntax error it is.
        if let bad = lines.badHeader {
            throw DaemonConfigError.syntax(path: path, line: bad.line, column: bad.column,
                                           message: "a table header's name must start with a letter, a digit, _, - or a quote, not \(bad.found)")
        }
        // toml++ 3.4 also asserts on a `}` where an array expects a value (`x = [ }`); a closing bracket of the wrong
        // kind is never valid TOML, so it is said here.
        if let bad = lines.badBracket {
            let kind = bad.found == "}" ? "an array ([...]) closed by }" : "an inline table ({...}) closed by ]"
            throw DaemonConfigError.syntax(path: path, line: bad.line, column: bad.column, message: "\(kind)")
        }
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw DaemonConfigError.syntax(path: path, line: error.source.begin.line, column: error.source.begin.column,
                                           message: error.description)
        }
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

/// Finds the line of a table header or a key in TOML text. TOMLKit's values carry no positions, so the text is read
/// once more, with just enough of TOML to know where each key starts: strings (basic and literal, one-line and
/// multi-line) and comments are skipped, a line that continues a multi-line string or array is not taken for a
/// header or a key, and quoted key parts are unquoted (escapes decoded) so they compare equal to TOMLKit's keys.
/// A key with no line of its own (one inside an inline table, or a table made by a dotted key) is placed at the
/// line that opens what holds it, so every key of the file gets a line.
struct KeyLines {
    private var tables: [String: Int] = [:]
    private var keys: [String: Int] = [:]
    /// The first table header whose name starts with a character no key can start with (`[#`, `[=`, `[` alone).
    private(set) var badHeader: (line: Int, column: Int, found: String)?
    /// The first closing bracket of the wrong kind in a value: `}` in an array, `]` in an inline table.
    private(set) var badBracket: (line: Int, column: Int, found: String)?

    init(_ text: String) {
        var scanner = Scanner(bytes: Array(text.utf8))
        // A UTF-8 byte order mark is not part of the first line (toml++ skips it too).
        if scanner.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { scanner.i = 3; scanner.lineStart = 3 }
        var current: [String] = []
        while !scanner.atEnd {
            // At the start of a line that is not inside a value.
            scanner.skipBlanks()
            let line = scanner.line
            let first = scanner.peek()
            if first == UInt8(ascii: "[") {
                let array = scanner.peek(1) == UInt8(ascii: "[")
                scanner.advance(array ? 2 : 1)
                // Spaces and tabs only: toml++ takes a carriage return here for the key's first character.
                while scanner.peek() == UInt8(ascii: " ") || scanner.peek() == UInt8(ascii: "\t") { scanner.advance() }
                if badHeader == nil, let found = scanner.notAKeyStart() {
                    badHeader = (line: scanner.line, column: scanner.column, found: found)
                }
                if let path = scanner.keyPath(until: UInt8(ascii: "]")) {
                    current = path
                    // [a.b] makes table a too (when nothing before did).
                    for n in 1...path.count { record(table: Array(path[..<n]), line: line) }
                }
            } else if first != UInt8(ascii: "#"), first != UInt8(ascii: "\n"),
                      let path = scanner.keyPath(until: UInt8(ascii: "=")) {
                let full = current + path
                for n in current.count + 1..<full.count { record(table: Array(full[..<n]), line: line) }
                let name = full.joined(separator: ".")
                if keys[name] == nil { keys[name] = line }
            }
            scanner.skipValue()
        }
        badBracket = scanner.mismatch
    }

    private mutating func record(table path: [String], line: Int) {
        let name = path.joined(separator: ".")
        if tables[name] == nil { tables[name] = line }
    }

    /// The line of `[table]` (or of the key that makes it: `table = { ... }`, `table.key = ...`).
    func tableLine(_ table: String) -> Int? { tables[table] ?? keys[table] }

    /// The line of `key` in `table` ("" for the top level); for a key without a line of its own, its table's.
    func keyLine(table: String, key: String) -> Int? {
        let full = table.isEmpty ? key : table + "." + key
        return keys[full] ?? tables[full] ?? (table.isEmpty ? nil : tableLine(table))
    }

    /// A cursor over the text's UTF-8 bytes that counts lines.
    private struct Scanner {
        let bytes: [UInt8]
        var i = 0
        /// The first `}` that would close an array or `]` that would close an inline table (never valid TOML), with
        /// where it stands: toml++ 3.4 asserts on a `}` where an array expects a value.
        var mismatch: (line: Int, column: Int, found: String)?
        var line = 1
        var lineStart = 0

        /// The column of the cursor (bytes from the line's start, from 1).
        var column: Int { i - lineStart + 1 }

        var atEnd: Bool { i >= bytes.count }
        func peek(_ ahead: Int = 0) -> UInt8? { i + ahead < bytes.count ? bytes[i + ahead] : nil }
        mutating func advance(_ n: Int = 1) {
            for _ in 0..<n where i < bytes.count {
                if bytes[i] == UInt8(ascii: "\n") { line += 1; lineStart = i + 1 }
                i += 1
            }
        }
        mutating func skipBlanks() {
            while let c = peek(), c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") { advance() }
        }

        /// A dotted key (`a`, `a.b`, `"a b".'c'`) ending at `end` (`=` for a key, `]` for a header), left just after
        /// `end`; nil (the rest of the line left to `skipValue`) when the line is not one.
        mutating func keyPath(until end: UInt8) -> [String]? {
            var parts: [String] = []
            while true {
                skipBlanks()
                guard let c = peek(), c != UInt8(ascii: "\n") else { return nil }
                if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                    guard let part = quotedKey(c) else { return nil }
                    parts.append(part)
                } else {
                    let start = i
                    while let d = peek(), !Self.keyStop.contains(d) { advance() }
                    guard i > start else { return nil }
                    parts.append(String(decoding: bytes[start..<i], as: UTF8.self))
                }
                skipBlanks()
                guard let next = peek() else { return nil }
                if next == UInt8(ascii: ".") { advance(); continue }
                guard next == end else { return nil }
                advance()
                return parts
            }
        }

        /// What is at the cursor when no key (nor a header's closing `]`) can start there, said for a message.
        func notAKeyStart() -> String? {
            guard let c = peek() else { return "the end of the file" }
            if c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r") { return "the end of the line" }
            let bare = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
            if bare || c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") || c == UInt8(ascii: "]") { return nil }
            let character = String(decoding: bytes[i..<min(i + 4, bytes.count)], as: UTF8.self).first.map(String.init) ?? "?"
            return "'\(character)'"
        }

        /// Bytes that end a bare key.
        static let keyStop: Set<UInt8> = Set(" \t\r\n.=[]\"'#".utf8)

        /// A quoted key part on one line: a literal one as written, a basic one with its escapes decoded.
        mutating func quotedKey(_ quote: UInt8) -> String? {
            advance()
            var out: [UInt8] = []
            while let c = peek(), c != UInt8(ascii: "\n") {
                advance()
                if c == quote { return String(decoding: out, as: UTF8.self) }
                if c == UInt8(ascii: "\\") && quote == UInt8(ascii: "\"") {
                    guard let e = peek() else { return nil }
                    advance()
                    switch e {
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "e"): out.append(0x1B)
                    case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                        let n = e == UInt8(ascii: "x") ? 2 : e == UInt8(ascii: "u") ? 4 : 8
                        guard i + n <= bytes.count, let v = UInt32(String(decoding: bytes[i..<i + n], as: UTF8.self), radix: 16),
                              let scalar = Unicode.Scalar(v) else { return nil }
                        advance(n)
                        out.append(contentsOf: Array(String(Character(scalar)).utf8))
                    default: out.append(e)
                    }
                } else {
                    out.append(c)
                }
            }
            return nil
        }

        /// Skips the rest of a line's value: its strings (a multi-line one may end lines later), comments, and an
        /// array or inline table that spans lines; leaves the cursor at the start of the next line.
        mutating func skipValue() {
            var open: [UInt8] = []
            while let c = peek() {
                if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'"), peek(1) == c, peek(2) == c {
                    let quote = c
                    advance(3)
                    while !atEnd {
                        if peek() == UInt8(ascii: "\\") && quote == UInt8(ascii: "\"") { advance(2); continue }
                        if peek() == quote && peek(1) == quote && peek(2) == quote {
                            // A closing delimiter may carry up to two more quotes of the string's own.
                            advance(3)
                            while peek() == quote { advance() }
                            break
                        }
                        advance()
                    }
                    continue
                }
                switch c {
                case UInt8(ascii: "\""), UInt8(ascii: "'"):
                    advance()
                    while let d = peek(), d != UInt8(ascii: "\n") {
                        advance()
                        if d == c { break }
                        if d == UInt8(ascii: "\\") && c == UInt8(ascii: "\""), peek() != UInt8(ascii: "\n") { advance() }
                    }
                case UInt8(ascii: "#"):
                    while let d = peek(), d != UInt8(ascii: "\n") { advance() }
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    open.append(c)
                    advance()
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    if let top = open.popLast(), (top == UInt8(ascii: "[")) != (c == UInt8(ascii: "]")), mismatch == nil {
                        mismatch = (line: line, column: column, found: String(UnicodeScalar(c)))
                    }
                    advance()
                case UInt8(ascii: "\n"):
                    advance()
                    if open.isEmpty { return }
                default:
                    advance()
                }
            }
        }
    }
}
