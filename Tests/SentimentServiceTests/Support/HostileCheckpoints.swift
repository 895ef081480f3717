import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Tiny model folders built to hurt: every kind of size a config.json can get wrong, weights files that lie about
/// their shapes or bytes, and files that are not files. Each is a copy of the tiny RoBERTa fixture with one thing
/// changed, and says which word the refusal must name.
struct HostileCheckpoint {
    let name: String
    /// Text the rejection reason must contain (the field, the file, or what is wrong).
    let names: String
    let make: (URL) throws -> Void

    /// Builds the folder at `folder` (which must not exist).
    func build(at folder: URL) throws {
        try HostileCheckpoints.copyTiny(to: folder)
        try make(folder)
    }
}

enum HostileCheckpoints {
    static func copyTiny(to folder: URL) throws {
        let source = try TestPaths.requireTinyRoberta()
        let fm = FileManager.default
        try fm.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in try fm.contentsOfDirectory(atPath: source.path) where TestPaths.checkpointFiles.contains(name) {
            try fm.copyItem(at: source.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
    }

    static func editConfig(_ folder: URL, _ edit: (inout [String: Any]) -> Void) throws {
        let url = folder.appendingPathComponent("config.json")
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        edit(&object)
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: url)
    }

    /// config.json with `key` set to a JSON literal written as is (1e300, 1261.5 and the like survive exactly).
    static func setConfigLiteral(_ folder: URL, _ key: String, _ literal: String) throws {
        try editConfig(folder) { $0[key] = "@@\(key)@@" }
        let url = folder.appendingPathComponent("config.json")
        let text = try String(contentsOf: url, encoding: .utf8).replacingOccurrences(of: "\"@@\(key)@@\"", with: literal)
        try text.write(to: url, atomically: false, encoding: .utf8)
    }

    static func size(_ key: String, _ literal: String) -> HostileCheckpoint {
        HostileCheckpoint(name: "\(key)=\(literal)", names: key) { try setConfigLiteral($0, key, literal) }
    }

    /// Every kind of hostile config.json size.
    static var configs: [HostileCheckpoint] {
        [
            size("vocab_size", "8000000000000000"), size("vocab_size", "-5"), size("vocab_size", "0"),
            size("vocab_size", "1261.5"), size("vocab_size", "\"1261\""), size("vocab_size", "1e300"),
            size("hidden_size", "1000000000"), size("hidden_size", "0"), size("num_attention_heads", "0"),
            size("num_hidden_layers", "10000000"), size("num_hidden_layers", "-1"),
            size("intermediate_size", "1000000000000"), size("max_position_embeddings", "1000000000000"),
            size("max_position_embeddings", "2"), size("type_vocab_size", "1000000000"), size("type_vocab_size", "0"),
            size("layer_norm_eps", "0"), size("layer_norm_eps", "-1e-5"), size("layer_norm_eps", "1e300"),
            size("pad_token_id", "99999"), size("pad_token_id", "-1"),
            HostileCheckpoint(name: "hidden-not-divisible-by-heads", names: "num_attention_heads") {
                try editConfig($0) { $0["hidden_size"] = 30 }
            },
            HostileCheckpoint(name: "num_labels=-1-without-id2label", names: "num_labels") {
                try editConfig($0) { c in
                    c.removeValue(forKey: "id2label"); c.removeValue(forKey: "label2id"); c["num_labels"] = -1
                }
            },
            HostileCheckpoint(name: "num_labels=1e9-without-id2label", names: "num_labels") {
                try editConfig($0) { c in
                    c.removeValue(forKey: "id2label"); c.removeValue(forKey: "label2id"); c["num_labels"] = 1_000_000_000
                }
            },
            HostileCheckpoint(name: "num_labels-vs-id2label", names: "num_labels 5 disagrees") {
                try editConfig($0) { $0["num_labels"] = 5 }
            },
            HostileCheckpoint(name: "id2label-of-20000", names: "id2label") {
                try editConfig($0) { c in
                    c["id2label"] = Dictionary(uniqueKeysWithValues: (0..<20_000).map { (String($0), "L\($0)") })
                    c.removeValue(forKey: "label2id")
                }
            },
            // Within the limits, but not what the file holds: refused by the tensor's shape, before allocating.
            HostileCheckpoint(name: "huge-vocab-tiny-file", names: "word_embeddings.weight\" has shape [1261, 32], config.json implies [4000000, 32]") {
                try editConfig($0) { $0["vocab_size"] = 4_000_000 }
            },
            HostileCheckpoint(name: "intermediate-inconsistent", names: "intermediate.dense.weight\" has shape [64, 32], config.json implies [4096, 32]") {
                try editConfig($0) { $0["intermediate_size"] = 4096 }
            },
            HostileCheckpoint(name: "more-layers-than-file", names: "encoder.layer.2.") {
                try editConfig($0) { $0["num_hidden_layers"] = 200 }
            },
        ]
    }

    /// Weights files that lie.
    static var weights: [HostileCheckpoint] {
        [
            HostileCheckpoint(name: "safetensors-truncated", names: "truncated") { folder in
                try CheckpointDamage.truncateSafetensors(folder)
            },
            HostileCheckpoint(name: "safetensors-header-length", names: "header length") { folder in
                let url = folder.appendingPathComponent("model.safetensors")
                var data = try Data(contentsOf: url)
                data.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
                try data.write(to: url)
            },
            HostileCheckpoint(name: "safetensors-shape-overflow", names: "declares shape") { folder in
                let url = folder.appendingPathComponent("model.safetensors")
                var file = try SafetensorsFile(url: url)
                let name = try XCTUnwrap(file.names.first { $0.hasSuffix("word_embeddings.weight") })
                file.replace(name, shape: [1 << 62, 32], data: file.data(name))
                try file.write(to: url)
            },
            HostileCheckpoint(name: "safetensors-nan-weights", names: "NaN") { folder in
                try CheckpointDamage.nanClassifierBias(folder)
            },
            // A tiny pytorch_model.bin whose word embedding is one stored row repeated by a stride of 0 to the
            // config's 4M-token vocabulary: 512 MB if it were expanded.
            HostileCheckpoint(name: "pytorch-stride-0-vocab", names: "more than the file's") { folder in
                try editConfig(folder) { $0["vocab_size"] = 4_000_000 }
                try PyTorchWriter.convert(folder) { name, tensor in
                    guard name.hasSuffix("word_embeddings.weight") else { return tensor }
                    return .init(shape: [4_000_000, 32], strides: [0, 1], offset: 0, data: tensor.data.prefix(32 * 4))
                }
            },
            HostileCheckpoint(name: "pytorch-view-outside-storage", names: "outside its storage") { folder in
                try PyTorchWriter.convert(folder) { name, tensor in
                    guard name.hasSuffix("word_embeddings.weight") else { return tensor }
                    return .init(shape: tensor.shape, strides: tensor.strides, offset: 1 << 30, data: tensor.data)
                }
            },
            HostileCheckpoint(name: "pytorch-truncated", names: "pytorch_model.bin") { folder in
                try PyTorchWriter.convert(folder) { _, tensor in tensor }
                let url = folder.appendingPathComponent("pytorch_model.bin")
                let data = try Data(contentsOf: url)
                try data.prefix(data.count * 2 / 3).write(to: url)
            },
        ]
    }

    /// Things that are not regular files of the folder (a device node only where this process may make one).
    static func files(sibling: URL) -> [HostileCheckpoint] {
        let device = HostileCheckpoint(name: "device-model.safetensors", names: "model.safetensors: is a character device") { folder in
            let url = folder.appendingPathComponent("model.safetensors")
            try FileManager.default.removeItem(at: url)
            try makeZeroDevice(at: url.path)
        }
        let probe = sibling.deletingLastPathComponent().appendingPathComponent(".device-probe-\(UUID().uuidString)")
        let devices = (try? makeZeroDevice(at: probe.path)) != nil ? [device] : []
        unlink(probe.path)
        return devices + [
            HostileCheckpoint(name: "fifo-model.safetensors", names: "model.safetensors: is a FIFO") { folder in
                let url = folder.appendingPathComponent("model.safetensors")
                try FileManager.default.removeItem(at: url)
                guard mkfifo(url.path, 0o644) == 0 else { throw POSIXError(.EIO) }
            },
            HostileCheckpoint(name: "symlink-config-to-etc", names: "config.json: is a symbolic link to /etc/hostname, outside its folder") { folder in
                let url = folder.appendingPathComponent("config.json")
                try FileManager.default.removeItem(at: url)
                try FileManager.default.createSymbolicLink(atPath: url.path, withDestinationPath: "/etc/hostname")
            },
            HostileCheckpoint(name: "symlink-weights-to-sibling", names: "outside its folder") { folder in
                let url = folder.appendingPathComponent("model.safetensors")
                try FileManager.default.removeItem(at: url)
                try FileManager.default.createSymbolicLink(atPath: url.path,
                    withDestinationPath: sibling.appendingPathComponent("model.safetensors").path)
            },
            HostileCheckpoint(name: "directory-vocab.json", names: "vocab.json: is a directory") { folder in
                let url = folder.appendingPathComponent("vocab.json")
                try FileManager.default.removeItem(at: url)
                try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
            },
            HostileCheckpoint(name: "socket-merges.txt", names: "merges.txt: is a socket") { folder in
                let url = folder.appendingPathComponent("merges.txt")
                try FileManager.default.removeItem(at: url)
                try bindSocket(at: url.path)
            },
        ]
    }

    /// A character device node like /dev/zero (1, 5) at `path`: reading it never ends.
    static func makeZeroDevice(at path: String) throws {
        guard mknod(path, S_IFCHR | 0o644, dev_t(1 << 8 | 5)) == 0 else { throw POSIXError(.EPERM) }
    }

    /// A Unix socket file at `path` (the descriptor is closed; the file stays).
    static func bindSocket(at path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        try bindUnixSocket(fd, to: path)
    }
}

/// Writes a folder's weights as `pytorch_model.bin` in torch.save's zip layout (one storage per tensor, CRCs left
/// at 0, "not recorded", as torch allows), letting `transform` change any tensor's view on the way; the
/// safetensors file is removed.
enum PyTorchWriter {
    struct Tensor {
        var shape: [Int]
        var strides: [Int]
        var offset: Int
        /// fp32 little-endian storage bytes.
        var data: Data
    }

