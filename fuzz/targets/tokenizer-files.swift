// Tokenizer files of a model folder, both kinds: vocab.json + merges.txt (byte-level BPE), vocab.txt (WordPiece),
// tokenizer.json, tokenizer_config.json, special_tokens_map.json, added_tokens.json, with the folder's
// config.json. Input: the files, each after a `%%FILE name` line (fuzz/corpus/tokenizer-files has real folders
// in that form); `%%FILE text` is encoded with the tokenizer that loads. Loading must give a tokenizer or a
// TokenizerError / ConfigError / ModelLoadError; encoding must give ids inside the vocabulary.
import Foundation
import SentimentCore
import SentimentCheckpoint
import SentimentTokenizers

private let allowed: Set<String> = ["config.json", "vocab.json", "merges.txt", "vocab.txt", "tokenizer.json",
                                    "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let folder = URL(fileURLWithPath: FuzzScratch.folder).appendingPathComponent("model")
    try? FileManager.default.removeItem(at: folder)
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    var text = Data("Hello world! I'm   fine, thanks :) </s> [SEP] naïve café 😀".utf8)
    for (name, contents) in FuzzScratch.files(in: Data(bytes: data, count: size)) {
        if name == "text" { text = contents; continue }
        guard allowed.contains(name) else { continue }
        _ = FileManager.default.createFile(atPath: folder.appendingPathComponent(name).path, contents: contents)
    }
    do {
        let config = try ModelConfig.load(folder: folder, hint: "fuzz")
        let tokenizer = try TokenizerLoader.load(folder: folder, config: config)
        for maxLength in [0, 8, 512] {
            guard let ids = try? tokenizer.encode(utf8: [UInt8](text), maxLength: maxLength) else { break }
            precondition(ids.count <= max(maxLength, 2), "more ids than maxLength")
            for id in ids {
                precondition(id >= 0 && Int(id) < tokenizer.vocabularySize, "id \(id) outside the vocabulary")
            }
        }
    } catch is TokenizerError {
    } catch is ConfigError {
    } catch is ModelLoadError {
    } catch {
        fatalError("tokenizer loading threw an unexpected error: \(error)")
    }
    return 0
}
