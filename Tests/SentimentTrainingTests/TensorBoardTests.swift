import Foundation
import XCTest
@testable import SentimentTraining
import SentimentTestSupport

/// Reads TensorBoard event files back: TFRecord framing with both CRCs checked, then the Event fields
/// the writer uses, decoded by a protobuf reader written independently of the writer.
enum EventFileReader {
    struct Event: Equatable {
        var wallTime: Double
        var step: Int
        var fileVersion: String?
        var scalars: [String: Float]
    }

    enum Failure: Error { case truncated(Int), lengthCRC(Int), dataCRC(Int), proto(String) }

    static func records(_ bytes: [UInt8]) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        var i = 0
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) } }
        while i < bytes.count {
            guard i + 12 <= bytes.count else { throw Failure.truncated(i) }
            let lengthBytes = Array(bytes[i..<i + 8])
            let length = (0..<8).reduce(UInt64(0)) { $0 | UInt64(lengthBytes[$1]) << (8 * UInt64($1)) }
            guard TensorBoardWriter.maskedCRC32C(lengthBytes) == u32(i + 8) else { throw Failure.lengthCRC(i) }
            let start = i + 12, end = start + Int(length)
            guard end + 4 <= bytes.count else { throw Failure.truncated(i) }
            let data = Array(bytes[start..<end])
            guard TensorBoardWriter.maskedCRC32C(data) == u32(end) else { throw Failure.dataCRC(i) }
            out.append(data)
            i = end + 4
        }
        return out
    }

    /// (field number, wire type, payload) triples of one message.
    static func fields(_ b: [UInt8]) throws -> [(Int, Int, [UInt8])] {
        var i = 0
        func varint() throws -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard i < b.count else { throw Failure.proto("varint runs past the end") }
                let c = b[i]; i += 1
                v |= UInt64(c & 0x7F) << shift
                if c & 0x80 == 0 { return v }
                shift += 7
            }
        }
        var out: [(Int, Int, [UInt8])] = []
        while i < b.count {
            let key = try varint()
            let field = Int(key >> 3), wire = Int(key & 7)
            switch wire {
            case 0: let v = try varint(); out.append((field, 0, (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) }))
            case 1: out.append((field, 1, Array(b[i..<i + 8]))); i += 8
            case 5: out.append((field, 5, Array(b[i..<i + 4]))); i += 4
            case 2:
                let n = Int(try varint())
                guard i + n <= b.count else { throw Failure.proto("length-delimited field runs past the end") }
                out.append((field, 2, Array(b[i..<i + n]))); i += n
            default: throw Failure.proto("wire type \(wire)")
            }
        }
        return out
    }

    static func event(_ data: [UInt8]) throws -> Event {
        var e = Event(wallTime: 0, step: 0, fileVersion: nil, scalars: [:])
        func le(_ b: [UInt8]) -> UInt64 { b.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
        for (field, wire, payload) in try fields(data) {
            switch (field, wire) {
            case (1, 1): e.wallTime = Double(bitPattern: le(payload))
            case (2, 0): e.step = Int(Int64(bitPattern: le(payload)))
            case (3, 2): e.fileVersion = String(decoding: payload, as: UTF8.self)
            case (5, 2):
                for (vf, vw, value) in try fields(payload) where vf == 1 && vw == 2 {
                    var tag = "", number: Float?
                    for (f, w, p) in try fields(value) {
                        if f == 1 && w == 2 { tag = String(decoding: p, as: UTF8.self) }
                        if f == 2 && w == 5 { number = Float(bitPattern: UInt32(truncatingIfNeeded: le(p))) }
                    }
                    guard let number else { throw Failure.proto("summary value \(tag) has no simple_value") }
                    e.scalars[tag] = number
                }
            default: throw Failure.proto("unexpected field \(field) wire \(wire)")
            }
        }
        return e
    }

    static func events(in directory: URL) throws -> [Event] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasPrefix("events.out.tfevents.") }.sorted()
        return try files.flatMap { try records(Array(Data(contentsOf: directory.appendingPathComponent($0)))).map(event) }
    }
}

final class TensorBoardTests: XCTestCase {
    func testCRC32C_checkValueAndMask() {
        // The CRC-32C check value (RFC 3720 B.4): crc32c("123456789") = 0xE3069283.
        XCTAssertEqual(TensorBoardWriter.crc32c(Array("123456789".utf8)), 0xE306_9283)
        // 32 zero bytes: 0x8A9136AA (RFC 3720 B.4).
        XCTAssertEqual(TensorBoardWriter.crc32c([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        let crc = TensorBoardWriter.crc32c([1, 2, 3])
        XCTAssertEqual(TensorBoardWriter.maskedCRC32C([1, 2, 3]), ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8)
    }

    func testEventEncoding_knownBytes() {
        // Event{wall_time=1.5, step=300, summary{value{tag:"a", simple_value:2}}}
        // 09 <1.5 as f64 LE> 10 ac 02 | 2a 0a (summary, 10 bytes) 0a 08 (value, 8 bytes) 0a 01 61 15 <2.0 as f32 LE>
        let bytes = TensorBoardWriter.event(wallTime: 1.5, step: 300, summary: [("a", 2)])
        XCTAssertEqual(bytes, [0x09, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F, 0x10, 0xAC, 0x02, 0x2A, 0x0A, 0x0A, 0x08,
                               0x0A, 0x01, 0x61, 0x15, 0, 0, 0, 0x40])
    }

    func testWrittenFile_readsBackWithCRCsFileVersionAndScalars() throws {
        let dir = try TemporaryDirectory("tb")
        let writer = try TensorBoardWriter(directory: dir.url.appendingPathComponent("logs"), wallTime: 1_700_000_000)
        for step in 1...5 {
            try writer.scalar("train/loss", 1 / Float(step), step: step, wallTime: 1_700_000_000 + Double(step))
        }
        try writer.scalar("eval/macro_f1", 0.625, step: 5)
        try writer.scalar("train/learning_rate", 2e-5, step: -1 + 7)
        writer.flush()
        XCTAssertTrue(writer.url.lastPathComponent.hasPrefix("events.out.tfevents.1700000000."))

        let events = try EventFileReader.events(in: dir.url.appendingPathComponent("logs"))
        XCTAssertEqual(events.count, 8)
        XCTAssertEqual(events[0].fileVersion, "brain.Event:2")
        XCTAssertEqual(events[0].wallTime, 1_700_000_000)
        let losses = events.compactMap { e in e.scalars["train/loss"].map { (e.step, $0) } }
        XCTAssertEqual(losses.map(\.0), [1, 2, 3, 4, 5])
        XCTAssertEqual(losses.map(\.1), [1, 0.5, 1.0 / 3, 0.25, 0.2])
        XCTAssertEqual(events[6].scalars, ["eval/macro_f1": 0.625])
        XCTAssertEqual(events[7].scalars["train/learning_rate"], 2e-5)
        XCTAssertEqual(events[7].step, 6)

        // A second writer in the same folder makes a second file; a corrupted byte fails the CRC.
        let second = try TensorBoardWriter(directory: dir.url.appendingPathComponent("logs"), wallTime: 1_700_000_000)
        XCTAssertNotEqual(second.url, writer.url)
        var bytes = Array(try Data(contentsOf: writer.url))
        bytes[bytes.count - 6] ^= 0x01
        XCTAssertThrowsError(try EventFileReader.records(bytes))
    }
}
