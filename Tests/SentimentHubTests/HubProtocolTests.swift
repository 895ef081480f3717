import Foundation
import XCTest
@testable import SentimentHub

/// Repository ids, URLs, model info parsing and file choice: the parts of the hub protocol with no I/O.
final class HubProtocolTests: XCTestCase {
    func testRepositoryID_acceptsHubNames_andRejectsOthers() throws {
        XCTAssertEqual(try HubRepositoryID("cardiffnlp/twitter-roberta-base-sentiment-latest").folderName,
                       "cardiffnlp--twitter-roberta-base-sentiment-latest")
        XCTAssertEqual(try HubRepositoryID("gpt2").folderName, "gpt2")
        for bad in ["", "a/b/c", "/name", "ns/", "ns/na me", "ns/a--b", "ns/a..b", "ns/model.git", "-ns/x", "ns/x-",
                    "ns/" + String(repeating: "x", count: 97), "ns/ümlaut"] {
            XCTAssertThrowsError(try HubRepositoryID(bad), bad) { error in
                guard case .invalidRepositoryID(bad, _) = error as? HubError else { return XCTFail("\(error)") }
                XCTAssertTrue("\(error)".contains("namespace/name"))
            }
        }
    }

    func testEndpoint_buildsTheHubURLLayout() throws {
        let endpoint = try HubEndpoint("https://huggingface.co/")
        let repo = try HubRepositoryID("cardiffnlp/twitter-roberta-base-sentiment-latest")
        XCTAssertEqual(endpoint.modelInfoURL(repo: repo, revision: "main").absoluteString,
                       "https://huggingface.co/api/models/cardiffnlp/twitter-roberta-base-sentiment-latest/revision/main?blobs=True")
        // A revision is one path segment: refs/pr/1 is escaped as huggingface_hub does.
        XCTAssertEqual(endpoint.resolveURL(repo: repo, revision: "refs/pr/1", file: "onnx/model file.onnx").absoluteString,
                       "https://huggingface.co/cardiffnlp/twitter-roberta-base-sentiment-latest/resolve/refs%2Fpr%2F1/onnx/model%20file.onnx")
        let mirror = try HubEndpoint("http://mirror.example:8080/hf")
        XCTAssertEqual(mirror.resolveURL(repo: repo, revision: "main", file: "config.json").absoluteString,
                       "http://mirror.example:8080/hf/cardiffnlp/twitter-roberta-base-sentiment-latest/resolve/main/config.json")
    }

    func testEndpoint_fromEnvironment_optionWinsOverHFEndpoint_tokenFromHFToken() throws {
        let env = ["HF_ENDPOINT": "http://127.0.0.1:9", "HF_TOKEN": "hf_abc"]
        XCTAssertEqual(try HubEndpoint.fromEnvironment(endpoint: nil, environment: env).base.absoluteString, "http://127.0.0.1:9")
        XCTAssertEqual(try HubEndpoint.fromEnvironment(endpoint: "https://hf-mirror.example", environment: env).base.absoluteString,
                       "https://hf-mirror.example")
        XCTAssertEqual(try HubEndpoint.fromEnvironment(endpoint: nil, environment: env).token, "hf_abc")
        let bare = try HubEndpoint.fromEnvironment(endpoint: nil, environment: ["HF_TOKEN": ""])
        XCTAssertEqual(bare.base.absoluteString, "https://huggingface.co")
        XCTAssertNil(bare.token)
        for bad in ["ftp://huggingface.co", "huggingface.co", "https://", "https://h.example/?q=1"] {
            XCTAssertThrowsError(try HubEndpoint(bad), bad) { XCTAssertEqual($0 as? HubError, .invalidEndpoint(bad)) }
        }
    }

    func testSameOrigin_decidesWhereTheTokenGoes() throws {
        let endpoint = try HubEndpoint("https://huggingface.co", token: "t")
        XCTAssertTrue(endpoint.isSameOrigin(URL(string: "https://huggingface.co:443/x")!))
        XCTAssertTrue(endpoint.isSameOrigin(URL(string: "https://HuggingFace.co/api")!))
        XCTAssertFalse(endpoint.isSameOrigin(URL(string: "https://cdn-lfs.huggingface.co/x")!))
        XCTAssertFalse(endpoint.isSameOrigin(URL(string: "http://huggingface.co/x")!))
        XCTAssertFalse(endpoint.isSameOrigin(URL(string: "https://huggingface.co:8443/x")!))
    }

