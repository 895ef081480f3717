import Foundation
import SentimentCore
#if canImport(Glibc)
import Glibc
#endif

/// A file being downloaded (`<name>.part` in the staging folder), written with POSIX calls so that a full disk is
/// `HubError.diskFull` (errno ENOSPC/EDQUOT), not a generic Foundation error.
final class PartFile {
    let path: String
    /// Bytes in the file; appends go at this offset.
    private(set) var size: Int64
    private var descriptor: Int32
    private let staging: String

    /// Opens (creating with mode 0644) `path` for appending at its current end.
    init(path: String, staging: String) throws {
        self.path = path
        self.staging = staging
        descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw Self.error(errno, path: path, operation: "open", staging: staging) }
        let end = lseek(descriptor, 0, SEEK_END)
        guard end >= 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw Self.error(code, path: path, operation: "seek in", staging: staging)
        }
        size = Int64(end)
    }

    deinit { if descriptor >= 0 { Glibc.close(descriptor) } }

    /// Empties the file (a server answered 200 to a range request: the body starts at byte 0).
    func truncate() throws {
        guard ftruncate(descriptor, 0) == 0, lseek(descriptor, 0, SEEK_SET) == 0 else {
            throw Self.error(errno, path: path, operation: "truncate", staging: staging)
        }
        size = 0
    }

    func append(_ data: Data) throws {
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < bytes.count {
                let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw Self.error(errno, path: path, operation: "write", staging: staging)
                }
                offset += written
                size += Int64(written)
            }
        }
    }

    /// fsync, then close. The file is complete and durable when this returns.
    func syncAndClose() throws {
        guard fsync(descriptor) == 0 else {
            throw Self.error(errno, path: path, operation: "fsync", staging: staging)
        }
        close()
    }

    func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }

    static func error(_ code: Int32, path: String, operation: String, staging: String) -> HubError {
        if code == ENOSPC || code == EDQUOT { return .diskFull(path: path, staging: staging) }
        return .fileSystem(path: path, operation: operation, reason: String(cString: strerror(code)))
    }
}

/// Durable file-system steps of a pull: directory fsync, no-replace rename, whole-file digests.
enum DurableFiles {
    static func fsyncDirectory(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw HubError.fileSystem(path: path, operation: "open", reason: String(cString: strerror(errno)))
        }
        defer { Glibc.close(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw HubError.fileSystem(path: path, operation: "fsync", reason: String(cString: strerror(errno)))
        }
    }

    static func fsyncFile(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw HubError.fileSystem(path: path, operation: "open", reason: String(cString: strerror(errno)))
        }
        defer { Glibc.close(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw HubError.fileSystem(path: path, operation: "fsync", reason: String(cString: strerror(errno)))
        }
    }

    /// rename(2) that never replaces `destination`: renameat2(RENAME_NOREPLACE) where the C library and the file
    /// system have it (plain rename would silently replace an empty directory), else check-then-rename.
    /// Throws `versionExists` when `destination` exists.
    static func renameNoReplace(_ source: String, _ destination: String) throws {
        if let renameat2 = renameat2Function {
            if renameat2(AT_FDCWD, source, AT_FDCWD, destination, 1 /* RENAME_NOREPLACE */) == 0 { return }
            let code = errno
            if code == EEXIST || code == ENOTEMPTY { throw HubError.versionExists(path: destination) }
            if code != EINVAL && code != ENOSYS {
                throw HubError.fileSystem(path: source, operation: "rename to \(destination)", reason: String(cString: strerror(code)))
            }
        }
        guard access(destination, F_OK) != 0 else { throw HubError.versionExists(path: destination) }
        guard rename(source, destination) == 0 else {
            let code = errno
            if code == EEXIST || code == ENOTEMPTY { throw HubError.versionExists(path: destination) }
            throw HubError.fileSystem(path: source, operation: "rename to \(destination)", reason: String(cString: strerror(code)))
        }
    }

    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    /// glibc declares renameat2 only under _GNU_SOURCE, which Swift's Glibc module does not set: look it up.
    private static let renameat2Function: RenameAt2? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: RenameAt2.self)
    }()

    /// SHA-256 (and git blob SHA-1 when `gitBlob`) of a file in one pass (SentimentCore's `FileDigests`), a
    /// failure reported as the pull's file-system error.
    static func digests(ofFileAt path: String, gitBlob: Bool, bufferSize: Int = 1 << 20) throws -> FileDigests {
        do {
            return try FileDigests.of(fileAt: path, gitBlob: gitBlob, bufferSize: bufferSize)
        } catch let error as FileDigestError {
            throw HubError.fileSystem(path: error.path, operation: error.operation, reason: error.reason)
        }
    }

    /// Writes a small file of the pull (the manifest, the staging folder's state) atomically (SentimentCore's
    /// `AtomicFile`), a full disk reported as `diskFull` naming the staging folder, where the download is kept.
    static func writeAtomically(_ data: Data, to path: String, staging: String) throws {
        do {
            try AtomicFile.write(data, to: URL(fileURLWithPath: path))
        } catch let error as AtomicFileError {
            if error.errno == ENOSPC || error.errno == EDQUOT { throw HubError.diskFull(path: path, staging: staging) }
            throw HubError.fileSystem(path: path, operation: "write", reason: error.description)
        }
    }
}
