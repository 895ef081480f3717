import Foundation
import SentimentCore
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// What the hub says one file must be. From the model info's `siblings` when it has `?blobs=True` data, else
/// filled from the file response's headers on the first download.
struct ExpectedFile: Sendable, Equatable {
    var name: String
    var size: Int64?
    /// LFS files: the SHA-256 of the content.
    var sha256: String?
    /// Non-LFS files: git's blob id, SHA-1 of `"blob <size>\0" + content`.
    var gitBlobSHA1: String?

    init(name: String, size: Int64? = nil, sha256: String? = nil, gitBlobSHA1: String? = nil) {
        self.name = name
        self.size = size
        self.sha256 = sha256?.lowercased()
        self.gitBlobSHA1 = gitBlobSHA1?.lowercased()
    }

    init(_ sibling: HubModelInfo.Sibling) {
        if let lfs = sibling.lfs {
            self.init(name: sibling.rfilename, size: lfs.size, sha256: lfs.sha256)
        } else {
            self.init(name: sibling.rfilename, size: sibling.size, gitBlobSHA1: sibling.blobId)
        }
    }
}

/// A verified file in the staging folder.
public struct DownloadedFile: Sendable, Equatable {
    public var name: String
    public var size: Int64
    public var sha256: String
}

/// Downloads one file of a repository at a fixed commit into the staging folder: `<name>.part`, resumed with
/// `Range: bytes=N-` from whatever an earlier attempt or run left, verified, fsynced and renamed to `<name>`. Every
/// file is opened through the held staging folder, never by path (`StagingDirectory`). A file the hub gives no
/// digest for (no SHA-256, no git blob id, in the model info or the headers) is refused unless
/// `PullSettings.requireDigests` is off (`--no-verify`).
/// A value with no state of its own (the memberwise initialiser builds it).
struct FileDownloader {
    let endpoint: HubEndpoint
    let repo: HubRepositoryID
    let commit: String
    let staging: StagingDirectory
    let settings: PullSettings
    let progress: (PullEvent) -> Void

    /// A failed attempt that another attempt may fix; `error` is what the user sees when none is left.
    private struct Retry: Error {
        var error: HubError
        /// Retry at once (the partial file was the problem, not the network).
        var immediately = false
    }

    func fetch(_ initial: ExpectedFile) throws -> DownloadedFile {
        var expected = initial
        try StagingDirectory.checkName(expected.name)
        let finalName = expected.name
        let partName = finalName + ".part"
        if staging.exists(finalName) {
            // Verified and renamed by an earlier run; hashed again for the manifest (and in case it was touched).
            if let file = try? verify(finalName, against: expected) {
                progress(.fileDone(file: file.name, size: file.size, alreadyPresent: true))
                return file
            }
        }
        var attempt = 1
        while true {
            do {
                try download(&expected, to: partName)
                break
            } catch let retry as Retry {
                guard attempt < settings.maxAttempts else { throw retry.error }
                progress(.retrying(item: expected.name, attempt: attempt, reason: retry.error.description))
                if !retry.immediately {
                    let delay = min(settings.retryDelay * pow(2, Double(attempt - 1)), 30)
                    Thread.sleep(forTimeInterval: delay)
                }
                attempt += 1
            }
        }
        let file = try verify(partName, against: expected)
        try staging.rename(partName, to: finalName)
        try staging.sync()
        progress(.fileDone(file: file.name, size: file.size, alreadyPresent: false))
        return file
    }

