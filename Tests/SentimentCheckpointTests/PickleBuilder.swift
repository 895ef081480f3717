import Foundation
@testable import SentimentCheckpoint

/// Hand-assembled pickles and torch-like zip archives, for cases torch itself would never write.
struct PickleBuilder {
    var bytes: [UInt8] = [0x80, 0x02]

    mutating func op(_ code: UInt8, _ operand: [UInt8] = []) { bytes.append(code); bytes += operand }
    mutating func mark() { op(UInt8(ascii: "(")) }
    mutating func tuple() { op(UInt8(ascii: "t")) }
    mutating func emptyDict() { op(UInt8(ascii: "}")) }
    mutating func setItems() { op(UInt8(ascii: "u")) }
    mutating func stop() { op(UInt8(ascii: ".")) }
    mutating func reduce() { op(UInt8(ascii: "R")) }
    mutating func persid() { op(UInt8(ascii: "Q")) }

    mutating func string(_ s: String) {
        op(UInt8(ascii: "X"), withUnsafeBytes(of: UInt32(s.utf8.count).littleEndian, Array.init) + Array(s.utf8))
    }

    mutating func int(_ v: Int32) { op(UInt8(ascii: "J"), withUnsafeBytes(of: v.littleEndian, Array.init)) }

    mutating func global(_ module: String, _ name: String) {
        op(UInt8(ascii: "c"), Array("\(module)\n\(name)\n".utf8))
    }

    mutating func intTuple(_ values: [Int32]) {
        mark()
        for v in values { int(v) }
        tuple()
    }

    /// `_rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())`
    mutating func tensor(storageType: String = "FloatStorage", key: String, numel: Int32,
                         offset: Int32, size: [Int32], stride: [Int32]) {
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        mark(); string("storage"); global("torch", storageType); string(key); string("cpu"); int(numel); tuple()
        persid()
        int(offset)
        intTuple(size)
        intTuple(stride)
        op(0x89)   // False
        global("collections", "OrderedDict"); op(UInt8(ascii: ")")); reduce()
        tuple()
        reduce()
    }

    /// A dict of tensors: each value is appended by `body`.
    static func stateDict(_ entries: [(String, (inout PickleBuilder) -> Void)]) -> [UInt8] {
        var p = PickleBuilder()
        p.emptyDict()
        p.mark()
        for (key, value) in entries {
            p.string(key)
            value(&p)
        }
        p.setItems()
        p.stop()
        return p.bytes
    }
}

/// A minimal STORED-only zip writer laid out like torch.save's archives.
enum TestZip {
    static func archive(_ entries: [(name: String, data: [UInt8])]) -> Data {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func le16(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt16(v).littleEndian, Array.init) }
        func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        for (name, data) in entries {
            let offset = UInt32(out.count)
            let crc = data.withUnsafeBytes { CRC32.checksum($0) }
            let nameBytes = Array(name.utf8)
            let common: [UInt8] = le16(0) + le16(0) + le16(0) + le16(0) + le32(crc)
                + le32(UInt32(data.count)) + le32(UInt32(data.count)) + le16(nameBytes.count) + le16(0)
            out += le32(0x0403_4B50) + le16(20) + common + nameBytes + data
            central += le32(0x0201_4B50) + le16(20) + le16(20) + common + le16(0) + le16(0) + le16(0)
                + le32(0) + le32(offset) + nameBytes
        }
        let directoryOffset = UInt32(out.count)
        out += central
        out += le32(0x0605_4B50) + le16(0) + le16(0) + le16(entries.count) + le16(entries.count)
            + le32(UInt32(central.count)) + le32(directoryOffset) + le16(0)
        return Data(out)
    }

    static func bytes(of values: [Float]) -> [UInt8] {
        values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
    }

    /// archive/data.pkl + archive/data/<key> for each storage.
    static func checkpoint(pickle: [UInt8], storages: [String: [UInt8]]) -> Data {
        var entries: [(name: String, data: [UInt8])] = [("archive/data.pkl", pickle), ("archive/byteorder", Array("little".utf8))]
        for (key, bytes) in storages.sorted(by: { $0.key < $1.key }) { entries.append(("archive/data/\(key)", bytes)) }
        return archive(entries)
    }
}
