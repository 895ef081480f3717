import Foundation
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

/// Loads what the registry serves: a Hugging Face model folder, or a PEFT LoRA adapter folder over a base.
///
/// Bases are loaded once and kept (strongly) while their files are unchanged, so activating or rolling back
/// between adapters over one base never re-reads or duplicates the base weights: each adapter costs only its
/// own tensors. A base whose files change (size or modification time) is loaded again for the next adapter.
public final class ModelLoader: @unchecked Sendable {
    let modelsDirectory: URL
    let baseDirectories: [URL]
    private let lock = NSLock()
    private var bases: [String: (stamp: String, base: BaseModel)] = [:]
    /// How many times a base folder was read from disk (tests and status).
    private(set) var baseLoads = 0

    public init(modelsDirectory: URL, baseDirectories: [URL]) {
        self.modelsDirectory = modelsDirectory
        self.baseDirectories = baseDirectories
    }

    public func load(_ folder: URL, options: ModelLoadOptions = .init()) throws -> SentimentModel {
        guard AdapterFolder.isAdapter(folder) else { return try SentimentModel.load(folder: folder, options: options) }
        let config = try AdapterFolder.readConfig(folder)
        let baseFolder = try resolveBase(config.baseModelNameOrPath ?? "", adapter: folder)
        return try SentimentModel.load(adapterFolder: folder, base: try base(at: baseFolder), options: options)
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
        let key = folder.standardizedFileURL.resolvingSymlinksInPath().path
        let stamp = Self.stamp(of: folder)
        lock.lock()
        if let cached = bases[key], cached.stamp == stamp {
            lock.unlock()
            return cached.base
        }
        lock.unlock()
        let loaded = try BaseModel.load(folder: folder)
        lock.lock()
        defer { lock.unlock() }
        if let cached = bases[key], cached.stamp == stamp { return cached.base }
        bases[key] = (stamp, loaded)
        baseLoads += 1
        return loaded
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
