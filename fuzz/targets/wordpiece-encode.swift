// WordPiece encoding of arbitrary text with the all-MiniLM-L6-v2 tokenizer (Tests/Fixtures/tokenizer/minilm:
// vocab.txt, lowercasing, accent stripping, CJK splitting), through the tweet normaliser as the daemon does:
// invalid UTF-8 is a TokenizerError; valid text gives ids inside the vocabulary, at most maxLength of them.
import Foundation
import SentimentCore
import SentimentCheckpoint
import SentimentTokenizers

private let tokenizer: any Tokenizer = loadFixtureTokenizer(folder: "tokenizer/minilm", family: .bert)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    encodeAndCheck(tokenizer, data, size)
    return 0
}
