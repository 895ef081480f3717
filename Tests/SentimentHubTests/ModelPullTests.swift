import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import SentimentHub
import SentimentCore

/// `ModelPull` against the loopback fake hub serving the tiny RoBERTa fixture.
final class ModelPullTests: XCTestCase {
    private var server: HubFixtureServer!
    private var models: TemporaryModels!
    private var repository: FixtureRepository!
    private let fast = PullSettings(maxAttempts: 3, retryDelay: 0.01, stallTimeout: 10, allowInsecureHTTP: true)
    private var version: String { "sentimentd-tests--tiny-roberta-4ba3d44" }

    override func setUpWithError() throws {
        repository = try HubFixtures.tinyRoberta()
        server = try HubFixtureServer(repositories: [repository])
        models = try TemporaryModels()
    }

    override func tearDown() {
        server?.shutdown()
        models?.remove()
    }

    private func pull(_ repo: String = HubFixtures.repoID, revision: String = "main", name: String? = nil,
                      token: String? = nil, endpoint: String? = nil, settings: PullSettings? = nil,
                      events: EventRecorder? = nil) throws -> PullResult {
        let pull = try ModelPull(repo: HubRepositoryID(repo), revision: revision, modelsDirectory: models.url, name: name,
                                 endpoint: HubEndpoint(endpoint ?? server.endpointURL, token: token),
                                 settings: settings ?? fast, progress: { events?.record($0) })
        return try pull.run()
    }

    /// Fails the test if `models/<version>` exists while the server is answering a request.
    private func forbidEarlyPublish(_ version: String) -> () -> [String] {
        let lock = NSLock()
        var violations: [String] = []
        let path = models.path + "/" + version
        server.onRequest = { request in
            if FileManager.default.fileExists(atPath: path) {
                lock.lock()
                violations.append(request.uri)
                lock.unlock()
            }
        }
        return { lock.lock(); defer { lock.unlock() }; return violations }
    }

    private func assertPublishedFolderIsTheFixture(_ version: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let folder = models.url.appendingPathComponent(version)
        XCTAssertEqual(models.listing(version), (HubFixtures.expectedFiles + ["sentimentd.json"]).sorted(), file: file, line: line)
        for name in HubFixtures.expectedFiles {
            let published = try Data(contentsOf: folder.appendingPathComponent(name))
            let original = try Data(contentsOf: HubFixtures.tinyRobertaFolder.appendingPathComponent(name))
            XCTAssertTrue(published == original, "\(name) differs from the fixture", file: file, line: line)
        }
    }

    private func manifest(_ version: String) throws -> [String: Any] {
        let data = try Data(contentsOf: models.url.appendingPathComponent(version).appendingPathComponent("sentimentd.json"))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    // MARK: success

    /// The hub writes the one `sentimentd.json` schema (SentimentCore's `CheckpointManifest`) that the registry reads
    /// and checks before it loads a folder, and that the training publisher writes: the pulled folder passes the
    /// registry's check, and a manifest the publisher computes over the same folder lists the same files.
    func testPull_manifestIsTheSharedSchema_readAndVerifiedAsTheRegistryDoes_andMatchesThePublishers() throws {
        _ = try pull(events: EventRecorder())
        let folder = models.url.appendingPathComponent(version)
        let manifestURL = folder.appendingPathComponent(CheckpointManifest.fileName)
        let pulled = try CheckpointManifest.decode(Data(contentsOf: manifestURL))
        XCTAssertEqual(pulled.format, CheckpointManifest.currentFormat)
        XCTAssertEqual(pulled.source, CheckpointManifest.Source(endpoint: server.endpointURL, repo: HubFixtures.repoID,
                                                                revision: "main", commit: HubFixtures.commit))
        XCTAssertNil(pulled.run)
        var present: [String: Int64] = [:]
        for name in models.listing(version) {
            present[name] = Int64(try Data(contentsOf: folder.appendingPathComponent(name)).count)
        }
        XCTAssertNoThrow(try pulled.verify(folder: folder, present: present))
        XCTAssertEqual(try CheckpointManifest.entries(hashingFilesIn: folder), pulled.files,
                       "the publisher's hashing of the same folder gives the same entries")
        // A pulled file changed afterwards is caught by the same check.
        let config = folder.appendingPathComponent("config.json")
        var bytes = try Data(contentsOf: config)
        bytes[0] ^= 0x20
        try bytes.write(to: config)
        XCTAssertThrowsError(try pulled.verify(folder: folder, present: present)) { error in
            guard case let .digest(file, _, _)? = error as? CheckpointManifest.Mismatch else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "config.json")
        }
    }

