// PyTorch checkpoints (pytorch_model.bin): the zip container (local headers, central directory, zip64, stored and
// deflated members) and the restricted unpickler of data.pkl. The input is written to a file and every tensor of
// a checkpoint that opens is read; a file must either open with an index that holds or fail with a
// CheckpointError.
import Foundation
import SentimentCheckpoint

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fuzzCheckpointFile(data, size, fileName: "pytorch_model.bin") { try PyTorchCheckpoint(path: $0) }
    return 0
}
