import Foundation
import Logging
import SentimentCheckpoint
import SentimentEngine
import SentimentStore
import XCTest
@testable import SentimentService

/// The tiny checkpoints of the committed fixtures (Tests/Fixtures), reached by path.
enum RegistryFixture {
    static var modelsFolder: URL {
        URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/models", isDirectory: true)
    }

    static var checkpointFolder: URL { modelsFolder.deletingLastPathComponent().appendingPathComponent("checkpoint") }

    /// The files of a fixture checkpoint (without the test's expected outputs).
    static func files(_ fixture: String) throws -> [URL] {
        let folder = modelsFolder.appendingPathComponent(fixture)
        return try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.lastPathComponent != "outputs.json" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }
}

/// Counts loader calls per version folder.
final class LoadCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [String: Int] = [:]
    func add(_ version: String) { lock.lock(); counts[version, default: 0] += 1; lock.unlock() }
    func count(_ version: String) -> Int { lock.lock(); defer { lock.unlock() }; return counts[version] ?? 0 }
}

/// A temporary state directory: models/, models/.staging/, and the SQLite file.
final class RegistryHarness {
    let root: URL
    let models: URL
    let database: URL
    let loads = LoadCounter()
    private var registries: [ModelRegistry] = []

    init() throws {
        root = FileManager.default.temporaryDirectory
            .appendingPathComponent("sentimentd-registry-\(UUID().uuidString)", isDirectory: true)
        models = root.appendingPathComponent("models", isDirectory: true)
        database = root.appendingPathComponent("sentimentd.sqlite")
        try FileManager.default.createDirectory(at: models.appendingPathComponent(".staging"),
                                                withIntermediateDirectories: true)
        guard FileManager.default.fileExists(atPath: RegistryFixture.modelsFolder.appendingPathComponent("tiny-roberta").path) else {
            throw XCTSkip("tiny checkpoint fixtures are missing at \(RegistryFixture.modelsFolder.path)")
        }
    }

    func makeRegistry(policy: ActivationPolicy = .newest, settleMilliseconds: Int = 150) throws -> ModelRegistry {
        let store = try VersionStore(path: database)
        let loads = self.loads
        let registry = ModelRegistry(
            modelsDirectory: models, store: store, policy: policy, settleMilliseconds: settleMilliseconds,
            logger: Logger(label: "registry-test", factory: { _ in SwiftLogNoOpLogHandler() }),
            loader: { url, _, digests in
                loads.add(url.lastPathComponent)
                let files = try ModelFolderReader(url, expected: digests?.files)
                let model = try SentimentModel.load(files)
                return LoadedModel(model: model, digests: FolderDigests(files: files.digests))
            })
        registries.append(registry)
        return registry
    }

    func store() throws -> VersionStore { try VersionStore(path: database) }

    /// Prepares `version` in `.staging` from a fixture, lets `edit` damage or change it, then publishes it with one
    /// rename (as the training worker does).
    func publish(_ version: String, from fixture: String = "tiny-roberta", edit: ((URL) throws -> Void)? = nil) throws {
        let staged = models.appendingPathComponent(".staging/\(version)")
        try FileManager.default.createDirectory(at: staged, withIntermediateDirectories: true)
        for file in try RegistryFixture.files(fixture) {
            try FileManager.default.copyItem(at: file, to: staged.appendingPathComponent(file.lastPathComponent))
        }
        try edit?(staged)
        try FileManager.default.moveItem(at: staged, to: models.appendingPathComponent(version))
    }

    func folder(_ version: String) -> URL { models.appendingPathComponent(version) }

    func shutdownAll() async {
        for registry in registries { await registry.shutdown() }
        registries.removeAll()
    }

    func remove() { try? FileManager.default.removeItem(at: root) }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
@discardableResult
func eventually(timeout: TimeInterval = 30, _ condition: () -> Bool) async -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while !condition() {
        if Date() > end { return false }
        try? await Task.sleep(nanoseconds: 20_000_000)
    }
    return true
}

/// Ways to damage a copy of a tiny checkpoint, each the kind of thing that reaches models/ in practice.
enum CheckpointDamage {
    static func truncateSafetensors(_ folder: URL) throws {
        let url = folder.appendingPathComponent("model.safetensors")
        let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as! Int
        let handle = try FileHandle(forWritingTo: url)
        try handle.truncate(atOffset: UInt64(size / 2))
        try handle.close()
    }

