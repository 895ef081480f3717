import Foundation
import XCTest
@testable import SentimentService

final class RegistryManifestTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("sentimentd-manifest-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("v1"), withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    private var versionURL: URL { folder.appendingPathComponent("v1") }

    private func put(_ name: String, _ contents: String) throws {
        try Data(contents.utf8).write(to: versionURL.appendingPathComponent(name))
    }

    // MARK: SHA-256

    func testSHA256_matchesFIPSVectors() {
        XCTAssertEqual(SHA256Digest.hex(of: ""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256Digest.hex(of: "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256Digest.hex(of: "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256Digest.hex(of: Data(repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testSHA256_incrementalUpdatesEqualOneShot_atEverySplit() {
        let message = Data((0..<200).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 200] {
            let prefix = message.prefix(length)
            let expected = SHA256Digest.hex(of: Data(prefix))
            for split in stride(from: 0, through: length, by: max(1, length / 7)) {
                var hasher = SHA256Digest()
                hasher.update(Data(prefix.prefix(split)))
                hasher.update(Data(prefix.dropFirst(split)))
                XCTAssertEqual(hasher.finalizeHex(), expected, "length \(length) split \(split)")
            }
        }
    }

    func testSHA256_ofFile_equalsOfData() throws {
        let data = Data((0..<(1 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 % 251) })
        let url = versionURL.appendingPathComponent("blob")
        try data.write(to: url)
        XCTAssertEqual(try SHA256Digest.hex(ofFileAt: url), SHA256Digest.hex(of: data))
    }

    // MARK: Folder listing and fingerprint

    func testFolder_listsRegularFilesSortedWithoutDotFilesOrSubfolders() throws {
        try put("b.json", "{}")
        try put("a.txt", "x")
        try put(".a.txt.swp", "junk")
        try FileManager.default.createDirectory(at: versionURL.appendingPathComponent("sub"), withIntermediateDirectories: true)
        let listing = try CheckpointFolder.read(version: "v1", in: folder)
        XCTAssertEqual(listing.files.map(\.name), ["a.txt", "b.json"])
        XCTAssertEqual(listing.files.map(\.size), [1, 2])
        XCTAssertFalse(listing.hasManifest)
    }

    func testFingerprint_changesOnWriteAndAddButNotOnChmodOrDotFiles() throws {
        try put("config.json", "{}")
        let first = try CheckpointFolder.read(version: "v1", in: folder).fingerprint
        XCTAssertEqual(try CheckpointFolder.read(version: "v1", in: folder).fingerprint, first, "stable when nothing changed")

        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: versionURL.appendingPathComponent("config.json").path)
        try put(".rsync-temp", "partial")
        XCTAssertEqual(try CheckpointFolder.read(version: "v1", in: folder).fingerprint, first)

        try put("vocab.txt", "[PAD]")
        let added = try CheckpointFolder.read(version: "v1", in: folder).fingerprint
        XCTAssertNotEqual(added, first)

        // Same size, new contents: the mtime moves on.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000)],
                                              ofItemAtPath: versionURL.appendingPathComponent("vocab.txt").path)
        let backdated = try CheckpointFolder.read(version: "v1", in: folder).fingerprint
        try put("vocab.txt", "[UNK]")
        XCTAssertNotEqual(try CheckpointFolder.read(version: "v1", in: folder).fingerprint, backdated)
    }

    func testVersionNames_skipDotDirectoriesAndPlainFiles() throws {
        try FileManager.default.createDirectory(at: folder.appendingPathComponent(".staging/run-1"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("v0"), withIntermediateDirectories: true)
        try Data("# notes".utf8).write(to: folder.appendingPathComponent("README.md"))
        try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent("linked"), withDestinationURL: versionURL)
        XCTAssertEqual(try CheckpointFolder.versionNames(in: folder), ["linked", "v0", "v1"])
    }

    // MARK: Manifest

    func testManifest_writtenByWrite_verifiesAndRoundTrips() throws {
        try put("config.json", "{\"model_type\": \"bert\"}")
        try put("vocab.txt", "[PAD]\n[UNK]\n")
        let written = try CheckpointManifest.write(into: versionURL, parent: "v0", run: 7, dataFingerprint: "abc",
                                                   metrics: ["macro_f1": 0.5])
        XCTAssertEqual(Set(written.files.keys), ["config.json", "vocab.txt"])
        XCTAssertEqual(written.files["vocab.txt"]?.size, 12)
        XCTAssertEqual(written.files["vocab.txt"]?.sha256, SHA256Digest.hex(of: "[PAD]\n[UNK]\n"))
        let read = try CheckpointManifest.read(at: versionURL.appendingPathComponent("sentimentd.json"))
        XCTAssertEqual(read, written)
        let listing = try CheckpointFolder.read(version: "v1", in: folder)
        XCTAssertTrue(listing.hasManifest)
        XCTAssertNoThrow(try read.verify(listing))
        // No temporary left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: versionURL.path).sorted(),
                       ["config.json", "sentimentd.json", "vocab.txt"])
    }

    func testManifest_verify_reportsEachKindOfMismatch() throws {
        try put("config.json", "{}")
        try put("vocab.txt", "[PAD]")
        let manifest = try CheckpointManifest.write(into: versionURL)
        let manifestPath = versionURL.appendingPathComponent("sentimentd.json").path

        // Same size, different bytes.
        try put("vocab.txt", "[UNK]")
        XCTAssertThrowsError(try manifest.verify(CheckpointFolder.read(version: "v1", in: folder))) { error in
            guard case let .digestMismatch(path, expected, actual)? = error as? CheckpointRejection else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(path, versionURL.appendingPathComponent("vocab.txt").path)
            XCTAssertEqual(expected, SHA256Digest.hex(of: "[PAD]"))
            XCTAssertEqual(actual, SHA256Digest.hex(of: "[UNK]"))
            XCTAssertTrue("\(error)".contains("vocab.txt: SHA-256 is"))
        }
        try put("vocab.txt", "[PA")
        XCTAssertThrowsError(try manifest.verify(CheckpointFolder.read(version: "v1", in: folder))) {
            XCTAssertEqual($0 as? CheckpointRejection,
                           .sizeMismatch(path: versionURL.appendingPathComponent("vocab.txt").path, expected: 5, actual: 3))
        }
        try FileManager.default.removeItem(at: versionURL.appendingPathComponent("vocab.txt"))
        XCTAssertThrowsError(try manifest.verify(CheckpointFolder.read(version: "v1", in: folder))) {
            XCTAssertEqual($0 as? CheckpointRejection, .manifestListsMissingFile(manifest: manifestPath, file: "vocab.txt"))
        }
        try put("vocab.txt", "[PAD]")
        try put("extra.bin", "?")
        XCTAssertThrowsError(try manifest.verify(CheckpointFolder.read(version: "v1", in: folder))) {
            XCTAssertEqual($0 as? CheckpointRejection, .fileNotInManifest(manifest: manifestPath, file: "extra.bin"))
        }
        try FileManager.default.removeItem(at: versionURL.appendingPathComponent("extra.bin"))
        XCTAssertNoThrow(try manifest.verify(CheckpointFolder.read(version: "v1", in: folder)))
    }

    func testManifest_read_rejectsMalformedManifestsNamingTheField() throws {
        let url = versionURL.appendingPathComponent("sentimentd.json")
        func expect(_ json: String, _ check: (CheckpointRejection) -> Void, line: UInt = #line) throws {
            try Data(json.utf8).write(to: url)
            XCTAssertThrowsError(try CheckpointManifest.read(at: url), line: line) { error in
                guard let rejection = error as? CheckpointRejection else { return XCTFail("\(error)", line: line) }
                check(rejection)
            }
        }
        let hex = String(repeating: "a", count: 64)
        try expect("not json") { XCTAssertEqual($0, .manifestUnreadable(path: url.path, reason: "not valid JSON")) }
        try expect("{\"parent\": \"x\"}") {
            XCTAssertEqual($0, .manifestInvalid(path: url.path, field: "files", problem: "is missing"))
        }
        try expect("{\"files\": {}}") {
            XCTAssertEqual($0, .manifestInvalid(path: url.path, field: "files", problem: "lists no file"))
        }
        try expect("{\"files\": {\"config.json\": {\"size\": 2, \"sha256\": \"abc\"}}}") {
            XCTAssertEqual($0, .manifestInvalid(path: url.path, field: "files.config.json.sha256",
                                                problem: "is not 64 hexadecimal digits"))
        }
        try expect("{\"files\": {\"config.json\": {\"size\": \"2\", \"sha256\": \"\(hex)\"}}}") {
            guard case let .manifestInvalid(_, field, problem) = $0 else { return XCTFail("\($0)") }
            XCTAssertEqual(field, "files.config.json.size")
            XCTAssertEqual(problem, "has the wrong type")
        }
        try expect("{\"files\": {\"../../etc/passwd\": {\"size\": 2, \"sha256\": \"\(hex)\"}}}") {
            guard case let .manifestInvalid(_, field, problem) = $0 else { return XCTFail("\($0)") }
            XCTAssertEqual(field, "files")
            XCTAssertTrue(problem.contains("../../etc/passwd"))
        }
        try expect("{\"format\": \"other/9\", \"files\": {\"a\": {\"size\": 2, \"sha256\": \"\(hex)\"}}}") {
            guard case let .manifestInvalid(_, field, _) = $0 else { return XCTFail("\($0)") }
            XCTAssertEqual(field, "format")
        }
    }
}
