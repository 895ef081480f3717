import ArgumentParser
import Foundation
import SentimentProtocol

struct ConnectionOptions: ParsableArguments {
    static let defaultSocket = "/run/sentimentd/sentimentd.sock"

    @Option(name: .long, help: ArgumentHelp("Path of the daemon's socket.", valueName: "path"),
            completion: .file())
    var socket: String?

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for an answer.", valueName: "seconds"))
    var timeout: Double = 120

    var socketPath: String {
        if let socket { return socket }
        if let env = ProcessInfo.processInfo.environment["SENTIMENTD_SOCKET"], !env.isEmpty { return env }
        return Self.defaultSocket
    }

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be a positive number of seconds") }
    }

    func connect() throws -> UnixSocketClient {
        do {
            return try UnixSocketClient(path: socketPath, timeoutSeconds: timeout)
        } catch {
            throw CtlFailure.from(error)
        }
    }

    /// One call on a fresh connection, with every failure sorted into the documented exit codes.
    func call<M: RPCMethod>(_ method: M.Type, _ params: M.Params) throws -> M.Result {
        let client = try connect()
        defer { client.close() }
        return try client.checkedCall(method, params)
    }
}

extension UnixSocketClient {
    /// `call`, with a failure sorted into the documented exit codes: for the commands that make several calls on
    /// one connection.
    func checkedCall<M: RPCMethod>(_ method: M.Type, _ params: M.Params) throws -> M.Result {
        do {
            return try call(method, params)
        } catch {
            throw CtlFailure.from(error)
        }
    }
}

struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print the daemon's JSON result instead of a table.")
    var json = false
}

extension OutputOptions {
    /// Calls `method`, prints its result (as the daemon answered, JSON, with --json; else as `text` renders it) and
    /// returns it.
    @discardableResult
    func show<M: RPCMethod>(_ method: M.Type, _ params: M.Params, via connection: ConnectionOptions,
                            _ text: (M.Result) throws -> Void) throws -> M.Result {
        let result = try connection.call(method, params)
        if json { try printJSON(result) } else { try text(result) }
        return result
    }
}

/// Prints an Encodable as one JSON document (pretty, keys sorted: stable for scripts and diffs).
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = RPCCoding.encoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}

/// Texts for predict and compare: the arguments, or one per line from `file` ("-": standard input, also when the
/// only argument is "-"). Blank lines are skipped.
func readTextInputs(file: String?, texts: [String]) throws -> [String] {
    let source: String?
    if let file { source = file } else if texts == ["-"] { source = "-" } else { source = nil }
    guard let source else { return texts }
    let data: Data
    if source == "-" {
        data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
        guard let d = FileManager.default.contents(atPath: source) else {
            throw CtlFailure.usage("cannot read \(source): no such file or not readable")
        }
        data = d
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw CtlFailure.usage("\(source == "-" ? "standard input" : source) is not UTF-8 text")
    }
    return text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map(String.init)
        .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
}
