import Foundation

/// Every way a pull can fail, each with a message that names the repository, URL or file and says what to do. The
/// messages name the pull's settings (the revision, the version name, ...), never a command's flags: `setting` says
/// which one to change, and `sentimentctl pull` says it as its flag.
public enum HubError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The repository id is not `name` or `namespace/name` in the hub's alphabet.
    case invalidRepositoryID(String, reason: String)
    /// The version name asked for is not a usable version directory name.
    case invalidVersionName(String, reason: String)
    /// The endpoint given (or `HF_ENDPOINT`) is not an http(s) URL.
    case invalidEndpoint(String)
    /// 404 (or the hub's `RepoNotFound`): no such repository, or a private one the token cannot see.
    case repositoryNotFound(repo: String, url: String, hadToken: Bool)
    case revisionNotFound(repo: String, revision: String, url: String)
    case fileNotFound(repo: String, file: String, url: String)
    /// 401/403: gated or private, and the request had no token or a token without access.
    case unauthorized(repo: String, url: String, status: Int, gated: Bool, hadToken: Bool)
    /// Any other unexpected HTTP status (after retries, for 5xx).
    case httpStatus(url: String, status: Int, message: String?)
    /// The connection failed (DNS, refused, reset, TLS, cut mid-body), after retries.
    case network(url: String, reason: String)
    /// No byte arrived for `seconds`.
    case stalled(url: String, seconds: Double)
    /// A response the hub's protocol does not allow (unparseable JSON, a 206 for the wrong range, ...).
    case protocolViolation(url: String, reason: String)
    case missingConfig(repo: String, revision: String)
    case noWeights(repo: String, revision: String, files: [String])
    case invalidShardIndex(file: String, reason: String)
    case missingShard(repo: String, index: String, shard: String)
    /// The downloaded bytes are not the ones the hub lists. The partial file has been deleted.
    case checksumMismatch(file: String, algorithm: String, expected: String, actual: String)
    case sizeMismatch(file: String, expected: Int64, actual: Int64)
    /// A file was served from another commit than the one resolved for the pull.
    case commitMismatch(file: String, expected: String, actual: String)
    /// ENOSPC / EDQUOT while writing: what was downloaded stays in the staging folder for the next run.
    case diskFull(path: String, staging: String)
    case fileSystem(path: String, operation: String, reason: String)
    case modelsDirectoryMissing(path: String)
    case versionExists(path: String)
    /// Another pull into the same staging folder holds its lock.
    case pullInProgress(lock: String)
    /// A staging folder or file that is a symbolic link, not a plain file, or not the puller's own: never used.
    case unsafeStaging(path: String, reason: String)
    /// The hub gave neither a SHA-256 nor a git blob id for a file, so it cannot be checked (`requireDigests`).
    case noDigest(file: String, url: String)
    /// An `http://` endpoint without `allowInsecureHTTP`.
    case insecureEndpoint(String)

    public var description: String {
        switch self {
        case let .invalidRepositoryID(id, reason):
            return "\"\(id)\" is not a Hugging Face repository id (\(reason)); expected namespace/name, e.g. "
                + "cardiffnlp/twitter-roberta-base-sentiment-latest"
        case let .invalidVersionName(name, reason):
            return "version name \"\(name)\" cannot be used: \(reason)"
        case let .invalidEndpoint(value):
            return "endpoint \"\(value)\" is not an http:// or https:// URL (the endpoint given, else HF_ENDPOINT)"
        case let .repositoryNotFound(repo, url, hadToken):
            return "repository \(repo) not found (\(url)); check the name"
                + (hadToken ? ", and that HF_TOKEN's account can see it" : "; if it is private, set HF_TOKEN")
        case let .revisionNotFound(repo, revision, url):
            return "repository \(repo) has no revision \"\(revision)\" (\(url)); name a branch, tag or commit it has"
        case let .fileNotFound(repo, file, url):
            return "repository \(repo) lists \(file) but the hub does not serve it (\(url))"
        case let .unauthorized(repo, url, status, gated, hadToken):
            let what = gated ? "is gated" : "needs authorisation"
            let todo = hadToken
                ? "HF_TOKEN was sent but has no access: accept the model's terms on its hub page or use another token"
                : "set HF_TOKEN to an access token of an account that may read it"
            return "repository \(repo) \(what) (HTTP \(status) from \(url)): \(todo)"
        case let .httpStatus(url, status, message):
            return "HTTP \(status) from \(url)" + (message.map { ": \($0)" } ?? "")
        case let .network(url, reason):
            return "network error on \(url): \(reason)"
        case let .stalled(url, seconds):
            return "no data from \(url) for \(Int(seconds)) s; run the pull again to resume"
        case let .protocolViolation(url, reason):
            return "unexpected answer from \(url): \(reason)"
        case let .missingConfig(repo, revision):
            return "repository \(repo) at \(revision) has no config.json at its top level; it is not a transformers model folder"
        case let .noWeights(repo, revision, files):
            return "repository \(repo) at \(revision) has no PyTorch weights (model.safetensors, pytorch_model.bin or "
                + "their sharded index); it has: \(files.joined(separator: ", "))"
        case let .invalidShardIndex(file, reason):
            return "\(file): \(reason)"
        case let .missingShard(repo, index, shard):
            return "\(index) of \(repo) names the shard \(shard), which the repository does not have"
        case let .checksumMismatch(file, algorithm, expected, actual):
            return "\(file): \(algorithm) is \(actual), the hub lists \(expected); the partial download was deleted, "
                + "run the pull again"
        case let .sizeMismatch(file, expected, actual):
            return "\(file): \(actual) bytes downloaded, the hub lists \(expected); the partial download was deleted, "
                + "run the pull again"
        case let .commitMismatch(file, expected, actual):
            return "\(file) was served from commit \(actual), not \(expected) as resolved; run the pull again"
        case let .diskFull(path, staging):
            return "no space left on the device writing \(path); free some space and run the pull again: what was "
                + "downloaded is kept in \(staging) and the download resumes"
        case let .fileSystem(path, operation, reason):
            return "cannot \(operation) \(path): \(reason)"
        case let .modelsDirectoryMissing(path):
            return "models directory \(path) does not exist; create it or name another"
        case let .versionExists(path):
            return "\(path) already exists; publish under another version name, or remove it first"
        case let .pullInProgress(lock):
            return "another pull of this version is running (it holds \(lock)); wait for it to finish"
        case let .unsafeStaging(path, reason):
            return "\(path): refusing to use it: \(reason)"
        case let .noDigest(file, url):
            return "\(file): the hub gives no SHA-256 or git blob id for it (\(url)), so the download cannot be "
                + "verified; it was not kept (unverified files are kept only when digests are not required)"
        case let .insecureEndpoint(value):
            return "endpoint \(value) is plain http: anyone on the way can change the files and their checksums; "
                + "use https, or allow plain http only for a mirror you trust on a network you trust"
        }
    }
}

extension HubError {
    /// A setting of the pull that the user changes to get past the error.
    public enum Setting: Sendable, Equatable {
        case endpoint, revision, modelsDirectory, versionName
        /// `PullSettings.requireDigests` (on by default).
        case requireDigests
        /// `PullSettings.allowInsecureHTTP` (off by default).
        case allowInsecureHTTP
    }

    /// The setting whose change is the way past this error, when there is one (the message says what to change in
    /// those words; a command adds its own flag for it).
    public var setting: Setting? {
        switch self {
        case .invalidEndpoint: return .endpoint
        case .revisionNotFound: return .revision
        case .modelsDirectoryMissing: return .modelsDirectory
        case .invalidVersionName, .versionExists: return .versionName
        case .noDigest: return .requireDigests
        case .insecureEndpoint: return .allowInsecureHTTP
        case .invalidRepositoryID, .repositoryNotFound, .fileNotFound, .unauthorized, .httpStatus, .network, .stalled,
             .protocolViolation, .missingConfig, .noWeights, .invalidShardIndex, .missingShard, .checksumMismatch,
             .sizeMismatch, .commitMismatch, .diskFull, .fileSystem, .pullInProgress, .unsafeStaging:
            return nil
        }
    }
}
