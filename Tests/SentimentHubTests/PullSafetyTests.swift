import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import SentimentHub
import SentimentTestSupport

/// `sentimentctl pull` run by root into a models directory another user (the service user) may write, with the
/// real binary against the loopback fake hub: what that user plants in the staging area is never followed, plain
/// http needs --insecure, and a file without a digest needs --no-verify.
final class PullSafetyTests: XCTestCase {
    private var server: HubFixtureServer!
    private var models: TemporaryModels!
    private var version: String { "sentimentd-tests--tiny-roberta-4ba3d44" }
    /// Stands in for the service user who owns the models directory.
    private let serviceUID: uid_t = 65534

    override func setUpWithError() throws {
        server = try HubFixtureServer(repositories: [try HubFixtures.tinyRoberta()])
        models = try TemporaryModels()
    }

    override func tearDown() {
        server?.shutdown()
        models?.remove()
    }

    /// The real sentimentctl, with the hub settings of this machine's environment left out.
    private func sentimentctl(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let run = try runToEnd(try BuiltProducts.executable("sentimentctl"), arguments, removing: ["HF_ENDPOINT", "HF_TOKEN"])
        return (run.status, run.out, run.err)
    }

    private func pull(_ extra: [String] = ["--insecure"]) throws -> (status: Int32, out: String, err: String) {
        try sentimentctl(["pull", HubFixtures.repoID, "--models", models.path, "--endpoint", server.endpointURL] + extra)
    }

    /// A file outside the models directory that the service user would like root to overwrite.
    private func victim() throws -> (path: String, content: Data) {
        let path = models.url.deletingLastPathComponent().appendingPathComponent("victim.conf").path
        let content = Data(String(repeating: "root-owned content that must not change\n", count: 200).utf8)
        try content.write(to: URL(fileURLWithPath: path))
        return (path, content)
    }

    private func chownTree(_ path: String, to uid: uid_t) {
        lchown(path, uid, uid)
        for name in (try? FileManager.default.subpathsOfDirectory(atPath: path)) ?? [] {
            lchown(path + "/" + name, uid, uid)
        }
    }

    /// The service user prepares `.staging/pull-V` as a resumable pull of the same commit, whose `config.json.part`
    /// is a link to a root-owned file. Root's pull must not write through it (today's main truncates the file and
    /// writes config.json into it).
    func testPullAsRoot_throughAPlantedSymlink_neverTouchesTheTarget() throws {
        guard geteuid() == 0 else { throw XCTSkip("the planted-link attack is on a pull run by root") }
        let (target, original) = try victim()
        let staging = models.staging(version)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try Data(#"{"repo":"\#(HubFixtures.repoID)","commit":"\#(HubFixtures.commit)"}"#.utf8)
            .write(to: URL(fileURLWithPath: staging + "/.pull-state.json"))
        XCTAssertEqual(symlink(target, staging + "/config.json.part"), 0)
        chownTree(models.path, to: serviceUID)

        let r = try pull()
        XCTAssertNotEqual(r.status, 0, "the pull went ahead in a planted staging folder: \(r)")
        XCTAssertTrue(r.err.contains("belongs to uid \(serviceUID)"), r.err)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: target)), original, "root wrote through the planted link")
        XCTAssertFalse(models.exists(version))

        // Once the planted folder is gone, the pull works, in a folder of root's own that the service user can
        // neither enter nor write; the published version is readable by the daemon.
        try FileManager.default.removeItem(atPath: staging)
        let ok = try pull()
        XCTAssertEqual(ok.status, 0, "\(ok)")
        var st = stat()
        XCTAssertEqual(stat(models.path + "/" + version, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o755)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: target)), original)
    }

    /// `.staging` itself a link to a folder elsewhere: refused, nothing written there.
    func testPull_whenTheStagingFolderIsALink_refuses() throws {
        let elsewhere = models.url.deletingLastPathComponent().appendingPathComponent("elsewhere").path
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        XCTAssertEqual(symlink(elsewhere, models.path + "/.staging"), 0)
        let r = try pull()
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains(".staging: refusing to use it"), r.err)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: elsewhere), [], "the pull wrote through the link")
    }

    /// A staging folder of the right owner but writable by others is not trusted either.
    func testPull_stagingFolderWritableByOthers_refuses() throws {
        let staging = models.staging(version)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        chmod(staging, 0o777)
        let r = try pull()
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("others may write in it"), r.err)
    }

    func testPlainHTTP_needsInsecure() throws {
        let refused = try pull([])
        XCTAssertEqual(refused.status, 2, "\(refused)")
        XCTAssertTrue(refused.err.contains("plain http") && refused.err.contains("--insecure"), refused.err)
        XCTAssertTrue(server.requests.isEmpty, "a request went out over plain http")
        XCTAssertEqual(try pull().status, 0)
    }

    /// Without blob data in the model info and without digest headers there is nothing to check a file against.
    func testFileWithoutADigest_failsUnlessNoVerify() throws {
        server.includeBlobs = false
        server.omitDigests = true
        let refused = try pull()
        XCTAssertEqual(refused.status, 1, "\(refused)")
        XCTAssertTrue(refused.err.contains("no SHA-256 or git blob id") && refused.err.contains("--no-verify"), refused.err)
        XCTAssertFalse(models.exists(version))
        let accepted = try pull(["--insecure", "--no-verify"])
        XCTAssertEqual(accepted.status, 0, "\(accepted)")
        XCTAssertTrue(models.exists(version + "/model.safetensors"))
    }
}
