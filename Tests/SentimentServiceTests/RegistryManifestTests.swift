import Foundation
import XCTest
@testable import SentimentService
import SentimentCore

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
        XCTAssertEqual(written.files["vocab.txt"]?.sha256, SHA256Hasher.hex(of: "[PAD]\n[UNK]\n"))
        let read = try CheckpointManifest.read(at: versionURL.appendingPathComponent("sentimentd.json"))
        XCTAssertEqual(read, written)
        let listing = try CheckpointFolder.read(version: "v1", in: folder)
        XCTAssertTrue(listing.hasManifest)
        XCTAssertNoThrow(try read.verify(listing))
        // No temporary left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: versionURL.path).sorted(),
                       ["config.json", "sentimentd.json", "vocab.txt"])
    }

    /// One schema for the three writers and the registry: a manifest as the hub's pull writes it (with `source`),
    /// read back by the registry, equals what was written and verifies; its bytes decode to the same value the
    /// publisher's type gives, and the publisher's fields survive the same round trip.
    func testManifest_hubShapedAndPublisherShaped_roundTripThroughTheRegistry() throws {
        try put("config.json", "{\"model_type\": \"roberta\"}")
        try put("model.safetensors", "weights")
        let source = CheckpointManifest.Source(endpoint: "https://hub.example", repo: "org/model", revision: "main",
                                               commit: String(repeating: "c", count: 40))
        let pulled = CheckpointManifest(files: try CheckpointManifest.entries(hashingFilesIn: versionURL), source: source)
        try pulled.write(into: versionURL)
        let read = try CheckpointManifest.read(at: versionURL.appendingPathComponent("sentimentd.json"))
        XCTAssertEqual(read, pulled)
        XCTAssertNoThrow(try read.verify(CheckpointFolder.read(version: "v1", in: folder)))

        let published = try CheckpointManifest.write(into: versionURL, parent: "v0", run: 3, dataFingerprint: "f",
                                                     metrics: ["macro_f1": 0.75], source: nil)
        XCTAssertEqual(published.files, pulled.files, "the same folder hashes to the same entries for every writer")
        let reread = try CheckpointManifest.read(at: versionURL.appendingPathComponent("sentimentd.json"))
        XCTAssertEqual(reread, published)
        XCTAssertEqual([reread.parent, reread.dataFingerprint], ["v0", "f"])
        XCTAssertEqual(reread.run, 3)
        XCTAssertNil(reread.source)
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
            XCTAssertEqual(expected, SHA256Hasher.hex(of: "[PAD]"))
            XCTAssertEqual(actual, SHA256Hasher.hex(of: "[UNK]"))
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
