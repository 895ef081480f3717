import Foundation
import SentimentCheckpoint

/// Builds the tokenizer of a Hugging Face model folder, as `AutoTokenizer.from_pretrained` (transformers 5)
/// would, and checks it against the model's config.
///
/// Which files are used:
/// - `vocab.json` + `merges.txt`: byte-level BPE (RoBERTa); `vocab.txt`: WordPiece (BERT). These take
///   precedence when present (if both kinds are present, the config's model family decides).
/// - otherwise `tokenizer.json` (what transformers 5 `save_pretrained` writes): its `model` section gives the
///   vocabulary (and merges), its `added_tokens` the added tokens.
/// - `tokenizer_config.json` gives the class (`tokenizer_class`), the special tokens, `add_prefix_space`
///   (BPE), `do_lower_case` / `strip_accents` / `tokenize_chinese_chars` (WordPiece) and
///   `added_tokens_decoder`; when it has no `added_tokens_decoder`, `special_tokens_map.json` and the legacy
///   `added_tokens.json` are read as transformers does.
///
/// transformers 5 rebuilds a model-specific tokenizer (`RobertaTokenizer`, `BertTokenizer`) from
/// tokenizer_config.json and takes only the vocabulary from tokenizer.json; transformers 4 used
/// tokenizer.json whole. When the two files disagree (say tokenizer.json does not lowercase but
/// tokenizer_config.json does), the folder is rejected instead of guessing.
public enum TokenizerLoader {
    public static func load(folder: URL, config: ModelConfig) throws -> Tokenizer {
        let files: ModelFolderReader
        do { files = try ModelFolderReader(folder) } catch {
            throw TokenizerError.unreadable(path: folder.path, reason: "\(error)")
        }
        return try load(files, config: config)
    }

    /// The tokenizer of a model folder, its files read through `files`.
    public static func load(_ files: ModelFolderReader, config: ModelConfig) throws -> Tokenizer {
        var ctx = try Context(files: files, config: config)
        switch try ctx.chooseKind() {
        case .bpe: return try ctx.buildBPE()
        case .wordPiece: return try ctx.buildWordPiece()
        }
    }

    enum Kind { case bpe, wordPiece }

    /// The class that reads tokenizer_config.json: model-specific (rebuilds the pipeline from its
    /// arguments) or generic (uses tokenizer.json as it is).
    enum TokenizerClass: Equatable { case roberta, bert, generic }

    struct Context {
        let files: ModelFolderReader
        var folder: URL { files.url }
        let config: ModelConfig
        var tokenizerConfig: RawJSON = .object([])
        var tokenizerClass: TokenizerClass
        var tokenizerJSON: RawJSON? = nil

        init(files: ModelFolderReader, config: ModelConfig) throws {
            self.files = files
            self.config = config
            tokenizerClass = config.family == .roberta ? .roberta : .bert
            let tc = files.url.appendingPathComponent("tokenizer_config.json")
            if files.exists("tokenizer_config.json") {
                tokenizerConfig = try TokenizerFiles.readJSONObject(files, "tokenizer_config.json")
                if let cls = tokenizerConfig["tokenizer_class"], !cls.isNull {
                    guard let name = cls.stringValue else {
                        throw TokenizerError.malformed(path: tc.path, line: nil, reason: "tokenizer_class is not a string")
                    }
                    let base = name.hasSuffix("Fast") ? String(name.dropLast(4)) : name
                    switch base {
                    case "RobertaTokenizer": tokenizerClass = .roberta
                    case "BertTokenizer", "DistilBertTokenizer": tokenizerClass = .bert
                    case "PreTrainedTokenizer", "TokenizersBackend": tokenizerClass = .generic
                    default:
                        throw TokenizerError.unsupported(path: tc.path, field: "tokenizer_class", value: "\"\(name)\"")
                    }
                }
            }
        }

        func url(_ name: String) -> URL { folder.appendingPathComponent(name) }
        func exists(_ name: String) -> Bool { files.exists(name) }
        var configPath: String { url("tokenizer_config.json").path }

