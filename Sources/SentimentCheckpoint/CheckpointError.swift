import Foundation

/// Everything that can be wrong with a checkpoint file or folder. Every message names the file and
/// the entry, tensor, offset or global at fault, and says what to do when there is something to do.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    // Any format
    case cannotOpen(path: String, reason: String)
    /// A FIFO, socket, device or directory where a checkpoint file belongs (`kind` names which).
    case notARegularFile(path: String, kind: String)
    /// A symbolic link whose target is not a file of the same folder.
    case linkLeavesFolder(path: String, target: String)
    /// More bytes than a file of its kind can sensibly hold (read whole into memory).
    case fileTooLarge(path: String, size: Int, limit: Int)
    /// The file ended early, grew, or failed to read while it was being loaded.
    case changedWhileReading(path: String, reason: String)
    /// The bytes read are not the bytes that were validated (`expected` is the validated SHA-256).
    case notTheValidatedFile(path: String, expected: String, actual: String)
    case noSuchTensor(path: String, tensor: String)
    case unsupportedDType(path: String, tensor: String, dtype: String)

    // safetensors
    case fileTooShort(path: String, size: Int)
    case headerLengthOutOfBounds(path: String, headerLength: UInt64, fileSize: Int)
    case headerNotJSON(path: String, reason: String)
    case invalidMetadata(path: String, reason: String)
    case invalidEntry(path: String, tensor: String, reason: String)
    case duplicateTensorName(path: String, tensor: String)
    case unknownDType(path: String, tensor: String, dtype: String)
    case byteLengthMismatch(path: String, tensor: String, shape: [Int], dtype: String, byteLength: UInt64)
    case offsetsOutOfBounds(path: String, tensor: String, begin: UInt64, end: UInt64, dataSize: UInt64)
    case overlappingTensors(path: String, first: String, second: String)

    // PyTorch zip container
    case notZipArchive(path: String, reason: String)
    case legacyTorchFormat(path: String)
    case corruptZip(path: String, reason: String)
    case compressedEntry(path: String, entry: String, method: Int)
    case missingEntry(path: String, entry: String)
    case crcMismatch(path: String, entry: String)
    case bigEndian(path: String, byteorder: String)

    // PyTorch pickle
    case forbiddenGlobal(path: String, global: String)
    case unsupportedOpcode(path: String, opcode: UInt8, offset: Int)
    case malformedPickle(path: String, offset: Int, reason: String)
    case notAStateDict(path: String, reason: String)
    case storageTooShort(path: String, storage: String, needed: UInt64, available: UInt64)
    case viewOutOfBounds(path: String, tensor: String, reason: String)

    // Folders and shards
    case noWeightsFile(folder: String, lookedFor: [String])
    case invalidShardIndex(path: String, reason: String)
    case tensorInSeveralShards(path: String, tensor: String, first: String, second: String)

    // Writer
    case invalidTensorName(path: String, tensor: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "\(path): cannot open: \(reason)"
        case let .notARegularFile(path, kind):
            return "\(path): is \(kind), not a regular file; a checkpoint folder holds plain files only"
        case let .linkLeavesFolder(path, target):
            return "\(path): is a symbolic link to \(target), outside its folder; copy the file itself into the folder"
        case let .fileTooLarge(path, size, limit):
            return "\(path): \(size) bytes is more than such a file may hold (\(limit) bytes)"
        case let .changedWhileReading(path, reason):
            return "\(path): changed while it was read (\(reason)); publish checkpoints by renaming a complete folder into place"
        case let .notTheValidatedFile(path, expected, actual):
            return "\(path): SHA-256 is \(actual), but the validated file's was \(expected) (the file was replaced after validation)"
        case let .noSuchTensor(path, tensor):
            return "\(path): no tensor named '\(tensor)'"
        case let .unsupportedDType(path, tensor, dtype):
            return "\(path): tensor '\(tensor)' has dtype \(dtype); only floating-point tensors (F32, F16, BF16, F64) can be loaded as fp32"
        case let .fileTooShort(path, size):
            return "\(path): \(size) bytes is too short for a safetensors file (it starts with an 8-byte header length)"
        case let .headerLengthOutOfBounds(path, headerLength, fileSize):
            return "\(path): safetensors header length \(headerLength) does not fit in the file (\(fileSize) bytes); the file is truncated or not safetensors"
        case let .headerNotJSON(path, reason):
            return "\(path): safetensors header is not a valid JSON object: \(reason)"
        case let .invalidMetadata(path, reason):
            return "\(path): safetensors __metadata__ must map strings to strings: \(reason)"
        case let .invalidEntry(path, tensor, reason):
            return "\(path): tensor '\(tensor)': \(reason)"
        case let .duplicateTensorName(path, tensor):
            return "\(path): tensor name '\(tensor)' appears more than once"
        case let .unknownDType(path, tensor, dtype):
            return "\(path): tensor '\(tensor)' has unknown dtype '\(dtype)' (known: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))"
        case let .byteLengthMismatch(path, tensor, shape, dtype, byteLength):
            return "\(path): tensor '\(tensor)' declares shape \(shape) of \(dtype) but its data_offsets span \(byteLength) bytes"
        case let .offsetsOutOfBounds(path, tensor, begin, end, dataSize):
            return "\(path): tensor '\(tensor)' data_offsets [\(begin), \(end)] lie outside the \(dataSize)-byte data section; the file is truncated or corrupt"
        case let .overlappingTensors(path, first, second):
            return "\(path): tensors '\(first)' and '\(second)' overlap in the data section"
        case let .notZipArchive(path, reason):
            return "\(path): not a PyTorch zip checkpoint (\(reason)); the file may be truncated"
        case let .legacyTorchFormat(path):
            return "\(path): legacy torch serialization is unsupported, re-save with torch>=1.6 (or convert to safetensors)"
        case let .corruptZip(path, reason):
            return "\(path): corrupt zip archive: \(reason)"
        case let .compressedEntry(path, entry, method):
            return "\(path): zip entry '\(entry)' is compressed (method \(method)); compressed entries unsupported — torch.save writes stored entries, re-save with torch.save or convert to safetensors"
        case let .missingEntry(path, entry):
            return "\(path): zip entry '\(entry)' is missing"
        case let .crcMismatch(path, entry):
            return "\(path): zip entry '\(entry)' fails its CRC-32 check; the file is corrupt"
        case let .bigEndian(path, byteorder):
            return "\(path): byteorder is '\(byteorder)'; only little-endian checkpoints are supported"
        case let .forbiddenGlobal(path, global):
            return "\(path): pickle references global '\(global)', which a state dict never needs; refused (nothing was executed)"
        case let .unsupportedOpcode(path, opcode, offset):
            return "\(path): pickle opcode 0x\(String(opcode, radix: 16)) at byte \(offset) is not allowed in a state dict"
        case let .malformedPickle(path, offset, reason):
            return "\(path): malformed pickle at byte \(offset): \(reason)"
        case let .notAStateDict(path, reason):
            return "\(path): not a state dict: \(reason)"
        case let .storageTooShort(path, storage, needed, available):
            return "\(path): storage '\(storage)' needs \(needed) bytes but its entry holds \(available)"
        case let .viewOutOfBounds(path, tensor, reason):
            return "\(path): tensor '\(tensor)' reads outside its storage: \(reason)"
        case let .noWeightsFile(folder, lookedFor):
            return "\(folder): no weights file; looked for \(lookedFor.joined(separator: ", "))"
        case let .invalidShardIndex(path, reason):
            return "\(path): invalid shard index: \(reason)"
        case let .tensorInSeveralShards(path, tensor, first, second):
            return "\(path): tensor '\(tensor)' is stored in both \(first) and \(second)"
        case let .invalidTensorName(path, tensor, reason):
            return "\(path): cannot write tensor '\(tensor)': \(reason)"
        }
    }
}

extension CheckpointError: LocalizedError {
    /// So `error.localizedDescription` carries the message too.
    public var errorDescription: String? { description }
}
