import Foundation
import SentimentCheckpoint

/// Readers for the files of a Hugging Face tokenizer folder, each mirroring how `tokenizers` /
/// `transformers` read it, and each failing with a `TokenizerError` that names the file.
enum TokenizerFiles {
    /// The whole file `name` of the folder (see `ModelFolderReader`: no links out, no FIFOs, hashed).
    static func read(_ folder: ModelFolderReader, _ name: String) throws -> [UInt8] {
        do { return Array(try folder.contents(name)) } catch {
            throw TokenizerError.unreadable(path: folder.path(name), reason: "\(error)")
        }
    }

    static func readJSON(_ folder: ModelFolderReader, _ name: String) throws -> RawJSON {
        let bytes = try read(folder, name)
        do { return try RawJSON.parse(bytes) } catch {
            throw TokenizerError.malformed(path: folder.path(name), line: nil, reason: "\(error)")
        }
    }

    static func readJSONObject(_ folder: ModelFolderReader, _ name: String) throws -> RawJSON {
        let v = try readJSON(folder, name)
        guard case .object = v else { throw TokenizerError.malformed(path: folder.path(name), line: nil, reason: "not a JSON object") }
        return v
    }

    static func string(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    /// `{"token": id, ...}`: vocab.json, or the `model.vocab` of tokenizer.json.
    static func vocabObject(_ v: RawJSON, path: String, field: String = "vocabulary") throws -> [(key: [UInt8], id: Int32)] {
        guard case let .object(members) = v else {
            throw TokenizerError.malformed(path: path, line: nil, reason: "\(field) is not a JSON object of token -> id")
        }
        var out: [(key: [UInt8], id: Int32)] = []
        out.reserveCapacity(members.count)
        for m in members {
            guard let id = m.value.tokenId else {
                throw TokenizerError.malformed(path: path, line: nil,
                    reason: "\(field): token \"\(string(m.key))\" has no non-negative integer id")
            }
            out.append((m.key, Int32(id)))
        }
        return out
    }

    /// vocab.txt as `tokenizers`' WordPiece::read_file: one token per line (LF or CRLF), trailing
    /// whitespace trimmed, id = line index (a later duplicate takes the later id).
    static func vocabTxt(_ folder: ModelFolderReader, _ name: String) throws -> [(key: [UInt8], id: Int32)] {
        let url = folder.url.appendingPathComponent(name)
        let bytes = try read(folder, name)
        var out: [(key: [UInt8], id: Int32)] = []
        var start = 0
        var line = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            var token = Array(bytes[start..<end])
            if let bad = UTF8Validation.firstError(token) {
                throw TokenizerError.malformed(path: url.path, line: line + 1,
                    reason: "not valid UTF-8 at byte \(bad.offset) of the line: \(bad.reason)")
            }
            // Rust's str::trim_end: strip trailing White_Space characters (this also drops a CR).
            var s = String(decoding: token, as: UTF8.self).unicodeScalars
            while let last = s.last, last.properties.isWhitespace { s.removeLast() }
            token = Array(String(s).utf8)
            out.append((token, Int32(line)))
            line += 1
            start = end + 1
        }
        return out
    }

    /// merges.txt as `tokenizers`' BPE::read_file: lines starting with "#version" are skipped, every other
    /// line is exactly two tokens separated by one space.
    static func mergesTxt(_ folder: ModelFolderReader, _ name: String) throws -> [(left: [UInt8], right: [UInt8], line: Int)] {
        let url = folder.url.appendingPathComponent(name)
        let bytes = try read(folder, name)
        var out: [(left: [UInt8], right: [UInt8], line: Int)] = []
        var start = 0
        var line = 0
        let version = Array("#version".utf8)
        while start < bytes.count {
            var end = start
            var space = -1, spaces = 0
            while end < bytes.count && bytes[end] != 0x0A {
                if bytes[end] == 0x20 { space = end; spaces += 1 }
                end += 1
            }
            line += 1
            var stop = end
            if stop > start && bytes[stop - 1] == 0x0D { stop -= 1 }
            let lineStart = start
            start = end + 1
            if bytes[lineStart..<stop].starts(with: version) { continue }
            guard spaces == 1, space < stop else {
                throw TokenizerError.malformed(path: url.path, line: line,
                    reason: "a merge must be two tokens separated by one space")
            }
            out.append((Array(bytes[lineStart..<space]), Array(bytes[(space + 1)..<stop]), line))
        }
        return out
    }

