import Foundation
import XCTest
@testable import SentimentStore

final class LabelTextTests: XCTestCase {
    func testNormalise_trimsAndCollapsesEveryKindOfWhitespace() {
        XCTAssertEqual(LabelText.normalise("  Hello \t\t world \n\r\n again  "), "Hello world again")
        XCTAssertEqual(LabelText.normalise("a\u{00A0}\u{2003}b\u{2028}c"), "a b c")  // NBSP, em space, line sep.
        XCTAssertEqual(LabelText.normalise("\n\t "), "")
        XCTAssertEqual(LabelText.normalise("one"), "one")
    }

    func testNormalise_asciiFastPathAgreesWithTheUnicodePath() {
        // Pure-ASCII texts take a byte path; the same character after an "é" takes the Unicode path.
        for value in 0..<128 {
            let c = Character(Unicode.Scalar(UInt8(value)))
            let ascii = LabelText.normalise("x\(c)\(c)y ")
            let unicode = LabelText.normalise("é x\(c)\(c)y ")
            XCTAssertEqual("é " + ascii, unicode, "U+\(String(value, radix: 16))")
            let isWhitespace = Unicode.Scalar(UInt8(value)).properties.isWhitespace
            XCTAssertEqual(ascii == "x y", isWhitespace, "U+\(String(value, radix: 16))")
        }
    }

    func testNormalise_composesToNFC() {
        let decomposed = "cafe\u{0301}"
        let normalised = LabelText.normalise(decomposed)
        XCTAssertEqual(Array(normalised.unicodeScalars), Array("caf\u{00E9}".unicodeScalars))
        XCTAssertEqual(Array(normalised.utf8), Array("café".precomposedStringWithCanonicalMapping.utf8))
    }

    func testNormalise_isIdempotent() {
        for s in ["  x  y ", "e\u{0301} \u{0301}x", "\u{0301}  leading mark", "tab\there", "ß ﬁ Ⅻ"] {
            let once = LabelText.normalise(s)
            XCTAssertEqual(Array(LabelText.normalise(once).unicodeScalars), Array(once.unicodeScalars), s)
        }
    }

    func testNormalise_keepsCompatibilityCharacters() {
        // NFC, not NFKC: the ligature and the Roman numeral stay what the user wrote.
        XCTAssertEqual(Array(LabelText.normalise("ﬁ Ⅻ").unicodeScalars), Array("ﬁ Ⅻ".unicodeScalars))
    }

    func testBucket_matchesFNV1aAndSplitmixComputedIndependently() {
        // Reference values from a separate implementation (FNV-1a 64 over UTF-8, splitmix64 finaliser,
        // % 10 000); FNV-1a("hello") = 0xa430d84680aabd0b is the published test vector.
        XCTAssertEqual(FNV1a64.hash("hello".utf8), 0xa430_d846_80aa_bd0b)
        XCTAssertEqual(SplitAssignment.bucket(forNormalised: "hello"), 7007)
        XCTAssertEqual(SplitAssignment.bucket(forNormalised: "I love this!"), 214)
        XCTAssertEqual(SplitAssignment.bucket(forNormalised: "café au lait"), 954)
        XCTAssertEqual(SplitAssignment.split(forNormalised: "I love this!", evalFraction: 0.1), .eval)
        XCTAssertEqual(SplitAssignment.split(forNormalised: "café au lait", evalFraction: 0.1), .eval)
        XCTAssertEqual(SplitAssignment.split(forNormalised: "café au lait", evalFraction: 0.09), .train)
        XCTAssertEqual(SplitAssignment.split(forNormalised: "hello", evalFraction: 0.1), .train)
    }

    func testSplit_isAboutTheRequestedFractionOn20kTexts() {
        let texts = syntheticTexts(20_000)
        for fraction in [0.1, 0.25] {
            let eval = texts.filter { SplitAssignment.split(forNormalised: $0, evalFraction: fraction) == .eval }
            let observed = Double(eval.count) / Double(texts.count)
            // Binomial sd at 20k is about 0.003; 0.01 is more than three of them.
            XCTAssertEqual(observed, fraction, accuracy: 0.01, "fraction \(fraction)")
        }
        XCTAssertTrue(texts.allSatisfy { SplitAssignment.split(forNormalised: $0, evalFraction: 0) == .train })
        XCTAssertTrue(texts.allSatisfy { SplitAssignment.split(forNormalised: $0, evalFraction: 1) == .eval })
    }

    func testSplit_isDeterministicAndNestedAcrossFractions() {
        let texts = syntheticTexts(2_000, prefix: "det")
        let first = texts.map { SplitAssignment.split(forNormalised: $0, evalFraction: 0.1) }
        let again = texts.map { SplitAssignment.split(forNormalised: $0, evalFraction: 0.1) }
        XCTAssertEqual(first, again)
        // A larger fraction only adds texts to eval.
        for (text, split) in zip(texts, first) where split == .eval {
            XCTAssertEqual(SplitAssignment.split(forNormalised: text, evalFraction: 0.2), .eval)
        }
    }

    func testSampling_isSeededWithoutReplacementAndRoughlyUniform() {
        let items = Array(0..<20)
        XCTAssertEqual(LabelStore.sample(items, count: 5, seed: 42), LabelStore.sample(items, count: 5, seed: 42))
        XCTAssertNotEqual(LabelStore.sample(items, count: 5, seed: 42), LabelStore.sample(items, count: 5, seed: 43))
        XCTAssertEqual(LabelStore.sample(items, count: 50, seed: 1).sorted(), items)
        XCTAssertEqual(LabelStore.sample(items, count: 0, seed: 1), [])
        var hits = Array(repeating: 0, count: items.count)
        for seed in 0..<4_000 {
            let s = LabelStore.sample(items, count: 5, seed: UInt64(seed))
            XCTAssertEqual(Set(s).count, 5)
            for i in s { hits[i] += 1 }
        }
        // Each item is expected 1000 times (sd about 27).
        for (i, n) in hits.enumerated() {
            XCTAssertEqual(Double(n), 1000, accuracy: 150, "item \(i)")
        }
    }
}