    /// The output layer with 2 rows instead of the config's 3 labels (a consistent file, a wrong shape).
    static func wrongClassifierShape(_ folder: URL) throws {
        var file = try SafetensorsFile(url: folder.appendingPathComponent("model.safetensors"))
        let name = try XCTUnwrap(file.names.first { $0.hasPrefix("classifier") && $0.hasSuffix("weight") && file.shape($0).first == 3 })
        file.replace(name, shape: [2] + file.shape(name).dropFirst(), data: file.data(name).prefix(file.data(name).count * 2 / 3))
        try file.write(to: folder.appendingPathComponent("model.safetensors"))
    }

    /// A well-formed file whose classifier bias is NaN (every prediction would be NaN).
    static func nanClassifierBias(_ folder: URL) throws {
        var file = try SafetensorsFile(url: folder.appendingPathComponent("model.safetensors"))
        let name = try XCTUnwrap(file.names.first { $0.hasPrefix("classifier") && $0.hasSuffix("bias") && file.shape($0) == [3] })
        var nan = Float.nan.bitPattern.littleEndian
        let bytes = Data(bytes: &nan, count: 4)
        file.replace(name, shape: [3], data: bytes + bytes + bytes)
        try file.write(to: folder.appendingPathComponent("model.safetensors"))
    }

    /// A well-formed file with NaN in the last row of the position table only: short texts predict fine, a
    /// text of the model's full length would not. The weight scan finds it; probe texts would not.
    static func nanLastPosition(_ folder: URL) throws {
        var file = try SafetensorsFile(url: folder.appendingPathComponent("model.safetensors"))
        let name = try XCTUnwrap(file.names.first { $0.hasSuffix("position_embeddings.weight") })
        var data = Data(file.data(name))  // indices from 0
        let width = try XCTUnwrap(file.shape(name).last)
        var nan = Float.nan.bitPattern.littleEndian
        let bytes = Data(bytes: &nan, count: 4)
        data.replaceSubrange(data.count - 4 * width ..< data.count - 4 * width + 4, with: bytes)
        file.replace(name, shape: file.shape(name), data: data)
        try file.write(to: folder.appendingPathComponent("model.safetensors"))
    }

    static func badConfig(_ folder: URL) throws {
        let url = folder.appendingPathComponent("config.json")
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        object["hidden_size"] = "thirty-two"
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    static func missingTokenizer(_ folder: URL) throws {
        for name in ["merges.txt", "vocab.txt"] {
            try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))
        }
    }

    /// A pickle that would call os.system on load, as the only weights file.
    static func maliciousPickle(_ folder: URL) throws {
        try FileManager.default.removeItem(at: folder.appendingPathComponent("model.safetensors"))
        try FileManager.default.removeItem(at: folder.appendingPathComponent("pytorch_model.bin"))
        try FileManager.default.copyItem(at: RegistryFixture.checkpointFolder.appendingPathComponent("evil_os_system.bin"),
                                         to: folder.appendingPathComponent("pytorch_model.bin"))
    }
}

/// Just enough safetensors to edit a fixture: header JSON + little-endian tensor bytes.
struct SafetensorsFile {
    private var header: [String: Any]
    private var blobs: [String: Data]
    private(set) var names: [String]

    init(url: URL) throws {
        let bytes = try Data(contentsOf: url)
        let length = Int(bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        header = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + length))) as! [String: Any]
        let body = bytes.subdata(in: (8 + length)..<bytes.count)
        blobs = [:]
        var order: [(String, Int)] = []
        for (name, value) in header where name != "__metadata__" {
            let offsets = (value as! [String: Any])["data_offsets"] as! [Int]
            blobs[name] = body.subdata(in: offsets[0]..<offsets[1])
            order.append((name, offsets[0]))
        }
        names = order.sorted { $0.1 < $1.1 }.map(\.0)
    }

    func shape(_ name: String) -> [Int] { (header[name] as! [String: Any])["shape"] as! [Int] }
    func data(_ name: String) -> Data { blobs[name]! }

    mutating func replace(_ name: String, shape: [Int], data: Data) {
        var entry = header[name] as! [String: Any]
        entry["shape"] = shape
        header[name] = entry
        blobs[name] = data
    }

    func write(to url: URL) throws {
        var newHeader = header
        var body = Data()
        for name in names {
            var entry = newHeader[name] as! [String: Any]
            entry["data_offsets"] = [body.count, body.count + blobs[name]!.count]
            newHeader[name] = entry
            body.append(blobs[name]!)
        }
        var json = try JSONSerialization.data(withJSONObject: newHeader, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var length = UInt64(json.count).littleEndian
        var out = Data(bytes: &length, count: 8)
        out.append(json)
        out.append(body)
        try out.write(to: url)
    }
}
