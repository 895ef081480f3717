import Foundation
import SentimentCore

/// The identity of a list of labelled examples, recorded with every run.
///
/// Definition (version 1): SHA-256 over the bytes
///
///     "sentimentd-data-v1\n"
///     then for each example, in order:
///         u32 little-endian byte length of the label name, the label name (UTF-8)
///         u32 little-endian byte length of the text, the text (UTF-8)
///
/// as 64 lowercase hex digits. The example is taken in its normalised form: the label as its name in
/// the model's `id2label` (so `0`, `"Negative"` and `"negative"` are the same example), the text exactly
/// as it is trained on — the loader has already removed a byte order mark and the CR of CRLF line ends
/// in the line formats, and undone CSV quoting and JSON escapes, so the same examples give the same
/// fingerprint whichever of the formats they came in. No Unicode normalisation is applied: the
/// tokenizers do not normalise either, so two spellings that tokenize differently stay different.
/// Order matters (subset mode takes the first N examples).
public enum DataFingerprint {
    public static let domain = "sentimentd-data-v1\n"

    public static func of(_ examples: [TrainingExample], labels: LabelSet) -> String {
        var h = SHA256Hasher()
        h.update(Array(domain.utf8))
        for e in examples {
            precondition(labels.names.indices.contains(e.label), "label index out of range")
            for part in [labels.names[e.label], e.text] {
                let bytes = Array(part.utf8)
                var n = UInt32(bytes.count).littleEndian
                withUnsafeBytes(of: &n) { h.update(Array($0)) }
                h.update(bytes)
            }
        }
        return h.finalizeHex()
    }
}
