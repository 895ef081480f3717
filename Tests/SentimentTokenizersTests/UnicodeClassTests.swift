import Foundation
import XCTest
@testable import SentimentTokenizers

/// Every code point classified as `tokenizers` classifies it (tables dumped by tools/fixtures_tokenizer.py).
/// A failure here after a toolchain upgrade means Swift's Unicode data moved and UnicodeClasses needs
/// another exception.
final class UnicodeClassTests: XCTestCase {
    /// The class letter of every code point, from runs [start, class, start, class, ...].
    private func expand(_ key: String, _ table: [String: Any]) throws -> [UInt8] {
        let runs = try XCTUnwrap(table[key] as? [Any], key)
        var out = [UInt8](repeating: UInt8(ascii: "?"), count: 0x110000)
        var k = 0
        while k < runs.count {
            let start = try XCTUnwrap(runs[k] as? Int)
            let cls = try XCTUnwrap((runs[k + 1] as? String)?.utf8.first)
            let end = k + 2 < runs.count ? try XCTUnwrap(runs[k + 2] as? Int) : 0x110000
            out.withUnsafeMutableBufferPointer { p in
                for cp in start..<end { p[cp] = cls }
            }
            k += 2
        }
        return out
    }

    private func check(_ name: String, _ want: [UInt8], _ got: (UInt32) -> Character) {
        var bad: [String] = []
        var count = 0
        want.withUnsafeBufferPointer { w in
            var v: UInt32 = 0
            while v < 0x110000 {
                defer { v += 1 }
                if v >= 0xD800 && v <= 0xDFFF { continue }
                let g = got(v)
                if g.asciiValue != w[Int(v)] {
                    count += 1
                    if bad.count < 10 {
                        bad.append("U+\(String(v, radix: 16, uppercase: true)) want \(Character(Unicode.Scalar(w[Int(v)]))) got \(g)")
                    }
                }
            }
        }
        XCTAssertEqual(count, 0, "\(name): \(count) code points differ: \(bad)")
    }

    func testGPT2RegexClasses_everyCodePoint() throws {
        let table = try TokenizerFixtures.json("unicode_classes.json")
        check("gpt2", try expand("gpt2", table)) { v in
            switch UnicodeClasses.gpt2(v) {
            case .whitespace: return "S"
            case .letter: return "L"
            case .number: return "N"
            case .other: return "O"
            }
        }
    }

    func testBertCleanChineseAndPunctuation_everyCodePoint() throws {
        let table = try TokenizerFixtures.json("unicode_classes.json")
        check("bert_clean", try expand("bert_clean", table)) { v in
            UnicodeClasses.bertRemoved(v) ? "R" : (UnicodeClasses.isWhitespace(v) ? "W" : "K")
        }
        check("bert_chinese", try expand("bert_chinese", table)) { UnicodeClasses.isCJK($0) ? "C" : "K" }
        check("bert_pre", try expand("bert_pre", table)) { v in
            UnicodeClasses.isWhitespace(v) ? "W" : (UnicodeClasses.isBertPunctuation(v) ? "P" : "K")
        }
    }

    /// The normaliser on each single code point, compared per block of 4,096 by FNV-1a hash.
    func testBertNormaliser_everyCodePoint() throws {
        let table = try TokenizerFixtures.json("unicode_classes.json")
        let variants: [(String, BertNormalization)] = [
            ("bert_full_blocks", BertNormalization(cleanText: true, handleChineseChars: true, stripAccents: true, lowercase: true)),
            ("bert_strip_blocks", BertNormalization(cleanText: false, handleChineseChars: false, stripAccents: true, lowercase: false)),
            ("bert_lower_blocks", BertNormalization(cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: true)),
        ]
        for (key, norm) in variants {
            let want = try XCTUnwrap(table[key] as? [String])
            XCTAssertEqual(want.count, 272)
            let wp = WordPiece(vocab: TokenTable([]), normalization: norm, addedTokens: [], clsTokenId: 0,
                               sepTokenId: 0, padTokenId: 0, unkTokenId: 0, vocabularySize: 1)
            var bad: [String] = []
            var out: [UInt8] = []
            var input: [UInt8] = []
            out.reserveCapacity(64)
            input.reserveCapacity(4)
            for block in 0..<272 {
                var h: UInt64 = 0xcbf2_9ce4_8422_2325
                var v = UInt32(block * 4096)
                while v < UInt32(block * 4096 + 4096) {
                    defer { v += 1 }
                    if v >= 0xD800 && v <= 0xDFFF { continue }
                    out.removeAll(keepingCapacity: true)
                    input.removeAll(keepingCapacity: true)
                    appendUTF8(v, to: &input)
                    input.withUnsafeBufferPointer { wp.normalize($0, into: &out) }
                    out.append(0xFF)
                    out.withUnsafeBufferPointer { p in
                        for i in 0..<p.count { h = (h ^ UInt64(p[i])) &* 0x0000_0100_0000_01B3 }
                    }
                }
                let hex = String(h, radix: 16)
                let got = String(repeating: "0", count: 16 - hex.count) + hex
                if got != want[block] { bad.append("U+\(String(block * 4096, radix: 16, uppercase: true))…") }
            }
            XCTAssertTrue(bad.isEmpty, "\(key): blocks differ: \(bad.prefix(20))")
        }
    }
}
