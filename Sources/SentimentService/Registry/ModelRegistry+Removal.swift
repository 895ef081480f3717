import Foundation
import Logging
import SentimentStore
#if canImport(Glibc)
import Glibc
#endif

/// Why a version's folder cannot be taken out of the models directory now.
public enum VersionRemovalError: Error, Equatable, CustomStringConvertible {
    case unknown(version: String)
    case gone(version: String)
    case active(version: String)
    case beingValidated(version: String)
    case protected(version: String, reasons: [String])
    case cannotMove(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unknown(v):
            return "no model version \"\(v)\" (a version is a folder name in the models directory; see `sentimentctl models`)"
        case let .gone(v): return "model version \"\(v)\" is no longer in the models directory"
        case let .active(v): return "model version \"\(v)\" is being served; activate another version first"
        case let .beingValidated(v): return "model version \"\(v)\" is being validated or loaded; try again in a moment"
        case let .protected(v, reasons):
            return "model version \"\(v)\" is kept: it is \(reasons.joined(separator: ", "))"
        case let .cannotMove(path, reason): return "\(path): cannot move the folder out of the models directory: \(reason)"
        }
    }
}

/// Taking a version's folder out of the models directory without racing anything that reads it.
///
/// Order (what a crash at any point leaves): 1. rename models/V to a dot folder of the models directory
/// (`.trash/` or `.quarantine/`; same file system, so one rename), fsync both folders; 2. record the removal and
/// mark the version removed; 3. the caller deletes a trashed folder. A crash after 1 leaves the version gone from
/// the models directory (the next start records it removed) and its files in `.trash/`, which every start empties;
/// before 1, nothing changed. Never half a folder under a version's name.
///
/// Never racing a load: it runs on the registry's queue, where every validation, activation and load on behalf of
/// the registry runs, holding the lock of `model(version:)`'s loads; the active version and one being validated are
/// refused. (The training worker, another process, reads the base of its run and the gate's best version: retention
/// protects both.)
extension ModelRegistry {
    /// The dot folders removals use (ignored by the watcher and the registry, like `.staging`).
    static let trashFolder = ".trash"
    static let quarantineFolder = ".quarantine"

    /// Moves `version`'s folder to `destination` (a path in a dot folder of the models directory) and records it.
    /// Runs on the registry's queue (`onQueue`). Returns the folder's new place.
    func moveOutOnQueue(_ version: String, to destination: URL, action: VersionRemovalAction, uid: UInt32,
                        bytes: Int64, reason: String) throws -> URL {
        guard CheckpointFolder.isVersionName(version) else { throw VersionRemovalError.unknown(version: version) }
        let source = modelsDirectory.appendingPathComponent(version)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw VersionRemovalError.gone(version: version)
        }
        let (activeVersion, validating) = state.withLock { ($0.active?.version, $0.validating) }
        if activeVersion == version { throw VersionRemovalError.active(version: version) }
        if validating.contains(version) { throw VersionRemovalError.beingValidated(version: version) }
        onDemandLoad.lock()
        defer { onDemandLoad.unlock() }
        state.withLock { if $0.onDemand?.version == version { $0.onDemand = nil } }
        do {
            try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(),
                                                    withIntermediateDirectories: true)
        } catch {
            throw VersionRemovalError.cannotMove(path: source.path, reason: error.localizedDescription)
        }
        guard rename(source.path, destination.path) == 0 else {
            throw VersionRemovalError.cannotMove(path: source.path, reason: String(cString: strerror(errno)))
        }
        for folder in [modelsDirectory.path, destination.deletingLastPathComponent().path] {
            let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd >= 0 { _ = fsync(fd); close(fd) }
        }
        do {
            try store.recordRemoval(version: version, action: action, uid: uid, bytes: bytes,
                                    path: action == .quarantined ? destination.path : nil, reason: reason)
        } catch {
            // The folder is out already; the next start records the version removed in any case.
            logger.error("cannot record a removed version", metadata: ["version": "\(version)", "error": "\(error)"])
        }
        refreshRecords()
        logger.notice("model version folder moved out of the models directory", metadata: [
            "version": "\(version)", "action": "\(action.rawValue)", "to": "\(destination.path)", "reason": "\(reason)",
        ])
        return destination
    }

    /// A place in `folder` (a dot folder of the models directory) for `version` that is not taken.
    func freePlace(for version: String, in folder: String) -> URL {
        let base = modelsDirectory.appendingPathComponent(folder)
        var candidate = base.appendingPathComponent(version)
        var n = 1
        while FileManager.default.fileExists(atPath: candidate.path) {
            n += 1
            candidate = base.appendingPathComponent("\(version).\(n)")
        }
        return candidate
    }

    /// Deletes what removals left in `.trash/` (a crash between the rename and the delete); returns the names.
    @discardableResult
    func emptyTrash() -> [String] {
        let trash = modelsDirectory.appendingPathComponent(Self.trashFolder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: trash.path)) ?? []
        for name in names { try? FileManager.default.removeItem(at: trash.appendingPathComponent(name)) }
        return names.sorted()
    }
}