    func testPull_publishesTheFixtureByteForByte_withManifest_andNothingElse() throws {
        let violations = forbidEarlyPublish(version)
        let events = EventRecorder()
        let result = try pull(events: events)

        XCTAssertEqual(result.version, version)
        XCTAssertEqual(result.path, models.path + "/" + version)
        XCTAssertEqual(result.commit, HubFixtures.commit)
        try assertPublishedFolderIsTheFixture(version)
        XCTAssertEqual(violations(), [], "models/\(version) appeared before the pull completed")

        // Manifest: the registry's shape, every other file with its size and SHA-256, plus the source.
        let manifest = try manifest(version)
        XCTAssertEqual(manifest["format"] as? String, "sentimentd-checkpoint/1")
        let files = try XCTUnwrap(manifest["files"] as? [String: [String: Any]])
        XCTAssertEqual(files.keys.sorted(), HubFixtures.expectedFiles)
        for name in HubFixtures.expectedFiles {
            let data = try Data(contentsOf: HubFixtures.tinyRobertaFolder.appendingPathComponent(name))
            XCTAssertEqual(files[name]?["size"] as? Int, data.count, name)
            XCTAssertEqual(files[name]?["sha256"] as? String, SHA256Hasher.hex(of: data), name)
        }
        XCTAssertEqual(manifest["source"] as? [String: String],
                       ["endpoint": server.endpointURL, "repo": HubFixtures.repoID, "revision": "main",
                        "commit": HubFixtures.commit])

        // Staging is gone (only the lock file may stay in the dot-folder); nothing else was published.
        XCTAssertEqual(models.listing(""), [".staging", version])
        XCTAssertFalse(models.exists(".staging/pull-\(version)"))

        // Every file was fetched at the resolved commit, never at the moving "main"; skipped files never fetched.
        let resolves = server.requests.filter { $0.path.contains("/resolve/") }
        XCTAssertEqual(Set(resolves.map { String($0.path.split(separator: "/").last!) }), Set(HubFixtures.expectedFiles))
        XCTAssertTrue(resolves.allSatisfy { $0.path.contains("/resolve/\(HubFixtures.commit)/") }, "\(resolves.map(\.path))")
        XCTAssertTrue(resolves.allSatisfy { $0.headers["accept-encoding"] == "identity" })
        XCTAssertEqual(server.requests.filter { $0.path.hasPrefix("/cdn/") }.count, 1, "model.safetensors goes through the CDN")
        XCTAssertEqual(server.requests.first?.uri, "/api/models/\(HubFixtures.repoID)/revision/main?blobs=True")

        let done = events.events.compactMap { event -> String? in
            if case let .fileDone(file, _, false) = event { return file }
            return nil
        }
        XCTAssertEqual(done.sorted(), HubFixtures.expectedFiles)
        XCTAssertEqual(events.events.last, .published(version: version, path: models.path + "/" + version))
    }

    func testPull_withName_publishesUnderThatName_andRefusesToOverwriteIt() throws {
        let result = try pull(name: "tiny-v1")
        XCTAssertEqual(result.version, "tiny-v1")
        try assertPublishedFolderIsTheFixture("tiny-v1")
        server.clearLog()

        XCTAssertThrowsError(try pull(name: "tiny-v1")) { error in
            XCTAssertEqual(error as? HubError, .versionExists(path: models.path + "/tiny-v1"))
            XCTAssertTrue("\(error)".contains("publish under another version name"), "\(error)")
            XCTAssertEqual((error as? HubError)?.setting, .versionName, "sentimentctl pull says it as --name")
        }
        XCTAssertFalse(server.requests.contains { $0.path.contains("/resolve/") }, "no file is downloaded for an existing version")
        try assertPublishedFolderIsTheFixture("tiny-v1")
    }

