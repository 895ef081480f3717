#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Writes TensorBoard event files (`events.out.tfevents.<time>.<host>.<pid>.<n>`) by hand: no protobuf
/// or TensorFlow library is needed for the handful of messages involved.
///
/// File format (TFRecord): each record is
///     u64 little-endian length, u32 masked CRC32C of those 8 bytes, the data, u32 masked CRC32C of the data
/// with mask(crc) = ((crc >> 15) | (crc << 17)) &+ 0xa282ead8. The data is a serialized `tensorflow.Event`:
///     Event   { double wall_time = 1; int64 step = 2; oneof { string file_version = 3; Summary summary = 5; } }
///     Summary { repeated Value value = 1; }
///     Value   { string tag = 1; float simple_value = 2; }
/// The first event of a file carries file_version "brain.Event:2"; each scalar is its own event.
/// Records are written with write(2) as they come (an interrupted run leaves at most one torn record at
/// the end, which readers skip); `flush()` fsyncs.
public final class TensorBoardWriter {
    public let url: URL
    private let fd: Int32

    public enum WriterError: Error, CustomStringConvertible {
        case create(path: String, errno: Int32)
        case write(path: String, errno: Int32)
        public var description: String {
            switch self {
            case let .create(path, e): return "\(path): cannot create the TensorBoard event file: \(String(cString: strerror(e)))"
            case let .write(path, e): return "\(path): cannot write TensorBoard events: \(String(cString: strerror(e)))"
            }
        }
    }

    /// Creates a new event file in `directory` (created if needed).
    public init(directory: URL, wallTime: Double = Date().timeIntervalSince1970) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let hostname = String(cString: host).replacingOccurrences(of: "/", with: "_")
        var n = 0
        var candidate: URL
        repeat {
            candidate = directory.appendingPathComponent("events.out.tfevents.\(Int(wallTime)).\(hostname).\(getpid()).\(n)")
            n += 1
        } while FileManager.default.fileExists(atPath: candidate.path)
        url = candidate
        fd = open(candidate.path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
        if fd < 0 { throw WriterError.create(path: candidate.path, errno: errno) }
        try writeRecord(Self.event(wallTime: wallTime, step: 0, fileVersion: "brain.Event:2"))
    }

    deinit { close(fd) }

    /// One scalar point of the curve `tag`.
    public func scalar(_ tag: String, _ value: Float, step: Int, wallTime: Double = Date().timeIntervalSince1970) throws {
        try writeRecord(Self.event(wallTime: wallTime, step: step, summary: [(tag, value)]))
    }

    /// fsync: the points written so far survive a crash.
    public func flush() { fsync(fd) }

    private func writeRecord(_ data: [UInt8]) throws {
        let bytes = Self.record(data)
        var offset = 0
        try bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw WriterError.write(path: url.path, errno: errno)
                }
                offset += n
            }
        }
    }

    // MARK: Encoding (internal for the tests)

    static func record(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        let length = UInt64(data.count)
        let lengthBytes = (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) }
        out += lengthBytes
        out += le32(maskedCRC32C(lengthBytes))
        out += data
        out += le32(maskedCRC32C(data))
        return out
    }

    static func event(wallTime: Double, step: Int, fileVersion: String? = nil, summary: [(String, Float)] = []) -> [UInt8] {
        var e = ProtoWriter()
        e.double(field: 1, wallTime)
        if step != 0 { e.varint(field: 2, UInt64(bitPattern: Int64(step))) }
        if let fileVersion { e.bytes(field: 3, Array(fileVersion.utf8)) }
        if !summary.isEmpty {
            var s = ProtoWriter()
            for (tag, value) in summary {
                var v = ProtoWriter()
                v.bytes(field: 1, Array(tag.utf8))
                v.float(field: 2, value)
                s.bytes(field: 1, v.out)
            }
            e.bytes(field: 5, s.out)
        }
        return e.out
    }

    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * UInt32($0))) } }

    static func maskedCRC32C(_ data: [UInt8]) -> UInt32 {
        let crc = crc32c(data)
        return ((crc >> 15) | (crc << 17)) &+ 0xa282_ead8
    }

    private static let crcTable: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    /// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord uses.
    static func crc32c(_ data: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in data { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}

/// The few protobuf wire encodings an Event needs.
struct ProtoWriter {
    var out: [UInt8] = []

    mutating func rawVarint(_ v: UInt64) {
        var v = v
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }
    mutating func key(_ field: Int, _ wireType: UInt64) { rawVarint(UInt64(field) << 3 | wireType) }
    mutating func varint(field: Int, _ v: UInt64) { key(field, 0); rawVarint(v) }
    mutating func double(field: Int, _ v: Double) {
        key(field, 1)
        let bits = v.bitPattern
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(i)))) }
    }
    mutating func float(field: Int, _ v: Float) {
        key(field, 5)
        let bits = v.bitPattern
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt32(i)))) }
    }
    mutating func bytes(field: Int, _ b: [UInt8]) {
        key(field, 2)
        rawVarint(UInt64(b.count))
        out += b
    }
}
