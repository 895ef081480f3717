import Foundation

/// The two halves of `TokenizerLoader`: byte-level BPE and WordPiece, each from its vocabulary files or
/// from tokenizer.json, with the settings of tokenizer_config.json.
extension TokenizerLoader.Context {
    static let robertaDefaults = [
        "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
        "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>",
    ]
    static let bertDefaults = [
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
    ]

    var tokenizerJSONPath: String { url("tokenizer.json").path }

    /// A setting must be `expected` (or absent, when `absentOK`), else the folder is rejected naming the field.
    func require(_ v: RawJSON?, _ field: String, is expected: String?, absentOK: Bool = true) throws {
        let actual: String?
        switch v {
        case nil, .some(.null): actual = nil
        case let .some(.string(s)): actual = TokenizerFiles.string(s)
        case let .some(.bool(b)): actual = b ? "true" : "false"
        case let .some(.number(d)): actual = d == d.rounded() ? String(Int(d)) : String(d)
        default: actual = "(a structure)"
        }
        if actual == expected || (actual == nil && absentOK) { return }
        throw TokenizerError.unsupported(path: tokenizerJSONPath, field: field, value: actual ?? "null")
    }

    /// (cls id, sep id) of tokenizer.json's post_processor when it is `<cls> $A <sep>`.
    func postProcessorIds(_ tj: RawJSON) -> (cls: Int32, sep: Int32)? {
        guard var pp = tj["post_processor"], !pp.isNull else { return nil }
        if pp["type"]?.stringValue == "Sequence", case let .array(list)? = pp["processors"] {
            let rest = list.filter { $0["type"]?.stringValue != "ByteLevel" }
            guard rest.count == 1 else { return nil }
            pp = rest[0]
        }
        switch pp["type"]?.stringValue {
        case "RobertaProcessing", "BertProcessing":
            guard case let .array(cls)? = pp["cls"], cls.count == 2, let c = cls[1].tokenId,
                  case let .array(sep)? = pp["sep"], sep.count == 2, let s = sep[1].tokenId else { return nil }
            return (Int32(c), Int32(s))
        case "TemplateProcessing":
            guard case let .array(single)? = pp["single"], single.count == 3,
                  single[1]["Sequence"]?["id"]?.stringValue == "A",
                  let first = single[0]["SpecialToken"]?["id"]?.stringValue,
                  let last = single[2]["SpecialToken"]?["id"]?.stringValue,
                  let specials = pp["special_tokens"] else { return nil }
            func id(_ name: String) -> Int32? {
                guard case let .array(ids)? = specials[name]?["ids"], ids.count == 1, let i = ids[0].tokenId else { return nil }
                return Int32(i)
            }
            guard let c = id(first), let s = id(last) else { return nil }
            return (c, s)
        default:
            return nil
        }
    }

    /// The cls/sep ids the tokenizer class puts around a text, checked against tokenizer.json.
    func specialFrame(roleIds: [String: Int32]) throws -> (cls: Int32, sep: Int32) {
        if tokenizerClass == .generic {
            guard let tj = tokenizerJSON, let ids = postProcessorIds(tj) else {
                throw TokenizerError.unsupported(path: tokenizerJSONPath, field: "post_processor",
                    value: "(not \"<cls> $A <sep>\")")
            }
            return ids
        }
        let cls = try requiredRole(roleIds, "cls_token")
        let sep = try requiredRole(roleIds, "sep_token")
        if let tj = tokenizerJSON, let pp = tj["post_processor"], !pp.isNull {
            guard let ids = postProcessorIds(tj), ids == (cls, sep) else {
                throw TokenizerError.conflictingSettings(path: tokenizerJSONPath,
                    reason: "post_processor does not put cls_token (id \(cls)) and sep_token (id \(sep)) around "
                        + "the text as tokenizer_config.json's special tokens do")
            }
        }
        return (cls, sep)
    }

    // MARK: Byte-level BPE

