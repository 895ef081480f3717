import Foundation
import SentimentTestSupport
import XCTest
@testable import SentimentTokenizers

/// Token ids identical to transformers' for the same texts (fixtures from tools/fixtures_tokenizer.py).
final class TokenizerParityTests: XCTestCase {
    typealias F = TokenizerFixtures

    func testRoberta_knownIds() {
        let t = F.roberta
        XCTAssertEqual(t.encode("Hello world", maxLength: 512), [0, 31414, 232, 2])
        XCTAssertEqual(t.padTokenId, 1)
        XCTAssertEqual(t.vocabularySize, 50265)
        let bpe = t as! ByteLevelBPE
        XCTAssertEqual(bpe.id(of: "Ġthe"), 5)
        XCTAssertEqual(bpe.id(of: "."), 4)
        XCTAssertFalse(bpe.addPrefixSpace)
    }

    func testMiniLM_knownIds() {
        let t = F.minilm
        XCTAssertEqual(t.encode("Hello World!", maxLength: 512), [101, 7592, 2088, 999, 102])
        XCTAssertEqual(t.padTokenId, 0)
        XCTAssertEqual(t.vocabularySize, 30522)
    }

    /// The adversarial texts at max_length 128 and 512 give `name`'s fixture ids.
    private func assertAdversarialParity(_ tokenizer: Tokenizer, _ name: String) throws {
        let texts = try F.strings("adversarial")
        for n in [128, 512] {
            let want = try F.idLists("\(name)/adversarial/\(n)")
            F.assertSame(texts.map { tokenizer.encode($0, maxLength: n) }, want, texts: texts, label: "\(name) max \(n)")
        }
    }

    func testRoberta_adversarial_matchesTransformers() throws {
        try assertAdversarialParity(F.roberta, "roberta")
    }

    func testRoberta_adversarialTweetNormalised_matchesTransformers() throws {
        let texts = try F.strings("adversarial")
        let want = try F.idLists("roberta/adversarial_tweetnorm/512")
        let t = TweetNormalizingTokenizer(F.roberta)
        F.assertSame(texts.map { t.encode($0, maxLength: 512) }, want, texts: texts, label: "roberta tweetnorm")
    }

    func testMiniLM_adversarial_matchesTransformers() throws {
        try assertAdversarialParity(F.minilm, "minilm")
    }

    /// Seeded random mixtures (whitespace kinds, marks, scripts, controls, special-token strings) at random
    /// max_length 2...512.
    func testRandomMixtures_matchTransformers() throws {
        let random = try XCTUnwrap(F.expected["random"] as? [String: Any])
        let texts = try XCTUnwrap(random["texts"] as? [String])
        let limits = try XCTUnwrap(random["max_length"] as? [Int])
        XCTAssertEqual(texts.count, 300)
        for (name, t) in [("roberta", F.roberta), ("minilm", F.minilm)] {
            F.assertSame(zip(texts, limits).map { t.encode($0, maxLength: $1) }, try F.idLists("\(name)/random"),
                         texts: texts, label: "random \(name)")
        }
    }

    func testCommittedSampleTweets_matchTransformers() throws {
        let sample = try XCTUnwrap(F.expected["sample"] as? [String: Any])
        let texts = try XCTUnwrap(sample["texts"] as? [String])
        XCTAssertGreaterThanOrEqual(texts.count, 30)
        F.assertSame(texts.map { F.roberta.encode($0, maxLength: 512) }, try F.idLists("roberta/sample"),
                     texts: texts, label: "roberta sample")
        F.assertSame(texts.map { TweetNormalizingTokenizer(F.roberta).encode($0, maxLength: 512) },
                     try F.idLists("roberta/sample_tweetnorm"), texts: texts, label: "roberta sample tweetnorm")
        F.assertSame(texts.map { F.minilm.encode($0, maxLength: 512) }, try F.idLists("minilm/sample"),
                     texts: texts, label: "minilm sample")
    }

