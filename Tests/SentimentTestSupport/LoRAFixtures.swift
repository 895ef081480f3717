import Foundation
import XCTest
import SentimentCheckpoint
import SentimentCore

/// Fixtures/lora/ (tools/fixtures_lora.py): PEFT adapters over the tiny models with peft's logits
/// and gradients.
package enum LoRAFixtures {
    package struct Fixture: Decodable {
        package struct Lora: Decodable {
            package let r: Int
            package let lora_alpha: Double
            package let scale: Double
            package let target_modules: [String]
            package let adapted_per_layer: [String]
        }
        package struct TrainBatch: Decodable {
            package let input_ids: [[Int32]]
            package let labels: [Int]
            package let loss: Float
            package let logits: [[Float]]
        }
        package struct Tolerance: Decodable {
            package let logits_abs: Float
            package let loss_abs: Float
            package let grad_rel_to_tensor_max: Float
        }
        package let family: String
        package let lora: Lora
        package let texts: [String]
        package let input_ids: [[Int32]]
        package let logits: [[Float]]
        package let base_logits: [[Float]]
        package let train_batch: TrainBatch
        package let tolerance: Tolerance
    }

    package static var root: URL {
        TestFixtures.root.appendingPathComponent("lora")
    }

    package static func folder(_ family: String) -> URL { root.appendingPathComponent("tiny-\(family)") }
    package static func adapter(_ family: String) -> URL { folder(family).appendingPathComponent("adapter") }
    package static func base(_ family: String) -> URL { ModelFixtures.folder("tiny-\(family)") }

    package static func fixture(_ family: String) throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: folder(family).appendingPathComponent("lora.json")))
    }

    package static func tensors(_ url: URL) throws -> [String: Tensor] {
        let file = try SafetensorsFile(url: url)
        var out: [String: Tensor] = [:]
        for name in file.tensorNames { out[name] = try file.tensor(name) }
        return out
    }

    /// A copy of a fixture adapter in `dir`, for tests that break it.
    package static func copyAdapter(_ family: String, to dir: URL, name: String = "adapter") throws -> URL {
        let dest = dir.appendingPathComponent(name)
        try FileManager.default.copyItem(at: adapter(family), to: dest)
        return dest
    }

    /// Rewrites adapter_config.json of `folder` through `edit`.
    package static func editConfig(_ folder: URL, _ edit: (inout [String: JSONValue]) -> Void) throws {
        let url = folder.appendingPathComponent("adapter_config.json")
        guard case var .object(obj) = try JSONValue.parse(Data(contentsOf: url)) else { throw CocoaError(.fileReadCorruptFile) }
        edit(&obj)
        try JSONValue.object(obj).serialized().write(to: url)
    }

    /// Rewrites adapter_model.safetensors of `folder` through `edit`.
    package static func editTensors(_ folder: URL, _ edit: (inout [String: Tensor]) -> Void) throws {
        let url = folder.appendingPathComponent("adapter_model.safetensors")
        var t = try tensors(url)
        edit(&t)
        try SafetensorsWriter.write(t.map { ($0.key, $0.value) }, metadata: ["format": "pt"], to: url)
    }
}
