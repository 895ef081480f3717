#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import SentimentCore
import SentimentCheckpoint

/// Writes a trained model as a Hugging Face folder that `SentimentModel.load` and
/// `AutoModelForSequenceClassification.from_pretrained` read unchanged: config.json (with id2label,
/// label2id, architectures), model.safetensors, the base's tokenizer files, plus any extra files
/// (training_info.json) and directories (logs/).
///
/// Atomicity: everything goes into a temporary sibling `.<name>.staging-<pid>-<n>` (same file system),
/// each file fsynced, then the staging directory is fsynced and renamed to the final name and the parent
/// directory fsynced. On any error (a full disk included) the staging directory is removed and nothing
/// exists under the final name that was not there before.
public enum ModelFolderWriter {
    /// Tokenizer files copied from the base folder when present.
    public static let tokenizerFiles = ModelFolderLayout.tokenizerFiles

    public enum WriteError: Error, Equatable, CustomStringConvertible {
        case outputExists(path: String)
        case noTokenizerFiles(folder: String)
        case cannotCreate(path: String, reason: String)
        case cannotRead(path: String, reason: String)
        case rename(from: String, to: String, errno: Int32)

        public var description: String {
            switch self {
            case let .outputExists(path): return "\(path) already exists (choose another output folder, or allow replacing it)"
            case let .noTokenizerFiles(folder): return "\(folder): no tokenizer files to copy (looked for \(ModelFolderWriter.tokenizerFiles.joined(separator: ", ")))"
            case let .cannotCreate(path, reason): return "\(path): cannot create: \(reason)"
            case let .cannotRead(path, reason): return "\(path): cannot read: \(reason)"
            case let .rename(from, to, e): return "\(to): cannot rename \(from) into place: \(String(cString: strerror(e)))"
            }
        }
    }

    /// - overwrite: replace an existing folder at `output` (it is renamed aside, the new one renamed in,
    ///   then the old one removed).
    /// - beforeFile: called with each file's name before it is written (tests inject failures here).
    public static func write(weights: EncoderWeights, tokenizerSource: URL, extraFiles: [(name: String, data: Data)] = [],
                             directories: [(name: String, source: URL)] = [], to output: URL, overwrite: Bool = false,
                             beforeFile: ((String) throws -> Void)? = nil) throws {
        try write(
            files: [
                (ModelFolderLayout.config, { url in try AtomicFile.write(JSONValue.object(weights.config.jsonObject()).serialized(), to: url) }),
                (CheckpointFiles.safetensors, { url in
                    try SafetensorsWriter.write(WeightMap.stateDict(weights), metadata: ["format": "pt"], to: url)
                }),
            ],
            tokenizerSource: tokenizerSource, extraFiles: extraFiles, directories: directories, to: output,
            overwrite: overwrite, beforeFile: beforeFile)
    }

