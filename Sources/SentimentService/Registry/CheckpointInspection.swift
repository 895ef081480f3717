import Foundation
import SentimentCore
import SentimentCheckpoint
import SentimentEngine

/// What a validation found: accepted with the digests of every file it read, or rejected with the reason. A
/// validation process writes it as one JSON line on its standard output.
public struct ValidationVerdict: Codable, Sendable, Equatable {
    public var accepted: Bool
    /// Why the version is refused (`accepted == false`).
    public var reason: String?
    /// Every file the validation read, by folder (the adapter's base included).
    public var digests: FolderDigests?
    public var manifestSHA256: String?
    public var family: String?
    public var labels: [String]?

    public static func rejected(_ reason: String) -> ValidationVerdict {
        ValidationVerdict(accepted: false, reason: reason)
    }

    enum CodingKeys: String, CodingKey {
        case accepted, reason, digests
        case manifestSHA256 = "manifest_sha256"
        case family, labels
    }
}

/// The checks a version passes before it is served, all of them, on the files as they are read: the manifest
/// when there is one (the same set of files, sizes, SHA-256), config and tokenizer, every tensor's name, shape
/// and bytes, no NaN or infinite weight, and the probe texts. Runs in the validation process (`ValidationWorker`),
/// or in the registry's own process in tests that have no sentimentd binary.
enum CheckpointInspection {
    /// The checks, in this process. Throws the rejection.
    /// With a manifest, every listed file is hashed and compared before anything is parsed (a truncated copy is
    /// reported by its size first), and the load then reads exactly those bytes (the manifest's digests are its
    /// expectation).
    static func inspect(_ folder: CheckpointFolder,
                        load: (URL, FolderDigests?) throws -> LoadedModel) throws -> (loaded: LoadedModel, manifestSHA256: String?) {
        guard !folder.files.isEmpty else { throw CheckpointRejection.empty(path: folder.url.path) }
        let manifest = try folder.hasManifest ? readManifest(folder) : nil
        var listed: FolderDigests?
        if let manifest {
            // Each listed file hashed through the folder's reader (no FIFO waited on, no link followed out).
            let files = try ModelFolderReader(folder.url)
            var digests: [String: FileDigest] = [:]
            try manifest.manifest.verify(folder) { name in
                let digest = try files.digest(of: name)
                digests[name] = digest
                return digest.sha256
            }
            listed = FolderDigests(files: digests)
        }
        let loaded: LoadedModel
        do {
            loaded = try load(folder.url, listed)
        } catch {
            throw CheckpointRejection.loadFailed(reason: "\(error)")
        }
        do {
            try loaded.model.requireFiniteWeights()
        } catch ModelLoadError.nonFiniteWeights(_, let tensor) {
            throw CheckpointRejection.nonFiniteWeights(path: folder.url.path, tensor: tensor)
        }
        try CheckpointValidator.smokeTest(loaded.model)
        return (loaded, manifest?.sha256)
    }

    /// The verdict for `folder`: never throws, a failure is a rejection with its reason.
    static func verdict(_ folder: CheckpointFolder, load: (URL, FolderDigests?) throws -> LoadedModel) -> ValidationVerdict {
        do {
            let (loaded, manifestSHA256) = try inspect(folder, load: load)
            let config = loaded.model.config
            return ValidationVerdict(accepted: true, digests: loaded.digests, manifestSHA256: manifestSHA256,
                                     family: config.family.rawValue, labels: config.id2label)
        } catch {
            return .rejected("\(error)")
        }
    }

    /// sentimentd.json through the folder reader (a FIFO of that name is refused, never waited on), and its digest.
    private static func readManifest(_ folder: CheckpointFolder) throws -> (manifest: CheckpointManifest, sha256: String) {
        let path = folder.url.appendingPathComponent(CheckpointManifest.fileName).path
        let files: ModelFolderReader
        let data: Data
        do {
            files = try ModelFolderReader(folder.url)
            data = try files.contents(CheckpointManifest.fileName, limit: 16 << 20)
        } catch {
            throw CheckpointRejection.manifestUnreadable(path: path, reason: "\(error)")
        }
        return (try CheckpointManifest.decode(data, path: path), files.digests[CheckpointManifest.fileName]!.sha256)
    }
}