    static func convert(_ folder: URL, transform: (String, Tensor) throws -> Tensor) throws {
        let safetensors = folder.appendingPathComponent("model.safetensors")
        let file = try SafetensorsFile(url: safetensors)
        var pickle: [UInt8] = [0x80, 0x02, UInt8(ascii: "}"), UInt8(ascii: "(")]
        var storages: [(String, Data)] = []
        for (i, name) in file.names.enumerated() {
            let shape = file.shape(name)
            var strides = [Int](repeating: 1, count: shape.count)
            var s = 1
            for d in stride(from: shape.count - 1, through: 0, by: -1) { strides[d] = s; s *= shape[d] }
            let tensor = try transform(name, Tensor(shape: shape, strides: strides, offset: 0, data: file.data(name)))
            let key = String(i)
            storages.append((key, tensor.data))
            string(name, into: &pickle)
            global("torch._utils", "_rebuild_tensor_v2", into: &pickle)
            pickle.append(UInt8(ascii: "("))
            pickle.append(UInt8(ascii: "("))
            string("storage", into: &pickle)
            global("torch", "FloatStorage", into: &pickle)
            string(key, into: &pickle)
            string("cpu", into: &pickle)
            int(tensor.data.count / 4, into: &pickle)
            pickle.append(UInt8(ascii: "t"))
            pickle.append(UInt8(ascii: "Q"))
            int(tensor.offset, into: &pickle)
            intTuple(tensor.shape, into: &pickle)
            intTuple(tensor.strides, into: &pickle)
            pickle.append(0x89)   // False
            global("collections", "OrderedDict", into: &pickle)
            pickle.append(UInt8(ascii: ")"))
            pickle.append(UInt8(ascii: "R"))
            pickle.append(UInt8(ascii: "t"))
            pickle.append(UInt8(ascii: "R"))
        }
        pickle.append(UInt8(ascii: "u"))
        pickle.append(UInt8(ascii: "."))
        var entries: [(String, Data)] = [("archive/data.pkl", Data(pickle)), ("archive/byteorder", Data("little".utf8))]
        entries += storages.map { ("archive/data/\($0.0)", $0.1) }
        try zip(entries).write(to: folder.appendingPathComponent("pytorch_model.bin"))
        try FileManager.default.removeItem(at: safetensors)
    }

