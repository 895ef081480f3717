// safetensors files (model.safetensors, LoRA adapters): the 8-byte header length, the JSON header, offsets and
// shapes. The input is written to a file (the reader maps it) and every tensor of a file that opens is read; a
// file must either open with an index that holds or fail with a CheckpointError.
import Foundation
import SentimentCheckpoint

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fuzzCheckpointFile(data, size, fileName: "model.safetensors") { try SafetensorsFile(path: $0) }
    return 0
}
