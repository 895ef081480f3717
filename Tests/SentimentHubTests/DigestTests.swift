import Foundation
import XCTest
@testable import SentimentHub

/// Known-answer vectors (FIPS 180-4 examples; `git hash-object`) and streaming in uneven chunks.
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
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hub-digest-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        // Several reads of a 4 KiB buffer, the last one partial.
        let data = Data((0..<(5 << 12) + 17).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try data.write(to: url)
        let digests = try DurableFiles.digests(ofFileAt: url.path, gitBlob: true, bufferSize: 4096)
        XCTAssertEqual(digests.size, Int64(data.count))
        XCTAssertEqual(digests.sha256, SHA256Hasher.hex(of: data))
        var blob = SHA1Hasher()
        blob.update(Data("blob \(data.count)\0".utf8))
        blob.update(data)
        XCTAssertEqual(digests.gitBlobSHA1, blob.finalizeHex())
        XCTAssertNil(try DurableFiles.digests(ofFileAt: url.path, gitBlob: false).gitBlobSHA1)
    }
}
