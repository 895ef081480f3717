#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest
@testable import SentimentCheckpoint
import SentimentCore

final class SafetensorsWriterTests: XCTestCase {
    typealias F = CheckpointFixtures

    private struct WriterCase: Codable {
        struct Entry: Codable { var name: String; var shape: [Int]; var bits: [UInt32] }
        var metadata: [String: String]
        var tensors: [Entry]

        var namedTensors: [(name: String, tensor: Tensor)] {
            tensors.map { ($0.name, Tensor(shape: $0.shape, values: $0.bits.map(Float.init(bitPattern:)))) }
        }
    }

    /// The same tensors safetensors wrote in Python, written by us: the bytes must be identical.
    func testWriterMatchesReferenceBytes() throws {
        let spec = try JSONDecoder().decode(WriterCase.self, from: Data(contentsOf: F.url("writer_case.json")))
        let dir = try F.temporaryDirectory(self)
        let url = dir.appendingPathComponent("ours.safetensors")
        try SafetensorsWriter.write(spec.namedTensors, metadata: spec.metadata, to: url)
        let ours = try Data(contentsOf: url)
        let reference = try Data(contentsOf: F.url("writer_reference.safetensors"))
        XCTAssertEqual(ours.count, reference.count)
        XCTAssertTrue(ours == reference, "header ours:\n\(String(decoding: ours.prefix(300), as: UTF8.self))\nreference:\n\(String(decoding: reference.prefix(300), as: UTF8.self))")
    }

    private static let awkward: WriterCase = {
        var tensors: [WriterCase.Entry] = []
        let specials: [Float] = [0, -0.0, .infinity, -.infinity, .nan, Float(bitPattern: 0x0001_16C2), .greatestFiniteMagnitude, -1.5]
        tensors.append(.init(name: "encoder.layer.0.attention.self.query.weight", shape: [2, 4], bits: specials.map(\.bitPattern)))
        tensors.append(.init(name: "quote\"back\\slash/new\nline\ttab\u{01}", shape: [3], bits: [1, 2, 3].map { Float($0).bitPattern }))
        tensors.append(.init(name: "unicodé 😀 名前", shape: [], bits: [Float(0.25).bitPattern]))
        tensors.append(.init(name: "empty", shape: [0, 7], bits: []))
        tensors.append(.init(name: "a", shape: [1, 1, 1], bits: [Float(-2).bitPattern]))
        return WriterCase(metadata: ["format": "pt", "written_by": "sentimentd", "weird \"key\"": "välue\n"], tensors: tensors)
    }()

    /// Round trip through our reader; with CKPT_WRITER_OUT set (tools/fixtures_checkpoint.py
    /// --check-swift-writer) the file is also left there for Python's safetensors to read.
    func testWriterOutputForPython() throws {
        let spec = Self.awkward
        let dir = try F.temporaryDirectory(self)
        let url = dir.appendingPathComponent("swift_written.safetensors")
        try SafetensorsWriter.write(spec.namedTensors, metadata: spec.metadata, to: url)

        let file = try SafetensorsFile(url: url)
        XCTAssertEqual(file.metadata, spec.metadata)
        XCTAssertEqual(file.tensorNames, spec.tensors.map(\.name).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        for entry in spec.tensors {
            XCTAssertEqual(file.info(entry.name), TensorInfo(dtype: .f32, shape: entry.shape))
            XCTAssertEqual(F.bits(try file.tensor(entry.name).values), entry.bits, entry.name)
        }
        let size = try Data(contentsOf: url).prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual(size % 8, 0, "header length is padded to 8")

        if let out = ProcessInfo.processInfo.environment["CKPT_WRITER_OUT"] {
            let outURL = URL(fileURLWithPath: out)
            try FileManager.default.copyItem(at: url, to: outURL.appendingPathComponent("swift_written.safetensors"))
            try JSONEncoder().encode(spec).write(to: outURL.appendingPathComponent("swift_written.json"))
        }
    }

    func testReservedAndDuplicateNamesAreRefused() throws {
        let dir = try F.temporaryDirectory(self)
        let url = dir.appendingPathComponent("bad.safetensors")
        let t = Tensor(shape: [1], values: [1])
        F.assertCheckpointError("invalidTensorName", file: "bad.safetensors", detail: "reserved") {
            try SafetensorsWriter.write([("__metadata__", t)], metadata: [:], to: url)
        }
        F.assertCheckpointError("invalidTensorName", file: "bad.safetensors", detail: "twice") {
            try SafetensorsWriter.write([("w", t), ("w", t)], metadata: [:], to: url)
        }
        // Canonically equal spellings (é precomposed and decomposed) would collide in any reader.
        F.assertCheckpointError("invalidTensorName", file: "bad.safetensors", detail: "twice") {
            try SafetensorsWriter.write([("caf\u{E9}", t), ("cafe\u{301}", t)], metadata: [:], to: url)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
    }

    func testFailedWriteLeavesNothingUnderTheFinalName() throws {
        let dir = try F.temporaryDirectory(self)
        let url = dir.appendingPathComponent("big.safetensors")
        try Data("old content".utf8).write(to: url)
        let big = Tensor(shape: [256, 1024], values: [Float](repeating: 1, count: 256 * 1024))   // 1 MiB
        let error = withFileSizeLimit(64 << 10) {
            Result { try SafetensorsWriter.write([("w", big)], metadata: [:], to: url) }
        }
        guard case let .failure(failure) = error else { return XCTFail("the write succeeded past the file size limit") }
        XCTAssertEqual(failure as? AtomicFileError, .write(path: url.path, errno: EFBIG))
        XCTAssertTrue("\(failure)".contains(url.path), "\(failure)")
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "old content", "the old file was damaged")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["big.safetensors"], "temporary file left behind")
    }

