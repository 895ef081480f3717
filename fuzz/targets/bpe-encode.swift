// Byte-level BPE encoding of arbitrary text with the reference model's tokenizer (Tests/Fixtures/tokenizer/roberta,
// cardiffnlp's vocab.json + merges.txt), through the tweet normaliser as the daemon does: invalid UTF-8 is a
// TokenizerError; valid text gives ids inside the vocabulary, at most maxLength of them.
import Foundation
import SentimentCore
import SentimentCheckpoint
import SentimentTokenizers

private let tokenizer: any Tokenizer = loadFixtureTokenizer(folder: "tokenizer/roberta", family: .roberta)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    encodeAndCheck(tokenizer, data, size)
    return 0
}
