import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `sentimentd.json` of a pulled checkpoint. Same JSON shape as the registry's `CheckpointManifest`
/// (SentimentService, which sentimentctl cannot import): `format`, and `files` with the size and SHA-256 of every
/// other file of the folder, which the registry verifies before it loads the checkpoint. `source` records where
/// the files came from; the registry's decoder ignores keys it does not know.
///
/// ```json
/// { "format": "sentimentd-checkpoint/1",
///   "files": { "config.json": { "sha256": "…", "size": 929 }, "pytorch_model.bin": { … }, … },
///   "source": { "endpoint": "https://huggingface.co", "repo": "cardiffnlp/twitter-roberta-base-sentiment-latest",
///               "revision": "main", "commit": "4ba3d44…" } }
/// ```
public struct PullManifest: Codable, Sendable, Equatable {
    public struct FileEntry: Codable, Sendable, Equatable {
        public var size: Int64
        public var sha256: String
    }

    public struct Source: Codable, Sendable, Equatable {
        public var endpoint: String
        public var repo: String
        public var revision: String
        public var commit: String
    }

    /// Must equal `CheckpointManifest.currentFormat`.
    public static let format = "sentimentd-checkpoint/1"
    /// Must equal `CheckpointFolder.manifestName`.
    public static let fileName = "sentimentd.json"

    public var format: String
    public var files: [String: FileEntry]
    public var source: Source

    public init(files: [DownloadedFile], source: Source) {
        self.format = Self.format
        self.files = Dictionary(files.map { ($0.name, FileEntry(size: $0.size, sha256: $0.sha256)) },
                                uniquingKeysWith: { first, _ in first })
        self.source = source
    }

    /// Writes `sentimentd.json` into `folder`: temporary dot-name, fsync, rename, fsync of the folder.
    public func write(into folder: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try Self.writeDurably(try encoder.encode(self), to: folder + "/" + Self.fileName, staging: folder)
    }

    static func writeDurably(_ data: Data, to path: String, staging: String) throws {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().path + "/.\(url.lastPathComponent).tmp-\(getpid())"
        let file = try PartFile(path: temporary, staging: staging)
        do {
            try file.truncate()
            try file.append(data)
            try file.syncAndClose()
        } catch {
            file.close()
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw HubError.fileSystem(path: path, operation: "rename \(temporary) to", reason: reason)
        }
        try DurableFiles.fsyncDirectory(url.deletingLastPathComponent().path)
    }
}
