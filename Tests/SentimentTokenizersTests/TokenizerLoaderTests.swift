import Foundation
import SentimentTestSupport
import XCTest
@testable import SentimentCheckpoint
@testable import SentimentTokenizers

/// Bad tokenizer folders and bad texts yield typed errors that name the file (or byte offset).
final class TokenizerLoaderTests: XCTestCase {
    typealias F = TokenizerFixtures
    private var dirs: [URL] = []

    override func tearDown() {
        for d in dirs { try? FileManager.default.removeItem(at: d) }
        dirs = []
    }

    private func folder(_ files: [String: String], copy: [String] = []) throws -> URL {
        let dir = try F.temporaryFolder()
        dirs.append(dir)
        for name in copy {
            try FileManager.default.copyItem(at: F.root.appendingPathComponent(name),
                                             to: dir.appendingPathComponent((name as NSString).lastPathComponent))
        }
        for (name, text) in files { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        return dir
    }

    private func loadError(_ dir: URL, _ config: ModelConfig,
                           file: StaticString = #filePath, line: UInt = #line) -> TokenizerError? {
        do {
            _ = try TokenizerLoader.load(folder: dir, config: config)
            XCTFail("loading \(dir.lastPathComponent) should fail", file: file, line: line)
            return nil
        } catch let e as TokenizerError {
            return e
        } catch {
            XCTFail("not a TokenizerError: \(error)", file: file, line: line)
            return nil
        }
    }

    /// A small byte-level BPE vocabulary: the 256 byte symbols, specials, and the merges' results.
    private func tinyBPEFiles(extraMerges: [String] = [], vocabSizeExtra: [String: Int] = [:]) -> [String: String] {
        var vocab: [String: Int] = ["<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3]
        for b in 0..<256 {
            var s = String.UnicodeScalarView()
            s.append(Unicode.Scalar(ByteLevelBPE.byteToScalar[b])!)
            vocab[String(s)] = vocab.count
        }
        for t in ["he", "ll", "hell", "hello", "Ġw"] { vocab[t] = vocab.count }
        vocab["<mask>"] = vocab.count
        for (k, v) in vocabSizeExtra { vocab[k] = v }
        let json = String(decoding: try! JSONSerialization.data(withJSONObject: vocab), as: UTF8.self)
        let merges = ["#version: 0.2", "h e", "l l", "he ll", "hell o", "Ġ w"] + extraMerges
        return ["vocab.json": json, "merges.txt": merges.joined(separator: "\n") + "\n"]
    }

    func testTinyBPE_loadsAndMergesByRank() throws {
        let dir = try folder(tinyBPEFiles())
        let t = try TokenizerLoader.load(folder: dir, config: F.config(.roberta, vocabSize: 266))
        let bpe = try XCTUnwrap(t as? ByteLevelBPE)
        let hello = try XCTUnwrap(bpe.id(of: "hello")), gw = try XCTUnwrap(bpe.id(of: "Ġw"))
        let o = try XCTUnwrap(bpe.id(of: "o"))
        XCTAssertEqual(t.encode("hello wo", maxLength: 16), [0, hello, gw, o, 2])
        XCTAssertEqual(t.vocabularySize, 266)
    }

    // MARK: Missing and mismatched files

    func testEmptyFolder_namesTheExpectedFiles() throws {
        let dir = try folder([:])
        let e = loadError(dir, F.config(.roberta, vocabSize: 50265))
        XCTAssertEqual(e, .noTokenizerFiles(folder: dir.path))
        XCTAssertTrue(e!.description.contains("vocab.json + merges.txt"))
    }

    func testVocabJSONWithoutMerges_namesMergesTxt() throws {
        let dir = try folder([:], copy: ["roberta/vocab.json"])
        let e = loadError(dir, F.config(.roberta, vocabSize: 50265))
        XCTAssertEqual(e, .missingFile(path: dir.appendingPathComponent("merges.txt").path, neededBy: "vocab.json"))
        XCTAssertTrue(e!.description.contains("merges.txt"))
    }

    func testMergesWithoutVocabJSON_namesVocabJSON() throws {
        let dir = try folder([:], copy: ["roberta/merges.txt"])
        XCTAssertEqual(loadError(dir, F.config(.roberta, vocabSize: 50265)),
                       .missingFile(path: dir.appendingPathComponent("vocab.json").path, neededBy: "merges.txt"))
    }

    func testRobertaVocab_largerThanConfigVocabSize_isRejectedNamingVocabJSON() throws {
        let dir = try folder([:], copy: ["roberta/vocab.json", "roberta/merges.txt"])
        let e = loadError(dir, F.config(.roberta, vocabSize: 30522))
        guard case let .idOutOfRange(path, _, id, size)? = e else { return XCTFail("\(String(describing: e))") }
        XCTAssertEqual(path, dir.appendingPathComponent("vocab.json").path)
        XCTAssertEqual(id, 30522)
        XCTAssertEqual(size, 30522)
        XCTAssertTrue(e!.description.contains("vocab_size 30522"), e!.description)
    }

    func testBertVocabTxt_largerThanConfigVocabSize_isRejectedNamingVocabTxt() throws {
        let dir = try folder([:], copy: ["minilm/vocab.txt"])
        guard case let .idOutOfRange(path, token, id, _)? = loadError(dir, F.config(.bert, vocabSize: 30000)) else {
            return XCTFail("expected idOutOfRange")
        }
        XCTAssertEqual(path, dir.appendingPathComponent("vocab.txt").path)
        XCTAssertEqual(id, 30000)
        XCTAssertFalse(token.isEmpty)
    }

    func testPadIdDisagreeingWithConfig_isRejected() throws {
        let dir = try folder([:], copy: ["minilm/vocab.txt"])
        XCTAssertEqual(loadError(dir, F.config(.bert, vocabSize: 30522, padTokenId: 1)),
                       .padTokenMismatch(path: dir.appendingPathComponent("tokenizer_config.json").path,
                                         tokenizerPadId: 0, configPadId: 1))
    }

    func testPadTokenMissingFromVocabulary_isRejected() throws {
        let dir = try folder(["tokenizer_config.json": #"{"pad_token": "[NOPE]"}"#], copy: ["minilm/vocab.txt"])
        XCTAssertEqual(loadError(dir, F.config(.bert, vocabSize: 30522)),
                       .missingToken(path: dir.appendingPathComponent("tokenizer_config.json").path,
                                     role: "pad_token", token: "[NOPE]"))
    }

    func testMergeOfUnknownToken_namesMergesLine() throws {
        let dir = try folder(tinyBPEFiles(extraMerges: ["q zz"]))
        let e = loadError(dir, F.config(.roberta, vocabSize: 266))
        guard case let .malformed(path, line, reason)? = e else { return XCTFail("\(String(describing: e))") }
        XCTAssertEqual(path, dir.appendingPathComponent("merges.txt").path)
        XCTAssertEqual(line, 7)
        XCTAssertTrue(reason.contains("zz"), reason)
    }

    func testMalformedMergeLine_namesLine() throws {
        let dir = try folder(tinyBPEFiles(extraMerges: ["a b c"]))
        guard case let .malformed(_, line, _)? = loadError(dir, F.config(.roberta, vocabSize: 266)) else {
            return XCTFail("expected malformed")
        }
        XCTAssertEqual(line, 7)
    }

    func testInvalidVocabJSON_namesFile() throws {
        let dir = try folder(["vocab.json": "{\"a\": 1,", "merges.txt": ""])
        guard case let .malformed(path, _, reason)? = loadError(dir, F.config(.roberta, vocabSize: 266)) else {
            return XCTFail("expected malformed")
        }
        XCTAssertEqual(path, dir.appendingPathComponent("vocab.json").path)
        XCTAssertTrue(reason.contains("byte"), reason)
    }

    func testVocabWithoutByteSymbols_isNotByteLevel() throws {
        let dir = try folder(["vocab.json": #"{"<s>": 0, "<pad>": 1, "</s>": 2, "a": 3}"#, "merges.txt": ""])
        guard case let .malformed(_, _, reason)? = loadError(dir, F.config(.roberta, vocabSize: 266)) else {
            return XCTFail("expected malformed")
        }
        XCTAssertTrue(reason.contains("byte"), reason)
    }

    func testUnknownTokenizerClass_isNamed() throws {
        let dir = try folder(["tokenizer_config.json": #"{"tokenizer_class": "XLMRobertaTokenizer"}"#],
                             copy: ["roberta/vocab.json", "roberta/merges.txt"])
        XCTAssertEqual(loadError(dir, F.config(.roberta, vocabSize: 50265)),
                       .unsupported(path: dir.appendingPathComponent("tokenizer_config.json").path,
                                    field: "tokenizer_class", value: "\"XLMRobertaTokenizer\""))
    }

    func testBertClassWithBPEFiles_isAConflict() throws {
        let dir = try folder(["tokenizer_config.json": #"{"tokenizer_class": "BertTokenizer"}"#],
                             copy: ["roberta/vocab.json", "roberta/merges.txt"])
        guard case .conflictingSettings? = loadError(dir, F.config(.roberta, vocabSize: 50265)) else {
            return XCTFail("expected conflictingSettings")
        }
    }

    /// transformers 5 would lowercase (tokenizer_config.json default), transformers 4 would not (tokenizer.json).
    func testTokenizerJSONNormalizerDisagreeingWithConfig_isRejected() throws {
        let src = try String(contentsOf: F.root.appendingPathComponent("tiny_wordpiece/tokenizer.json"), encoding: .utf8)
        let dir = try folder(["tokenizer.json": src, "tokenizer_config.json": #"{"tokenizer_class": "BertTokenizer"}"#])
        let e = loadError(dir, F.config(.bert, vocabSize: try F.meta("tiny_wordpiece_vocab_size")))
        guard case let .conflictingSettings(path, reason)? = e else { return XCTFail("\(String(describing: e))") }
        XCTAssertEqual(path, dir.appendingPathComponent("tokenizer.json").path)
        XCTAssertTrue(reason.contains("do_lower_case"), reason)
    }

    /// RobertaTokenizer of transformers 5 drops a tokenizer.json normalizer, transformers 4 applies it.
    func testRobertaTokenizerJSONWithNormalizer_isRejected() throws {
        var src = try String(contentsOf: F.root.appendingPathComponent("tiny_bpe/tokenizer.json"), encoding: .utf8)
        src = src.replacingOccurrences(of: "\"normalizer\":null", with: "\"normalizer\":{\"type\":\"Lowercase\"}")
        XCTAssertTrue(src.contains("Lowercase"))
        let dir = try folder(["tokenizer.json": src, "tokenizer_config.json": #"{"tokenizer_class": "RobertaTokenizer"}"#])
        guard case .conflictingSettings? = loadError(dir, F.config(.roberta, vocabSize: try F.meta("tiny_bpe_vocab_size"))) else {
            return XCTFail("expected conflictingSettings")
        }
        // The same file under the generic class: an unsupported normalizer, named.
        try Data(#"{"tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "<pad>"}"#.utf8)
            .write(to: dir.appendingPathComponent("tokenizer_config.json"))
        guard case let .unsupported(_, field, _)? = loadError(dir, F.config(.roberta, vocabSize: try F.meta("tiny_bpe_vocab_size"))) else {
            return XCTFail("expected unsupported")
        }
        XCTAssertEqual(field, "normalizer")
    }

    func testTokenizerJSONOfUnsupportedModel_isNamed() throws {
        let dir = try folder(["tokenizer.json": #"{"model": {"type": "Unigram", "vocab": []}}"#])
        XCTAssertEqual(loadError(dir, F.config(.roberta, vocabSize: 50265)),
                       .unsupported(path: dir.appendingPathComponent("tokenizer.json").path, field: "model.type",
                                    value: "\"Unigram\""))
    }

    func testSingleWordAddedToken_isUnsupported() throws {
        let cfg = #"{"added_tokens_decoder": {"0": {"content": "[PAD]", "single_word": true, "special": true}}}"#
        let dir = try folder(["tokenizer_config.json": cfg], copy: ["minilm/vocab.txt"])
        guard case .unsupported? = loadError(dir, F.config(.bert, vocabSize: 30522)) else {
            return XCTFail("expected unsupported")
        }
    }

    // MARK: vocab.txt reading as tokenizers does

    func testVocabTxt_crlfTrailingSpacesDuplicatesAndEmptyLines() throws {
        let dir = try folder(["vocab.txt": "[PAD]\r\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nab  \nab\ncd\n##e\n\nx\n"])
        let t = try TokenizerLoader.load(folder: dir, config: F.config(.bert, vocabSize: 11))
        // transformers: [2, 6, 7, 8, 10, 0, 3] for "ab cde x [PAD]" (a later duplicate wins; "" keeps id 9).
        XCTAssertEqual(t.encode("ab cde x [PAD]", maxLength: 32), [2, 6, 7, 8, 10, 0, 3])
        XCTAssertEqual(t.vocabularySize, 11)
    }

    // MARK: Truncation

    func testTruncation_keepsClosingSpecialToken() throws {
        let long = Array(repeating: "good", count: 600).joined(separator: " ")
        for (t, cls, sep) in [(F.roberta, Int32(0), Int32(2)), (F.minilm, Int32(101), Int32(102))] {
            for n in [2, 3, 5, 128, 512] {
                let ids = t.encode(long, maxLength: n)
                XCTAssertEqual(ids.count, n)
                XCTAssertEqual(ids.first, cls)
                XCTAssertEqual(ids.last, sep)
                // "good" then "Ġgood" (RoBERTa) or "good" repeated (BERT) up to the limit.
                if n > 3 { XCTAssertEqual(Array(ids.dropFirst(2).dropLast()), Array(repeating: ids[2], count: n - 3)) }
            }
            let full = t.encode(long, maxLength: 100_000)
            XCTAssertEqual(full.count, 602)
            XCTAssertEqual(t.encode(long, maxLength: 128), Array(full.prefix(127)) + [sep])
            // Below 2 there is no room for content; the two special tokens remain.
            XCTAssertEqual(t.encode(long, maxLength: 0), [cls, sep])
        }
    }

    // MARK: Bad UTF-8

    func testInvalidUTF8_isRejectedWithByteOffset() {
        let cases: [([UInt8], Int)] = [
            (Array("ok ".utf8) + [0xFF] + Array(" x".utf8), 3),       // invalid byte
            (Array("abc".utf8) + [0x80], 3),                           // stray continuation
            (Array("é".utf8) + [0xC3], 2),                             // truncated at end
            ([0x41, 0xC0, 0xAF], 1),                                   // overlong '/'
            ([0xE0, 0x80, 0xAF], 0),                                   // overlong 3-byte
            ([0x20, 0xED, 0xA0, 0x80], 1),                             // UTF-16 surrogate
            ([0xF4, 0x90, 0x80, 0x80], 0),                             // above U+10FFFF
            (Array("0123456789".utf8) + [0xE2, 0x82, 0x41], 10),       // truncated inside
        ]
        for (bytes, offset) in cases {
            for t in [F.roberta, F.minilm] {
                XCTAssertThrowsError(try t.encode(utf8: bytes, maxLength: 128)) { error in
                    guard case let .invalidUTF8(got, reason)? = error as? TokenizerError else {
                        return XCTFail("\(error)")
                    }
                    XCTAssertEqual(got, offset, "\(bytes) (\(reason))")
                    XCTAssertTrue((error as! TokenizerError).description.contains("byte offset \(offset)"))
                }
            }
        }
    }

    func testValidUTF8Bytes_equalStringEncoding() throws {
        for text in ["", "Hello world", "naïve 😀 你好 \u{0}", "👩‍👩‍👧‍👦 <s> [CLS]"] {
            for t in [F.roberta, F.minilm] {
                XCTAssertEqual(try t.encode(utf8: Array(text.utf8), maxLength: 64), t.encode(text, maxLength: 64))
            }
        }
    }

    // MARK: Speed

    /// Prints the tokenisation time of the 2,000 val tweets (cold and warm BPE cache); no timing assertion.
    func testTiming_valTweets() throws {
        let file = F.sharedData.appendingPathComponent("tweet-sentiment/val_text.txt")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { throw XCTSkip(SharedData.absence("tweet-sentiment/val_text.txt")) }
        var tweets = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if tweets.last == "" { tweets.removeLast() }
        let rob = try TokenizerLoader.load(folder: F.root.appendingPathComponent("roberta"),
                                           config: F.config(.roberta, vocabSize: 50265))
        for (name, t) in [("roberta+tweetnorm", TweetNormalizingTokenizer(rob) as Tokenizer), ("minilm", F.minilm)] {
            for pass in ["cold", "warm"] {
                let start = DispatchTime.now().uptimeNanoseconds
                var n = 0
                for s in tweets { n += t.encode(s, maxLength: 128).count }
                let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                print("tokenize \(tweets.count) tweets, \(name), \(pass): \(String(format: "%.2f", ms)) ms (\(n) ids)")
            }
        }
    }
}
