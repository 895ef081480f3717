import Foundation

/// `models/<version>/sentimentd.json`: one schema for everyone who publishes a checkpoint (the hub's pull, the
/// training worker, `sentimentd finetune`) and for the registry, which checks it before loading.
///
/// ```json
/// { "format": "sentimentd-checkpoint/1",
///   "files": { "config.json": { "size": 712, "sha256": "9f86d0…" }, "model.safetensors": { … }, … },
///   "parent": "run-11", "run": 12, "data_fingerprint": "…", "metrics": { "macro_f1": 0.71 },
///   "source": { "endpoint": "https://huggingface.co", "repo": "cardiffnlp/…", "revision": "main", "commit": "4ba3d44…" } }
/// ```
/// Only `files` is required; a training run fills `parent`, `run`, `data_fingerprint` and `metrics`, a pull fills
/// `source`. Unknown keys are ignored, so a newer writer's extra fields do not make a folder unreadable. A folder
/// with a manifest is served only if every listed file exists with that size and digest and every (non-dot) file
/// of the folder is listed (`verify`). The manifest is written last: its presence says the folder is complete.
public struct CheckpointManifest: Codable, Sendable, Equatable {
    public struct FileEntry: Codable, Sendable, Equatable {
        public var size: Int64
        public var sha256: String
        public init(size: Int64, sha256: String) {
            self.size = size
            self.sha256 = sha256
        }
    }

    /// Where a pulled checkpoint came from.
    public struct Source: Codable, Sendable, Equatable {
        public var endpoint: String
        public var repo: String
        public var revision: String
        public var commit: String
        public init(endpoint: String, repo: String, revision: String, commit: String) {
            self.endpoint = endpoint
            self.repo = repo
            self.revision = revision
            self.commit = commit
        }
    }

    public static let currentFormat = "sentimentd-checkpoint/1"
    public static let fileName = ModelFolderLayout.manifest

    public var format: String?
    public var files: [String: FileEntry]
    public var parent: String?
    public var run: Int?
    public var dataFingerprint: String?
    public var metrics: [String: Double]?
    public var source: Source?

    enum CodingKeys: String, CodingKey {
        case format, files, parent, run
        case dataFingerprint = "data_fingerprint"
        case metrics, source
    }

    public init(files: [String: FileEntry], parent: String? = nil, run: Int? = nil, dataFingerprint: String? = nil,
                metrics: [String: Double]? = nil, source: Source? = nil) {
        self.format = Self.currentFormat
        self.files = files
        self.parent = parent
        self.run = run
        self.dataFingerprint = dataFingerprint
        self.metrics = metrics
        self.source = source
    }

    // MARK: Reading

    /// What is wrong with a manifest's bytes (not with the files it lists: see `Mismatch`).
    public enum Problem: Error, Equatable, CustomStringConvertible {
        case notJSON
        /// `field` is a dotted path (`files.config.json.sha256`).
        case invalid(field: String, problem: String)

        public var description: String {
            switch self {
            case .notJSON: return "not valid JSON"
            case let .invalid(field, problem): return "field \"\(field)\" \(problem)"
            }
        }
    }

