import Foundation
import XCTest
@testable import SentimentCheckpoint
@testable import SentimentTokenizers
import SentimentTestSupport

/// The tokenizer fixtures written by tools/fixtures_tokenizer.py (transformers' ids for the same texts).
enum TokenizerFixtures {
    static var root: URL {
        TestFixtures.root.appendingPathComponent("tokenizer")
    }

    static var sharedData: URL { TestFixtures.sharedData }
    static var vendorMiniLM: URL { TestFixtures.vendorMiniLM }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent(name))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static let expected: [String: Any] = (try? json("expected.json")) ?? [:]

    static func idLists(_ key: String) throws -> [[Int32]] {
        let all = try XCTUnwrap(expected["ids"] as? [String: Any])
        let lists = try XCTUnwrap(all[key] as? [[Int]], "no ids \(key) in expected.json")
        return lists.map { $0.map(Int32.init) }
    }

    static func strings(_ key: String) throws -> [String] {
        try XCTUnwrap(expected[key] as? [String])
    }

    static func meta(_ key: String) throws -> Int {
        try XCTUnwrap((expected["meta"] as? [String: Any])?[key] as? Int)
    }

    static func config(_ family: ModelFamily, vocabSize: Int, padTokenId: Int? = nil) -> ModelConfig {
        ModelConfig(family: family, vocabSize: vocabSize, hiddenSize: 32, numLayers: 1, numHeads: 2,
                    intermediateSize: 64, maxPositionEmbeddings: 514, typeVocabSize: 1, layerNormEps: 1e-5,
                    padTokenId: padTokenId ?? (family == .roberta ? 1 : 0), id2label: ["negative", "neutral", "positive"])
    }

    static let roberta: Tokenizer = try! TokenizerLoader.load(folder: root.appendingPathComponent("roberta"),
                                                              config: config(.roberta, vocabSize: 50265))
    static let minilm: Tokenizer = try! TokenizerLoader.load(folder: root.appendingPathComponent("minilm"),
                                                             config: config(.bert, vocabSize: 30522))

    /// A scratch folder removed by the caller.
    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tok-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Compares id lists one by one and reports the first few differences with their texts.
    static func assertSame(_ got: [[Int32]], _ want: [[Int32]], texts: [String], label: String,
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, "\(label): count", file: file, line: line)
        var failures = 0
        for i in 0..<min(got.count, want.count) where got[i] != want[i] {
            failures += 1
            if failures <= 5 {
                let text = String(texts[i].prefix(120)).unicodeScalars.map { $0.isASCII && $0.value >= 0x20 ? String($0) : "\\u{\(String($0.value, radix: 16))}" }.joined()
                XCTFail("\(label) #\(i) \"\(text)\":\n got  \(got[i].prefix(40))\n want \(want[i].prefix(40))",
                        file: file, line: line)
            }
        }
        if failures > 5 { XCTFail("\(label): \(failures) texts differ in all", file: file, line: line) }
    }
}
