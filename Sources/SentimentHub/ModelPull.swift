import Foundation
import SentimentCore
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// What a pull reports as it goes; `sentimentctl pull` draws its progress line from these.
public enum PullEvent: Sendable, Equatable {
    /// The revision resolved to `commit`; `files` will be fetched (shards are added once the index is in).
    case resolved(repo: String, revision: String, commit: String, version: String, files: [String])
    case fileStarted(file: String, size: Int64?, resumingAt: Int64)
    /// `bytes` of the file are on disk (including what an earlier attempt left).
    case fileProgress(file: String, bytes: Int64, size: Int64?)
    /// Attempt `attempt` at `item` (a file name, or "model info") failed; another follows.
    case retrying(item: String, attempt: Int, reason: String)
    case fileDone(file: String, size: Int64, alreadyPresent: Bool)
    case published(version: String, path: String)
}

/// Retry and timeout knobs (tests shorten them), and the two checks a user may turn off.
public struct PullSettings: Sendable {
    /// GETs per file before giving up; each resumes from what the previous one wrote.
    public var maxAttempts: Int
    /// Pause before the second attempt, doubling after each (at most 30 s).
    public var retryDelay: TimeInterval
    /// Seconds without a byte before an attempt is abandoned.
    public var stallTimeout: TimeInterval
    /// Accept an `http://` endpoint (`--insecure`); otherwise only https.
    public var allowInsecureHTTP: Bool
    /// Refuse a file the hub gives no digest for (off: `--no-verify`).
    public var requireDigests: Bool

    public init(maxAttempts: Int = 5, retryDelay: TimeInterval = 1, stallTimeout: TimeInterval = 60,
                allowInsecureHTTP: Bool = false, requireDigests: Bool = true) {
        self.maxAttempts = max(1, maxAttempts)
        self.retryDelay = retryDelay
        self.stallTimeout = stallTimeout
        self.allowInsecureHTTP = allowInsecureHTTP
        self.requireDigests = requireDigests
    }
}

public struct PullResult: Sendable, Equatable {
    public var version: String
    public var path: String
    public var commit: String
    public var files: [DownloadedFile]
}

/// Downloads a Hugging Face model folder into `models/<version>`:
///
/// 1. model info at the revision -> the commit; every file is then fetched at that commit.
/// 2. file choice (`CheckpointFileSelection`); the version name (`--name`, else `<namespace>--<name>-<commit7>`)
///    must not exist yet.
/// 3. each file into `models/.staging/pull-<version>/` as `<file>.part` (resumed across attempts and runs),
///    verified against the hub's size and SHA-256 / git blob id, fsynced, renamed to `<file>`. The folders are
///    held open and every file is opened relative to them without following links, in a folder the pulling user
///    owns and nobody else may write (`StagingDirectory`), so a pull run by root cannot be turned onto other files
///    by whoever may write the models directory.
/// 4. `sentimentd.json` (SentimentCore's `CheckpointManifest`, with `source`), the folder fsynced, then one rename(2) to
///    `models/<version>`: the registry sees the whole checkpoint or nothing.
///
/// A crash or Ctrl-C leaves only the staging folder, which the next run of the same pull resumes. Two pulls of the
/// same version exclude each other with `flock` on `models/.staging/pull-<version>.lock`. Only https endpoints
/// unless `allowInsecureHTTP`; only files with a digest to check unless `requireDigests` is off.
public final class ModelPull {
    public let repo: HubRepositoryID
    public let revision: String
    public let modelsDirectory: URL
    public let endpoint: HubEndpoint
    private let requestedName: String?
    private let settings: PullSettings
    private let progress: (PullEvent) -> Void

    public static let stagingDirectoryName = ".staging"
    static let stateFileName = ".pull-state.json"

    public init(repo: HubRepositoryID, revision: String = "main", modelsDirectory: URL, name: String? = nil,
                endpoint: HubEndpoint, settings: PullSettings = PullSettings(),
                progress: @escaping (PullEvent) -> Void = { _ in }) throws {
        guard !revision.isEmpty else { throw HubError.revisionNotFound(repo: repo.value, revision: revision, url: "-") }
        if let name { try Self.validateVersionName(name) }
        if endpoint.base.scheme?.lowercased() == "http" && !settings.allowInsecureHTTP {
            throw HubError.insecureEndpoint(endpoint.base.absoluteString)
        }
        self.repo = repo
        self.revision = revision
        self.modelsDirectory = modelsDirectory.standardizedFileURL
        self.requestedName = name
        self.endpoint = endpoint
        self.settings = settings
        self.progress = progress
    }

