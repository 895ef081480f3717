import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// How the hub's error answers map to `HubError`. The hub names the cause in `X-Error-Code` (RepoNotFound,
/// GatedRepo, RevisionNotFound, EntryNotFound) and explains it in `X-Error-Message`; without a token it answers
/// 401 RepoNotFound for private and missing repositories alike.
enum HubResponse {
    /// Statuses worth another attempt after a pause.
    static func isTransient(_ status: Int) -> Bool {
        [408, 429, 500, 502, 503, 504].contains(status)
    }

    static func error(for outcome: HTTPTransfer.Outcome, url: URL, repo: HubRepositoryID, revision: String,
                      file: String?, hadToken: Bool) -> HubError {
        let status = outcome.response.statusCode
        let code = outcome.response.value(forHTTPHeaderField: "X-Error-Code")
        let where_ = url.absoluteString
        switch code {
        case "RepoNotFound": return .repositoryNotFound(repo: repo.value, url: where_, hadToken: hadToken)
        case "GatedRepo": return .unauthorized(repo: repo.value, url: where_, status: status, gated: true, hadToken: hadToken)
        case "RevisionNotFound": return .revisionNotFound(repo: repo.value, revision: revision, url: where_)
        case "EntryNotFound": return .fileNotFound(repo: repo.value, file: file ?? "?", url: where_)
        default: break
        }
        switch status {
        case 401, 403:
            return .unauthorized(repo: repo.value, url: where_, status: status, gated: false, hadToken: hadToken)
        case 404:
            if let file { return .fileNotFound(repo: repo.value, file: file, url: where_) }
            return .repositoryNotFound(repo: repo.value, url: where_, hadToken: hadToken)
        default:
            return .httpStatus(url: where_, status: status, message: message(of: outcome))
        }
    }

    /// `X-Error-Message`, else the body's JSON `"error"`, else a short plain-text body.
    static func message(of outcome: HTTPTransfer.Outcome) -> String? {
        if let header = outcome.response.value(forHTTPHeaderField: "X-Error-Message"), !header.isEmpty { return header }
        if let object = try? JSONSerialization.jsonObject(with: outcome.errorBody) as? [String: Any],
           let text = object["error"] as? String {
            return text
        }
        let text = String(decoding: outcome.errorBody.prefix(300), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty || text.contains("<") ? nil : text
    }

    /// An entity tag without `W/` and quotes, lowercased.
    static func bareETag(_ value: String?) -> String? {
        guard var tag = value?.trimmingCharacters(in: .whitespaces), !tag.isEmpty else { return nil }
        if tag.hasPrefix("W/") { tag.removeFirst(2) }
        return tag.trimmingCharacters(in: CharacterSet(charactersIn: "\"")).lowercased()
    }

    /// `Content-Range: bytes <first>-<last>/<total>` (total may be `*`).
    static func contentRange(_ value: String?) -> (first: Int64, last: Int64, total: Int64?)? {
        guard let value, value.lowercased().hasPrefix("bytes ") else { return nil }
        let spec = value.dropFirst(6).trimmingCharacters(in: .whitespaces)
        let halves = spec.split(separator: "/", maxSplits: 1)
        guard halves.count == 2 else { return nil }
        let bounds = halves[0].split(separator: "-", maxSplits: 1)
        guard bounds.count == 2, let first = Int64(bounds[0]), let last = Int64(bounds[1]), first <= last else { return nil }
        let total = halves[1] == "*" ? nil : Int64(halves[1])
        if halves[1] != "*" && total == nil { return nil }
        return (first, last, total)
    }
}