    /// One GET; leaves `<name>.part` complete and fsynced, or throws (`Retry` when another attempt may help).
    private func download(_ expected: inout ExpectedFile, to partName: String) throws {
        let part = try PartFile(in: staging, name: partName)
        defer { part.close() }
        if let size = expected.size, part.size > size { try part.truncate() }
        if let size = expected.size, part.size == size {
            try part.syncAndClose()
            return
        }
        let name = expected.name
        let size = expected.size
        let url = endpoint.resolveURL(repo: repo, revision: commit, file: name)
        let resumeAt = part.size
        progress(.fileStarted(file: name, size: size, resumingAt: resumeAt))
        var headers: [String: String] = [:]
        if resumeAt > 0 { headers["Range"] = "bytes=\(resumeAt)-" }

        let outcome: HTTPTransfer.Outcome
        do {
            outcome = try HTTPTransfer.get(url, headers: headers, endpoint: endpoint, stallTimeout: settings.stallTimeout,
                onResponse: { response in
                    switch response.statusCode {
                    case 200:
                        // A full body (the server ignored the range, or none was asked for): start over.
                        if part.size > 0 { try part.truncate() }
                    case 206:
                        let range = HubResponse.contentRange(response.value(forHTTPHeaderField: "Content-Range"))
                        guard let range, range.first == part.size else {
                            throw HubError.protocolViolation(url: url.absoluteString, reason:
                                "206 with Content-Range \"\(response.value(forHTTPHeaderField: "Content-Range") ?? "")\" "
                                + "for a request of bytes \(part.size)-")
                        }
                    default:
                        break
                    }
                },
                onData: { [progress] data in
                    try part.append(data)
                    progress(.fileProgress(file: name, bytes: part.size, size: size))
                })
        } catch HTTPTransfer.Failure.stalled {
            throw Retry(error: .stalled(url: url.absoluteString, seconds: settings.stallTimeout))
        } catch let HTTPTransfer.Failure.network(reason) {
            throw Retry(error: .network(url: url.absoluteString, reason: reason))
        } catch let HTTPTransfer.Failure.callback(error) {
            if case .protocolViolation = error as? HubError {
                try part.truncate()
                throw Retry(error: error as! HubError, immediately: true)
            }
            throw error
        }

        let status = outcome.response.statusCode
        switch status {
        case 200, 206:
            break
        case 416:
            // The partial file is not a prefix the server can continue (longer than the file, or another file).
            try part.truncate()
            throw Retry(error: .protocolViolation(url: url.absoluteString,
                                                  reason: "416 Range Not Satisfiable for bytes \(resumeAt)-"), immediately: true)
        case _ where HubResponse.isTransient(status):
            throw Retry(error: .httpStatus(url: url.absoluteString, status: status, message: HubResponse.message(of: outcome)))
        default:
            throw HubResponse.error(for: outcome, url: url, repo: repo, revision: commit, file: name,
                                    hadToken: endpoint.token != nil)
        }

        if let served = outcome.header("X-Repo-Commit")?.lowercased(), served != commit.lowercased() {
            try part.truncate()
            throw HubError.commitMismatch(file: name, expected: commit, actual: served)
        }
        fillExpectations(&expected, from: outcome)
        if let size = expected.size, part.size < size {
            throw Retry(error: .network(url: url.absoluteString,
                                        reason: "the connection closed after \(part.size) of \(size) bytes"))
        }
        try part.syncAndClose()
    }

    /// Without `?blobs=True` data, the hub's headers give the size and digest: `X-Linked-Size` and
    /// `X-Linked-Etag` (the LFS SHA-256) on the redirect to the CDN, or `ETag` (the git blob id) for other files.
    private func fillExpectations(_ expected: inout ExpectedFile, from outcome: HTTPTransfer.Outcome) {
        if expected.size == nil {
            if let linked = outcome.header("X-Linked-Size").flatMap({ Int64($0) }) {
                expected.size = linked
            } else if outcome.response.statusCode == 206,
                      let total = HubResponse.contentRange(outcome.response.value(forHTTPHeaderField: "Content-Range"))?.total {
                expected.size = total
            } else if outcome.response.statusCode == 200, outcome.response.expectedContentLength >= 0 {
                expected.size = outcome.response.expectedContentLength
            }
        }
        guard expected.sha256 == nil, expected.gitBlobSHA1 == nil else { return }
        let isHex = { (tag: String, count: Int) in tag.count == count && tag.allSatisfy(\.isHexDigit) }
        if let linked = HubResponse.bareETag(outcome.header("X-Linked-Etag")) {
            if isHex(linked, 64) { expected.sha256 = linked }
        } else if let tag = HubResponse.bareETag(outcome.header("ETag")), isHex(tag, 40) {
            expected.gitBlobSHA1 = tag
        }
    }

    /// Size and digest against the hub's; on a mismatch the file is deleted (the next run fetches it afresh).
    private func verify(_ name: String, against expected: ExpectedFile) throws -> DownloadedFile {
        let wantsBlob = expected.sha256 == nil && expected.gitBlobSHA1 != nil
        if expected.sha256 == nil && expected.gitBlobSHA1 == nil && settings.requireDigests {
            staging.unlink(name)
            throw HubError.noDigest(file: expected.name,
                                    url: endpoint.resolveURL(repo: repo, revision: commit, file: expected.name).absoluteString)
        }
        let digests = try staging.digests(name, gitBlob: wantsBlob)
        if let size = expected.size, digests.size != size {
            staging.unlink(name)
            throw HubError.sizeMismatch(file: expected.name, expected: size, actual: digests.size)
        }
        if let sha256 = expected.sha256, digests.sha256 != sha256 {
            staging.unlink(name)
            throw HubError.checksumMismatch(file: expected.name, algorithm: "SHA-256", expected: sha256, actual: digests.sha256)
        }
        if let blob = expected.gitBlobSHA1, let actual = digests.gitBlobSHA1, actual != blob {
            staging.unlink(name)
            throw HubError.checksumMismatch(file: expected.name, algorithm: "git blob SHA-1", expected: blob, actual: actual)
        }
        return DownloadedFile(name: expected.name, size: digests.size, sha256: digests.sha256)
    }
}
