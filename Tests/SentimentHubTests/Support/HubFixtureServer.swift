import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
@testable import SentimentHub
import SentimentCore

/// A repository as the fake hub serves it.
struct FixtureRepository {
    let id: String
    let commit: String
    /// Repository-relative path -> bytes.
    let files: [String: Data]
    /// Paths stored in LFS (served through the CDN redirect, listed with `lfs.sha256`).
    let lfs: Set<String>
    /// Digests computed once (the hashers are slow in debug builds).
    let sha256s: [String: String]
    let blobIDs: [String: String]

    init(id: String, commit: String, files: [String: Data], lfs: Set<String>) {
        self.id = id
        self.commit = commit
        self.files = files
        self.lfs = lfs
        sha256s = files.mapValues(Self.sha256)
        blobIDs = files.mapValues(Self.gitBlobID)
    }

    static func sha256(_ data: Data) -> String { SHA256Hasher.hex(of: data) }

    static func gitBlobID(_ data: Data) -> String {
        var hasher = SHA1Hasher.gitBlob(size: Int64(data.count))
        hasher.update(data)
        return hasher.finalizeHex()
    }

    /// The `?blobs=True` model info JSON (or only `rfilename`s without blobs).
    func infoJSON(blobs: Bool) -> Data {
        let siblings: [[String: Any]] = files.keys.sorted().map { path in
            let data = files[path]!
            guard blobs else { return ["rfilename": path] }
            var entry: [String: Any] = ["rfilename": path, "size": data.count]
            if lfs.contains(path) {
                let pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:\(sha256s[path]!)\nsize \(data.count)\n"
                entry["blobId"] = Self.gitBlobID(Data(pointer.utf8))
                entry["lfs"] = ["sha256": sha256s[path]!, "size": data.count, "pointerSize": pointer.utf8.count]
            } else {
                entry["blobId"] = blobIDs[path]!
            }
            return entry
        }
        let object: [String: Any] = ["id": id, "modelId": id, "sha": commit, "private": false, "gated": false,
                                     "siblings": siblings]
        return try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }
}

/// A loopback HTTP/1.1 server (127.0.0.1, port 0) in the hub's URL layout, with failure modes:
///
///     GET /api/models/{repo}/revision/{rev}[?blobs=True]   model info
///     GET /{repo}/resolve/{rev}/{path}                      file; LFS files 302 to /cdn/{sha256} when redirecting
///     GET /cdn/{sha256}                                     LFS bytes (no token needed, like a presigned URL)
///
/// Files honour `Range: bytes=N-` (206, or 416 past the end) unless `ignoreRange`.
@dynamicMemberLookup
final class HubFixtureServer: @unchecked Sendable {
    struct LoggedRequest {
        var method: String
        var uri: String
        var headers: [String: String]  // lowercased names

        var path: String { String(uri.split(separator: "?", maxSplits: 1).first ?? "") }
    }

    private let lock = NSLock()
    private var repositories: [String: FixtureRepository] = [:]
    private var log: [LoggedRequest] = []
    private var cuts: [String: (bytes: Int, times: Int)] = [:]
    private var modes = Modes()

    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var channel: Channel?
    private(set) var port = 0

    var endpointURL: String { "http://127.0.0.1:\(port)" }