    func buildBPE() throws -> Tokenizer {
        let vocabEntries: [(key: [UInt8], id: Int32)]
        let merges: [(left: [UInt8], right: [UInt8], line: Int)]
        let vocabPath: String, mergesPath: String
        var jsonPrefixSpace: Bool? = nil
        if exists("vocab.json") {
            vocabPath = url("vocab.json").path
            mergesPath = url("merges.txt").path
            vocabEntries = try TokenizerFiles.vocabObject(try TokenizerFiles.readJSON(files, "vocab.json"), path: vocabPath)
            merges = try TokenizerFiles.mergesTxt(files, "merges.txt")
        } else {
            let tj = tokenizerJSON!
            vocabPath = tokenizerJSONPath
            mergesPath = tokenizerJSONPath
            guard let model = tj["model"] else {
                throw TokenizerError.malformed(path: vocabPath, line: nil, reason: "no model section")
            }
            try require(model["dropout"], "model.dropout", is: nil)
            try require(model["continuing_subword_prefix"], "model.continuing_subword_prefix", is: "")
            try require(model["end_of_word_suffix"], "model.end_of_word_suffix", is: "")
            try require(model["byte_fallback"], "model.byte_fallback", is: "false")
            try require(model["ignore_merges"], "model.ignore_merges", is: "false")
            guard let v = model["vocab"] else {
                throw TokenizerError.malformed(path: vocabPath, line: nil, reason: "model.vocab is missing")
            }
            vocabEntries = try TokenizerFiles.vocabObject(v, path: vocabPath, field: "model.vocab")
            merges = try TokenizerFiles.mergesJSON(model["merges"] ?? .array([]), path: vocabPath)
            if let norm = tj["normalizer"], !norm.isNull {
                if tokenizerClass == .generic { try require(norm, "normalizer", is: nil) }
                throw TokenizerError.conflictingSettings(path: vocabPath,
                    reason: "tokenizer.json has a normalizer, which RobertaTokenizer of transformers 5 drops and "
                        + "transformers 4 applies; sentimentd supports byte-level BPE without a normalizer")
            }
            let pre = tj["pre_tokenizer"] ?? .null
            if tokenizerClass == .generic || !pre.isNull {
                try require(pre["type"] ?? .null, "pre_tokenizer.type", is: "ByteLevel", absentOK: false)
                try require(pre["use_regex"], "pre_tokenizer.use_regex", is: "true")
                jsonPrefixSpace = try TokenizerFiles.bool(pre, "add_prefix_space", path: vocabPath) ?? true
            }
        }
        let vocab = TokenTable(vocabEntries)
        try checkIds(vocab, path: vocabPath)

        var byteIds = [Int32](repeating: 0, count: 256)
        for b in 0..<256 {
            let symbol = ByteLevelBPE.byteSymbol(UInt8(b))
            guard let id = vocab.id(symbol) else {
                throw TokenizerError.malformed(path: vocabPath, line: nil,
                    reason: "no entry for \"\(TokenizerFiles.string(symbol))\", the symbol of byte 0x\(String(b, radix: 16)); "
                        + "not a byte-level BPE vocabulary")
            }
            byteIds[b] = id
        }
        var resolved: [(left: Int32, right: Int32, merged: Int32)] = []
        resolved.reserveCapacity(merges.count)
        var merged: [UInt8] = []
        for m in merges {
            merged.removeAll(keepingCapacity: true)
            merged.append(contentsOf: m.left)
            merged.append(contentsOf: m.right)
            if let l = vocab.id(m.left), let r = vocab.id(m.right), let c = vocab.id(merged) {
                resolved.append((l, r, c))
                continue
            }
            for part in [m.left, m.right, merged] where vocab.id(part) == nil {
                let line = mergesPath.hasSuffix("merges.txt") ? m.line : nil
                let which = line == nil ? "model.merges[\(m.line)]: " : ""
                throw TokenizerError.malformed(path: mergesPath, line: line,
                    reason: "\(which)merge \"\(TokenizerFiles.string(m.left)) \(TokenizerFiles.string(m.right))\" needs "
                        + "\"\(TokenizerFiles.string(part))\", which is not in the vocabulary")
            }
        }

        let configPrefixSpace = try TokenizerFiles.bool(tokenizerConfig, "add_prefix_space", path: configPath)
        let addPrefixSpace: Bool
        if tokenizerClass == .generic {
            addPrefixSpace = jsonPrefixSpace ?? false
        } else {
            addPrefixSpace = configPrefixSpace ?? false
            if let j = jsonPrefixSpace, j != addPrefixSpace {
                throw TokenizerError.conflictingSettings(path: tokenizerJSONPath,
                    reason: "pre_tokenizer.add_prefix_space is \(j) but tokenizer_config.json gives add_prefix_space "
                        + "\(addPrefixSpace) (transformers 5 follows tokenizer_config.json, transformers 4 tokenizer.json); "
                        + "make them agree")
            }
        }

        let specs = try tokenSpecs(defaults: tokenizerClass == .generic ? [:] : Self.robertaDefaults)
        let (tokens, roleIds) = try resolveAddedTokens(roles: specs.roles, added: specs.added, vocab: vocab,
                                                       vocabPath: vocabPath, normalizes: false)
        let frame = try specialFrame(roleIds: roleIds)
        let pad = try checkPad(roleIds, roles: specs.roles)
        let size = Int(max(vocab.maxId, tokens.map(\.id).max() ?? -1)) + 1
        return ByteLevelBPE(vocab: vocab, merges: resolved, byteIds: byteIds, addedTokens: tokens,
                            addPrefixSpace: addPrefixSpace, clsTokenId: frame.cls, sepTokenId: frame.sep,
                            padTokenId: pad, vocabularySize: size)
    }

    // MARK: WordPiece

