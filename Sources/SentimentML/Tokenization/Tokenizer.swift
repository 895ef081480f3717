/// Turns text into the token ids a model was trained on, with its special tokens, truncated to `maxLength`.
/// Implementations are immutable after loading and safe to share between threads.
public protocol Tokenizer: Sendable {
    /// Ids of `text` with the model's special tokens (`<s> … </s>` or `[CLS] … [SEP]`), at most `maxLength` ids;
    /// truncation drops content tokens from the end and keeps the closing special token.
    func encode(_ text: String, maxLength: Int) -> [Int32]
    var padTokenId: Int32 { get }
    /// Number of ids the vocabulary defines (including added special tokens).
    var vocabularySize: Int { get }
}
