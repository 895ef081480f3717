import Foundation
import SentimentCore
import XCTest
@testable import SentimentCheckpoint
#if canImport(Glibc)
import Glibc
#endif

/// The folder reader: what it refuses by name, what it does when a file changes under it, and that its digest is
/// the file's SHA-256 however the file was read (in order, out of order, in a paced job, hashed alongside).
final class ModelFolderReaderTests: XCTestCase {
    private typealias F = CheckpointFixtures

    private func write(_ bytes: Int, to url: URL) throws -> Data {
        var rng = F.SplitMix64(seed: UInt64(bytes))
        var words = [UInt64](repeating: 0, count: (bytes + 7) / 8)
        for i in words.indices { words[i] = rng.next() }
        let data = words.withUnsafeBytes { Data($0.prefix(bytes)) }
        try data.write(to: url)
        return data
    }

    func testDigest_isTheFilesSHA256_howeverItWasRead() throws {
        let dir = try F.temporaryDirectory(self)
        // Large enough that an unpaced read hashes on another thread while it reads.
        let data = try write(20 << 20 | 12345, to: dir.appendingPathComponent("weights.bin"))
        let expected = SHA256Hasher.hex(of: data)
        func digest(_ body: (CheckpointFile) throws -> Void) throws -> String {
            let reader = try ModelFolderReader(dir)
            let file = try reader.open("weights.bin")
            try body(file)
            try file.finish()
            return try XCTUnwrap(reader.digests["weights.bin"]).sha256
        }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: data.count, alignment: 64)
        defer { buffer.deallocate() }
        XCTAssertEqual(try digest { try $0.read(at: 0, count: data.count, into: buffer) }, expected, "in order, one read")
        XCTAssertEqual(Data(bytes: buffer, count: data.count), data)
        XCTAssertEqual(try digest { f in try Pacing.run(pause: 0.01) { try f.read(at: 0, count: data.count, into: buffer) } },
                       expected, "paced")
        XCTAssertEqual(try digest { _ in }, expected, "nothing read: all hashed at finish")
        XCTAssertEqual(try digest { f in
            _ = try f.peek(at: data.count - 100, count: 100)
            try f.read(at: 9 << 20, count: 9 << 20, into: buffer)   // a gap first
            try f.read(at: 100, count: 1000, into: buffer)           // behind what was hashed
        }, expected, "out of order")
    }

    func testExpectedDigest_refusesOtherBytes() throws {
        let dir = try F.temporaryDirectory(self)
        let data = try write(1000, to: dir.appendingPathComponent("config.json"))
        let right = FileDigest(size: 1000, sha256: SHA256Hasher.hex(of: data))
        XCTAssertEqual(try ModelFolderReader(dir, expected: ["config.json": right]).contents("config.json"), data)
        let wrong = FileDigest(size: 1000, sha256: String(repeating: "0", count: 64))
        F.assertCheckpointError("notTheValidatedFile", file: "config.json", detail: "replaced after validation") {
            try ModelFolderReader(dir, expected: ["config.json": wrong]).contents("config.json")
        }
        F.assertCheckpointError("notTheValidatedFile", file: "config.json", detail: "not read by the validation") {
            try ModelFolderReader(dir, expected: [:]).contents("config.json")
        }
    }

    func testFileTruncatedWhileOpen_failsTheRead_neverTheProcess() throws {
        let dir = try F.temporaryDirectory(self)
        let url = dir.appendingPathComponent("model.safetensors")
        _ = try write(10 << 20, to: url)
        let file = try ModelFolderReader(dir).open("model.safetensors")
        XCTAssertEqual(truncate(url.path, 1 << 20), 0)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 10 << 20, alignment: 64)
        defer { buffer.deallocate() }
        F.assertCheckpointError("changedWhileReading", file: "model.safetensors", detail: "truncated") {
            try file.read(at: 0, count: 10 << 20, into: buffer)
        }
        let grown = try ModelFolderReader(dir).open("model.safetensors")
        try Data(count: 5).append(fileURL: url)
        F.assertCheckpointError("changedWhileReading", file: "model.safetensors", detail: "when opened") { try grown.finish() }
    }

    func testNonRegularFilesAndLinksOutOfTheFolder_areRefusedByName() throws {
        let dir = try F.temporaryDirectory(self)
        let fm = FileManager.default
        XCTAssertEqual(mkfifo(dir.appendingPathComponent("fifo").path, 0o644), 0)
        try fm.createDirectory(at: dir.appendingPathComponent("dir"), withIntermediateDirectories: false)
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("out").path, withDestinationPath: "/etc/hostname")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("up").path, withDestinationPath: "../x")
        try Data("inside".utf8).write(to: dir.appendingPathComponent("real.json"))
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("alias.json").path, withDestinationPath: "real.json")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("twice.json").path, withDestinationPath: "alias.json")
        let reader = try ModelFolderReader(dir)
        F.assertCheckpointError("notARegularFile", file: "fifo", detail: "FIFO") { try reader.contents("fifo") }
        F.assertCheckpointError("notARegularFile", file: "dir", detail: "directory") { try reader.contents("dir") }
        F.assertCheckpointError("linkLeavesFolder", file: "out", detail: "/etc/hostname") { try reader.contents("out") }
        F.assertCheckpointError("linkLeavesFolder", file: "up", detail: "../x") { try reader.contents("up") }
        F.assertCheckpointError("linkLeavesFolder", file: "twice.json", detail: "itself a link") { try reader.contents("twice.json") }
        XCTAssertEqual(String(decoding: try reader.contents("alias.json"), as: UTF8.self), "inside", "a link to a sibling")
        XCTAssertTrue(reader.exists("fifo"))
        XCTAssertFalse(reader.exists("../etc"))
    }
}

private extension Data {
    func append(fileURL url: URL) throws {
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: self)
    }
}