    /// `model.merges` of tokenizer.json: "a b" strings (older files) or ["a", "b"] pairs.
    static func mergesJSON(_ v: RawJSON, path: String) throws -> [(left: [UInt8], right: [UInt8], line: Int)] {
        guard case let .array(items) = v else {
            throw TokenizerError.malformed(path: path, line: nil, reason: "model.merges is not an array")
        }
        var out: [(left: [UInt8], right: [UInt8], line: Int)] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            switch item {
            case let .string(s):
                let parts = s.split(separator: 0x20, omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw TokenizerError.malformed(path: path, line: nil,
                        reason: "model.merges[\(i)] \"\(string(s))\" is not two tokens separated by one space")
                }
                out.append((Array(parts[0]), Array(parts[1]), i))
            case let .array(pair):
                guard pair.count == 2, case let .string(a) = pair[0], case let .string(b) = pair[1] else {
                    throw TokenizerError.malformed(path: path, line: nil, reason: "model.merges[\(i)] is not a pair of strings")
                }
                out.append((a, b, i))
            default:
                throw TokenizerError.malformed(path: path, line: nil, reason: "model.merges[\(i)] is not a merge")
            }
        }
        return out
    }

    // MARK: Token specifications

    /// A token as tokenizer_config.json / special_tokens_map.json / tokenizer.json give it: a string or an
    /// AddedToken object.
    struct TokenSpec: Equatable {
        var content: String
        var lstrip = false
        var rstrip = false
        var singleWord = false
        var normalized: Bool? = nil
        var special: Bool? = nil
        var id: Int? = nil
        var source: String
    }

    static func tokenSpec(_ v: RawJSON, path: String, field: String) throws -> TokenSpec? {
        switch v {
        case .null:
            return nil
        case let .string(s):
            return TokenSpec(content: string(s), source: path)
        case .object:
            guard let content = v["content"]?.stringValue else {
                throw TokenizerError.malformed(path: path, line: nil, reason: "\(field) has no \"content\" string")
            }
            var spec = TokenSpec(content: content, source: path)
            func flag(_ key: String) throws -> Bool? {
                guard let f = v[key], !f.isNull else { return nil }
                guard let b = f.boolValue else {
                    throw TokenizerError.malformed(path: path, line: nil, reason: "\(field).\(key) is not a boolean")
                }
                return b
            }
            spec.lstrip = try flag("lstrip") ?? false
            spec.rstrip = try flag("rstrip") ?? false
            spec.singleWord = try flag("single_word") ?? false
            spec.normalized = try flag("normalized")
            spec.special = try flag("special")
            if let idValue = v["id"] {
                guard let id = idValue.tokenId else {
                    throw TokenizerError.malformed(path: path, line: nil, reason: "\(field).id is not a token id")
                }
                spec.id = id
            }
            return spec
        default:
            throw TokenizerError.malformed(path: path, line: nil, reason: "\(field) is neither a string nor a token object")
        }
    }

    /// A list of token specs (`additional_special_tokens`, `extra_special_tokens`).
    static func tokenSpecList(_ v: RawJSON, path: String, field: String) throws -> [TokenSpec] {
        switch v {
        case .null: return []
        case let .array(items):
            return try items.enumerated().compactMap { try tokenSpec($1, path: path, field: "\(field)[\($0)]") }
        case let .object(members):
            // transformers 5 also accepts a name -> token map of model-specific special tokens.
            return try members.compactMap { try tokenSpec($0.value, path: path, field: "\(field).\(string($0.key))") }
        default:
            throw TokenizerError.malformed(path: path, line: nil, reason: "\(field) is not a list of tokens")
        }
    }

    static func bool(_ obj: RawJSON, _ key: String, path: String) throws -> Bool? {
        guard let v = obj[key], !v.isNull else { return nil }
        guard let b = v.boolValue else {
            throw TokenizerError.malformed(path: path, line: nil, reason: "\(key) is not a boolean")
        }
        return b
    }
}