    func testModelInfo_decodesBlobsAndLFS_andRejectsBadAnswers() throws {
        let url = URL(string: "http://h/api/models/a/b/revision/main")!
        let json = """
        {"id":"a/b","sha":"4ba3d4463bd152c9e4abd892b50844f30c646708","siblings":[
          {"rfilename":"config.json","size":929,"blobId":"8e0f5d2c3f0b6b0e8e1f8f4e3b8a0c9d7e6f5a4b"},
          {"rfilename":"pytorch_model.bin","size":501045531,"blobId":"0bd2d0c1f7b5fd1dd4e4d5b8a4a3e2c1b0a9f8e7",
           "lfs":{"sha256":"C4E6E0B3F1E2D3C4B5A69788796A5B4C3D2E1F0A9B8C7D6E5F4A3B2C1D0E9F8A","size":501045531,"pointerSize":135}},
          {"rfilename":"vocab.json"}]}
        """
        let info = try HubModelInfo.decode(Data(json.utf8), url: url)
        XCTAssertEqual(info.sha, "4ba3d4463bd152c9e4abd892b50844f30c646708")
        XCTAssertEqual(info.siblings.count, 3)
        let weights = ExpectedFile(info.sibling(named: "pytorch_model.bin")!)
        XCTAssertEqual(weights.size, 501_045_531)
        XCTAssertEqual(weights.sha256, "c4e6e0b3f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a")
        XCTAssertNil(weights.gitBlobSHA1, "an LFS file's blobId is its pointer's, not the content's")
        let config = ExpectedFile(info.sibling(named: "config.json")!)
        XCTAssertEqual(config.gitBlobSHA1, "8e0f5d2c3f0b6b0e8e1f8f4e3b8a0c9d7e6f5a4b")
        XCTAssertNil(config.sha256)
        XCTAssertEqual(ExpectedFile(info.sibling(named: "vocab.json")!), ExpectedFile(name: "vocab.json"))

        let cases: [(String, String)] = [
            ("<html>", "not JSON"),
            (#"{"siblings":[]}"#, "\"sha\""),
            (#"{"sha":"4ba3d4463bd152c9e4abd892b50844f30c646708"}"#, "\"siblings\""),
            (#"{"sha":"main","siblings":[]}"#, "40-digit"),
            (#"{"sha":"4ba3d4463bd152c9e4abd892b50844f30c646708","siblings":[{"size":1}]}"#, "rfilename"),
        ]
        for (body, mention) in cases {
            XCTAssertThrowsError(try HubModelInfo.decode(Data(body.utf8), url: url), body) { error in
                guard case .protocolViolation(url.absoluteString, _) = error as? HubError else { return XCTFail("\(error)") }
                XCTAssertTrue("\(error)".contains(mention), "\(error)")
            }
        }
    }

    private func info(_ names: [String]) -> HubModelInfo {
        HubModelInfo(sha: String(repeating: "a", count: 40), siblings: names.map { HubModelInfo.Sibling(rfilename: $0) })
    }

    func testSelection_prefersSafetensors_takesTokenizerFiles_skipsTheRest() throws {
        let repo = try HubRepositoryID("a/b")
        let all = ["config.json", "pytorch_model.bin", "model.safetensors", "tf_model.h5", "flax_model.msgpack",
                   "onnx/model.onnx", "README.md", ".gitattributes", "vocab.json", "merges.txt", "tokenizer.json",
                   "special_tokens_map.json", "tokenizer_config.json", "training_args.bin", "sub/config.json"]
        let selection = try CheckpointFileSelection.choose(from: info(all), repo: repo, revision: "main")
        XCTAssertEqual(selection.weights, .single("model.safetensors"))
        XCTAssertEqual(selection.files, ["config.json", "vocab.json", "merges.txt", "tokenizer.json",
                                         "tokenizer_config.json", "special_tokens_map.json", "model.safetensors"])

        let cardiff = ["config.json", "pytorch_model.bin", "tf_model.h5", "vocab.json", "merges.txt",
                       "special_tokens_map.json", "README.md", ".gitattributes"]
        XCTAssertEqual(try CheckpointFileSelection.choose(from: info(cardiff), repo: repo, revision: "main").files,
                       ["config.json", "vocab.json", "merges.txt", "special_tokens_map.json", "pytorch_model.bin"])

        let sharded = ["config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
                       "model-00002-of-00002.safetensors", "pytorch_model.bin", "vocab.txt"]
        XCTAssertEqual(try CheckpointFileSelection.choose(from: info(sharded), repo: repo, revision: "main").weights,
                       .sharded(index: "model.safetensors.index.json"))
        XCTAssertEqual(try CheckpointFileSelection.choose(from: info(["config.json", "pytorch_model.bin.index.json"]),
                                                          repo: repo, revision: "v1").weights,
                       .sharded(index: "pytorch_model.bin.index.json"))
    }

    func testSelection_errorsWithoutConfigOrWeights() throws {
        let repo = try HubRepositoryID("a/b")
        XCTAssertThrowsError(try CheckpointFileSelection.choose(from: info(["model.safetensors"]), repo: repo, revision: "main")) {
            XCTAssertEqual($0 as? HubError, .missingConfig(repo: "a/b", revision: "main"))
        }
        XCTAssertThrowsError(try CheckpointFileSelection.choose(
            from: info(["config.json", "tf_model.h5", "onnx/model.onnx", "sub/model.safetensors"]), repo: repo, revision: "main")) { error in
            XCTAssertEqual(error as? HubError, .noWeights(repo: "a/b", revision: "main",
                                                          files: ["config.json", "onnx/model.onnx", "sub/model.safetensors", "tf_model.h5"]))
            XCTAssertTrue("\(error)".contains("tf_model.h5"))
        }
    }

    func testShardIndex_namesTheShards_andRejectsPathsOutsideTheFolder() throws {
        let index = #"{"metadata":{"total_size":10},"weight_map":{"a.weight":"model-00002-of-00002.safetensors","b":"model-00001-of-00002.safetensors","c":"model-00001-of-00002.safetensors"}}"#
        XCTAssertEqual(try CheckpointFileSelection.shardNames(fromIndex: Data(index.utf8), indexName: "i.json"),
                       ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
        for bad in [#"{"weight_map":{"a":"../../etc/passwd"}}"#, #"{"weight_map":{"a":".hidden"}}"#,
                    #"{"weight_map":{}}"#, #"{"weight_map":[1]}"#, "nope"] {
            XCTAssertThrowsError(try CheckpointFileSelection.shardNames(fromIndex: Data(bad.utf8), indexName: "i.json"), bad) {
                guard case .invalidShardIndex(file: "i.json", _) = $0 as? HubError else { return XCTFail("\($0)") }
            }
        }
    }

    func testContentRangeAndETagParsing() {
        XCTAssertTrue(HubResponse.contentRange("bytes 100-199/200")! == (100, 199, 200))
        XCTAssertEqual(HubResponse.contentRange("bytes 5-9/*")?.total, nil)
        XCTAssertEqual(HubResponse.contentRange("bytes 5-9/*")?.first, 5)
        for bad in [nil, "", "bytes */200", "bytes 9-5/10", "items 1-2/3", "bytes 1-2/x"] {
            XCTAssertNil(HubResponse.contentRange(bad), bad ?? "nil")
        }
        XCTAssertEqual(HubResponse.bareETag("W/\"ABCdef\""), "abcdef")
        XCTAssertEqual(HubResponse.bareETag("\"0123\""), "0123")
        XCTAssertNil(HubResponse.bareETag(""))
    }

    func testVersionNames() throws {
        XCTAssertEqual(ModelPull.defaultVersionName(repo: try HubRepositoryID("cardiffnlp/twitter-roberta-base-sentiment-latest"),
                                                    commit: "4BA3D4463bd152c9e4abd892b50844f30c646708"),
                       "cardiffnlp--twitter-roberta-base-sentiment-latest-4ba3d44")
        XCTAssertNoThrow(try ModelPull.validateVersionName("cardiff-v2"))
        for bad in ["", ".hidden", "a/b", "tab\there", String(repeating: "x", count: 201)] {
            XCTAssertThrowsError(try ModelPull.validateVersionName(bad), bad) {
                guard case .invalidVersionName(bad, _) = $0 as? HubError else { return XCTFail("\($0)") }
            }
        }
    }

    func testPartFile_fullDiskIsDiskFull_namingTheStagingFolder() throws {
        // /dev/full answers every write with ENOSPC.
        try XCTSkipUnless(FileManager.default.fileExists(atPath: "/dev/full"), "/dev/full is missing")
        let descriptor = open("/dev/full", O_WRONLY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(descriptor, 0)
        let part = PartFile(descriptor: descriptor, path: "/dev/full", size: 0, staging: "/models/.staging/pull-x")
        defer { part.close() }
        XCTAssertThrowsError(try part.append(Data(repeating: 1, count: 4096))) { error in
            XCTAssertEqual(error as? HubError, .diskFull(path: "/dev/full", staging: "/models/.staging/pull-x"))
            XCTAssertTrue("\(error)".contains("kept in /models/.staging/pull-x"), "\(error)")
            XCTAssertTrue("\(error)".contains("resumes"), "\(error)")
        }
    }
}
