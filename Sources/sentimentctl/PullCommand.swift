import ArgumentParser
import Foundation
import SentimentHub
#if canImport(Glibc)
import Glibc
#endif

struct PullCommand: ParsableCommand {
    static let defaultModels = "/var/lib/sentimentd/models"

    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Download a Hugging Face model folder into the models directory (resumable, verified, atomic).",
        discussion: """
        Fetches config.json, the PyTorch weights (model.safetensors, else pytorch_model.bin, or their shards) and \
        the tokenizer files of a hub repository at one commit, checks every file against the hub's size and \
        SHA-256 (LFS) or git blob id, writes the sentimentd.json manifest and publishes the folder with one rename \
        as models/<version>, where a running sentimentd picks it up. Nothing else of the repository (TensorFlow, \
        Flax, ONNX, README) is downloaded.

        Files land in <models>/.staging/pull-<version>/ first. An interrupted pull (Ctrl-C, lost network, full \
        disk) keeps what it downloaded there; running the same command again resumes it. That folder is created \
        by the user who pulls, mode 0700, and every file in it is opened without following links: a pull run by \
        root refuses a staging folder it does not own, or a link where a folder or file should be, so whoever \
        may write the models directory cannot turn it onto other files.

        Only https endpoints unless --insecure; only files the hub gives a SHA-256 or git blob id for (in the \
        model info or the download's headers) unless --no-verify.

        The version name is --name, else <namespace>--<name>-<first 7 digits of the commit>. An existing version \
        is never overwritten.

        Environment:
          HF_ENDPOINT         hub URL when --endpoint is not given (default \(HubEndpoint.defaultURL))
          HF_TOKEN            access token for gated or private repositories, sent as a Bearer token
          SENTIMENTD_MODELS   models directory when --models is not given (default \(defaultModels))

        Exit codes: 0 published, 1 the download failed (the message says why), 2 usage error.
        """
    )

    @Argument(help: ArgumentHelp("Hub repository id.", valueName: "namespace/name"))
    var repo: String

    @Option(name: .long, help: ArgumentHelp("Branch, tag or commit to download.", valueName: "revision"))
    var revision: String = "main"

    @Option(name: .long, help: ArgumentHelp("The daemon's models directory.", valueName: "dir"), completion: .directory)
    var models: String?

    @Option(name: .long, help: ArgumentHelp("Version name to publish under.", valueName: "version"))
    var name: String?

    @Option(name: .long, help: ArgumentHelp("Hub URL (a mirror or a test server).", valueName: "url"))
    var endpoint: String?

    @Flag(name: .shortAndLong, help: "Print only the published path.")
    var quiet = false

    @Flag(name: .long, help: "Allow an http:// endpoint (the files and their checksums could be changed on the way).")
    var insecure = false

    @Flag(name: .customLong("no-verify"), help: "Accept files the hub gives no SHA-256 or git blob id for.")
    var noVerify = false

    var modelsDirectory: String {
        if let models { return models }
        if let env = ProcessInfo.processInfo.environment["SENTIMENTD_MODELS"], !env.isEmpty { return env }
        return Self.defaultModels
    }

    func run() throws {
        let pull: ModelPull
        let progress = PullProgressLine(quiet: quiet)
        do {
            pull = try ModelPull(repo: HubRepositoryID(repo), revision: revision,
                                 modelsDirectory: URL(fileURLWithPath: modelsDirectory, isDirectory: true),
                                 name: name, endpoint: HubEndpoint.fromEnvironment(endpoint: endpoint),
                                 settings: PullSettings(allowInsecureHTTP: insecure, requireDigests: !noVerify),
                                 progress: progress.handle)
        } catch {
            throw CtlFailure.usage(Self.message(error))
        }
        let interrupt = Self.reportInterruption(staging: modelsDirectory + "/" + ModelPull.stagingDirectoryName)
        defer { interrupt.cancel() }
        do {
            let result = try pull.run()
            progress.finish()
            print(result.path)
        } catch {
            progress.finish()
            FileHandle.standardError.write(Data("sentimentctl pull: \(Self.message(error))\n".utf8))
            throw ExitCode(1)
        }
    }

    /// The pull's message, then on a line of its own the flag that changes the setting it names (the library says
    /// the setting, this command its flag).
    static func message(_ error: Error) -> String {
        guard let setting = (error as? HubError)?.setting else { return "\(error)" }
        let hint: String
        switch setting {
        case .endpoint: hint = "give the hub's URL with --endpoint (or HF_ENDPOINT)"
        case .revision: hint = "choose the revision with --revision"
        case .modelsDirectory: hint = "name the models directory with --models DIR"
        case .versionName: hint = "choose the version name with --name"
        case .requireDigests: hint = "pass --no-verify to accept unverified files"
        case .allowInsecureHTTP: hint = "pass --insecure to allow plain http"
        }
        return "\(error)\n\(hint)"
    }

    /// Ctrl-C ends the pull at once (the partial files are safe to resume); say so instead of dying mid-line.
    private static func reportInterruption(staging: String) -> DispatchSourceSignal {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler {
            FileHandle.standardError.write(Data(
                "\nsentimentctl pull: interrupted; the partial download is kept in \(staging), run the same command to resume\n".utf8))
            _exit(130)
        }
        source.resume()
        return source
    }
}

/// The pull's progress on stderr: one line redrawn in place on a terminal, a line per file otherwise.
final class PullProgressLine: @unchecked Sendable {
    private let quiet: Bool
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private let lock = NSLock()
    private var fileStart = Date()
    private var startBytes: Int64 = 0
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(quiet: Bool) { self.quiet = quiet }

    func handle(_ event: PullEvent) {
        guard !quiet else { return }
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case let .resolved(repo, revision, commit, version, files):
            line("\(repo) at \(revision) is commit \(commit); fetching \(files.joined(separator: ", ")) as \(version)")
        case let .fileStarted(file, size, resumingAt):
            fileStart = Date()
            startBytes = resumingAt
            if !isTerminal && resumingAt > 0 {
                line("  \(file): resuming at \(Self.bytes(resumingAt)) of \(size.map(Self.bytes) ?? "?")")
            }
        case let .fileProgress(file, bytes, size):
            let now = Date()
            guard isTerminal, now.timeIntervalSince(lastDraw) >= 0.1 else { return }
            lastDraw = now
            let elapsed = max(now.timeIntervalSince(fileStart), 0.001)
            let rate = Double(bytes - startBytes) / elapsed
            var text = "  \(file)  \(Self.bytes(bytes))"
            if let size, size > 0 { text += " / \(Self.bytes(size))  \(Int(Double(bytes) * 100 / Double(size)))%" }
            text += "  \(Self.bytes(Int64(rate)))/s"
            FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
            drawn = true
        case let .retrying(file, attempt, reason):
            line("  \(file): attempt \(attempt) failed (\(reason)); retrying")
        case let .fileDone(file, size, alreadyPresent):
            let elapsed = Date().timeIntervalSince(fileStart)
            let detail = alreadyPresent ? "already downloaded"
                : "\(Self.bytes(size)) in \(String(format: "%.1f", elapsed)) s"
            line("  \(file) verified (\(detail))")
        case let .published(version, path):
            line("published \(version) at \(path)")
        }
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)); drawn = false }
    }

    private func line(_ text: String) {
        let prefix = drawn ? "\r\u{1B}[K" : ""
        drawn = false
        FileHandle.standardError.write(Data((prefix + text + "\n").utf8))
    }

    static func bytes(_ count: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(count)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
        return unit == 0 ? "\(count) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
