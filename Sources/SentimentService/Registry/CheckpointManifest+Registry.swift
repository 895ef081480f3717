import Foundation
import SentimentCore
import SentimentCheckpoint
import SentimentEngine

/// The registry's side of `sentimentd.json` (the schema is SentimentCore's `CheckpointManifest`, shared with the
/// hub and the training publisher): the manifest's problems as rejections that name the path, which is what
/// `models.list` shows and SQLite keeps.
extension CheckpointManifest {
    /// Parses the manifest at `url`, checking its shape (not the files it lists). Read through the folder's reader:
    /// a FIFO or a link out of the folder under that name is refused, never waited on.
    static func read(at url: URL) throws -> CheckpointManifest {
        let data: Data
        do {
            data = try ModelFolderReader(url.deletingLastPathComponent()).contents(url.lastPathComponent, limit: 16 << 20)
        } catch {
            throw CheckpointRejection.manifestUnreadable(path: url.path, reason: "\(error)")
        }
        return try decode(data, path: url.path)
    }

    /// Parses manifest bytes read from `path`.
    static func decode(_ data: Data, path: String) throws -> CheckpointManifest {
        do {
            return try decode(data)
        } catch let problem as Problem {
            switch problem {
            case .notJSON: throw CheckpointRejection.manifestUnreadable(path: path, reason: problem.description)
            case let .invalid(field, problem):
                throw CheckpointRejection.manifestInvalid(path: path, field: field, problem: problem)
            }
        }
    }

    /// Checks `folder` against the manifest: the same set of files, each with its size and SHA-256 (`digest`: see
    /// `verify(folder:present:digest:)`).
    func verify(_ folder: CheckpointFolder, digest: ((String) throws -> String)? = nil) throws {
        let manifestPath = folder.url.appendingPathComponent(Self.fileName).path
        func path(_ name: String) -> String { folder.url.appendingPathComponent(name).path }
        do {
            try verify(folder: folder.url,
                       present: Dictionary(folder.files.map { ($0.name, $0.size) }, uniquingKeysWith: { a, _ in a }),
                       digest: digest)
        } catch let mismatch as Mismatch {
            switch mismatch {
            case let .listedFileMissing(name):
                throw CheckpointRejection.manifestListsMissingFile(manifest: manifestPath, file: name)
            case let .unlistedFile(name): throw CheckpointRejection.fileNotInManifest(manifest: manifestPath, file: name)
            case let .size(name, expected, actual):
                throw CheckpointRejection.sizeMismatch(path: path(name), expected: expected, actual: actual)
            case let .digest(name, expected, actual):
                throw CheckpointRejection.digestMismatch(path: path(name), expected: expected, actual: actual)
            case let .unreadable(name, reason): throw CheckpointRejection.unreadable(path: path(name), reason: reason)
            }
        }
    }
}