    /// The version name a pull publishes under unless `--name` says otherwise.
    public static func defaultVersionName(repo: HubRepositoryID, commit: String) -> String {
        "\(repo.folderName)-\(commit.prefix(7).lowercased())"
    }

    /// A name the registry takes as a version: one path component, not a dot-file.
    public static func validateVersionName(_ name: String) throws {
        if name.isEmpty { throw HubError.invalidVersionName(name, reason: "it is empty") }
        if name.contains("/") { throw HubError.invalidVersionName(name, reason: "it contains '/'") }
        if name.hasPrefix(".") {
            throw HubError.invalidVersionName(name, reason: "names starting with '.' are ignored by the registry")
        }
        if name.utf8.count > 200 { throw HubError.invalidVersionName(name, reason: "it is longer than 200 bytes") }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw HubError.invalidVersionName(name, reason: "it contains control characters")
        }
    }

    public func run() throws -> PullResult {
        let models = modelsDirectory.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: models, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw HubError.modelsDirectoryMissing(path: models)
        }

        let info = try fetchModelInfo()
        let selection = try CheckpointFileSelection.choose(from: info, repo: repo, revision: revision)
        let version = requestedName ?? Self.defaultVersionName(repo: repo, commit: info.sha)
        try Self.validateVersionName(version)
        let destination = models + "/" + version
        guard access(destination, F_OK) != 0 else { throw HubError.versionExists(path: destination) }
        progress(.resolved(repo: repo.value, revision: revision, commit: info.sha, version: version, files: selection.files))

        let modelsFolder = try StagingDirectory.open(path: models)
        let stagingRoot = try modelsFolder.subdirectory(Self.stagingDirectoryName, mode: 0o755, privateToMe: false)
        let lock = try StagingLock(in: stagingRoot, name: "pull-\(version).lock")
        defer { lock.release() }
        let staging = try stagingRoot.subdirectory("pull-\(version)", mode: 0o700, privateToMe: true)
        try prepareStaging(staging, commit: info.sha)

        let downloader = FileDownloader(endpoint: endpoint, repo: repo, commit: info.sha, staging: staging,
                                        settings: settings, progress: progress)
        var files: [DownloadedFile] = []
        for name in selection.files {
            files.append(try downloader.fetch(expectation(for: name, in: info)))
        }
        if case let .sharded(index) = selection.weights {
            guard let data = try staging.read(index) else {
                throw HubError.fileSystem(path: staging.path + "/" + index, operation: "read", reason: "it is missing")
            }
            for shard in try CheckpointFileSelection.shardNames(fromIndex: data, indexName: index) {
                guard info.sibling(named: shard) != nil else {
                    throw HubError.missingShard(repo: repo.value, index: index, shard: shard)
                }
                files.append(try downloader.fetch(expectation(for: shard, in: info)))
            }
        }

        // Only the checkpoint's files go to models/: drop the state file and anything an older run left.
        let keep = Set(files.map(\.name))
        for name in staging.names() where !keep.contains(name) { staging.unlink(name) }
        let source = CheckpointManifest.Source(endpoint: endpoint.base.absoluteString, repo: repo.value,
                                               revision: revision, commit: info.sha)
        let entries = files.map { ($0.name, CheckpointManifest.FileEntry(size: $0.size, sha256: $0.sha256)) }
        let manifest = CheckpointManifest(files: Dictionary(entries, uniquingKeysWith: { first, _ in first }), source: source)
        try staging.writeAtomically(try manifest.encoded(), to: CheckpointManifest.fileName)
        // Readable by the daemon, then published by one rename of the very folder written (not whatever may have
        // been put under its name since).
        try staging.setMode(0o755)
        try staging.sync()
        guard stagingRoot.entry("pull-\(version)", is: staging) else {
            throw HubError.unsafeStaging(path: staging.path, reason: "it was replaced during the pull; nothing was published")
        }
        try DurableFiles.renameNoReplace("pull-\(version)", in: stagingRoot, to: version, in: modelsFolder,
                                         destination: destination)
        try modelsFolder.sync()
        try? stagingRoot.sync()
        progress(.published(version: version, path: destination))
        return PullResult(version: version, path: destination, commit: info.sha, files: files)
    }

    private func fetchModelInfo() throws -> HubModelInfo {
        let url = endpoint.modelInfoURL(repo: repo, revision: revision)
        var attempt = 1
        while true {
            var body = Data()
            let outcome: HTTPTransfer.Outcome
            do {
                outcome = try HTTPTransfer.get(url, headers: ["Accept": "application/json"], endpoint: endpoint,
                                               stallTimeout: settings.stallTimeout) { data in
                    body.append(data)
                    if body.count > 64 << 20 {
                        throw HubError.protocolViolation(url: url.absoluteString, reason: "model info larger than 64 MiB")
                    }
                }
            } catch let HTTPTransfer.Failure.callback(error) {
                throw error
            } catch {
                let failure: HubError = if case HTTPTransfer.Failure.stalled = error {
                    .stalled(url: url.absoluteString, seconds: settings.stallTimeout)
                } else if case let HTTPTransfer.Failure.network(reason) = error {
                    .network(url: url.absoluteString, reason: reason)
                } else {
                    .network(url: url.absoluteString, reason: "\(error)")
                }
                guard attempt < settings.maxAttempts else { throw failure }
                progress(.retrying(item: "model info", attempt: attempt, reason: failure.description))
                attempt += 1
                Thread.sleep(forTimeInterval: min(settings.retryDelay * pow(2, Double(attempt - 2)), 30))
                continue
            }
            let status = outcome.response.statusCode
            if status == 200 { return try HubModelInfo.decode(body, url: url) }
            if HubResponse.isTransient(status), attempt < settings.maxAttempts {
                progress(.retrying(item: "model info", attempt: attempt, reason: "HTTP \(status)"))
                attempt += 1
                Thread.sleep(forTimeInterval: min(settings.retryDelay * pow(2, Double(attempt - 2)), 30))
                continue
            }
            throw HubResponse.error(for: outcome, url: url, repo: repo, revision: revision, file: nil,
                                    hadToken: endpoint.token != nil)
        }
    }

    private func expectation(for name: String, in info: HubModelInfo) -> ExpectedFile {
        info.sibling(named: name).map(ExpectedFile.init) ?? ExpectedFile(name: name)
    }

    /// Reuses the staging folder when it holds the same repository at the same commit; a folder from another
    /// commit (`--name` reused after the revision moved) is emptied first.
    private func prepareStaging(_ staging: StagingDirectory, commit: String) throws {
        let state = PullState(repo: repo.value, commit: commit)
        let previous = (try? staging.read(Self.stateFileName)).flatMap { $0 }
            .flatMap { try? JSONDecoder().decode(PullState.self, from: $0) }
        if previous == state { return }
        try staging.empty()
        try staging.writeAtomically(try JSONEncoder().encode(state), to: Self.stateFileName)
    }

    /// What a staging folder holds, so a rerun knows whether its `.part` files can be continued.
    private struct PullState: Codable, Equatable {
        var repo: String
        var commit: String
    }
}

/// An exclusive `flock` held while a pull uses its staging folder. The kernel drops it when the process dies.
/// The lock file stays behind (unlinking it would let a third pull lock a fresh file while a second one still
/// holds the old inode). It is opened read-only, without following a link, and must be a plain file: whatever
/// name it has, nothing is ever written to it.
private final class StagingLock {
    private var descriptor: Int32
    private let path: String

    init(in folder: StagingDirectory, name: String) throws {
        path = folder.path + "/" + name
        descriptor = try folder.openFile(name, flags: O_RDONLY | O_CREAT, mode: 0o644, operation: "create")
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            Glibc.close(descriptor)
            descriptor = -1
            if code == EWOULDBLOCK { throw HubError.pullInProgress(lock: path) }
            throw HubError.fileSystem(path: path, operation: "lock", reason: String(cString: strerror(code)))
        }
    }

    func release() {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