        mutating func chooseKind() throws -> Kind {
            let bpeFiles = exists("vocab.json") || exists("merges.txt")
            let wpFiles = exists("vocab.txt")
            var kind: Kind
            if bpeFiles && (!wpFiles || config.family == .roberta) {
                if !exists("vocab.json") { throw TokenizerError.missingFile(path: url("vocab.json").path, neededBy: "merges.txt") }
                if !exists("merges.txt") { throw TokenizerError.missingFile(path: url("merges.txt").path, neededBy: "vocab.json") }
                kind = .bpe
            } else if wpFiles {
                kind = .wordPiece
            } else if exists("tokenizer.json") {
                let tj = try TokenizerFiles.readJSONObject(files, "tokenizer.json")
                tokenizerJSON = tj
                let type = tj["model"]?["type"]?.stringValue
                switch type {
                case "BPE": kind = .bpe
                case "WordPiece": kind = .wordPiece
                default:
                    throw TokenizerError.unsupported(path: url("tokenizer.json").path, field: "model.type",
                        value: type.map { "\"\($0)\"" } ?? "(missing)")
                }
            } else {
                throw TokenizerError.noTokenizerFiles(folder: folder.path)
            }
            switch (tokenizerClass, kind) {
            case (.roberta, .wordPiece), (.bert, .bpe):
                let name = tokenizerClass == .roberta ? "RobertaTokenizer (byte-level BPE)" : "BertTokenizer (WordPiece)"
                let files = kind == .bpe ? "BPE files" : "WordPiece files"
                throw TokenizerError.conflictingSettings(path: folder.path,
                    reason: "the tokenizer class is \(name) (tokenizer_config.json or config.json model_type) "
                        + "but the folder holds \(files)")
            default: return kind
            }
        }

        // MARK: Special and added tokens

        /// The named special tokens and every added token, with transformers 5's precedence.
        func tokenSpecs(defaults: [String: String]) throws -> (roles: [String: TokenizerFiles.TokenSpec], added: [TokenizerFiles.TokenSpec]) {
            var roles: [String: TokenizerFiles.TokenSpec] = [:]
            for (k, v) in defaults { roles[k] = TokenizerFiles.TokenSpec(content: v, source: configPath) }
            var added: [TokenizerFiles.TokenSpec] = []
            let roleKeys = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]

            func applyRoles(_ obj: RawJSON, path: String) throws {
                for key in roleKeys {
                    guard let v = obj[key] else { continue }
                    roles[key] = try TokenizerFiles.tokenSpec(v, path: path, field: key)
                }
                for key in ["additional_special_tokens", "extra_special_tokens"] {
                    guard let v = obj[key] else { continue }
                    for var s in try TokenizerFiles.tokenSpecList(v, path: path, field: key) {
                        s.special = true
                        added.append(s)
                    }
                }
            }
            try applyRoles(tokenizerConfig, path: configPath)

            if let tj = tokenizerJSON, let list = tj["added_tokens"] {
                let path = url("tokenizer.json").path
                guard case let .array(items) = list else {
                    throw TokenizerError.malformed(path: path, line: nil, reason: "added_tokens is not an array")
                }
                for (i, item) in items.enumerated() {
                    guard let s = try TokenizerFiles.tokenSpec(item, path: path, field: "added_tokens[\(i)]") else { continue }
                    added.append(s)
                }
            }
            if let decoder = tokenizerConfig["added_tokens_decoder"], !decoder.isNull {
                guard case let .object(members) = decoder else {
                    throw TokenizerError.malformed(path: configPath, line: nil, reason: "added_tokens_decoder is not an object")
                }
                for m in members {
                    let key = TokenizerFiles.string(m.key)
                    guard let id = Int(key), id >= 0, id <= Int(Int32.max),
                          var s = try TokenizerFiles.tokenSpec(m.value, path: configPath, field: "added_tokens_decoder.\(key)") else {
                        throw TokenizerError.malformed(path: configPath, line: nil,
                            reason: "added_tokens_decoder key \"\(key)\" is not a token id")
                    }
                    s.id = id
                    added.append(s)
                }
            } else {
                if exists("special_tokens_map.json") {
                    let path = url("special_tokens_map.json").path
                    try applyRoles(try TokenizerFiles.readJSONObject(files, "special_tokens_map.json"), path: path)
                }
                if exists("added_tokens.json") {
                    let path = url("added_tokens.json").path
                    let obj = try TokenizerFiles.readJSONObject(files, "added_tokens.json")
                    let specialContents = Set(roles.values.map(\.content) + added.filter { $0.special == true }.map(\.content))
                    for (key, id) in try TokenizerFiles.vocabObject(obj, path: path, field: "added_tokens") {
                        let content = TokenizerFiles.string(key)
                        let special = specialContents.contains(content)
                        added.append(.init(content: content, normalized: !special, special: special, id: Int(id), source: path))
                    }
                }
            }
            // A role token takes the flags (lstrip, ...) of an added token with the same content.
            for (k, r) in roles {
                if let a = added.last(where: { $0.content == r.content }) {
                    var merged = a
                    merged.special = true
                    roles[k] = merged
                }
            }
            return (roles, added)
        }

