// Shared by the checkpoint harnesses (safetensors, pytorch-zip).
import Foundation
import SentimentCheckpoint

/// Reads every tensor of an archive that opened (integer ones are refused with an error, which is fine): an index
/// that validated must be readable. Sizes are bounded by the file, which the archive checked.
func readAllTensors(_ archive: TensorArchive) {
    for name in archive.tensorNames {
        guard let info = archive.info(name) else { fatalError("listed tensor \(name) has no info") }
        let count = info.elementCount
        precondition(count >= 0, "negative element count")
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        defer { buffer.deallocate() }
        do { try archive.read(name, into: buffer) } catch is CheckpointError {} catch {
            fatalError("read threw something other than CheckpointError: \(error)")
        }
    }
}

/// The checkpoint harnesses' body: the input written as `fileName`, opened with `open`, every tensor read; any
/// error but a CheckpointError stops the run.
func fuzzCheckpointFile(_ data: UnsafePointer<UInt8>, _ size: Int, fileName: String,
                        open: (String) throws -> TensorArchive) {
    let path = FuzzScratch.write(fileName, Data(bytes: data, count: size))
    do {
        readAllTensors(try open(path))
    } catch is CheckpointError {
    } catch {
        fatalError("\(fileName) threw something other than CheckpointError: \(error)")
    }
}