    /// add_prefix_space from tokenizer_config.json and an lstrip `<mask>` from special_tokens_map.json.
    func testRobertaVariant_prefixSpaceAndLstripMask_matchTransformers() throws {
        let dir = try F.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["vocab.json", "merges.txt"] {
            try FileManager.default.copyItem(at: F.root.appendingPathComponent("roberta/\(name)"),
                                             to: dir.appendingPathComponent(name))
        }
        let files = try XCTUnwrap(F.expected["roberta_variant_files"] as? [String: String])
        for (name, text) in files { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        let t = try TokenizerLoader.load(folder: dir, config: F.config(.roberta, vocabSize: 50265))
        XCTAssertTrue((t as! ByteLevelBPE).addPrefixSpace)
        let texts = try F.strings("adversarial")
        F.assertSame(texts.map { t.encode($0, maxLength: 512) }, try F.idLists("roberta_variant/adversarial/512"),
                     texts: texts, label: "roberta variant")
    }

    /// tokenizer.json-only folders (what transformers 5 save_pretrained writes), generic tokenizer class.
    func testTokenizerJSONOnly_tinyBPEAndWordPiece_matchTransformers() throws {
        let texts = try F.strings("adversarial")
        let sample = try XCTUnwrap((F.expected["sample"] as? [String: Any])?["texts"] as? [String])
        let bpe = try TokenizerLoader.load(folder: F.root.appendingPathComponent("tiny_bpe"),
                                           config: F.config(.roberta, vocabSize: try F.meta("tiny_bpe_vocab_size")))
        XCTAssertTrue(bpe is ByteLevelBPE)
        F.assertSame(texts.map { bpe.encode($0, maxLength: 512) }, try F.idLists("tiny_bpe/adversarial/512"),
                     texts: texts, label: "tiny bpe")
        F.assertSame(sample.map { bpe.encode($0, maxLength: 512) }, try F.idLists("tiny_bpe/sample"),
                     texts: sample, label: "tiny bpe sample")

        let wp = try TokenizerLoader.load(folder: F.root.appendingPathComponent("tiny_wordpiece"),
                                          config: F.config(.bert, vocabSize: try F.meta("tiny_wordpiece_vocab_size")))
        let w = try XCTUnwrap(wp as? WordPiece)
        XCTAssertFalse(w.normalization.lowercase)
        XCTAssertTrue(w.normalization.stripsAccents)
        F.assertSame(texts.map { wp.encode($0, maxLength: 512) }, try F.idLists("tiny_wordpiece/adversarial/512"),
                     texts: texts, label: "tiny wordpiece")
        F.assertSame(sample.map { wp.encode($0, maxLength: 512) }, try F.idLists("tiny_wordpiece/sample"),
                     texts: sample, label: "tiny wordpiece sample")
    }

    /// The real MiniLM folder (vocab.txt and tokenizer.json both present) and its tokenizer.json alone.
    func testVendorMiniLM_tokenizerJSONAlone_equalsVocabTxt() throws {
        let vendor = F.vendorMiniLM
        guard FileManager.default.fileExists(atPath: vendor.appendingPathComponent("tokenizer.json").path) else {
            throw XCTSkip("vendor-models/all-MiniLM-L6-v2 is absent (run scripts/fetch-minilm.sh)")
        }
        let dir = try F.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
            try FileManager.default.copyItem(at: vendor.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
        let fromJSON = try TokenizerLoader.load(folder: dir, config: F.config(.bert, vocabSize: 30522))
        let fromVendor = try TokenizerLoader.load(folder: vendor, config: F.config(.bert, vocabSize: 30522))
        let texts = try F.strings("adversarial")
        let want = try F.idLists("minilm/adversarial/512")
        F.assertSame(texts.map { fromJSON.encode($0, maxLength: 512) }, want, texts: texts, label: "minilm tokenizer.json")
        F.assertSame(texts.map { fromVendor.encode($0, maxLength: 512) }, want, texts: texts, label: "minilm vendor")
    }

    /// One tokenizer shared by several threads (the BPE cache is shared) gives the same ids as one thread.
    func testConcurrentEncoding_sameIdsAsSerial() throws {
        let texts = try F.strings("adversarial") + (try XCTUnwrap((F.expected["sample"] as? [String: Any])?["texts"] as? [String]))
        let rob = try TokenizerLoader.load(folder: F.root.appendingPathComponent("roberta"),
                                           config: F.config(.roberta, vocabSize: 50265))
        let want = try F.idLists("roberta/adversarial/512") + (try F.idLists("roberta/sample"))
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var ids: [[[Int32]]] = Array(repeating: [], count: 4)
        }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 4) { k in
            // Each thread walks the texts in a different order so that cache fills interleave.
            let order = k % 2 == 0 ? Array(texts.indices) : Array(texts.indices.reversed())
            var got = [[Int32]](repeating: [], count: texts.count)
            for i in order { got[i] = rob.encode(texts[i], maxLength: 512) }
            results.lock.lock()
            results.ids[k] = got
            results.lock.unlock()
        }
        for k in 0..<4 { F.assertSame(results.ids[k], want, texts: texts, label: "thread \(k)") }
    }

    /// All 2,000 TweetEval validation tweets (read from the shared data; the fixture holds only ids).
    func testValTweets_allIdsMatchTransformers() throws {
        let file = F.sharedData.appendingPathComponent("tweet-sentiment/val_text.txt")
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw XCTSkip(SharedData.absence("tweet-sentiment/val_text.txt") + "; the committed sample still ran")
        }
        let val = try F.json("val_ids.json")
        XCTAssertEqual(data.count, val["bytes"] as? Int, "val_text.txt is not the file the fixture was made from")
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        let tweets = lines.map { String(decoding: $0, as: UTF8.self) }
        XCTAssertEqual(tweets.count, 2000)
        XCTAssertEqual(tweets.count, val["count"] as? Int)

        func lists(_ key: String) throws -> [[Int32]] {
            try XCTUnwrap(val[key] as? [[Int]]).map { $0.map(Int32.init) }
        }
        let rob = tweets.map { F.roberta.encode($0, maxLength: 512) }
        F.assertSame(rob, try lists("roberta"), texts: tweets, label: "val roberta")
        F.assertSame(tweets.map { F.minilm.encode($0, maxLength: 512) }, try lists("minilm"), texts: tweets,
                     label: "val minilm")
        // Tweet-normalised: the fixture lists only the lines that normalisation changes.
        let changed = try XCTUnwrap(val["roberta_tweetnorm"] as? [String: [Int]])
        let norm = TweetNormalizingTokenizer(F.roberta)
        for (i, t) in tweets.enumerated() {
            let want = changed[String(i)].map { $0.map(Int32.init) } ?? rob[i]
            XCTAssertEqual(TweetNormalizer.normalize(t) != t, changed[String(i)] != nil, "line \(i + 1)")
            XCTAssertEqual(norm.encode(t, maxLength: 512), want, "line \(i + 1)")
        }
    }
}
