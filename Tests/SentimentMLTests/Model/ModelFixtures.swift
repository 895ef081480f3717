import Foundation
import XCTest
@testable import SentimentML

/// Reads the fixtures that tools/fixtures_models.py writes with transformers.
enum ModelFixtures {
    static var root: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("models")
    }
    static func folder(_ name: String) -> URL { root.appendingPathComponent(name) }

    /// The repository root (for vendor-models/, fetched by scripts/fetch-minilm.sh).
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    struct Outputs: Decodable {
        struct Padded: Decodable {
            let input_ids: [[Int32]]
            let attention_mask: [[Int32]]
            let logits: [[Float]]
            let probabilities: [[Float]]
        }
        let texts: [String]
        let input_ids: [[Int32]]
        let logits: [[Float]]
        let probabilities: [[Float]]
        let padded: Padded
        let last_hidden_state: [[[Float]]]
        let labels: [String]
        let max_length: Int
    }

    static func outputs(_ model: String) throws -> Outputs {
        let data = try Data(contentsOf: folder(model).appendingPathComponent("outputs.json"))
        return try JSONDecoder().decode(Outputs.self, from: data)
    }

    static func weights(_ model: String, file: String) throws -> EncoderWeights {
        let dir = folder(model)
        let config = try ModelConfig.load(from: dir.appendingPathComponent("config.json"))
        let archive = try CheckpointFiles.open(dir.appendingPathComponent(file))
        return try WeightMap.load(archive, config: config, requireHead: true)
    }
}

func assertClose(_ a: [Float], _ b: [Float], tolerance: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(what): length", file: file, line: line)
    var worst: Float = 0
    var at = 0
    for i in 0..<min(a.count, b.count) where abs(a[i] - b[i]) > worst || a[i].isNaN {
        worst = a[i].isNaN ? .infinity : abs(a[i] - b[i])
        at = i
    }
    XCTAssertLessThanOrEqual(worst, tolerance, "\(what): max |diff| \(worst) at \(at)", file: file, line: line)
}
