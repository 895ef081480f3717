import XCTest
@testable import SentimentTokenizers

final class TweetNormalizerTests: XCTestCase {
    func testModelCardRules() {
        XCTAssertEqual(TweetNormalizer.normalize("@john_doe hi @ @@ x@y"), "@user hi @ @user x@y")
        XCTAssertEqual(TweetNormalizer.normalize("see https://t.co/x and http://a.b httpfoo xhttp"),
                       "see http and http http xhttp")
        XCTAssertEqual(TweetNormalizer.normalize("@é"), "@user")
        XCTAssertEqual(TweetNormalizer.normalize("@"), "@")
    }

    /// Only the space U+0020 separates fields; spacing is kept.
    func testSplitsOnSpaceOnly_keepingSpacing() {
        XCTAssertEqual(TweetNormalizer.normalize("  @a  b "), "  @user  b ")
        XCTAssertEqual(TweetNormalizer.normalize("hi\n@bob\t@al http://x"), "hi\n@bob\t@al http")
        XCTAssertEqual(TweetNormalizer.normalize(""), "")
        XCTAssertEqual(TweetNormalizer.normalize("no change here"), "no change here")
    }

    /// The Python function's outputs for the adversarial texts, written by tools/fixtures_tokenizer.py.
    func testAdversarial_matchesPythonPreprocess() throws {
        let texts = try TokenizerFixtures.strings("adversarial")
        let want = try TokenizerFixtures.strings("adversarial_tweetnorm")
        XCTAssertEqual(texts.count, want.count)
        for (t, w) in zip(texts, want) {
            XCTAssertTrue(TweetNormalizer.normalize(t).unicodeScalars.elementsEqual(w.unicodeScalars), "\(t.prefix(60))")
        }
        let sample = try XCTUnwrap(TokenizerFixtures.expected["sample"] as? [String: Any])
        for (t, w) in zip(try XCTUnwrap(sample["texts"] as? [String]), try XCTUnwrap(sample["tweetnorm"] as? [String])) {
            XCTAssertTrue(TweetNormalizer.normalize(t).unicodeScalars.elementsEqual(w.unicodeScalars), t)
        }
    }
}