    /// The same for any set of model files: each `(name, write)` writes its file (atomically) at the URL
    /// it is given inside the staging directory. LoRA adapter folders are written this way.
    public static func write(files: [(name: String, write: (URL) throws -> Void)], tokenizerSource: URL,
                             extraFiles: [(name: String, data: Data)] = [], directories: [(name: String, source: URL)] = [],
                             to output: URL, overwrite: Bool = false, beforeFile: ((String) throws -> Void)? = nil) throws {
        let fm = FileManager.default
        let parent = output.deletingLastPathComponent()
        if fm.fileExists(atPath: output.path) && !overwrite { throw WriteError.outputExists(path: output.path) }
        let present = tokenizerFiles.filter { fm.fileExists(atPath: tokenizerSource.appendingPathComponent($0).path) }
        if present.isEmpty { throw WriteError.noTokenizerFiles(folder: tokenizerSource.path) }
        do { try fm.createDirectory(at: parent, withIntermediateDirectories: true) } catch {
            throw WriteError.cannotCreate(path: parent.path, reason: (error as NSError).localizedDescription)
        }

        let staging = try makeStagingDirectory(for: output)
        var published = false
        defer { if !published { try? fm.removeItem(at: staging) } }

        func file(_ name: String, _ data: Data) throws {
            try beforeFile?(name)
            try AtomicFile.write(data, to: staging.appendingPathComponent(name))
        }
        for (name, writeFile) in files {
            try beforeFile?(name)
            try writeFile(staging.appendingPathComponent(name))
        }
        for name in present { try file(name, try read(tokenizerSource.appendingPathComponent(name))) }
        for (name, data) in extraFiles { try file(name, data) }
        for (name, source) in directories { try copyTree(source, to: staging.appendingPathComponent(name), beforeFile: beforeFile) }
        try AtomicFile.syncDirectory(staging.path)

        if fm.fileExists(atPath: output.path) {
            // --overwrite: the old folder steps aside, the new one takes its name, the old one goes.
            let aside = parent.appendingPathComponent(".\(output.lastPathComponent).old-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            if rename(output.path, aside.path) != 0 { throw WriteError.rename(from: output.path, to: aside.path, errno: errno) }
            if rename(staging.path, output.path) != 0 {
                let e = errno
                _ = rename(aside.path, output.path)
                throw WriteError.rename(from: staging.path, to: output.path, errno: e)
            }
            published = true
            try? fm.removeItem(at: aside)
        } else {
            if rename(staging.path, output.path) != 0 { throw WriteError.rename(from: staging.path, to: output.path, errno: errno) }
            published = true
        }
        try AtomicFile.syncDirectory(parent.path)
    }

    /// Staging directories of `output` left by a crashed writer (`.<name>.staging-*`, `.<name>.old-*`).
    public static func leftovers(for output: URL) -> [URL] {
        let parent = output.deletingLastPathComponent()
        let prefixes = [".\(output.lastPathComponent).staging-", ".\(output.lastPathComponent).old-"]
        return ((try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? [])
            .filter { name in prefixes.contains { name.hasPrefix($0) } }
            .map { parent.appendingPathComponent($0) }
    }

    /// Removes the leftovers of writers that no longer run (the pid in the name is gone); returns them.
    @discardableResult
    public static func removeStaleLeftovers(for output: URL) -> [URL] {
        leftovers(for: output).filter { url in
            // ".<name>.staging-<pid>-<n>" / ".<name>.old-<pid>-<n>"
            let tail = url.lastPathComponent.split(separator: ".").last.map(String.init) ?? ""
            let fields = tail.split(separator: "-")
            guard fields.count == 3, let pid = Int32(fields[1]), pid != getpid() else { return false }
            guard kill(pid, 0) != 0 && errno == ESRCH else { return false }
            return (try? FileManager.default.removeItem(at: url)) != nil
        }
    }

    static func makeStagingDirectory(for output: URL) throws -> URL {
        let parent = output.deletingLastPathComponent()
        for _ in 0..<16 {
            let url = parent.appendingPathComponent(".\(output.lastPathComponent).staging-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            if mkdir(url.path, 0o755) == 0 { return url }
            if errno != EEXIST { throw WriteError.cannotCreate(path: url.path, reason: String(cString: strerror(errno))) }
        }
        throw WriteError.cannotCreate(path: parent.path, reason: "no free staging name")
    }

    static func read(_ url: URL) throws -> Data {
        do { return try Data(contentsOf: url) } catch {
            throw WriteError.cannotRead(path: url.path, reason: (error as NSError).localizedDescription)
        }
    }

    /// Copies the regular files under `source` (recursively), each written atomically and fsynced.
    static func copyTree(_ source: URL, to destination: URL, beforeFile: ((String) throws -> Void)?) throws {
        let fm = FileManager.default
        do { try fm.createDirectory(at: destination, withIntermediateDirectories: true) } catch {
            throw WriteError.cannotCreate(path: destination.path, reason: (error as NSError).localizedDescription)
        }
        let names: [String]
        do { names = try fm.contentsOfDirectory(atPath: source.path).sorted() } catch {
            throw WriteError.cannotRead(path: source.path, reason: (error as NSError).localizedDescription)
        }
        for name in names {
            let from = source.appendingPathComponent(name)
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: from.path, isDirectory: &isDir) else { continue }
            if isDir.boolValue {
                try copyTree(from, to: destination.appendingPathComponent(name), beforeFile: beforeFile)
            } else {
                try beforeFile?(destination.lastPathComponent + "/" + name)
                try AtomicFile.write(try read(from), to: destination.appendingPathComponent(name))
            }
        }
        try AtomicFile.syncDirectory(destination.path)
    }
}

/// Peak resident set size of this process (VmHWM of /proc/self/status), bytes; nil where unavailable.
public func processPeakResidentBytes() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        guard let kb = line.split(separator: " ").compactMap({ Int($0) }).first else { return nil }
        return kb * 1024
    }
    return nil
}
