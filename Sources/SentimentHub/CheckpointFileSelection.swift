import Foundation
import SentimentCore

/// Which files of a hub repository make a sentimentd checkpoint folder: `config.json`, one set of PyTorch weights
/// and the tokenizer files present. TensorFlow, Flax, ONNX, README, `.gitattributes` and everything in subfolders
/// are left on the hub.
public struct CheckpointFileSelection: Sendable, Equatable {
    public enum Weights: Sendable, Equatable {
        case single(String)
        /// A `*.index.json` whose `weight_map` names the shards; they are known only once it is downloaded.
        case sharded(index: String)

        public var fileName: String {
            switch self {
            case let .single(name), let .sharded(index: name): return name
            }
        }
    }

    public static let configName = ModelFolderLayout.config
    /// In the loader's order of preference (ModelFolderLayout): safetensors loads without unpickling and maps
    /// straight into memory.
    public static let weightsPreference: [Weights] = ModelFolderLayout.weightsPreference.map {
        ModelFolderLayout.isShardIndex($0) ? .sharded(index: $0) : .single($0)
    }
    public static let tokenizerNames = ModelFolderLayout.tokenizerFiles

    public var weights: Weights
    public var tokenizer: [String]

    /// Files to fetch before any shard: config, tokenizer files, then the weights (or the shard index).
    public var files: [String] { [Self.configName] + tokenizer + [weights.fileName] }

    public static func choose(from info: HubModelInfo, repo: HubRepositoryID, revision: String) throws
        -> CheckpointFileSelection {
        let present = Set(info.siblings.map(\.rfilename))
        guard present.contains(configName) else { throw HubError.missingConfig(repo: repo.value, revision: revision) }
        guard let weights = weightsPreference.first(where: { present.contains($0.fileName) }) else {
            throw HubError.noWeights(repo: repo.value, revision: revision, files: info.siblings.map(\.rfilename).sorted())
        }
        return CheckpointFileSelection(weights: weights, tokenizer: tokenizerNames.filter(present.contains))
    }

    /// The shard file names of a sharded checkpoint's index (`{"weight_map": {"tensor": "shard file"}}`), sorted,
    /// each a plain top-level file name.
    public static func shardNames(fromIndex data: Data, indexName: String) throws -> [String] {
        struct Index: Decodable { var weight_map: [String: String] }
        let index: Index
        do {
            index = try JSONDecoder().decode(Index.self, from: data)
        } catch {
            throw HubError.invalidShardIndex(file: indexName, reason: "not JSON with a \"weight_map\" object of strings")
        }
        let shards = Set(index.weight_map.values).sorted()
        guard !shards.isEmpty else { throw HubError.invalidShardIndex(file: indexName, reason: "\"weight_map\" is empty") }
        for shard in shards where shard.isEmpty || shard.contains("/") || shard.hasPrefix(".") || shard == configName {
            throw HubError.invalidShardIndex(file: indexName,
                                             reason: "\"weight_map\" names \"\(shard)\", which is not a shard file name")
        }
        return shards
    }
}
