import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `models/<version>/sentimentd.json`: written last by whoever publishes a checkpoint (the training worker), it
/// lists every file of the folder with its size and SHA-256, plus where the checkpoint came from.
///
/// ```json
/// { "format": "sentimentd-checkpoint/1",
///   "files": { "config.json": { "size": 712, "sha256": "9f86d0…" }, "model.safetensors": { … }, … },
///   "parent": "run-11", "run": 12, "data_fingerprint": "…", "metrics": { "macro_f1": 0.71 } }
/// ```
/// Only `files` is required. A folder with a manifest is accepted only if every listed file exists with that
/// size and digest and every (non-dot) file of the folder is listed.
public struct CheckpointManifest: Codable, Sendable, Equatable {
    public struct FileEntry: Codable, Sendable, Equatable {
        public var size: Int64
        public var sha256: String
        public init(size: Int64, sha256: String) {
            self.size = size
            self.sha256 = sha256
        }
    }

    public static let currentFormat = "sentimentd-checkpoint/1"

    public var format: String?
    public var files: [String: FileEntry]
    public var parent: String?
    public var run: Int?
    public var dataFingerprint: String?
    public var metrics: [String: Double]?

    enum CodingKeys: String, CodingKey {
        case format, files, parent, run
        case dataFingerprint = "data_fingerprint"
        case metrics
    }

    public init(files: [String: FileEntry], parent: String? = nil, run: Int? = nil, dataFingerprint: String? = nil,
                metrics: [String: Double]? = nil) {
        self.format = Self.currentFormat
        self.files = files
        self.parent = parent
        self.run = run
        self.dataFingerprint = dataFingerprint
        self.metrics = metrics
    }

    /// Parses the manifest at `url`, checking its shape (not the files it lists).
    public static func read(at url: URL) throws -> CheckpointManifest {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw CheckpointRejection.manifestUnreadable(path: url.path, reason: error.localizedDescription)
        }
        let manifest: CheckpointManifest
        do {
            manifest = try JSONDecoder().decode(CheckpointManifest.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            let at = (context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")
            throw CheckpointRejection.manifestInvalid(path: url.path, field: at, problem: "is missing")
        } catch let DecodingError.typeMismatch(_, context) {
            throw CheckpointRejection.manifestInvalid(path: url.path, field: context.codingPath.map(\.stringValue)
                .joined(separator: "."), problem: "has the wrong type")
        } catch let DecodingError.valueNotFound(_, context) {
            throw CheckpointRejection.manifestInvalid(path: url.path, field: context.codingPath.map(\.stringValue)
                .joined(separator: "."), problem: "is null")
        } catch {
            throw CheckpointRejection.manifestUnreadable(path: url.path, reason: "not valid JSON")
        }
        if let format = manifest.format, format != currentFormat {
            throw CheckpointRejection.manifestInvalid(path: url.path, field: "format",
                                                      problem: "is \"\(format)\", expected \"\(currentFormat)\"")
        }
        if manifest.files.isEmpty {
            throw CheckpointRejection.manifestInvalid(path: url.path, field: "files", problem: "lists no file")
        }
        for (name, entry) in manifest.files {
            if name.isEmpty || name.contains("/") || name.hasPrefix(".") || name == manifestName {
                throw CheckpointRejection.manifestInvalid(
                    path: url.path, field: "files", problem: "names \"\(name)\", which is not a plain file name of the folder")
            }
            let hex = entry.sha256.lowercased()
            if hex.count != 64 || !hex.allSatisfy({ $0.isHexDigit }) {
                throw CheckpointRejection.manifestInvalid(path: url.path, field: "files.\(name).sha256",
                                                          problem: "is not 64 hexadecimal digits")
            }
            if entry.size < 0 {
                throw CheckpointRejection.manifestInvalid(path: url.path, field: "files.\(name).size", problem: "is negative")
            }
        }
        return manifest
    }

    static let manifestName = CheckpointFolder.manifestName

    /// Checks `folder` against the manifest: the same set of files, each with its size and SHA-256.
    /// Sizes are compared first, so a truncated file is reported without hashing the rest.
    public func verify(_ folder: CheckpointFolder) throws {
        let manifestPath = folder.url.appendingPathComponent(Self.manifestName).path
        let present = Dictionary(folder.files.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in files.keys.sorted() where present[name] == nil {
            throw CheckpointRejection.manifestListsMissingFile(manifest: manifestPath, file: name)
        }
        for file in folder.files where file.name != Self.manifestName && files[file.name] == nil {
            throw CheckpointRejection.fileNotInManifest(manifest: manifestPath, file: file.name)
        }
        for (name, entry) in files.sorted(by: { $0.key < $1.key }) where present[name]!.size != entry.size {
            throw CheckpointRejection.sizeMismatch(path: folder.url.appendingPathComponent(name).path,
                                                   expected: entry.size, actual: present[name]!.size)
        }
        for (name, entry) in files.sorted(by: { $0.key < $1.key }) {
            let url = folder.url.appendingPathComponent(name)
            let actual: String
            do {
                actual = try SHA256Digest.hex(ofFileAt: url)
            } catch {
                throw CheckpointRejection.unreadable(path: url.path, reason: error.localizedDescription)
            }
            if actual != entry.sha256.lowercased() {
                throw CheckpointRejection.digestMismatch(path: url.path, expected: entry.sha256.lowercased(), actual: actual)
            }
        }
    }

    /// Hashes every (non-dot) file of `folder` and writes the manifest there: temporary name, fsync, rename,
    /// fsync of the folder. Call it last, after every other file is complete and synced.
    @discardableResult
    public static func write(into folder: URL, parent: String? = nil, run: Int? = nil, dataFingerprint: String? = nil,
                             metrics: [String: Double]? = nil) throws -> CheckpointManifest {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { !$0.hasPrefix(".") && $0 != manifestName }
        var entries: [String: FileEntry] = [:]
        for name in names {
            let url = folder.appendingPathComponent(name)
            let values = try url.resourceValues(forKeys: [.isRegularFileKey, .fileSizeKey])
            guard values.isRegularFile == true else { continue }
            entries[name] = FileEntry(size: Int64(values.fileSize ?? 0), sha256: try SHA256Digest.hex(ofFileAt: url))
        }
        let manifest = CheckpointManifest(files: entries, parent: parent, run: run, dataFingerprint: dataFingerprint,
                                          metrics: metrics)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeDurably(try encoder.encode(manifest), to: folder.appendingPathComponent(manifestName))
        return manifest
    }

    static func writeDurably(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary.path])
        }
        let handle = try FileHandle(forWritingTo: temporary)
        do {
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path, NSLocalizedDescriptionKey: reason])
        }
        let directory = open(url.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }
}