        /// Resolves every role and added token to an id in `vocab`, checking what transformers would not.
        func resolveAddedTokens(roles: [String: TokenizerFiles.TokenSpec], added: [TokenizerFiles.TokenSpec],
                                vocab: TokenTable, vocabPath: String,
                                normalizes: Bool) throws -> (tokens: [AddedToken], ids: [String: Int32]) {
            var byContent: [String: AddedToken] = [:]
            var order: [String] = []
            var roleIds: [String: Int32] = [:]
            func resolve(_ s: TokenizerFiles.TokenSpec, role: String?) throws -> Int32 {
                let inVocab = vocab.id(Array(s.content.utf8))
                if let given = s.id, let v = inVocab, Int(v) != given {
                    throw TokenizerError.conflictingSettings(path: s.source,
                        reason: "token \"\(s.content)\" has id \(given) here but \(v) in \(vocabPath)")
                }
                if s.singleWord {
                    throw TokenizerError.unsupported(path: s.source, field: "\(role ?? "added token") \"\(s.content)\" single_word", value: "true")
                }
                let special = s.special ?? (role != nil)
                if normalizes && !special && s.normalized != false {
                    throw TokenizerError.unsupported(path: s.source,
                        field: "added token \"\(s.content)\" normalized", value: "true")
                }
                guard let id = inVocab ?? s.id.map({ Int32($0) }) else {
                    throw TokenizerError.missingToken(path: s.source, role: role ?? "added token", token: s.content)
                }
                if id >= config.vocabSize {
                    throw TokenizerError.idOutOfRange(path: s.source, token: s.content, id: Int(id), vocabSize: config.vocabSize)
                }
                if byContent[s.content] == nil { order.append(s.content) }
                byContent[s.content] = AddedToken(content: s.content, id: id, lstrip: s.lstrip, rstrip: s.rstrip,
                                                  special: special)
                return id
            }
            for s in added { _ = try resolve(s, role: nil) }
            for key in roles.keys.sorted() {
                guard let s = roles[key] else { continue }
                roleIds[key] = try resolve(s, role: key)
            }
            return (order.compactMap { byContent[$0] }, roleIds)
        }

        /// The vocabulary must fit the model's embedding matrix.
        func checkIds(_ table: TokenTable, path: String) throws {
            guard Int(table.maxId) >= config.vocabSize else { return }
            let bad = table.entries.filter { Int($0.id) >= config.vocabSize }.min { $0.id < $1.id }!
            throw TokenizerError.idOutOfRange(path: path, token: TokenizerFiles.string(bad.key), id: Int(bad.id),
                                              vocabSize: config.vocabSize)
        }

        func checkPad(_ roleIds: [String: Int32], roles: [String: TokenizerFiles.TokenSpec]) throws -> Int32 {
            guard let pad = roleIds["pad_token"] else {
                throw TokenizerError.missingToken(path: configPath, role: "pad_token", token: "(none configured)")
            }
            if Int(pad) != config.padTokenId {
                throw TokenizerError.padTokenMismatch(path: roles["pad_token"]?.source ?? configPath,
                                                      tokenizerPadId: Int(pad), configPadId: config.padTokenId)
            }
            return pad
        }

        func requiredRole(_ ids: [String: Int32], _ role: String) throws -> Int32 {
            guard let id = ids[role] else {
                throw TokenizerError.missingToken(path: configPath, role: role, token: "(none configured)")
            }
            return id
        }
    }
}
