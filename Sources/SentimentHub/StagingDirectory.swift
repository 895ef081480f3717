import Foundation
import SentimentCore
#if canImport(Glibc)
import Glibc
#endif

/// The folders a pull writes in, held open by descriptor so that every file operation is `openat`/`renameat`/
/// `unlinkat` relative to a folder that was checked once, never a path looked up again.
///
/// Why: `sentimentctl pull` is often run by root into the daemon's models directory, which the service user may
/// write. Opening `models/.staging/pull-V/config.json.part` by path would follow a symbolic link (or a swapped
/// folder) the service user planted there, and root would write, truncate or delete whatever it points at. So:
/// `models/.staging` is opened without following a link; the pull's own folder `pull-V` in it is created mode
/// 0700 by the pulling user, opened without following a link, and refused unless that user owns it and nobody
/// else may write it; every file in it is opened with `O_NOFOLLOW` and must be a plain file; names are single
/// path components. The folder is made readable (0755) just before it is published by `renameat2` into models/.
final class StagingDirectory {
    /// For messages only.
    let path: String
    let descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// A folder the caller names (the models directory): it may be reached through links, it is the caller's
    /// choice.
    static func open(path: String) throws -> StagingDirectory {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw fileError(errno, path, "open the directory") }
        return StagingDirectory(path: path, descriptor: fd)
    }

    /// `name` inside this folder, created (mode `mode`) when missing, never through a symbolic link. With
    /// `privateToMe`, it must belong to the effective user and be writable by nobody else.
    func subdirectory(_ name: String, mode: mode_t, privateToMe: Bool) throws -> StagingDirectory {
        try Self.checkName(name)
        let full = path + "/" + name
        if mkdirat(descriptor, name, mode) != 0 && errno != EEXIST {
            throw PartFile.error(errno, path: full, operation: "create the directory", staging: full)
        }
        let fd = openat(descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP || code == ENOTDIR {
                throw HubError.unsafeStaging(path: full, reason: "it is a symbolic link or not a directory")
            }
            throw Self.fileError(code, full, "open the directory")
        }
        let folder = StagingDirectory(path: full, descriptor: fd)
        if privateToMe {
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw Self.fileError(errno, full, "stat") }
            guard st.st_uid == geteuid() else {
                throw HubError.unsafeStaging(path: full, reason: "it belongs to uid \(st.st_uid), not to uid \(geteuid()) "
                    + "who pulls (it may have been planted); remove it and pull again")
            }
            guard st.st_mode & 0o022 == 0 else {
                throw HubError.unsafeStaging(path: full, reason: "others may write in it (mode "
                    + String(st.st_mode & 0o777, radix: 8) + "); remove it and pull again")
            }
        }
        return folder
    }

    /// Opens a plain file of this folder without following a link. `flags` gets O_NOFOLLOW and O_CLOEXEC.
    func openFile(_ name: String, flags: Int32, mode: mode_t = 0o644, operation: String = "open") throws -> Int32 {
        try Self.checkName(name)
        let fd = openat(descriptor, name, flags | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP {
                throw HubError.unsafeStaging(path: path + "/" + name, reason: "it is a symbolic link; refusing to follow it")
            }
            throw PartFile.error(code, path: path + "/" + name, operation: operation, staging: path)
        }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw HubError.unsafeStaging(path: path + "/" + name, reason: "it is not a plain file")
        }
        return fd
    }

    func exists(_ name: String) -> Bool {
        var st = stat()
        return fstatat(descriptor, name, &st, AT_SYMLINK_NOFOLLOW) == 0
    }

    func unlink(_ name: String) {
        _ = unlinkat(descriptor, name, 0)
    }

    func rename(_ from: String, to: String) throws {
        try Self.checkName(from)
        try Self.checkName(to)
        guard renameat(descriptor, from, descriptor, to) == 0 else {
            throw Self.fileError(errno, path + "/" + from, "rename to \(to)")
        }
    }

    func sync() throws {
        guard fsync(descriptor) == 0 else { throw Self.fileError(errno, path, "fsync") }
    }

    /// The names in the folder (not . and ..).
    func names() -> [String] {
        let copy = dup(descriptor)
        guard copy >= 0, let dir = fdopendir(copy) else { return [] }
        defer { closedir(dir) }
        rewinddir(dir)
        var out: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }

    /// Removes every plain file of the folder (it never holds anything else).
    func empty() throws {
        for name in names() where unlinkat(descriptor, name, 0) != 0 {
            throw HubError.unsafeStaging(path: path + "/" + name, reason: "cannot remove it (\(String(cString: strerror(errno)))); "
                + "the staging folder holds only plain files")
        }
    }

    /// The whole content of a small file of this folder, nil when it is missing.
    func read(_ name: String, limit: Int = 64 << 20) throws -> Data? {
        guard exists(name) else { return nil }
        let fd = try openFile(name, flags: O_RDONLY, operation: "read")
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.fileError(errno, path + "/" + name, "read")
            }
            if n == 0 { return data }
            data.append(contentsOf: buffer[0..<n])
            if data.count > limit { throw HubError.fileSystem(path: path + "/" + name, operation: "read", reason: "larger than \(limit) bytes") }
        }
    }

    /// A small file written atomically: a fresh temporary name (O_EXCL), fsync, rename, fsync of the folder.
    func writeAtomically(_ data: Data, to name: String) throws {
        let temporary = ".\(name).tmp-\(getpid())"
        unlink(temporary)
        let fd = try openFile(temporary, flags: O_WRONLY | O_CREAT | O_EXCL, operation: "create")
        let file = PartFile(descriptor: fd, path: path + "/" + temporary, size: 0, staging: path)
        do {
            try file.append(data)
            try file.syncAndClose()
            try rename(temporary, to: name)
            try sync()
        } catch {
            file.close()
            unlink(temporary)
            throw error
        }
    }

    /// SHA-256 (and git blob SHA-1 when `gitBlob`) of a file of this folder.
    func digests(_ name: String, gitBlob: Bool) throws -> FileDigests {
        let fd = try openFile(name, flags: O_RDONLY, operation: "read")
        defer { close(fd) }
        do {
            return try FileDigests.of(descriptor: fd, path: path + "/" + name, gitBlob: gitBlob)
        } catch let error as FileDigestError {
            throw HubError.fileSystem(path: error.path, operation: error.operation, reason: error.reason)
        }
    }

    /// Whether `name` in this folder is still `other` (the same inode), not something put in its place.
    func entry(_ name: String, is other: StagingDirectory) -> Bool {
        var a = stat(), b = stat()
        guard fstatat(descriptor, name, &a, AT_SYMLINK_NOFOLLOW) == 0, fstat(other.descriptor, &b) == 0 else { return false }
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino
    }

    func setMode(_ mode: mode_t) throws {
        guard fchmod(descriptor, mode) == 0 else { throw Self.fileError(errno, path, "chmod") }
    }

    /// A name that stays inside the folder: one path component.
    static func checkName(_ name: String) throws {
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), !name.contains("\0") else {
            throw HubError.unsafeStaging(path: name, reason: "not a file name inside the staging folder")
        }
    }

    static func fileError(_ code: Int32, _ path: String, _ operation: String) -> HubError {
        .fileSystem(path: path, operation: operation, reason: String(cString: strerror(code)))
    }
}
