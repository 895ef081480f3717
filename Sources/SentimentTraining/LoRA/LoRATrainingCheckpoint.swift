import Foundation
import SentimentEngine

/// The resumable checkpoint of a LoRA run: the same file and format as TrainingCheckpoint, but
/// `weights/<name>` holds only the trained tensors (the adapter's A and B and the head), never the
/// frozen base (hundreds of MB that did not change, and that a restore must not write over:
/// its buffers may be shared).
extension TrainingCheckpoint {
    /// What a LoRA run saves and restores: its trainable tensors' values.
    static func trainedBuffers(_ parameters: [TrainableParameter]) -> [NamedBuffer] {
        parameters.map { NamedBuffer(name: $0.name, shape: $0.shape, buffer: $0.value) }
    }
}
