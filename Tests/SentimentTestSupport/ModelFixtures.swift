import Foundation
import XCTest
import SentimentCheckpoint
import SentimentEngine

/// Reads the fixtures that tools/fixtures_models.py writes with transformers.
package enum ModelFixtures {
    package static var root: URL {
        TestFixtures.root.appendingPathComponent("models")
    }
    package static func folder(_ name: String) -> URL { root.appendingPathComponent(name) }

    package struct Outputs: Decodable {
        package struct Padded: Decodable {
            package let input_ids: [[Int32]]
            package let attention_mask: [[Int32]]
            package let logits: [[Float]]
            package let probabilities: [[Float]]
        }
        package let texts: [String]
        package let input_ids: [[Int32]]
        package let logits: [[Float]]
        package let probabilities: [[Float]]
        package let padded: Padded
        package let last_hidden_state: [[[Float]]]
        package let labels: [String]
        package let max_length: Int
    }

    package static func outputs(_ model: String) throws -> Outputs {
        let data = try Data(contentsOf: folder(model).appendingPathComponent("outputs.json"))
        return try JSONDecoder().decode(Outputs.self, from: data)
    }

    package static func weights(_ model: String, file: String) throws -> EncoderWeights {
        let dir = folder(model)
        let config = try ModelConfig.load(from: dir.appendingPathComponent("config.json"))
        let archive = try CheckpointFiles.open(dir.appendingPathComponent(file))
        return try WeightMap.load(archive, config: config, requireHead: true)
    }
}

package func assertClose(_ a: [Float], _ b: [Float], tolerance: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(what): length", file: file, line: line)
    var worst: Float = 0
    var at = 0
    for i in 0..<min(a.count, b.count) where abs(a[i] - b[i]) > worst || a[i].isNaN {
        worst = a[i].isNaN ? .infinity : abs(a[i] - b[i])
        at = i
    }
    XCTAssertLessThanOrEqual(worst, tolerance, "\(what): max |diff| \(worst) at \(at)", file: file, line: line)
}
