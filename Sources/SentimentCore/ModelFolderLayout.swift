/// The file names of a checkpoint folder (`models/<version>/`, Hugging Face layout). The loader, the hub's pull,
/// the registry and the training publisher all name files through this table, so they agree on which weights
/// file wins and what the manifest is called.
///
/// ```
/// models/<version>/config.json           model_type roberta|bert, sizes, id2label/label2id
///                  model.safetensors     (or a shard index, or pytorch_model.bin: see `weightsPreference`)
///                  vocab.json+merges.txt | vocab.txt, tokenizer_config.json, special_tokens_map.json
///                  sentimentd.json       the manifest, written last (`CheckpointManifest`)
/// ```
public enum ModelFolderLayout {
    public static let config = "config.json"
    /// The manifest: per-file size and SHA-256, parent version, run, data fingerprint, metrics, source.
    public static let manifest = "sentimentd.json"

    public static let safetensors = "model.safetensors"
    public static let safetensorsIndex = "model.safetensors.index.json"
    public static let pytorch = "pytorch_model.bin"
    public static let pytorchIndex = "pytorch_model.bin.index.json"

    /// Weights files in order of preference: safetensors before PyTorch (no pickle to read, maps straight into
    /// memory), a single file before a sharded set.
    public static let weightsPreference = [safetensors, safetensorsIndex, pytorch, pytorchIndex]

    /// Whether a weights file name is a shard index (`{"weight_map": {tensor: shard file}}`).
    public static func isShardIndex(_ name: String) -> Bool { name.hasSuffix(".index.json") }

    /// Tokenizer files a folder may carry (BPE, WordPiece, or `tokenizer.json`, plus the special-token files);
    /// a checkpoint copies whichever of them its base had.
    public static let tokenizerFiles = [
        "vocab.json", "merges.txt", "vocab.txt", "tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "added_tokens.json",
    ]

    /// Whether `name` can be a file of a checkpoint folder: one plain name, no dot-file (those are temporaries
    /// of editors, rsync and our own atomic writes), no path.
    public static func isPlainFileName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("/") && !name.contains("\0") && !name.hasPrefix(".")
    }
}