    func testPull_refusesEvenAnEmptyExistingDirectory() throws {
        // rename(2) would silently replace an empty directory: the pull must not.
        try FileManager.default.createDirectory(atPath: models.path + "/" + version, withIntermediateDirectories: false)
        XCTAssertThrowsError(try pull()) {
            XCTAssertEqual($0 as? HubError, .versionExists(path: models.path + "/" + version))
        }
        XCTAssertTrue(try DurableFiles.renameNoReplaceRefuses(into: models.path))
    }

    // MARK: interrupted transfers

    func testPull_connectionCutMidFile_isResumedWithARangeRequest() throws {
        server.cut("model.safetensors", after: 100_000)
        let events = EventRecorder()
        let violations = forbidEarlyPublish(version)
        _ = try pull(events: events)

        try assertPublishedFolderIsTheFixture(version)
        XCTAssertEqual(violations(), [])
        let cdn = server.requests.filter { $0.path.hasPrefix("/cdn/") }
        XCTAssertEqual(cdn.count, 2)
        XCTAssertNil(cdn[0].headers["range"])
        XCTAssertEqual(cdn[1].headers["range"], "bytes=100000-")
        XCTAssertTrue(events.events.contains { if case .retrying("model.safetensors", 1, _) = $0 { return true }; return false })
        XCTAssertTrue(events.events.contains(.fileStarted(file: "model.safetensors", size: 255_908, resumingAt: 100_000)))
    }

    func testPull_interruptedRun_leavesOnlyStaging_andTheNextRunResumes() throws {
        server.cut("model.safetensors", after: 65_536)
        XCTAssertThrowsError(try pull(settings: PullSettings(maxAttempts: 1, retryDelay: 0, stallTimeout: 10, allowInsecureHTTP: true))) { error in
            guard case let .network(url, _) = error as? HubError else { return XCTFail("\(error)") }
            XCTAssertTrue(url.hasPrefix(server.endpointURL + "/\(HubFixtures.repoID)/resolve/"), url)
            XCTAssertTrue("\(error)".contains(url))
        }
        XCTAssertEqual(models.listing(""), [".staging"], "nothing is published by a failed pull")
        let staging = models.staging(version)
        let partSize = try FileManager.default.attributesOfItem(atPath: staging + "/model.safetensors.part")[.size] as? Int
        XCTAssertEqual(partSize, 65_536)

        server.clearLog()
        _ = try pull()
        try assertPublishedFolderIsTheFixture(version)
        let resolves = server.requests.filter { $0.path.contains("/resolve/") }
        XCTAssertEqual(resolves.map { String($0.path.split(separator: "/").last!) }, ["model.safetensors"],
                       "files completed by the first run are not downloaded again")
        XCTAssertEqual(server.requests.filter { $0.path.hasPrefix("/cdn/") }.map { $0.headers["range"] }, ["bytes=65536-"])
    }

    func testPull_serverIgnoringRange_restartsTheFileFromZero() throws {
        server.cut("model.safetensors", after: 50_000)
        XCTAssertThrowsError(try pull(settings: PullSettings(maxAttempts: 1, retryDelay: 0, stallTimeout: 10, allowInsecureHTTP: true)))
        server.ignoreRange = true
        server.clearLog()
        _ = try pull()
        XCTAssertEqual(server.requests.filter { $0.path.hasPrefix("/cdn/") }.map { $0.headers["range"] }, ["bytes=50000-"])
        try assertPublishedFolderIsTheFixture(version)  // a 200 body replaced the partial file, not appended to it
    }