    /// Parses a manifest and checks its shape (not the files it lists).
    public static func decode(_ data: Data) throws -> CheckpointManifest {
        let manifest: CheckpointManifest
        func path(_ context: DecodingError.Context, _ last: CodingKey? = nil) -> String {
            (context.codingPath.map(\.stringValue) + (last.map { [$0.stringValue] } ?? [])).joined(separator: ".")
        }
        do {
            manifest = try JSONDecoder().decode(CheckpointManifest.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw Problem.invalid(field: path(context, key), problem: "is missing")
        } catch let DecodingError.typeMismatch(_, context) {
            throw Problem.invalid(field: path(context), problem: "has the wrong type")
        } catch let DecodingError.valueNotFound(_, context) {
            throw Problem.invalid(field: path(context), problem: "is null")
        } catch {
            throw Problem.notJSON
        }
        if let format = manifest.format, format != currentFormat {
            throw Problem.invalid(field: "format", problem: "is \"\(format)\", expected \"\(currentFormat)\"")
        }
        if manifest.files.isEmpty { throw Problem.invalid(field: "files", problem: "lists no file") }
        for (name, entry) in manifest.files {
            if !ModelFolderLayout.isPlainFileName(name) || name == fileName {
                throw Problem.invalid(field: "files",
                                      problem: "names \"\(name)\", which is not a plain file name of the folder")
            }
            let hex = entry.sha256.lowercased()
            if hex.count != 64 || !hex.allSatisfy({ $0.isHexDigit }) {
                throw Problem.invalid(field: "files.\(name).sha256", problem: "is not 64 hexadecimal digits")
            }
            if entry.size < 0 { throw Problem.invalid(field: "files.\(name).size", problem: "is negative") }
        }
        return manifest
    }

    // MARK: Checking a folder against it

    /// How a folder differs from its manifest.
    public enum Mismatch: Error, Equatable {
        case listedFileMissing(String)
        case unlistedFile(String)
        case size(file: String, expected: Int64, actual: Int64)
        case digest(file: String, expected: String, actual: String)
        case unreadable(file: String, reason: String)
    }

    /// Checks a folder's files (`present`: name -> size, the manifest itself and dot-files left out by the
    /// caller or ignored here) against the manifest: the same set of files, each with its size and SHA-256.
    /// Sizes are compared first, so a truncated file is reported without hashing the rest. `digest` gives a listed
    /// file's SHA-256 (default: the file at its path, read to the end).
    public func verify(folder: URL, present: [String: Int64], digest: ((String) throws -> String)? = nil) throws {
        for name in files.keys.sorted() where present[name] == nil { throw Mismatch.listedFileMissing(name) }
        for name in present.keys.sorted() where name != Self.fileName && files[name] == nil {
            throw Mismatch.unlistedFile(name)
        }
        let listed = files.sorted(by: { $0.key < $1.key })
        for (name, entry) in listed where present[name]! != entry.size {
            throw Mismatch.size(file: name, expected: entry.size, actual: present[name]!)
        }
        for (name, entry) in listed {
            let actual: String
            do {
                actual = try digest?(name) ?? SHA256Hasher.hex(ofFileAt: folder.appendingPathComponent(name))
            } catch {
                throw Mismatch.unreadable(file: name, reason: error.localizedDescription)
            }
            if actual != entry.sha256.lowercased() {
                throw Mismatch.digest(file: name, expected: entry.sha256.lowercased(), actual: actual)
            }
        }
    }

    // MARK: Writing

    /// Size and SHA-256 of every regular, non-dot file at the top of `folder` but the manifest.
    public static func entries(hashingFilesIn folder: URL) throws -> [String: FileEntry] {
        var entries: [String: FileEntry] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path)
        where ModelFolderLayout.isPlainFileName(name) && name != fileName {
            let url = folder.appendingPathComponent(name)
            let values = try url.resourceValues(forKeys: [.isRegularFileKey])
            guard values.isRegularFile == true else { continue }
            let digests = try FileDigests.of(fileAt: url.path, gitBlob: false)
            entries[name] = FileEntry(size: digests.size, sha256: digests.sha256)
        }
        return entries
    }

    /// Stable bytes: pretty, key-sorted, slashes unescaped.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Writes this manifest as `folder/sentimentd.json` atomically (temporary name, fsync, rename, fsync of the
    /// folder). Call it last, after every other file is complete and synced.
    public func write(into folder: URL) throws {
        try AtomicFile.write(try encoded(), to: folder.appendingPathComponent(Self.fileName))
    }

    /// The training publisher's step: hashes every file of `folder` and writes the manifest there.
    @discardableResult
    public static func write(into folder: URL, parent: String? = nil, run: Int? = nil, dataFingerprint: String? = nil,
                             metrics: [String: Double]? = nil, source: Source? = nil) throws -> CheckpointManifest {
        let manifest = CheckpointManifest(files: try entries(hashingFilesIn: folder), parent: parent, run: run,
                                          dataFingerprint: dataFingerprint, metrics: metrics, source: source)
        try manifest.write(into: folder)
        return manifest
    }
}
