import Foundation
import SentimentCheckpoint
import SentimentEngine
import SentimentCore

/// Why an adapter's base cannot be found.
enum BaseResolutionError: Error, CustomStringConvertible, Equatable {
    case notFound(adapter: String, base: String, searched: [String])

    var description: String {
        switch self {
        case let .notFound(adapter, base, searched):
            return "\(adapter): its base \"\(base)\" (adapter_config.json base_model_name_or_path) is not a folder in "
                + searched.joined(separator: ", ") + " (put the base model there, or list its folder in models.base_directories)"
        }
    }
}

/// The files a load read, with their digests: the version folder's, and an adapter's base folder's.
public struct FolderDigests: Codable, Sendable, Equatable {
    public var files: [String: FileDigest]
    /// An adapter's base: the folder it was loaded from, and its files.
    public var baseFolder: String?
    public var baseFiles: [String: FileDigest]?

    public init(files: [String: FileDigest], baseFolder: String? = nil, baseFiles: [String: FileDigest]? = nil) {
        self.files = files
        self.baseFolder = baseFolder
        self.baseFiles = baseFiles
    }

    /// As kept in the database (`model_version.file_digests`).
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    public init?(json: String?) {
        guard let json, let value = try? JSONDecoder().decode(FolderDigests.self, from: Data(json.utf8)) else { return nil }
        self = value
    }
}

/// A model and the digests of the files it was loaded from.
public struct LoadedModel: Sendable {
    public let model: SentimentModel
    public let digests: FolderDigests

    public init(model: SentimentModel, digests: FolderDigests) {
        self.model = model
        self.digests = digests
    }
}

/// Loads what the registry serves: a Hugging Face model folder, or a PEFT LoRA adapter folder over a base.
///
/// Bases are loaded once and kept (strongly) while their files are unchanged, so activating or rolling back
/// between adapters over one base never re-reads or duplicates the base weights: each adapter costs only its
/// own tensors. A base whose files change (size or modification time) is loaded again for the next adapter.
public final class ModelLoader: @unchecked Sendable {
    let modelsDirectory: URL
    let baseDirectories: [URL]
    private let lock = NSLock()
    private var bases: [String: (stamp: String, base: BaseModel, digests: [String: FileDigest])] = [:]
    /// How many times a base folder was read from disk (tests and status).
    private(set) var baseLoads = 0

    public init(modelsDirectory: URL, baseDirectories: [URL]) {
        self.modelsDirectory = modelsDirectory
        self.baseDirectories = baseDirectories
    }

    public func load(_ folder: URL, options: ModelLoadOptions = .init()) throws -> SentimentModel {
        try load(folder, options: options, expecting: nil).model
    }

    /// Loads `folder` reading every file once (`ModelFolderReader`), and returns the digests of what it read.
    /// With `expected` digests (a validation's), a file whose bytes differ is refused; an adapter's base is then
    /// loaded from the folder the validation used, and reloaded if the copy in memory is not those bytes.
    public func load(_ folder: URL, options: ModelLoadOptions = .init(), expecting expected: FolderDigests?) throws -> LoadedModel {
        let files = try ModelFolderReader(folder, expected: expected?.files)
        guard files.exists(AdapterFolder.configFile) else {
            let model = try SentimentModel.load(files, options: options)
            return LoadedModel(model: model, digests: FolderDigests(files: files.digests))
        }
        let config = try AdapterFolder.readConfig(files)
        let baseFolder = try expected?.baseFolder.map { URL(fileURLWithPath: $0) }
            ?? resolveBase(config.baseModelNameOrPath ?? "", adapter: folder)
        let (base, baseDigests) = try base(at: baseFolder, expecting: expected?.baseFiles)
        let model = try SentimentModel.load(adapter: files, base: base, options: options)
        return LoadedModel(model: model, digests: FolderDigests(files: files.digests, baseFolder: baseFolder.path,
                                                                baseFiles: baseDigests))
    }

    /// Where `name` (base_model_name_or_path) lives: an absolute path; a folder of that name (or of its last
    /// component, so "sentence-transformers/all-MiniLM-L6-v2" finds "all-MiniLM-L6-v2") in one of the base
    /// directories, then in the models directory itself.
    public func resolveBase(_ name: String, adapter: URL) throws -> URL {
        let fm = FileManager.default
        func isModel(_ url: URL) -> Bool { fm.fileExists(atPath: url.appendingPathComponent(ModelFolderLayout.config).path) }
        if name.hasPrefix("/") {
            let url = URL(fileURLWithPath: name)
            if isModel(url) { return url }
            throw BaseResolutionError.notFound(adapter: adapter.path, base: name, searched: [name])
        }
        let trimmed = name.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        var candidates: [String] = []
        if !trimmed.isEmpty && !trimmed.split(separator: "/").contains("..") { candidates.append(trimmed) }
        if let last = trimmed.split(separator: "/").last.map(String.init), !last.isEmpty, last != "..", !candidates.contains(last) {
            candidates.append(last)
        }
        let roots = baseDirectories + [modelsDirectory]
        for root in roots {
            for candidate in candidates {
                let url = root.appendingPathComponent(candidate)
                if url.standardizedFileURL.path != adapter.standardizedFileURL.path && isModel(url) { return url }
            }
        }
        throw BaseResolutionError.notFound(adapter: adapter.path, base: name, searched: roots.map(\.path))
    }

    /// The shared base at `folder`, loaded on first use or when its files changed.
    func base(at folder: URL) throws -> BaseModel {
        try base(at: folder, expecting: nil).base
    }

    /// The shared base and the digests of its files; loaded again when its files changed, or when `expected`
    /// digests differ from those of the copy in memory.
    func base(at folder: URL, expecting expected: [String: FileDigest]?) throws -> (base: BaseModel, digests: [String: FileDigest]) {
        let key = folder.standardizedFileURL.resolvingSymlinksInPath().path
        let stamp = Self.stamp(of: folder)
        func usable(_ cached: (stamp: String, base: BaseModel, digests: [String: FileDigest])?) -> Bool {
            guard let cached, cached.stamp == stamp else { return false }
            return expected == nil || expected == cached.digests
        }
        lock.lock()
        if let cached = bases[key], usable(cached) {
            lock.unlock()
            return (cached.base, cached.digests)
        }
        lock.unlock()
        let files = try ModelFolderReader(folder, expected: expected)
        let loaded = try BaseModel.load(files)
        lock.lock()
        defer { lock.unlock() }
        if let cached = bases[key], usable(cached) { return (cached.base, cached.digests) }
        bases[key] = (stamp, loaded, files.digests)
        baseLoads += 1
        return (loaded, files.digests)
    }

    /// Names, sizes and modification times of a folder's regular files.
    static func stamp(of folder: URL) -> String {
        let fm = FileManager.default
        let names = ((try? fm.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
        return names.map { name -> String in
            let a = try? fm.attributesOfItem(atPath: folder.appendingPathComponent(name).path)
            let size = (a?[.size] as? NSNumber)?.int64Value ?? -1
            let mtime = (a?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\(name):\(size):\(mtime)"
        }.joined(separator: "|")
    }
}
