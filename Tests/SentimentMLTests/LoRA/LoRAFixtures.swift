import Foundation
import XCTest
@testable import SentimentML
import SentimentCore

/// Fixtures/lora/ (tools/fixtures_lora.py): PEFT adapters over the tiny models with peft's logits
/// and gradients.
enum LoRAFixtures {
    struct Fixture: Decodable {
        struct Lora: Decodable {
            let r: Int
            let lora_alpha: Double
            let scale: Double
            let target_modules: [String]
            let adapted_per_layer: [String]
        }
        struct TrainBatch: Decodable {
            let input_ids: [[Int32]]
            let labels: [Int]
            let loss: Float
            let logits: [[Float]]
        }
        struct Tolerance: Decodable {
            let logits_abs: Float
            let loss_abs: Float
            let grad_rel_to_tensor_max: Float
        }
        let family: String
        let lora: Lora
        let texts: [String]
        let input_ids: [[Int32]]
        let logits: [[Float]]
        let base_logits: [[Float]]
        let train_batch: TrainBatch
        let tolerance: Tolerance
    }

    static var root: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("lora")
    }

    static func folder(_ family: String) -> URL { root.appendingPathComponent("tiny-\(family)") }
    static func adapter(_ family: String) -> URL { folder(family).appendingPathComponent("adapter") }
    static func base(_ family: String) -> URL { ModelFixtures.folder("tiny-\(family)") }

    static func fixture(_ family: String) throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: folder(family).appendingPathComponent("lora.json")))
    }

    static func tensors(_ url: URL) throws -> [String: Tensor] {
        let file = try SafetensorsFile(url: url)
        var out: [String: Tensor] = [:]
        for name in file.tensorNames { out[name] = try file.tensor(name) }
        return out
    }

    /// A copy of a fixture adapter in `dir`, for tests that break it.
    static func copyAdapter(_ family: String, to dir: URL, name: String = "adapter") throws -> URL {
        let dest = dir.appendingPathComponent(name)
        try FileManager.default.copyItem(at: adapter(family), to: dest)
        return dest
    }

    /// Rewrites adapter_config.json of `folder` through `edit`.
    static func editConfig(_ folder: URL, _ edit: (inout [String: JSONValue]) -> Void) throws {
        let url = folder.appendingPathComponent("adapter_config.json")
        guard case var .object(obj) = try JSONValue.parse(Data(contentsOf: url)) else { throw CocoaError(.fileReadCorruptFile) }
        edit(&obj)
        try JSONValue.object(obj).serialized().write(to: url)
    }

    /// Rewrites adapter_model.safetensors of `folder` through `edit`.
    static func editTensors(_ folder: URL, _ edit: (inout [String: Tensor]) -> Void) throws {
        let url = folder.appendingPathComponent("adapter_model.safetensors")
        var t = try tensors(url)
        edit(&t)
        try SafetensorsWriter.write(t.map { ($0.key, $0.value) }, metadata: ["format": "pt"], to: url)
    }
}