    init(repositories: [FixtureRepository]) throws {
        for repository in repositories { self.repositories[repository.id] = repository }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [unowned self] channel in
                channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                    channel.pipeline.addHandler(FixtureHandler(server: self))
                }
            }
        channel = try bootstrap.bind(host: "127.0.0.1", port: 0).wait()
        port = channel!.localAddress!.port!
    }

    func shutdown() {
        try? channel?.close().wait()
        try? group.syncShutdownGracefully()
    }

    // MARK: modes (thread-safe)

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    /// How the server answers; set from a test while requests are served.
    struct Modes {
        var requiredToken: String?
        var redirectLFS = true
        /// Host name the CDN redirect points at: `localhost` makes it another origin than the endpoint.
        var cdnHost = "127.0.0.1"
        /// Paths served with one byte flipped (same size).
        var corrupt: Set<String> = []
        var ignoreRange = false
        var includeBlobs = true
        /// Files are served without ETag and X-Linked-Etag (with `includeBlobs = false`: no digest anywhere).
        var omitDigests = false
        /// Called on the server's thread for every request, before it is answered.
        var onRequest: ((LoggedRequest) -> Void)?
    }

    /// `server.cdnHost = "localhost"` and the like: each mode read and written under the lock.
    subscript<T>(dynamicMember mode: WritableKeyPath<Modes, T>) -> T {
        get { locked { modes[keyPath: mode] } }
        set { locked { modes[keyPath: mode] = newValue } }
    }

    /// The next `times` answers with the bytes of `path` send their full length header, then `bytes` body bytes,
    /// then close the connection.
    func cut(_ path: String, after bytes: Int, times: Int = 1) {
        locked { cuts[path] = (bytes, times) }
    }

    func replaceRepository(_ repository: FixtureRepository) {
        locked { repositories[repository.id] = repository }
    }

    var requests: [LoggedRequest] { locked { log } }

    func clearLog() { locked { log.removeAll() } }

    // MARK: routing

    fileprivate enum Answer {
        case response(status: HTTPResponseStatus, headers: [(String, String)], body: Data)
        /// Full-length headers, then only `prefix` of `body`, then close.
        case cutShort(status: HTTPResponseStatus, headers: [(String, String)], body: Data, prefix: Int)
    }

    fileprivate func answer(_ head: HTTPRequestHead) -> Answer {
        let request = LoggedRequest(method: "\(head.method)", uri: head.uri,
                                    headers: Dictionary(head.headers.map { ($0.name.lowercased(), $0.value) },
                                                        uniquingKeysWith: { a, _ in a }))
        lock.lock()
        log.append(request)
        let hook = modes.onRequest
        lock.unlock()
        hook?(request)

        return locked { route(request) }
    }

    private func route(_ request: LoggedRequest) -> Answer {
        let segments = request.path.split(separator: "/").map { $0.removingPercentEncoding ?? String($0) }
        if segments.count >= 2, segments[0] == "cdn" {
            for repository in repositories.values {
                if let path = repository.lfs.first(where: { repository.sha256s[$0] == segments[1] }) {
                    return serveFile(repository, path, request, extraHeaders: [])
                }
            }
            return error(404, code: "EntryNotFound", "no such object")
        }
        if segments.count >= 6, segments[0] == "api", segments[1] == "models", segments[4] == "revision" {
            let id = "\(segments[2])/\(segments[3])"
            guard let repository = repositories[id] else { return error(404, code: "RepoNotFound", "Repository not found") }
            if let denied = checkToken(request) { return denied }
            guard segments[5] == "main" || segments[5] == repository.commit else {
                return error(404, code: "RevisionNotFound", "Invalid rev id: \(segments[5])")
            }
            let blobs = modes.includeBlobs && request.uri.lowercased().contains("blobs=true")
            return .response(status: .ok, headers: [("Content-Type", "application/json")], body: repository.infoJSON(blobs: blobs))
        }
        if segments.count >= 5, segments[2] == "resolve" {
            let id = "\(segments[0])/\(segments[1])"
            guard let repository = repositories[id] else { return error(404, code: "RepoNotFound", "Repository not found") }
            if let denied = checkToken(request) { return denied }
            guard segments[3] == "main" || segments[3] == repository.commit else {
                return error(404, code: "RevisionNotFound", "Invalid rev id: \(segments[3])")
            }
            let path = segments[4...].joined(separator: "/")
            guard let data = repository.files[path] else { return error(404, code: "EntryNotFound", "Entry not found") }
            var headers = [("X-Repo-Commit", repository.commit)]
            if repository.lfs.contains(path) {
                let sha = repository.sha256s[path]!
                headers += [("X-Linked-Size", "\(data.count)")]
                if !modes.omitDigests { headers += [("X-Linked-Etag", "\"\(sha)\""), ("ETag", "\"\(sha)\"")] }
                if modes.redirectLFS {
                    headers.append(("Location", "http://\(modes.cdnHost):\(port)/cdn/\(sha)"))
                    return .response(status: .found, headers: headers, body: Data())
                }
            } else if !modes.omitDigests {
                headers.append(("ETag", "\"\(repository.blobIDs[path]!)\""))
            }
            return serveFile(repository, path, request, extraHeaders: headers)
        }
        return error(404, code: nil, "not found")
    }

    private func checkToken(_ request: LoggedRequest) -> Answer? {
        guard let token = modes.requiredToken, request.headers["authorization"] != "Bearer \(token)" else { return nil }
        return error(401, code: "GatedRepo", "Access to this model is restricted. You must be authenticated.")
    }

    private func serveFile(_ repository: FixtureRepository, _ path: String, _ request: LoggedRequest,
                           extraHeaders: [(String, String)]) -> Answer {
        var data = repository.files[path]!
        if modes.corrupt.contains(path), !data.isEmpty {
            let middle = data.startIndex + data.count / 2
            data[middle] ^= 0xFF
        }
        var status = HTTPResponseStatus.ok
        var headers = extraHeaders + [("Accept-Ranges", "bytes")]
        var body = data
        if !modes.ignoreRange, let range = request.headers["range"], range.hasPrefix("bytes="),
           let start = Int(range.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)[0]) {
            guard start < data.count else {
                return .response(status: .rangeNotSatisfiable, headers: [("Content-Range", "bytes */\(data.count)")], body: Data())
            }
            status = .partialContent
            headers.append(("Content-Range", "bytes \(start)-\(data.count - 1)/\(data.count)"))
            body = data.subdata(in: start..<data.count)
        }
        if let cut = cuts[path], cut.times > 0 {
            cuts[path] = cut.times == 1 ? nil : (cut.bytes, cut.times - 1)
            return .cutShort(status: status, headers: headers, body: body, prefix: min(cut.bytes, body.count))
        }
        return .response(status: status, headers: headers, body: body)
    }

    private func error(_ status: Int, code: String?, _ message: String) -> Answer {
        var headers = [("Content-Type", "application/json"), ("X-Error-Message", message)]
        if let code { headers.append(("X-Error-Code", code)) }
        let body = try! JSONSerialization.data(withJSONObject: ["error": message])
        return .response(status: HTTPResponseStatus(statusCode: status), headers: headers, body: body)
    }
}

private final class FixtureHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: HubFixtureServer
    private var head: HTTPRequestHead?

    init(server: HubFixtureServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(context: context, head: head, answer: server.answer(head))
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, answer: HubFixtureServer.Answer) {
        switch answer {
        case let .response(status, headers, body):
            var fields = HTTPHeaders(headers)
            fields.replaceOrAdd(name: "Content-Length", value: "\(body.count)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: fields))),
                          promise: nil)
            if head.method != .HEAD, !body.isEmpty {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        case let .cutShort(status, headers, body, prefix):
            var fields = HTTPHeaders(headers)
            fields.replaceOrAdd(name: "Content-Length", value: "\(body.count)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: fields))),
                          promise: nil)
            let partial = context.channel.allocator.buffer(bytes: body.prefix(prefix))
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(partial)))).whenComplete { _ in
                channel.close(promise: nil)
            }
        }
    }
}
