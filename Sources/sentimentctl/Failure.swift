import Foundation
import SentimentCore
import SentimentProtocol

/// The exit codes sentimentctl documents (see `sentimentctl --help`). Scripts rely on them: do not renumber.
enum CtlExitCode: Int32 {
    case success = 0
    case daemonError = 1
    case usage = 2
    case cannotConnect = 3
    case refused = 4
    case brokenConnection = 5
    case notServing = 6
}

/// Every way a sentimentctl command fails: one readable line and an exit code.
enum CtlFailure: Error {
    case usage(String)
    case cannotConnect(ClientConnectionError)
    case daemon(RPCErrorObject)
    case broken(String)
    /// The daemon answered `status` with a state other than `serving`.
    case notServing(state: String)

    var exitCode: CtlExitCode {
        switch self {
        case .notServing: return .notServing
        case .usage: return .usage
        case .cannotConnect: return .cannotConnect
        case let .daemon(error): return error.knownCode == .unauthorised ? .refused : .daemonError
        case .broken: return .brokenConnection
        }
    }

    var message: String {
        switch self {
        case let .usage(m): return m
        case let .cannotConnect(e):
            return "\(e) (is sentimentd running? the socket is set by --socket or SENTIMENTD_SOCKET)"
        case let .daemon(e): return "daemon: \(e.message)"
        case let .broken(m): return m
        case let .notServing(state) where state == "draining":
            return "the daemon is shutting down (state \(state)): it serves no model"
        case let .notServing(state):
            return "the daemon serves no model (state \(state)): no valid version in its models directory yet "
                + "(sentimentctl models says why a version was rejected)"
        }
    }

    /// Sorts any error from a connection or a call into the documented classes.
    static func from(_ error: Error) -> CtlFailure {
        switch error {
        case let f as CtlFailure: return f
        case let e as RPCErrorObject: return .daemon(e)
        case let e as ClientConnectionError:
            if case .cannotConnect = e { return .cannotConnect(e) }
            if case .pathTooLong = e { return .cannotConnect(e) }
            return .broken("\(e)")
        case let e as RPCClientError: return .broken("\(e)")
        default: return .broken("\(error)")
        }
    }
}

extension CtlFailure {
    /// Runs `body`, which writes a file the user named (an export, a backup): the status line is cleared whatever
    /// happens, and a file that cannot be written, or an item its format cannot carry, is a usage error (exit 2).
    static func writingFile(_ progress: StatusLine, _ body: () throws -> Void) throws {
        defer { progress.clear() }
        do {
            try body()
        } catch let error as LabelFileWriterError {
            throw CtlFailure.usage("nothing was written: \(error)")
        } catch let error as AtomicFileError {
            throw CtlFailure.usage("\(error)")
        }
    }
}

extension CtlFailure {
    /// A label file that cannot be read (exit 2): the reader's message, and `--format` where naming the format is
    /// the fix (the reader names the setting; the flag is this command's).
    static func labelFile(_ error: LabelFileError) -> CtlFailure {
        .usage("\(error)" + (error.formatsToName.map { "; use --format " + $0.map(\.rawValue).joined(separator: "|") } ?? ""))
    }
}
