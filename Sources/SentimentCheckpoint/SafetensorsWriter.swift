import Foundation
import SentimentCore

/// Writes fp32 tensors as safetensors, byte for byte as the reference implementation does for F32:
/// compact JSON header (`__metadata__` first, then tensors sorted by name), padded with spaces to a
/// multiple of 8, then the data in the same order. The file appears atomically (see `AtomicFile`).
///
/// `transformers` refuses safetensors without `"format": "pt"` in the metadata: pass it for any file
/// meant for `from_pretrained`.
public enum SafetensorsWriter {
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String], to url: URL) throws {
        let sorted = try validated(tensors, path: url.path)
        let header = headerBytes(sorted, metadata: metadata)
        try AtomicFile.write(to: url) { sink in
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try sink.write($0) }
            try sink.write(header)
            for (_, tensor) in sorted { try sink.write(tensor.values) }
        }
    }

    /// Names must be unique (as Swift compares strings, so no two canonically equal spellings) and
    /// must not be the reserved `__metadata__`. Returns the tensors sorted by the UTF-8 bytes of
    /// their names, the order the reference implementation uses.
    static func validated(_ tensors: [(name: String, tensor: Tensor)], path: String) throws -> [(name: String, tensor: Tensor)] {
        var seen = Set<String>()
        for (name, _) in tensors {
            if name == "__metadata__" {
                throw CheckpointError.invalidTensorName(path: path, tensor: name, reason: "the name is reserved for metadata")
            }
            if !seen.insert(name).inserted {
                throw CheckpointError.invalidTensorName(path: path, tensor: name, reason: "the name is given twice")
            }
        }
        return tensors.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    /// The JSON header, padded with spaces to a multiple of 8 bytes.
    static func headerBytes(_ sorted: [(name: String, tensor: Tensor)], metadata: [String: String]) -> Data {
        var parts: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                .map { StrictJSON.quoted($0.key) + ":" + StrictJSON.quoted($0.value) }
            parts.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        for (name, tensor) in sorted {
            let end = offset + tensor.count * 4
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            parts.append(StrictJSON.quoted(name) + ":{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var json = Data(("{" + parts.joined(separator: ",") + "}").utf8)
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        return json
    }
}
