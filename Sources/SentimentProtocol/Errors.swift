import Foundation
import SentimentCore

/// Error codes on the wire. The -32700…-32600 range is JSON-RPC 2.0's own; -32001… are sentimentd's
/// application errors (the "server error" range the specification reserves for implementations).
public enum RPCErrorCode: Int, Sendable, CaseIterable, Codable {
    case parseError = -32700
    case invalidRequest = -32600
    case methodNotFound = -32601
    case invalidParams = -32602
    case internalError = -32603

    case unauthorised = -32001
    case modelNotFound = -32002
    case noModelLoaded = -32003
    case overloaded = -32004
    case textTooLong = -32005
    case tooManyTexts = -32006
    case requestTooLarge = -32007
    case shuttingDown = -32008
    case activationFailed = -32009
    case configRejected = -32010
    case trainingBusy = -32011
    case nothingToTrain = -32012
    case notFound = -32013
    case labelsRejected = -32014
    case storeFailed = -32015
    case nonFiniteOutput = -32016
    case versionKept = -32017

    /// A stable, machine-readable name (sent as `error.data.kind`).
    public var kind: String {
        switch self {
        case .parseError: return "parse_error"
        case .invalidRequest: return "invalid_request"
        case .methodNotFound: return "method_not_found"
        case .invalidParams: return "invalid_params"
        case .internalError: return "internal_error"
        case .unauthorised: return "unauthorised"
        case .modelNotFound: return "model_not_found"
        case .noModelLoaded: return "no_model_loaded"
        case .overloaded: return "overloaded"
        case .textTooLong: return "text_too_long"
        case .tooManyTexts: return "too_many_texts"
        case .requestTooLarge: return "request_too_large"
        case .shuttingDown: return "shutting_down"
        case .activationFailed: return "activation_failed"
        case .configRejected: return "config_rejected"
        case .trainingBusy: return "training_busy"
        case .nothingToTrain: return "nothing_to_train"
        case .notFound: return "not_found"
        case .labelsRejected: return "labels_rejected"
        case .storeFailed: return "store_failed"
        case .nonFiniteOutput: return "non_finite_output"
        case .versionKept: return "version_kept"
        }
    }
}

/// Every error the daemon answers with. The message is a sentence for a person; `code` and `data.kind` are for
/// programs.
public enum RPCError: Error, Sendable, Equatable, CustomStringConvertible {
    case parseError(String)
    case invalidRequest(String)
    case methodNotFound(String)
    case invalidParams(String)
    case internalError(String)

    /// The caller's role (`Role`) does not include the one the request needs. `action` is the method, or what in
    /// it needed more (`predict of a version that is not in memory`); `caller` names the caller (`uid 1000`);
    /// `holders` says who holds `needed` on this daemon; `role` is the caller's (nil: none at all).
    case unauthorised(action: String, needed: Role, caller: String, role: Role?, holders: String)
    /// `predict {"model": V}`, `models.activate V` or `rollback --to V` named a version the daemon does not have.
    case modelNotFound(version: String, reason: String?)
    /// No model is active (empty models directory, or every version rejected).
    case noModelLoaded
    /// The queue or the connection table is full.
    case overloaded(String)
    /// One text exceeds `max_text_chars` (characters, before tokenization; longer texts within the limit are
    /// truncated by tokens like the model does).
    case textTooLong(index: Int, characters: Int, limit: Int)
    case tooManyTexts(count: Int, limit: Int)
    /// A request line longer than `request_line_bytes`.
    case requestTooLarge(limit: Int)
    case shuttingDown
    case activationFailed(version: String, reason: String)
    /// `reload` read a configuration file that is not valid; the running configuration is kept.
    case configRejected(String)
    /// `train` while another run is queued or running.
    case trainingBusy(runID: Int64)
    /// `train` with no new labels, no eval split, or no model to start from.
    case nothingToTrain(String)
    /// A run or an import id the daemon does not know (or an import that is no longer open).
    case notFound(String)
    /// Labels that cannot be applied (unknown label, empty or too long text, unparsable line). Without
    /// skip_invalid nothing was applied. `problems` holds at most the first 100.
    case labelsRejected(problems: [LabelProblem], count: Int)
    /// The database refused a write (disk full, read-only, corrupt); nothing of the request was applied.
    case storeFailed(String)
    /// The forward pass gave NaN or an infinity for texts[index]: the answer is withheld.
    case nonFiniteOutput(version: String, index: Int)
    /// `models.remove` refused: the version is served, pinned, a base something needs, or busy.
    case versionKept(version: String, reason: String)