    func testPull_withoutBlobInfo_verifiesByHeaders_andRecoversFrom416() throws {
        server.includeBlobs = false
        server.cut("vocab.json", after: 1000)
        XCTAssertThrowsError(try pull(settings: PullSettings(maxAttempts: 1, retryDelay: 0, stallTimeout: 10, allowInsecureHTTP: true)))
        // The partial file is now longer than the real one: the server answers 416 and the pull starts over.
        let part = models.staging(version) + "/vocab.json.part"
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: part))
        handle.seekToEndOfFile()
        handle.write(Data(repeating: 0x41, count: 20_000))
        handle.closeFile()
        server.clearLog()

        _ = try pull()
        try assertPublishedFolderIsTheFixture(version)
        let vocab = server.requests.filter { $0.path.hasSuffix("/vocab.json") }
        XCTAssertEqual(vocab.map { $0.headers["range"] }, ["bytes=21000-", nil])
    }

    func testPull_withoutBlobInfo_stillCatchesCorruptionThroughETags() throws {
        server.includeBlobs = false
        server.corrupt = ["merges.txt", "model.safetensors"]
        XCTAssertThrowsError(try pull()) { error in
            guard case let .checksumMismatch(file, algorithm, _, _) = error as? HubError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "merges.txt")
            XCTAssertEqual(algorithm, "git blob SHA-1")
        }
        server.corrupt = ["model.safetensors"]
        XCTAssertThrowsError(try pull()) { error in
            guard case let .checksumMismatch(file, algorithm, _, _) = error as? HubError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "model.safetensors")
            XCTAssertEqual(algorithm, "SHA-256")
        }
        XCTAssertFalse(models.exists(version))
    }

    // MARK: bad bytes

    func testPull_corruptedLFSFile_failsWithChecksumError_andPublishesNothing() throws {
        server.corrupt = ["model.safetensors"]
        let violations = forbidEarlyPublish(version)
        XCTAssertThrowsError(try pull()) { error in
            let original = try! Data(contentsOf: HubFixtures.tinyRobertaFolder.appendingPathComponent("model.safetensors"))
            var corrupted = original
            corrupted[corrupted.count / 2] ^= 0xFF
            XCTAssertEqual(error as? HubError, .checksumMismatch(file: "model.safetensors", algorithm: "SHA-256",
                                                                 expected: SHA256Hasher.hex(of: original),
                                                                 actual: SHA256Hasher.hex(of: corrupted)))
            XCTAssertTrue("\(error)".contains("model.safetensors"))
        }
        XCTAssertEqual(violations(), [])
        XCTAssertEqual(models.listing(""), [".staging"])
        let staged = models.listing(".staging/pull-\(version)")
        XCTAssertFalse(staged.contains { $0.hasPrefix("model.safetensors") }, "the bad download is deleted: \(staged)")
        XCTAssertFalse(staged.contains("sentimentd.json"))

        // The hub is fixed: the next run fetches the file afresh and publishes.
        server.corrupt = []
        _ = try pull()
        try assertPublishedFolderIsTheFixture(version)
    }

    func testPull_corruptedSmallFile_failsWithGitBlobMismatch() throws {
        server.corrupt = ["vocab.json"]
        XCTAssertThrowsError(try pull()) { error in
            guard case let .checksumMismatch(file, algorithm, expected, actual) = error as? HubError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "vocab.json")
            XCTAssertEqual(algorithm, "git blob SHA-1")
            XCTAssertEqual(expected, FixtureRepository.gitBlobID(repository.files["vocab.json"]!))
            XCTAssertNotEqual(actual, expected)
        }
        XCTAssertFalse(models.exists(version))
    }

    // MARK: hub errors

    func testPull_unknownRepository_isRepositoryNotFound() throws {
        XCTAssertThrowsError(try pull("sentimentd-tests/no-such-model")) { error in
            guard case let .repositoryNotFound(repo, url, false) = error as? HubError else { return XCTFail("\(error)") }
            XCTAssertEqual(repo, "sentimentd-tests/no-such-model")
            XCTAssertEqual(url, server.endpointURL + "/api/models/sentimentd-tests/no-such-model/revision/main?blobs=True")
            XCTAssertTrue("\(error)".contains("HF_TOKEN"), "a private repository looks the same: \(error)")
        }
        XCTAssertEqual(models.listing(""), [], "nothing is staged before the repository is known")
    }

    func testPull_unknownRevision_isRevisionNotFound() throws {
        XCTAssertThrowsError(try pull(revision: "v9")) { error in
            guard case .revisionNotFound(HubFixtures.repoID, "v9", _) = error as? HubError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("name a branch, tag or commit it has"), "\(error)")
            XCTAssertFalse("\(error)".contains("--"), "the library names the setting, sentimentctl its flag: \(error)")
            XCTAssertEqual((error as? HubError)?.setting, .revision)
        }
    }

    func testPull_gatedRepository_needsHFToken_whichNeverLeavesTheHubsOrigin() throws {
        server.requiredToken = "hf_secret"
        XCTAssertThrowsError(try pull()) { error in
            guard case .unauthorized(HubFixtures.repoID, _, 401, true, false) = error as? HubError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("set HF_TOKEN"), "\(error)")
        }
        XCTAssertThrowsError(try pull(token: "hf_wrong")) { error in
            guard case .unauthorized(_, _, 401, true, true) = error as? HubError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("HF_TOKEN was sent"), "\(error)")
        }

        // The CDN is another origin (localhost vs 127.0.0.1): the redirect there must drop the token.
        server.cdnHost = "localhost"
        server.clearLog()
        _ = try pull(token: "hf_secret")
        try assertPublishedFolderIsTheFixture(version)
        let hub = server.requests.filter { !$0.path.hasPrefix("/cdn/") }
        let cdn = server.requests.filter { $0.path.hasPrefix("/cdn/") }
        XCTAssertFalse(hub.isEmpty)
        XCTAssertTrue(hub.allSatisfy { $0.headers["authorization"] == "Bearer hf_secret" })
        XCTAssertEqual(cdn.count, 1)
        XCTAssertNil(cdn.first?.headers["authorization"])
    }

    func testPull_unreachableEndpoint_isANetworkErrorNamingTheURL() throws {
        // A port that was just free: nothing listens there.
        let probe = try HubFixtureServer(repositories: [])
        let deadEndpoint = probe.endpointURL
        probe.shutdown()
        let events = EventRecorder()
        XCTAssertThrowsError(try pull(endpoint: deadEndpoint, settings: PullSettings(maxAttempts: 2, retryDelay: 0.01, allowInsecureHTTP: true),
                                      events: events)) { error in
            guard case let .network(url, reason) = error as? HubError else { return XCTFail("\(error)") }
            XCTAssertEqual(url, deadEndpoint + "/api/models/\(HubFixtures.repoID)/revision/main?blobs=True")
            XCTAssertEqual(reason, "connection refused")
            XCTAssertTrue("\(error)".contains(deadEndpoint))
        }
        XCTAssertEqual(events.events.count, 1)
        guard case .retrying("model info", 1, let reason) = events.events.first else { return XCTFail("\(events.events)") }
        XCTAssertTrue(reason.contains("connection refused"), reason)
    }

    func testPull_repositoryWithoutWeights_isNoWeights() throws {
        let configOnly = FixtureRepository(id: "sentimentd-tests/config-only", commit: String(repeating: "c", count: 40),
                                           files: ["config.json": repository.files["config.json"]!,
                                                   "tf_model.h5": repository.files["tf_model.h5"]!,
                                                   "vocab.json": repository.files["vocab.json"]!],
                                           lfs: ["tf_model.h5"])
        server.replaceRepository(configOnly)
        XCTAssertThrowsError(try pull(configOnly.id)) { error in
            XCTAssertEqual(error as? HubError, .noWeights(repo: configOnly.id, revision: "main",
                                                          files: ["config.json", "tf_model.h5", "vocab.json"]))
        }
        XCTAssertEqual(models.listing(""), [])
    }

    // MARK: shards, staging reuse, locking

    func testPull_shardedCheckpoint_fetchesTheIndexAndEveryShard() throws {
        let shard1 = Data((0..<5000).map { UInt8(truncatingIfNeeded: $0) })
        let shard2 = Data((0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 5) })
        let index = Data(#"{"metadata":{"total_size":8000},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}"#.utf8)
        let sharded = FixtureRepository(
            id: "sentimentd-tests/sharded", commit: String(repeating: "d", count: 40),
            files: ["config.json": repository.files["config.json"]!, "vocab.json": repository.files["vocab.json"]!,
                    "merges.txt": repository.files["merges.txt"]!, "model.safetensors.index.json": index,
                    "model-00001-of-00002.safetensors": shard1, "model-00002-of-00002.safetensors": shard2,
                    "model-00003-of-00003.safetensors": Data("stale shard of an older upload".utf8),
                    "pytorch_model.bin": repository.files["pytorch_model.bin"]!],
            lfs: ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model-00003-of-00003.safetensors",
                  "pytorch_model.bin"])
        server.replaceRepository(sharded)
        let result = try pull(sharded.id)
        XCTAssertEqual(result.version, "sentimentd-tests--sharded-ddddddd")
        XCTAssertEqual(models.listing(result.version),
                       ["config.json", "merges.txt", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                        "model.safetensors.index.json", "sentimentd.json", "vocab.json"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: result.path + "/model-00002-of-00002.safetensors")), shard2)
        let files = try XCTUnwrap(try manifest(result.version)["files"] as? [String: Any])
        XCTAssertEqual(files.count, 6)
    }

    func testPull_shardIndexNamingAMissingShard_fails() throws {
        let index = Data(#"{"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}"#.utf8)
        let broken = FixtureRepository(
            id: "sentimentd-tests/broken-shards", commit: String(repeating: "e", count: 40),
            files: ["config.json": repository.files["config.json"]!, "model.safetensors.index.json": index,
                    "model-00001-of-00002.safetensors": Data([1, 2, 3])],
            lfs: ["model-00001-of-00002.safetensors"])
        server.replaceRepository(broken)
        XCTAssertThrowsError(try pull(broken.id)) {
            XCTAssertEqual($0 as? HubError, .missingShard(repo: broken.id, index: "model.safetensors.index.json",
                                                          shard: "model-00002-of-00002.safetensors"))
        }
    }

    func testPull_stagingFromAnotherCommit_isDiscardedNotResumed() throws {
        server.cut("model.safetensors", after: 40_000)
        XCTAssertThrowsError(try pull(name: "tiny", settings: PullSettings(maxAttempts: 1, retryDelay: 0, stallTimeout: 10, allowInsecureHTTP: true)))
        XCTAssertTrue(models.exists(".staging/pull-tiny/model.safetensors.part"))

        // "main" moved: same --name, new commit. The old partial bytes must not be continued.
        let newCommit = "9" + String(HubFixtures.commit.dropFirst())
        server.replaceRepository(try HubFixtures.tinyRoberta(commit: newCommit))
        server.clearLog()
        let result = try pull(name: "tiny")
        XCTAssertEqual(result.commit, newCommit)
        try assertPublishedFolderIsTheFixture("tiny")
        XCTAssertTrue(server.requests.allSatisfy { $0.headers["range"] == nil })
        XCTAssertEqual(server.requests.filter { $0.path.contains("/resolve/") }.count, HubFixtures.expectedFiles.count)
    }

    func testPull_whileAnotherPullHoldsTheLock_refuses() throws {
        try FileManager.default.createDirectory(atPath: models.path + "/.staging", withIntermediateDirectories: true)
        let lockPath = models.path + "/.staging/pull-\(version).lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT, 0o644)
        XCTAssertGreaterThanOrEqual(descriptor, 0)
        defer { close(descriptor) }
        XCTAssertEqual(flock(descriptor, LOCK_EX | LOCK_NB), 0)
        XCTAssertThrowsError(try pull()) { XCTAssertEqual($0 as? HubError, .pullInProgress(lock: lockPath)) }
        XCTAssertFalse(models.exists(version))
    }

    func testPull_missingModelsDirectory_isAnError() throws {
        models.remove()
        XCTAssertThrowsError(try pull()) { XCTAssertEqual($0 as? HubError, .modelsDirectoryMissing(path: models.path)) }
        XCTAssertTrue(server.requests.isEmpty)
    }
}

private extension DurableFiles {
    /// renameNoReplace into an existing empty directory must throw versionExists and leave both in place.
    static func renameNoReplaceRefuses(into directory: String) throws -> Bool {
        let source = directory + "/.probe-source", target = directory + "/probe-target"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        defer {
            try? FileManager.default.removeItem(atPath: source)
            try? FileManager.default.removeItem(atPath: target)
        }
        let folder = try StagingDirectory.open(path: directory)
        do {
            try renameNoReplace(".probe-source", in: folder, to: "probe-target", in: folder, destination: target)
            return false
        } catch HubError.versionExists(target) {
            return FileManager.default.fileExists(atPath: source)
        }
    }
}
