import Foundation

/// The part of `GET /api/models/{repo}/revision/{revision}?blobs=True` a pull needs.
///
/// ```json
/// { "id": "cardiffnlp/twitter-roberta-base-sentiment-latest", "sha": "4ba3d4463bd152c9e4abd892b50844f30c646708",
///   "siblings": [ { "rfilename": "config.json", "size": 929, "blobId": "8e0f5d2…" },
///                 { "rfilename": "pytorch_model.bin", "size": 501045531, "blobId": "c4e6e0b…",
///                   "lfs": { "sha256": "c4e6e0b…", "size": 501045531, "pointerSize": 135 } } ] }
/// ```
/// Without `?blobs=True` (or from a mirror that ignores it) siblings carry only `rfilename`; the pull then takes
/// sizes and digests from the file responses' `X-Linked-Size`, `X-Linked-Etag` and `ETag` headers.
public struct HubModelInfo: Decodable, Sendable, Equatable {
    public struct Sibling: Decodable, Sendable, Equatable {
        public var rfilename: String
        public var size: Int64?
        /// Git object id of the file (SHA-1 of `"blob <size>\0" + content`); for LFS files, of the pointer.
        public var blobId: String?
        public var lfs: LFS?

        public init(rfilename: String, size: Int64? = nil, blobId: String? = nil, lfs: LFS? = nil) {
            self.rfilename = rfilename
            self.size = size
            self.blobId = blobId
            self.lfs = lfs
        }
    }

    public struct LFS: Decodable, Sendable, Equatable {
        public var sha256: String
        public var size: Int64

        public init(sha256: String, size: Int64) {
            self.sha256 = sha256
            self.size = size
        }
    }

    /// The commit the revision resolved to; every file is then fetched at this commit.
    public var sha: String
    public var siblings: [Sibling]

    public init(sha: String, siblings: [Sibling]) {
        self.sha = sha
        self.siblings = siblings
    }

    /// Parses and checks the answer; `url` names it in errors.
    public static func decode(_ data: Data, url: URL) throws -> HubModelInfo {
        let info: HubModelInfo
        do {
            info = try JSONDecoder().decode(HubModelInfo.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            let at = (context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")
            throw HubError.protocolViolation(url: url.absoluteString, reason: "model info has no \"\(at)\"")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let at = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw HubError.protocolViolation(url: url.absoluteString, reason: "model info field \"\(at)\" has the wrong type")
        } catch {
            throw HubError.protocolViolation(url: url.absoluteString, reason: "model info is not JSON")
        }
        guard info.sha.count == 40, info.sha.allSatisfy(\.isHexDigit) else {
            throw HubError.protocolViolation(url: url.absoluteString,
                                             reason: "model info \"sha\" is \"\(info.sha)\", not a 40-digit commit id")
        }
        return info
    }

    public func sibling(named name: String) -> Sibling? {
        siblings.first { $0.rfilename == name }
    }
}
