import Foundation
import XCTest
@testable import SentimentCore

/// Known-answer vectors (FIPS 180-4 examples; `git hash-object`), streaming in uneven chunks, and the file helper
/// that the manifest, the registry and the hub's pull hash through.
final class DigestTests: XCTestCase {
    private let twoBlockMessage = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"

    func testSHA256_knownVectors() {
        XCTAssertEqual(SHA256Hasher.hex(of: Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256Hasher.hex(of: Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256Hasher.hex(of: Data(twoBlockMessage.utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    func testSHA1_knownVectors() {
        XCTAssertEqual(SHA1Hasher.hex(of: Data()), "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        XCTAssertEqual(SHA1Hasher.hex(of: Data("abc".utf8)), "a9993e364706816aba3e25717850c26c9cd0d89d")
        XCTAssertEqual(SHA1Hasher.hex(of: Data(twoBlockMessage.utf8)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
    }

    func testMillionAs_inUnevenChunks_matchesOneShot() {
        let million = Data(repeating: UInt8(ascii: "a"), count: 1_000_000)
        var sha256 = SHA256Hasher()
        var sha1 = SHA1Hasher()
        var offset = 0
        var step = 1
        while offset < million.count {
            let chunk = million.subdata(in: offset..<min(offset + step, million.count))
            sha256.update(chunk)
            sha1.update(chunk)
            offset += chunk.count
            step = step * 3 % 1021 + 1  // 1, 4, 13, 40, ...: crosses block boundaries at every phase
        }
        XCTAssertEqual(sha256.finalizeHex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        XCTAssertEqual(sha1.finalizeHex(), "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    func testGitBlobID_matchesGitHashObject() {
        var hello = SHA1Hasher.gitBlob(size: 12)
        hello.update(Data("hello world\n".utf8))
        XCTAssertEqual(hello.finalizeHex(), "3b18e512dba79e4c8300dd08aeb37f8e728b8dad")
        var empty = SHA1Hasher.gitBlob(size: 0)
        XCTAssertEqual(empty.finalizeHex(), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")
    }

    func testFileDigests_readWholeFileInOnePass() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("core-digest-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        // Several reads of a 4 KiB buffer, the last one partial.
        let data = Data((0..<(5 << 12) + 17).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try data.write(to: url)
        let digests = try FileDigests.of(fileAt: url.path, gitBlob: true, bufferSize: 4096)
        XCTAssertEqual(digests.size, Int64(data.count))
        XCTAssertEqual(digests.sha256, SHA256Hasher.hex(of: data))
        var blob = SHA1Hasher()
        blob.update(Data("blob \(data.count)\0".utf8))
        blob.update(data)
        XCTAssertEqual(digests.gitBlobSHA1, blob.finalizeHex())
        XCTAssertNil(try FileDigests.of(fileAt: url.path, gitBlob: false).gitBlobSHA1)
    }

    func testSHA256_byteArraysAndStrings_knownVectors() {
        var h = SHA256Hasher()
        h.update(Array("abc".utf8))
        XCTAssertEqual(h.finalizeHex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var h2 = SHA256Hasher()
        h2.update(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnop".utf8))
        h2.update("nopq")
        XCTAssertEqual(h2.finalizeHex(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var h3 = SHA256Hasher()
        for _ in 0..<1000 { h3.update([UInt8](repeating: 0x61, count: 1000)) }
        XCTAssertEqual(h3.finalizeHex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        XCTAssertEqual(SHA256Hasher.hex(of: "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testFileHelpers_matchTheKnownVectorAndReportWhatFailed() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("core-digest-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("abc".utf8).write(to: url)
        XCTAssertEqual(try SHA256Hasher.hex(ofFileAt: url), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(try FileDigests.of(fileAt: url.path, gitBlob: true).gitBlobSHA1,
                       "f2ba8f84ab5c1bce84a7b441cb1959cfc7093b7f", "git hash-object of \"abc\"")
        let missing = url.path + "-missing"
        XCTAssertThrowsError(try FileDigests.of(fileAt: missing, gitBlob: false)) { error in
            XCTAssertEqual(error as? FileDigestError,
                           FileDigestError(path: missing, operation: "open", reason: "No such file or directory"))
            XCTAssertEqual("\(error)", "\(missing): cannot open: No such file or directory")
        }
    }

    // Moved from the registry's tests with the hash it used.

    func testSHA256_stringsAndData_matchFIPSVectors() {
        XCTAssertEqual(SHA256Hasher.hex(of: ""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256Hasher.hex(of: "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256Hasher.hex(of: "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256Hasher.hex(of: Data(repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testSHA256_incrementalUpdatesEqualOneShot_atEverySplit() {
        let message = Data((0..<200).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 200] {
            let prefix = message.prefix(length)
            let expected = SHA256Hasher.hex(of: Data(prefix))
            for split in stride(from: 0, through: length, by: max(1, length / 7)) {
                var hasher = SHA256Hasher()
                hasher.update(Data(prefix.prefix(split)))
                hasher.update(Data(prefix.dropFirst(split)))
                XCTAssertEqual(hasher.finalizeHex(), expected, "length \(length) split \(split)")
            }
        }
    }

    func testSHA256_ofFile_equalsOfData() throws {
        let data = Data((0..<(1 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 % 251) })
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("core-digest-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        try data.write(to: url)
        XCTAssertEqual(try SHA256Hasher.hex(ofFileAt: url), SHA256Hasher.hex(of: data))
    }
}
