import Foundation
import SentimentCore
#if canImport(Glibc)
import Glibc
#endif

/// What the registry sees of one `models/<version>/` directory without reading file contents.
///
/// The fingerprint is a SHA-256 over (name, size, mtime in ns, inode) of every regular file at the top of the
/// folder, sorted by name. It is cheap to recompute on every event and rescan, and it changes whenever a file is
/// written, replaced, added, removed or renamed; a `chmod` or `chown` does not change it. Content identity, when
/// needed, comes from the manifest's per-file SHA-256 (verified at validation). Dot-files (editor swap files,
/// rsync's temporaries) are not part of a checkpoint and are left out, as are subfolders.
struct CheckpointFolder: Sendable, Equatable {
    struct File: Sendable, Equatable {
        var name: String
        var size: Int64
        var modifiedNanoseconds: Int64
        var inode: UInt64
    }

    let version: String
    let url: URL
    /// Regular files at the top of the folder, sorted by name, dot-files excluded.
    let files: [File]
    let fingerprint: String
    /// The folder's own modification time (ns); orders arrivals found in one scan.
    let modifiedNanoseconds: Int64

    var hasManifest: Bool { files.contains { $0.name == CheckpointManifest.fileName } }

    /// Whether `name` is a version directory name the registry considers (dot-directories such as `.staging`
    /// are the daemon's own work areas).
    static func isVersionName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && !name.contains("/")
    }

    /// Reads the folder's listing. Throws `CheckpointRejection.unreadable` naming the path when it cannot be read.
    static func read(version: String, in modelsDirectory: URL) throws -> CheckpointFolder {
        let url = modelsDirectory.appendingPathComponent(version, isDirectory: true)
        var folderStat = stat()
        guard stat(url.path, &folderStat) == 0 else {
            throw CheckpointRejection.unreadable(path: url.path, reason: String(cString: strerror(errno)))
        }
        guard (folderStat.st_mode & S_IFMT) == S_IFDIR else {
            throw CheckpointRejection.notADirectory(path: url.path)
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: url.path)
        } catch {
            throw CheckpointRejection.unreadable(path: url.path, reason: error.localizedDescription)
        }
        var files: [File] = []
        for name in names where !name.hasPrefix(".") {
            var info = stat()
            // stat (not lstat): a symlink to a file counts as that file.
            guard stat(url.appendingPathComponent(name).path, &info) == 0 else { continue }  // vanished meanwhile
            guard (info.st_mode & S_IFMT) == S_IFREG else { continue }
            files.append(File(name: name, size: Int64(info.st_size),
                              modifiedNanoseconds: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
                              inode: UInt64(info.st_ino)))
        }
        files.sort { $0.name < $1.name }
        var hasher = SHA256Hasher()
        for file in files {
            hasher.update("\(file.name)\t\(file.size)\t\(file.modifiedNanoseconds)\t\(file.inode)\n")
        }
        let folderModified = Int64(folderStat.st_mtim.tv_sec) * 1_000_000_000 + Int64(folderStat.st_mtim.tv_nsec)
        return CheckpointFolder(version: version, url: url, files: files, fingerprint: hasher.finalizeHex(),
                                modifiedNanoseconds: folderModified)
    }

    /// Names of the version directories in `modelsDirectory` (symlinks to directories included).
    static func versionNames(in modelsDirectory: URL) throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: modelsDirectory.path)
        return names.filter { name in
            guard isVersionName(name) else { return false }
            var info = stat()
            guard stat(modelsDirectory.appendingPathComponent(name).path, &info) == 0 else { return false }
            return (info.st_mode & S_IFMT) == S_IFDIR
        }.sorted()
    }
}
