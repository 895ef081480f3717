// Shared by the encoding harnesses (scripts/fuzz.sh compiles it into the tokenizer targets).
import Foundation
import SentimentCheckpoint
import SentimentTokenizers

/// A committed tokenizer folder under Tests/Fixtures ($FUZZ_FIXTURES, set by scripts/fuzz.sh), behind the tweet
/// normaliser as the daemon serves it. A fixture that does not load stops the run at once.
func loadFixtureTokenizer(folder: String, family: ModelFamily) -> any Tokenizer {
    guard let fixtures = ProcessInfo.processInfo.environment["FUZZ_FIXTURES"] else {
        fatalError("FUZZ_FIXTURES is not set: run the harness through scripts/fuzz.sh")
    }
    let config = ModelConfig(family: family, vocabSize: family == .roberta ? 50265 : 30522, hiddenSize: 32,
                             numLayers: 1, numHeads: 2, intermediateSize: 64, maxPositionEmbeddings: 514,
                             typeVocabSize: 1, layerNormEps: 1e-5, padTokenId: family == .roberta ? 1 : 0,
                             id2label: ["negative", "neutral", "positive"])
    do {
        let base = try TokenizerLoader.load(folder: URL(fileURLWithPath: fixtures).appendingPathComponent(folder),
                                            config: config)
        return TweetNormalizingTokenizer(base)
    } catch {
        fatalError("cannot load the fixture tokenizer \(folder): \(error)")
    }
}

/// Encodes the input at a few lengths (the first byte picks one more): invalid UTF-8 must be a TokenizerError,
/// valid text ids inside the vocabulary, at most maxLength of them (2 when maxLength is below 2).
func encodeAndCheck(_ tokenizer: any Tokenizer, _ data: UnsafePointer<UInt8>, _ size: Int) {
    let bytes = [UInt8](UnsafeBufferPointer(start: data, count: size))
    for maxLength in [512, Int(bytes.first ?? 0) % 64] {
        do {
            let ids = try tokenizer.encode(utf8: bytes, maxLength: maxLength)
            precondition(ids.count <= max(maxLength, 2), "\(ids.count) ids for maxLength \(maxLength)")
            precondition(ids.count >= 2, "no special tokens")
            for id in ids {
                precondition(id >= 0 && Int(id) < tokenizer.vocabularySize, "id \(id) outside the vocabulary")
            }
        } catch is TokenizerError {
            return
        } catch {
            fatalError("encoding threw something other than TokenizerError: \(error)")
        }
    }
}