    /// Runs `body` with RLIMIT_FSIZE lowered and SIGXFSZ ignored, so a write past `bytes` fails with
    /// EFBIG the way a full disk fails with ENOSPC.
    private func withFileSizeLimit<R>(_ bytes: UInt64, _ body: () -> R) -> R {
        let resource = __rlimit_resource_t(RLIMIT_FSIZE.rawValue)
        var saved = rlimit()
        getrlimit(resource, &saved)
        let savedHandler = signal(SIGXFSZ, SIG_IGN)
        var limited = saved
        limited.rlim_cur = rlim_t(bytes)
        setrlimit(resource, &limited)
        defer {
            setrlimit(resource, &saved)
            signal(SIGXFSZ, savedHandler)
        }
        return body()
    }
}

final class AtomicFileTests: XCTestCase {
    typealias F = CheckpointFixtures

    func testWriteReplacesAtomically() throws {
        let dir = try F.temporaryDirectory(self)
        let url = dir.appendingPathComponent("file.json")
        try AtomicFile.write(Data("one".utf8), to: url)
        try AtomicFile.write(Data("two".utf8), to: url)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "two")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["file.json"])
        let mode = try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o644)
    }

    func testStreamingBodyThatThrowsLeavesNothing() throws {
        struct Stop: Error {}
        let dir = try F.temporaryDirectory(self)
        let url = dir.appendingPathComponent("stream.bin")
        XCTAssertThrowsError(try AtomicFile.write(to: url) { sink in
            try sink.write(Data(repeating: 7, count: 100_000))
            throw Stop()
        }) { XCTAssertTrue($0 is Stop) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    func testStreamingWritesEverything() throws {
        let dir = try F.temporaryDirectory(self)
        let url = dir.appendingPathComponent("stream.bin")
        try AtomicFile.write(to: url) { sink in
            try sink.write(Data([1, 2, 3]))
            try sink.write([Float(1)])
            try [UInt8](repeating: 9, count: 5).withUnsafeBytes { try sink.write($0) }
        }
        XCTAssertEqual(Array(try Data(contentsOf: url)), [1, 2, 3, 0, 0, 0x80, 0x3F, 9, 9, 9, 9, 9])
    }

    func testMissingDirectoryIsAClearError() throws {
        let dir = try F.temporaryDirectory(self)
        let url = dir.appendingPathComponent("no/such/dir/file.bin")
        XCTAssertThrowsError(try AtomicFile.write(Data([1]), to: url)) { error in
            XCTAssertEqual(error as? AtomicFileError, .createTemporary(path: url.path, errno: ENOENT))
            XCTAssertTrue("\(error)".contains(url.path) && "\(error)".contains("No such file"), "\(error)")
        }
    }
}
