import Foundation
import XCTest
@testable import SentimentCheckpoint

final class CheckpointFilesTests: XCTestCase {
    typealias F = CheckpointFixtures

    private func folder(_ files: [String: String]) throws -> URL {
        let dir = try F.temporaryDirectory(self)
        for (name, fixture) in files {
            try FileManager.default.copyItem(at: F.url(fixture), to: dir.appendingPathComponent(name))
        }
        return dir
    }

    func testSafetensorsIsPreferredOverPyTorch() throws {
        let dir = try folder(["model.safetensors": "st_valid.safetensors", "pytorch_model.bin": "state_zip.bin"])
        let archive = try CheckpointFiles.openWeights(in: dir)
        XCTAssertTrue(archive is SafetensorsFile)
        XCTAssertEqual(archive.tensorNames, ["a", "b"])
        XCTAssertTrue(archive.path.hasSuffix("/model.safetensors"))
    }

    func testPyTorchFileIsUsedWhenAlone() throws {
        let dir = try folder(["pytorch_model.bin": "state_zip.bin"])
        let archive = try CheckpointFiles.openWeights(in: dir)
        XCTAssertTrue(archive is PyTorchCheckpoint)
        XCTAssertEqual(try archive.tensor("scalar").values, [2.5])
    }

    func testEmptyFolderNamesWhatWasLookedFor() throws {
        let dir = try folder([:])
        XCTAssertThrowsError(try CheckpointFiles.openWeights(in: dir)) { error in
            XCTAssertEqual(error as? CheckpointError, .noWeightsFile(folder: dir.path, lookedFor: CheckpointFiles.lookedFor))
            for name in ["model.safetensors", "pytorch_model.bin", dir.path] {
                XCTAssertTrue("\(error)".contains(name), "\(error)")
            }
        }
    }

    func testBrokenPreferredFileIsReportedNotSkipped() throws {
        // A broken model.safetensors must not silently fall back to another file.
        let dir = try folder(["model.safetensors": "st_overlap.safetensors", "pytorch_model.bin": "state_zip.bin"])
        XCTAssertThrowsError(try CheckpointFiles.openWeights(in: dir)) { XCTAssertEqual(F.caseName($0), "overlappingTensors") }
    }

    // MARK: - Shards

    private func writeShards(_ dir: URL, index: String) throws {
        try SafetensorsWriter.write([("a", Tensor(shape: [2], values: [1, 2])), ("b", Tensor(shape: [1], values: [3]))],
                                    metadata: ["format": "pt"], to: dir.appendingPathComponent("model-00001-of-00002.safetensors"))
        try SafetensorsWriter.write([("c", Tensor(shape: [1, 1], values: [4]))],
                                    metadata: ["format": "pt"], to: dir.appendingPathComponent("model-00002-of-00002.safetensors"))
        try Data(index.utf8).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
    }

    private let goodIndex = #"""
    {"metadata": {"total_size": 16}, "weight_map": {"a": "model-00001-of-00002.safetensors",
     "b": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}}
    """#

    func testShardedSafetensorsMergeIntoOneArchive() throws {
        let dir = try folder([:])
        try writeShards(dir, index: goodIndex)
        let archive = try CheckpointFiles.openWeights(in: dir)
        XCTAssertTrue(archive is ShardedArchive)
        XCTAssertEqual(archive.tensorNames, ["a", "b", "c"])
        XCTAssertEqual(try archive.tensor("a").values, [1, 2])
        XCTAssertEqual(try archive.tensor("c"), Tensor(shape: [1, 1], values: [4]))
        XCTAssertEqual(archive.info("b"), TensorInfo(dtype: .f32, shape: [1]))
        XCTAssertEqual((archive as? ShardedArchive)?.metadata["total_size"], .number(16))
        XCTAssertThrowsError(try archive.tensor("d")) { XCTAssertEqual(F.caseName($0), "noSuchTensor") }
    }

    func testShardIndexErrorsNameTheProblem() throws {
        let cases: [(index: String, expectedCase: String, detail: String)] = [
            (#"{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"}}"#,
             "invalidShardIndex", "'c' is listed in model-00001-of-00002.safetensors"),
            (#"{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}}"#,
             "invalidShardIndex", "'b' is listed in model-00002-of-00002.safetensors"),
            (#"{"weight_map": {"a": "model-00001-of-00002.safetensors"}}"#,
             "invalidShardIndex", "holds tensor 'b', which the index does not list"),
            (#"{"weight_map": {"a": "../model-00001-of-00002.safetensors"}}"#, "invalidShardIndex", "not a plain file name"),
            (#"{"weight_map": {"a": "missing.safetensors"}}"#, "missingEntry", "missing.safetensors"),
            (#"{"weights": {}}"#, "invalidShardIndex", "no 'weight_map'"),
            (#"{"weight_map": {"a": 1}}"#, "invalidShardIndex", "not a file name"),
            ("{not json", "invalidShardIndex", "byte"),
        ]
        for c in cases {
            let dir = try folder([:])
            try writeShards(dir, index: c.index)
            F.assertCheckpointError(c.expectedCase, file: "model.safetensors.index.json", detail: c.detail) {
                try CheckpointFiles.openWeights(in: dir)
            }
        }
    }

    func testTensorStoredInTwoShardsIsRefused() throws {
        let dir = try folder([:])
        try writeShards(dir, index: goodIndex)
        try SafetensorsWriter.write([("b", Tensor(shape: [1], values: [5])), ("c", Tensor(shape: [1, 1], values: [4]))],
                                    metadata: [:], to: dir.appendingPathComponent("model-00002-of-00002.safetensors"))
        F.assertCheckpointError("tensorInSeveralShards", file: "model.safetensors.index.json", detail: "'b'") {
            try CheckpointFiles.openWeights(in: dir)
        }
    }

    func testShardedPyTorchIndexOpensBinShards() throws {
        let dir = try folder(["pytorch_model-00001-of-00001.bin": "state_zip.bin"])
        let names = try PyTorchCheckpoint(url: F.url("state_zip.bin")).tensorNames
        let map = names.map { "\"\($0)\": \"pytorch_model-00001-of-00001.bin\"" }.joined(separator: ",")
        try Data("{\"weight_map\": {\(map)}}".utf8).write(to: dir.appendingPathComponent("pytorch_model.bin.index.json"))
        let archive = try CheckpointFiles.openWeights(in: dir)
        XCTAssertEqual(archive.tensorNames, names)
        XCTAssertEqual(try archive.tensor("view.row").values, [0.5, 1, 1.5, 2, 2.5])
    }
}
