import Foundation

/// Why a version folder is not served. The description is what `models.list` shows and SQLite keeps.
enum CheckpointRejection: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case notADirectory(path: String)
    case empty(path: String)
    case manifestUnreadable(path: String, reason: String)
    case manifestInvalid(path: String, field: String, problem: String)
    case manifestListsMissingFile(manifest: String, file: String)
    case fileNotInManifest(manifest: String, file: String)
    case sizeMismatch(path: String, expected: Int64, actual: Int64)
    case digestMismatch(path: String, expected: String, actual: String)
    /// The loader refused the checkpoint (config, tokenizer, tensors, shapes); its message names the file.
    case loadFailed(reason: String)
    /// The validation process refused the version, or ended without a verdict (crash, limit, no progress).
    case validationFailed(reason: String)
    case smokeTestFailed(probe: String, problem: String)
    /// A weight tensor holds NaN or infinite values.
    case nonFiniteWeights(path: String, tensor: String)

    /// A short, stable name of the kind of reason: the `reason` label of `sentimentd_model_versions_rejected_total`.
    var kind: String {
        switch self {
        case .unreadable: return "unreadable"
        case .notADirectory: return "not_a_directory"
        case .empty: return "empty"
        case .manifestUnreadable, .manifestInvalid: return "manifest_invalid"
        case .manifestListsMissingFile, .fileNotInManifest: return "manifest_files"
        case .sizeMismatch, .digestMismatch: return "checksum"
        case .loadFailed: return "load_failed"
        case .validationFailed: return "validation_failed"
        case .smokeTestFailed: return "smoke_test_failed"
        case .nonFiniteWeights: return "non_finite_weights"
        }
    }

    var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): cannot be read: \(reason)"
        case let .notADirectory(path): return "\(path): is not a directory"
        case let .empty(path): return "\(path): holds no files"
        case let .manifestUnreadable(path, reason): return "\(path): manifest cannot be read: \(reason)"
        case let .manifestInvalid(path, field, problem): return "\(path): manifest field \"\(field)\" \(problem)"
        case let .manifestListsMissingFile(manifest, file):
            return "\(manifest): lists \"\(file)\", which is not in the folder (copy incomplete?)"
        case let .fileNotInManifest(manifest, file):
            return "\(manifest): the folder holds \"\(file)\", which the manifest does not list"
        case let .sizeMismatch(path, expected, actual):
            return "\(path): size is \(actual) bytes, the manifest says \(expected) (truncated or replaced?)"
        case let .digestMismatch(path, expected, actual):
            return "\(path): SHA-256 is \(actual), the manifest says \(expected) (corrupt or replaced?)"
        case let .loadFailed(reason): return reason
        case let .validationFailed(reason): return reason
        case let .smokeTestFailed(probe, problem):
            return "smoke test failed on probe \"\(probe)\": \(problem)"
        case let .nonFiniteWeights(path, tensor):
            return "\(path): weight tensor \"\(tensor)\" holds NaN or infinite values (corrupt or diverged checkpoint)"
        }
    }
}
