/// Everything that can be wrong with a tokenizer folder or with a text handed to a tokenizer.
/// Each message names the file (or byte offset) and says what is wrong.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    /// The folder holds none of the file sets a tokenizer is built from.
    case noTokenizerFiles(folder: String)
    /// One file of a pair is present, the other is not (`vocab.json` without `merges.txt`).
    case missingFile(path: String, neededBy: String)
    case unreadable(path: String, reason: String)
    /// The file parses but its content is wrong; `line` is 1-based where the file is line-oriented.
    case malformed(path: String, line: Int?, reason: String)
    /// A token id that the model's embedding matrix has no row for.
    case idOutOfRange(path: String, token: String, id: Int, vocabSize: Int)
    /// A special token (`pad_token`, `cls_token`, ...) that the vocabulary does not contain.
    case missingToken(path: String, role: String, token: String)
    case padTokenMismatch(path: String, tokenizerPadId: Int, configPadId: Int)
    /// A setting `transformers` would honour but this implementation does not reproduce.
    case unsupported(path: String, field: String, value: String)
    /// Two files disagree in a way that makes the folder tokenise differently across `transformers` versions.
    case conflictingSettings(path: String, reason: String)
    /// A text that is not valid UTF-8: the offset of the first byte of the offending sequence.
    case invalidUTF8(offset: Int, reason: String)

    public var description: String {
        switch self {
        case let .noTokenizerFiles(folder):
            return "\(folder): no tokenizer files: expected vocab.json + merges.txt (byte-level BPE), "
                + "vocab.txt (WordPiece) or tokenizer.json"
        case let .missingFile(path, neededBy):
            return "\(path): file is missing (needed with \(neededBy))"
        case let .unreadable(path, reason):
            return "\(path): cannot read: \(reason)"
        case let .malformed(path, line, reason):
            if let line { return "\(path):\(line): \(reason)" }
            return "\(path): \(reason)"
        case let .idOutOfRange(path, token, id, vocabSize):
            return "\(path): token \"\(token)\" has id \(id), but the model's config.json has vocab_size \(vocabSize); "
                + "this tokenizer does not belong to this model"
        case let .missingToken(path, role, token):
            return "\(path): \(role) \"\(token)\" is not in the vocabulary"
        case let .padTokenMismatch(path, tokenizerPadId, configPadId):
            return "\(path): the tokenizer's pad token has id \(tokenizerPadId) but config.json has pad_token_id "
                + "\(configPadId); they must agree"
        case let .unsupported(path, field, value):
            return "\(path): \(field) = \(value) is not supported by sentimentd's tokenizers"
        case let .conflictingSettings(path, reason):
            return "\(path): \(reason)"
        case let .invalidUTF8(offset, reason):
            return "text is not valid UTF-8 at byte offset \(offset): \(reason); texts must be UTF-8"
        }
    }
}