    static func string(_ s: String, into p: inout [UInt8]) {
        p.append(UInt8(ascii: "X"))
        p += le32(UInt32(s.utf8.count)) + Array(s.utf8)
    }

    static func global(_ module: String, _ name: String, into p: inout [UInt8]) {
        p.append(UInt8(ascii: "c"))
        p += Array("\(module)\n\(name)\n".utf8)
    }

    /// LONG1 of 8 bytes: any Int.
    static func int(_ v: Int, into p: inout [UInt8]) {
        p += [0x8A, 8] + withUnsafeBytes(of: Int64(v).littleEndian, Array.init)
    }

    static func intTuple(_ values: [Int], into p: inout [UInt8]) {
        p.append(UInt8(ascii: "("))
        for v in values { int(v, into: &p) }
        p.append(UInt8(ascii: "t"))
    }

    static func le16(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt16(v).littleEndian, Array.init) }
    static func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }

    /// A STORED zip of `entries`, CRC fields 0.
    static func zip(_ entries: [(String, Data)]) -> Data {
        var out: [UInt8] = []
        var central: [UInt8] = []
        for (name, data) in entries {
            let offset = UInt32(out.count)
            let nameBytes = Array(name.utf8)
            let common = le16(0) + le16(0) + le16(0) + le16(0) + le32(0) + le32(UInt32(data.count)) + le32(UInt32(data.count))
                + le16(nameBytes.count) + le16(0)
            out += le32(0x0403_4B50) + le16(20) + common + nameBytes + Array(data)
            central += le32(0x0201_4B50) + le16(20) + le16(20) + common + le16(0) + le16(0) + le16(0) + le32(0)
                + le32(offset) + nameBytes
        }
        let directoryOffset = UInt32(out.count)
        out += central
        out += le32(0x0605_4B50) + le16(0) + le16(0) + le16(entries.count) + le16(entries.count)
            + le32(UInt32(central.count)) + le32(directoryOffset) + le16(0)
        return Data(out)
    }
}
