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

    /// A file already open for writing, `size` bytes long, appended at its end.
    init(descriptor: Int32, path: String, size: Int64, staging: String) {
        self.descriptor = descriptor
        self.path = path
        self.size = size
        self.staging = staging
    }

    /// Opens (creating with mode 0644) `name` of the staging folder for appending at its current end, never
    /// through a symbolic link (`StagingDirectory`).
    convenience init(in folder: StagingDirectory, name: String) throws {
        let fd = try folder.openFile(name, flags: O_WRONLY | O_CREAT)
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 0 else {
            let code = errno
            Glibc.close(fd)
            throw Self.error(code, path: folder.path + "/" + name, operation: "seek in", staging: folder.path)
        }
        self.init(descriptor: fd, path: folder.path + "/" + name, size: Int64(end), staging: folder.path)
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

/// The pull's publishing rename: renameat2(RENAME_NOREPLACE) between two held folders.
enum DurableFiles {
    /// Renames `name` of `from` to `newName` of `to` without ever replacing what is there (plain rename(2) would
    /// silently replace an empty directory); falls back to check-then-rename where the C library or the file system
    /// lacks renameat2. Throws `versionExists` (naming `destination`) when the target exists.
    static func renameNoReplace(_ name: String, in from: StagingDirectory, to newName: String, in to: StagingDirectory,
                                destination: String) throws {
        if let renameat2 = renameat2Function {
            if renameat2(from.descriptor, name, to.descriptor, newName, 1 /* RENAME_NOREPLACE */) == 0 { return }
            let code = errno
            if code == EEXIST || code == ENOTEMPTY { throw HubError.versionExists(path: destination) }
            if code != EINVAL && code != ENOSYS {
                throw HubError.fileSystem(path: from.path + "/" + name, operation: "rename to \(destination)",
                                          reason: String(cString: strerror(code)))
            }
        }
        guard !to.exists(newName) else { throw HubError.versionExists(path: destination) }
        guard renameat(from.descriptor, name, to.descriptor, newName) == 0 else {
            let code = errno
            if code == EEXIST || code == ENOTEMPTY { throw HubError.versionExists(path: destination) }
            throw HubError.fileSystem(path: from.path + "/" + name, operation: "rename to \(destination)",
                                      reason: String(cString: strerror(code)))
        }
    }

    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    /// glibc declares renameat2 only under _GNU_SOURCE, which Swift's Glibc module does not set: look it up.
    private static let renameat2Function: RenameAt2? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: RenameAt2.self)
    }()
}
