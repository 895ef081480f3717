import Foundation
import XCTest
@testable import SentimentHub
import SentimentTestSupport

enum HubFixtures {
    /// The tiny RoBERTa classifier of the committed fixtures (Tests/Fixtures), read in place.
    static let tinyRobertaFolder = TestFixtures.root.appendingPathComponent("models/tiny-roberta", isDirectory: true)

    static let repoID = "sentimentd-tests/tiny-roberta"
    static let commit = "4ba3d4463bd152c9e4abd892b50844f30c646708"

    /// Every file of the fixture folder plus what a real model repository also carries and a pull must skip.
    static func tinyRoberta(commit: String = commit) throws -> FixtureRepository {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: tinyRobertaFolder.path) where !name.hasPrefix(".") {
            files[name] = try Data(contentsOf: tinyRobertaFolder.appendingPathComponent(name))
        }
        XCTAssertNotNil(files["model.safetensors"], "fixture folder \(tinyRobertaFolder.path) is incomplete")
        files["README.md"] = Data("---\nlicense: mit\n---\n# tiny-roberta\n".utf8)
        files[".gitattributes"] = Data("*.safetensors filter=lfs diff=lfs merge=lfs -text\n".utf8)
        files["tf_model.h5"] = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        files["onnx/model.onnx"] = Data((0..<2048).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        files["flax_model.msgpack"] = Data((0..<1024).map { UInt8(truncatingIfNeeded: $0 &* 3) })
        return FixtureRepository(id: repoID, commit: commit, files: files,
                                 lfs: ["model.safetensors", "pytorch_model.bin", "tf_model.h5", "onnx/model.onnx",
                                       "flax_model.msgpack"])
    }

    /// What a pull of the tiny RoBERTa repository must publish (besides sentimentd.json).
    static let expectedFiles = ["config.json", "merges.txt", "model.safetensors", "special_tokens_map.json",
                                "tokenizer_config.json", "vocab.json"]
}

/// A fresh models directory per test, removed afterwards.
final class TemporaryModels {
    let url: URL
    var path: String { url.path }

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("sentimenthub-tests-\(UUID().uuidString)/models", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(at: url.deletingLastPathComponent())
    }

    func staging(_ version: String) -> String { path + "/.staging/pull-\(version)" }

    func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: path + "/" + relative) }

    func listing(_ relative: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path + "/" + relative)) ?? []).sorted()
    }
}

/// Collects a pull's events from whichever thread reports them.
final class EventRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var _events: [PullEvent] = []

    func record(_ event: PullEvent) {
        lock.lock()
        _events.append(event)
        lock.unlock()
    }

    var events: [PullEvent] {
        lock.lock()
        defer { lock.unlock() }
        return _events
    }
}