    func buildWordPiece() throws -> Tokenizer {
        let vocabEntries: [(key: [UInt8], id: Int32)]
        let vocabPath: String
        var jsonNormalization: BertNormalization? = nil
        var jsonUnk: String? = nil
        if exists("vocab.txt") {
            if tokenizerClass == .generic {
                throw TokenizerError.unsupported(path: configPath, field: "tokenizer_class",
                    value: "\"\(tokenizerConfig["tokenizer_class"]?.stringValue ?? "")\" without tokenizer.json")
            }
            vocabPath = url("vocab.txt").path
            vocabEntries = try TokenizerFiles.vocabTxt(files, "vocab.txt")
        } else {
            let tj = tokenizerJSON!
            vocabPath = tokenizerJSONPath
            guard let model = tj["model"] else {
                throw TokenizerError.malformed(path: vocabPath, line: nil, reason: "no model section")
            }
            try require(model["continuing_subword_prefix"], "model.continuing_subword_prefix", is: "##")
            try require(model["max_input_chars_per_word"], "model.max_input_chars_per_word", is: "100")
            jsonUnk = model["unk_token"]?.stringValue
            guard let v = model["vocab"] else {
                throw TokenizerError.malformed(path: vocabPath, line: nil, reason: "model.vocab is missing")
            }
            vocabEntries = try TokenizerFiles.vocabObject(v, path: vocabPath, field: "model.vocab")
            let norm = tj["normalizer"] ?? .null
            if tokenizerClass == .generic || !norm.isNull {
                try require(norm["type"] ?? .null, "normalizer.type", is: "BertNormalizer", absentOK: false)
                jsonNormalization = BertNormalization(
                    cleanText: try TokenizerFiles.bool(norm, "clean_text", path: vocabPath) ?? true,
                    handleChineseChars: try TokenizerFiles.bool(norm, "handle_chinese_chars", path: vocabPath) ?? true,
                    stripAccents: try TokenizerFiles.bool(norm, "strip_accents", path: vocabPath),
                    lowercase: try TokenizerFiles.bool(norm, "lowercase", path: vocabPath) ?? true)
            }
            let pre = tj["pre_tokenizer"] ?? .null
            if tokenizerClass == .generic || !pre.isNull {
                try require(pre["type"] ?? .null, "pre_tokenizer.type", is: "BertPreTokenizer", absentOK: false)
            }
        }
        let vocab = TokenTable(vocabEntries)
        try checkIds(vocab, path: vocabPath)

        let normalization: BertNormalization
        if tokenizerClass == .generic {
            normalization = jsonNormalization!
        } else {
            // BertTokenizer.__init__ of transformers 5; clean_text is always on.
            normalization = BertNormalization(
                cleanText: true,
                handleChineseChars: try TokenizerFiles.bool(tokenizerConfig, "tokenize_chinese_chars", path: configPath) ?? true,
                stripAccents: try TokenizerFiles.bool(tokenizerConfig, "strip_accents", path: configPath),
                lowercase: try TokenizerFiles.bool(tokenizerConfig, "do_lower_case", path: configPath) ?? true)
            if let j = jsonNormalization, j.cleanText != normalization.cleanText
                || j.handleChineseChars != normalization.handleChineseChars
                || j.stripsAccents != normalization.stripsAccents || j.lowercase != normalization.lowercase {
                throw TokenizerError.conflictingSettings(path: tokenizerJSONPath,
                    reason: "normalizer (lowercase \(j.lowercase), strip_accents \(j.stripsAccents), handle_chinese_chars "
                        + "\(j.handleChineseChars), clean_text \(j.cleanText)) disagrees with tokenizer_config.json "
                        + "(do_lower_case \(normalization.lowercase), strip_accents \(normalization.stripsAccents), "
                        + "tokenize_chinese_chars \(normalization.handleChineseChars)); transformers 5 follows "
                        + "tokenizer_config.json, transformers 4 tokenizer.json; make them agree")
            }
        }

        let specs = try tokenSpecs(defaults: tokenizerClass == .generic ? [:] : Self.bertDefaults)
        var roles = specs.roles
        if tokenizerClass == .generic, let u = jsonUnk, roles["unk_token"] == nil {
            roles["unk_token"] = .init(content: u, source: tokenizerJSONPath)
        }
        let (tokens, roleIds) = try resolveAddedTokens(roles: roles, added: specs.added, vocab: vocab,
                                                       vocabPath: vocabPath, normalizes: true)
        let unk: Int32
        if let u = jsonUnk, tokenizerClass == .generic {
            guard let id = vocab.id(Array(u.utf8)) else {
                throw TokenizerError.missingToken(path: tokenizerJSONPath, role: "model.unk_token", token: u)
            }
            unk = id
        } else {
            unk = try requiredRole(roleIds, "unk_token")
            if let u = jsonUnk, vocab.id(Array(u.utf8)) != unk {
                throw TokenizerError.conflictingSettings(path: tokenizerJSONPath,
                    reason: "model.unk_token \"\(u)\" differs from tokenizer_config.json's unk_token")
            }
        }
        let frame = try specialFrame(roleIds: roleIds)
        let pad = try checkPad(roleIds, roles: roles)
        let size = Int(max(vocab.maxId, tokens.map(\.id).max() ?? -1)) + 1
        return WordPiece(vocab: vocab, normalization: normalization, addedTokens: tokens,
                         clsTokenId: frame.cls, sepTokenId: frame.sep, padTokenId: pad, unkTokenId: unk,
                         vocabularySize: size)
    }
}
