import Foundation
import XCTest
@testable import SentimentCheckpoint
import SentimentTestSupport

/// The fixtures written by tools/fixtures_checkpoint.py.
enum CheckpointFixtures {
    static var folder: URL {
        TestFixtures.root.appendingPathComponent("checkpoint")
    }

    static func url(_ name: String) -> URL { folder.appendingPathComponent(name) }

    struct ExpectedTensor: Decodable {
        var dtype: String
        var shape: [Int]
        var bits: [UInt32]?
        var refused: Bool?
    }

    /// Tensor name -> what torch says `tensor.float()` is, as fp32 bit patterns.
    static func expected() throws -> [String: ExpectedTensor] {
        try JSONDecoder().decode([String: ExpectedTensor].self, from: Data(contentsOf: url("expected.json")))
    }

    /// File name -> [error case name, text the message must contain].
    static func badFiles(_ list: String) throws -> [String: [String]] {
        try JSONDecoder().decode([String: [String]].self, from: Data(contentsOf: url(list)))
    }

    /// "bad_safetensors.json" maps file -> case name only.
    static func badSafetensors() throws -> [String: String] {
        try JSONDecoder().decode([String: String].self, from: Data(contentsOf: url("bad_safetensors.json")))
    }
}

extension CheckpointFixtures {
    /// The case name of an enum value with associated values, e.g. "forbiddenGlobal".
    static func caseName(_ error: Error) -> String {
        Mirror(reflecting: error).children.first?.label ?? String(describing: error)
    }

    static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    /// A fresh temporary directory, removed when the test ends.
    static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Opens every proper prefix of fixture `name` (longest first) with `open` and asserts each is refused, never
    /// a crash: a file cut short anywhere must not read as a checkpoint.
    static func assertEveryTruncationIsRefused(_ test: XCTestCase, fixture name: String,
                                               open: (URL) throws -> Any, line: UInt = #line) throws {
        let data = try Data(contentsOf: url(name))
        let cut = try temporaryDirectory(test).appendingPathComponent("cut-" + name)
        try data.write(to: cut)
        for length in stride(from: data.count - 1, through: 0, by: -1) {
            XCTAssertEqual(truncate(cut.path, off_t(length)), 0, line: line)   // cheaper than rewriting the file
            XCTAssertThrowsError(try open(cut), "prefix of \(length) bytes opened", line: line)
        }
    }

    /// Asserts that `body` throws a `CheckpointError` of case `expectedCase` whose message names `file`
    /// and contains `detail`.
    static func assertCheckpointError(_ expectedCase: String, file fileName: String, detail: String = "",
                               _ body: () throws -> Any, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("\(fileName): expected \(expectedCase), but it opened", line: line)
        } catch let error as CheckpointError {
            XCTAssertEqual(caseName(error), expectedCase, "\(fileName): \(error)", line: line)
            XCTAssertTrue(error.description.contains(fileName), "message does not name the file: \(error)", line: line)
            if !detail.isEmpty {
                XCTAssertTrue(error.description.contains(detail), "message does not mention '\(detail)': \(error)", line: line)
            }
        } catch {
            XCTFail("\(fileName): expected CheckpointError.\(expectedCase), got \(type(of: error)): \(error)", line: line)
        }
    }

    /// A seeded generator, so fuzz tests are reproducible.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// A scratch file rewritten in place with same-length contents (pwrite, no truncation: much
    /// cheaper than creating a file per fuzz round).
    final class ScratchFile {
        let url: URL
        private let fd: Int32

        init(_ url: URL, length: Int) {
            self.url = url
            fd = open(url.path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
            precondition(fd >= 0 && ftruncate(fd, off_t(length)) == 0, "cannot create \(url.path)")
        }

        func overwrite(_ data: Data) {
            let n = data.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            precondition(n == data.count, "short write to \(url.path)")
        }

        deinit { close(fd) }
    }
}