    public var code: RPCErrorCode {
        switch self {
        case .parseError: return .parseError
        case .invalidRequest: return .invalidRequest
        case .methodNotFound: return .methodNotFound
        case .invalidParams: return .invalidParams
        case .internalError: return .internalError
        case .unauthorised: return .unauthorised
        case .modelNotFound: return .modelNotFound
        case .noModelLoaded: return .noModelLoaded
        case .overloaded: return .overloaded
        case .textTooLong: return .textTooLong
        case .tooManyTexts: return .tooManyTexts
        case .requestTooLarge: return .requestTooLarge
        case .shuttingDown: return .shuttingDown
        case .activationFailed: return .activationFailed
        case .configRejected: return .configRejected
        case .trainingBusy: return .trainingBusy
        case .nothingToTrain: return .nothingToTrain
        case .notFound: return .notFound
        case .labelsRejected: return .labelsRejected
        case .storeFailed: return .storeFailed
        case .nonFiniteOutput: return .nonFiniteOutput
        case .versionKept: return .versionKept
        }
    }

    public var message: String {
        switch self {
        case let .parseError(m): return "parse error: \(m)"
        case let .invalidRequest(m): return "invalid request: \(m)"
        case let .methodNotFound(name): return "unknown method \"\(name)\""
        case let .invalidParams(m): return "invalid params: \(m)"
        case let .internalError(m): return "internal error: \(m)"
        case let .unauthorised(action, needed, caller, role, holders):
            let has = role.map { "holds the \($0) role" } ?? "holds no role (it is not in server.reader_group)"
            return "\(action) needs the \(needed) role, which \(holders) hold; the caller (\(caller)) \(has)"
        case let .modelNotFound(version, reason):
            return "no model version \"\(version)\"" + (reason.map { ": \($0)" } ?? "")
        case .noModelLoaded:
            return "no model is loaded: put a checkpoint folder into the models directory or activate a version"
        case let .overloaded(m): return "overloaded: \(m)"
        case let .textTooLong(index, characters, limit):
            return "texts[\(index)] has \(characters) characters; the limit is \(limit) (max_text_chars)"
        case let .tooManyTexts(count, limit):
            return "\(count) texts in one request; the limit is \(limit) (max_texts): split the request"
        case let .requestTooLarge(limit):
            return "request line longer than \(limit) bytes (request_line_bytes); it was discarded"
        case .shuttingDown: return "the daemon is shutting down"
        case let .activationFailed(version, reason): return "cannot activate \"\(version)\": \(reason)"
        case let .configRejected(m): return "configuration rejected, the running one is kept: \(m)"
        case let .trainingBusy(id):
            return "training run \(id) is in progress; only one run at a time (follow it with runs.show, stop it with train.cancel)"
        case let .nothingToTrain(m): return "nothing to train: \(m)"
        case let .notFound(m): return "not found: \(m)"
        case let .labelsRejected(problems, count):
            let shown = problems.prefix(5).map { "line \($0.line): \($0.reason)" }.joined(separator: "; ")
            let more = count > 5 ? "; and \(count - 5) more" : ""
            return "\(count) label item(s) rejected, nothing was applied: \(shown)\(more) (fix them, or skip_invalid to apply the rest)"
        case let .storeFailed(m): return "the database refused the write, nothing was applied: \(m)"
        case let .nonFiniteOutput(version, index):
            return "model version \"\(version)\" gave a non-finite probability for texts[\(index)]; the answer was withheld "
                + "(the model is likely broken for such inputs: roll back or activate another version; the daemon's log has the details)"
        case let .versionKept(version, reason): return "cannot remove model version \"\(version)\": \(reason)"
        }
    }

    public var description: String { message }

    public var wireObject: RPCErrorObject {
        var data = RPCErrorData(kind: code.kind)
        if case let .labelsRejected(problems, count) = self {
            data.problems = problems
            data.count = count
        }
        if case let .unauthorised(_, needed, _, role, _) = self {
            data.neededRole = needed
            data.role = role
        }
        return RPCErrorObject(code: code.rawValue, message: message, data: data)
    }
}

/// `error.data` of a response.
public struct RPCErrorData: Sendable, Equatable, Codable {
    public var kind: String
    /// labels_rejected: the items that were wrong (file lines or item indexes).
    public var problems: [LabelProblem]?
    /// labels_rejected: how many items were wrong in all (`problems` lists at most the first 100).
    public var count: Int?
    /// unauthorised: the role the request needed, and the caller's (absent: none).
    public var neededRole: Role?
    public var role: Role?

    enum CodingKeys: String, CodingKey {
        case kind, problems, count, role
        case neededRole = "needed_role"
    }

    public init(kind: String, problems: [LabelProblem]? = nil, count: Int? = nil, neededRole: Role? = nil,
                role: Role? = nil) {
        self.kind = kind
        self.problems = problems
        self.count = count
        self.neededRole = neededRole
        self.role = role
    }
}

/// The JSON-RPC error object as it is on the wire; what a client gets back.
public struct RPCErrorObject: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var data: RPCErrorData?

    public init(code: Int, message: String, data: RPCErrorData? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    /// The typed code, when it is one this build knows.
    public var knownCode: RPCErrorCode? { RPCErrorCode(rawValue: code) }

    public var description: String { "\(message) (code \(code))" }
}
