import Foundation
import SentimentCore

/// Which weights file of a Hugging Face folder to read, and how.
public enum CheckpointFiles {
    public static let safetensors = ModelFolderLayout.safetensors
    public static let pytorch = ModelFolderLayout.pytorch

    /// In order of preference (ModelFolderLayout.weightsPreference, the hub's pull picks by the same order):
    /// safetensors before PyTorch (no pickle to read), a single file before a sharded set.
    public static let lookedFor = ModelFolderLayout.weightsPreference

    /// The weights of the folder as one archive.
    public static func openWeights(in folder: URL) throws -> TensorArchive {
        try openWeights(in: try ModelFolderReader(folder))
    }

    /// The weights of the folder as one archive. A name that exists but is not a regular file (a FIFO called
    /// model.safetensors) is refused by name rather than skipped.
    public static func openWeights(in folder: ModelFolderReader) throws -> TensorArchive {
        for name in lookedFor where folder.exists(name) {
            switch name {
            case safetensors, pytorch: return try open(name, in: folder)
            default: return try ShardedArchive(index: name, in: folder)
            }
        }
        throw CheckpointError.noWeightsFile(folder: folder.url.path, lookedFor: lookedFor)
    }

    /// Opens one weights file by its format: safetensors by extension, anything else as PyTorch.
    public static func open(_ url: URL) throws -> TensorArchive {
        try open(url.lastPathComponent, in: try ModelFolderReader(url.deletingLastPathComponent()))
    }

    /// The weights file `name` of `folder` by its format (safetensors by extension, anything else as PyTorch).
    public static func open(_ name: String, in folder: ModelFolderReader) throws -> TensorArchive {
        let file = try folder.open(name)
        return name.hasSuffix(".safetensors") ? try SafetensorsFile(file: file) : try PyTorchCheckpoint(file: file)
    }
}

/// A sharded checkpoint: `*.index.json` with `{"weight_map": {tensor: shard file}}` next to the shards.
///
/// Every shard named by the index is opened and validated; each listed tensor must be in its shard,
/// and no shard may hold a tensor the index assigns elsewhere or does not list.
public final class ShardedArchive: TensorArchive, @unchecked Sendable {
    public let path: String
    public let tensorNames: [String]
    public let metadata: [String: JSONValue]
    private let owner: [String: any TensorArchive]
    /// Shards by file name.
    private let shards: [String: any TensorArchive]

    public convenience init(indexURL: URL) throws {
        try self.init(index: indexURL.lastPathComponent, in: try ModelFolderReader(indexURL.deletingLastPathComponent()))
    }

    init(index: String, in folder: ModelFolderReader) throws {
        let path = folder.path(index)
        self.path = path
        let data = try folder.contents(index)
        let root: StrictJSON.Value
        do {
            root = try data.withUnsafeBytes { raw in
                guard String(bytes: raw, encoding: .utf8) != nil else {
                    throw StrictJSON.ParseError(offset: 0, reason: "not valid UTF-8")
                }
                return try StrictJSON.parse(raw)
            }
        } catch let e as StrictJSON.ParseError {
            throw CheckpointError.invalidShardIndex(path: path, reason: e.description)
        }
        func invalid(_ reason: String) -> CheckpointError { .invalidShardIndex(path: path, reason: reason) }
        guard case let .object(members) = root else { throw invalid("the index is \(root.kind), not an object") }
        guard case let .object(map)? = members.first(where: { $0.key == "weight_map" })?.value else {
            throw invalid("no 'weight_map' object")
        }
        var shardOf: [String: String] = [:]
        for (tensor, value) in map {
            guard case let .string(file) = value else { throw invalid("shard of '\(tensor)' is \(value.kind), not a file name") }
            // Shards sit next to the index: a path that could leave the folder is refused.
            guard !file.isEmpty, !file.contains("/"), !file.contains("\0"), file != ".", file != ".." else {
                throw invalid("shard file name '\(file)' of tensor '\(tensor)' is not a plain file name")
            }
            shardOf[tensor] = file
        }
        var shards: [String: any TensorArchive] = [:]
        for file in Set(shardOf.values).sorted() {
            guard folder.exists(file) else { throw CheckpointError.missingEntry(path: path, entry: file) }
            shards[file] = try CheckpointFiles.open(file, in: folder)
        }
        var owner: [String: any TensorArchive] = [:]
        for (tensor, file) in shardOf {
            guard let shard = shards[file], shard.info(tensor) != nil else {
                throw invalid("tensor '\(tensor)' is listed in \(file) but that file does not hold it")
            }
            owner[tensor] = shard
        }
        for (file, shard) in shards {
            for tensor in shard.tensorNames where shardOf[tensor] != file {
                if let other = shardOf[tensor] {
                    throw CheckpointError.tensorInSeveralShards(path: path, tensor: tensor, first: other, second: file)
                }
                throw invalid("\(file) holds tensor '\(tensor)', which the index does not list")
            }
        }
        var metadata: [String: JSONValue] = [:]
        if case let .object(pairs)? = members.first(where: { $0.key == "metadata" })?.value {
            for (k, v) in pairs { metadata[k] = v.jsonValue }
        }
        self.metadata = metadata
        self.owner = owner
        self.shards = shards
        tensorNames = owner.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    public func info(_ name: String) -> TensorInfo? { owner[name]?.info(name) }

    public var storedBytes: Int { shards.values.reduce(0) { $0 + $1.storedBytes } }

    public func checkReadable(_ name: String) throws {
        guard let shard = owner[name] else { throw CheckpointError.noSuchTensor(path: path, tensor: name) }
        try shard.checkReadable(name)
    }

    /// Shard by shard, in file-name order (each shard in its own file order).
    public func read(_ requests: [TensorRead]) throws {
        var byShard: [ObjectIdentifier: (shard: any TensorArchive, reads: [TensorRead])] = [:]
        for request in requests {
            guard let shard = owner[request.name] else { throw CheckpointError.noSuchTensor(path: path, tensor: request.name) }
            byShard[ObjectIdentifier(shard), default: (shard, [])].reads.append(request)
        }
        for (_, shard) in shards.sorted(by: { $0.key < $1.key }) {
            if let group = byShard[ObjectIdentifier(shard)] { try group.shard.read(group.reads) }
        }
    }

    public func finish() throws {
        for (_, shard) in shards.sorted(by: { $0.key < $1.key }) { try shard.finish() }
    }
}

extension StrictJSON.Value {
    /// The project's general JSON value (numbers through Double: fine for metadata, not for offsets).
    var jsonValue: JSONValue {
        switch self {
        case let .object(pairs): return .object(Dictionary(pairs.map { ($0.key, $0.value.jsonValue) }, uniquingKeysWith: { a, _ in a }))
        case let .array(items): return .array(items.map(\.jsonValue))
        case let .string(s): return .string(s)
        case let .number(text): return .number(Double(text) ?? .nan)
        case let .bool(b): return .bool(b)
        case .null: return .null
        }
    }
}
