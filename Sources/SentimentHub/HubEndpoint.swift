import Foundation

/// A model repository id as the hub spells it: `name` or `namespace/name`, each part of letters, digits, `-`,
/// `_` and `.`, at most 96 characters, no `--` or `..` (so `/` -> `--` is a safe folder name), not ending in
/// `.git` — the rules of huggingface_hub's `validate_repo_id`.
public struct HubRepositoryID: Sendable, Equatable, CustomStringConvertible {
    public let value: String

    public init(_ value: String) throws {
        let parts = value.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2 else {
            throw HubError.invalidRepositoryID(value, reason: "more than one '/'")
        }
        for part in parts {
            guard !part.isEmpty, part.count <= 96 else {
                throw HubError.invalidRepositoryID(value, reason: "each part must have 1 to 96 characters")
            }
            guard part.unicodeScalars.allSatisfy({ Self.allowed.contains($0) }) else {
                throw HubError.invalidRepositoryID(value, reason: "only letters, digits, '-', '_' and '.' are allowed")
            }
            guard let first = part.unicodeScalars.first, let last = part.unicodeScalars.last,
                  !"-.".unicodeScalars.contains(first), !"-.".unicodeScalars.contains(last) else {
                throw HubError.invalidRepositoryID(value, reason: "a part cannot start or end with '-' or '.'")
            }
        }
        guard !value.contains("--"), !value.contains("..") else {
            throw HubError.invalidRepositoryID(value, reason: "'--' and '..' are not allowed")
        }
        guard !value.hasSuffix(".git") else {
            throw HubError.invalidRepositoryID(value, reason: "it cannot end in .git")
        }
        self.value = value
    }

    public var description: String { value }

    /// The id as one folder name: `cardiffnlp/twitter-roberta-base` -> `cardiffnlp--twitter-roberta-base`.
    public var folderName: String { value.replacingOccurrences(of: "/", with: "--") }

    private static let allowed: Set<Unicode.Scalar> = Set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.".unicodeScalars)
}

/// Where the hub lives and how to reach it: the URL layout of huggingface.co (and of mirrors that copy it).
///
///     {endpoint}/api/models/{repo}/revision/{revision}?blobs=True    model info: sha, siblings with sizes, LFS sha256
///     {endpoint}/{repo}/resolve/{revision}/{path}                    file bytes (LFS files redirect to a CDN)
public struct HubEndpoint: Sendable, Equatable {
    public static let defaultURL = "https://huggingface.co"

    /// Without a trailing slash; may carry a path prefix (a mirror under `https://host/hf`).
    public let base: URL
    /// Sent as `Authorization: Bearer <token>` to the endpoint's own host (never to a redirect target elsewhere).
    public let token: String?

    public init(_ string: String, token: String? = nil) throws {
        var trimmed = string.trimmingCharacters(in: .whitespaces)
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let url = URL(string: trimmed), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              url.host?.isEmpty == false, url.query == nil, url.fragment == nil else {
            throw HubError.invalidEndpoint(string)
        }
        self.base = url
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `--endpoint`, else `HF_ENDPOINT`, else huggingface.co; the token from `HF_TOKEN`.
    public static func fromEnvironment(endpoint: String?, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> HubEndpoint {
        let chosen = endpoint ?? environment["HF_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultURL
        return try HubEndpoint(chosen, token: environment["HF_TOKEN"])
    }

    /// `blobs=True` exactly as huggingface_hub's `model_info(files_metadata=True)` sends it (Python's `True`).
    public func modelInfoURL(repo: HubRepositoryID, revision: String) -> URL {
        url("api/models/\(repo.value)/revision/\(Self.escapeSegment(revision))?blobs=True")
    }

    public func resolveURL(repo: HubRepositoryID, revision: String, file: String) -> URL {
        let path = file.split(separator: "/", omittingEmptySubsequences: false).map { Self.escapeSegment(String($0)) }
        return url("\(repo.value)/resolve/\(Self.escapeSegment(revision))/\(path.joined(separator: "/"))")
    }

    /// Whether a request to `url` may carry the token: same scheme, host and port as the endpoint.
    public func isSameOrigin(_ url: URL) -> Bool {
        url.scheme?.lowercased() == base.scheme?.lowercased() && url.host?.lowercased() == base.host?.lowercased()
            && Self.port(of: url) == Self.port(of: base)
    }

    private func url(_ relative: String) -> URL {
        URL(string: base.absoluteString + "/" + relative)!
    }

    private static func port(of url: URL) -> Int? {
        url.port ?? (url.scheme?.lowercased() == "https" ? 443 : url.scheme?.lowercased() == "http" ? 80 : nil)
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters, so a revision like `refs/pr/1` stays one
    /// path segment (as huggingface_hub's `quote(revision, safe="")`).
    static func escapeSegment(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: unreserved) ?? segment
    }

    private static let unreserved = CharacterSet(charactersIn:
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
}
