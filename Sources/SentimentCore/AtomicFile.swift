#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// write(2), named apart so `Sink.write` can call it.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

/// What went wrong while writing a file atomically. Nothing is ever left under the final name
/// after an error, and the temporary file is removed.
public enum AtomicFileError: Error, Equatable, CustomStringConvertible {
    case createTemporary(path: String, errno: Int32)
    case write(path: String, errno: Int32)
    case sync(path: String, errno: Int32)
    case rename(from: String, to: String, errno: Int32)
    case syncDirectory(path: String, errno: Int32)

    public var description: String {
        func reason(_ e: Int32) -> String { String(cString: strerror(e)) }
        switch self {
        case let .createTemporary(path, e):
            return "\(path): cannot create temporary file: \(reason(e))"
        case let .write(path, e):
            return "\(path): write failed: \(reason(e))\(e == ENOSPC ? " (disk full)" : ""); nothing was written under this name"
        case let .sync(path, e):
            return "\(path): fsync failed: \(reason(e)); nothing was written under this name"
        case let .rename(from, to, e):
            return "\(to): cannot rename \(from) into place: \(reason(e))"
        case let .syncDirectory(path, e):
            return "\(path): the file was renamed into place but fsync of its directory failed: \(reason(e))"
        }
    }
}

extension AtomicFileError {
    /// The system's error number behind the failure (ENOSPC for a full disk, ...).
    public var errno: Int32 {
        switch self {
        case let .createTemporary(_, e), let .write(_, e), let .sync(_, e), let .rename(_, _, e), let .syncDirectory(_, e):
            return e
        }
    }
}

extension AtomicFileError: LocalizedError {
    public var errorDescription: String? { description }
}

/// Writes files so that a reader sees either the old content or the new, never a part:
/// temporary name in the same directory, write, fsync the file, rename over the final name,
/// fsync the directory (so the rename itself survives a crash).
public enum AtomicFile {
    /// A write end handed to the streaming variant. Writes are complete or throw.
    public struct Sink {
        /// The open file descriptor of the temporary file (for APIs that want one; do not close it).
        public let fileDescriptor: Int32
        let path: String

        public func write(_ bytes: UnsafeRawBufferPointer) throws {
            var offset = 0
            while offset < bytes.count {
                // Chunks of at most 1 GiB: Linux caps one write(2) at ~2 GiB anyway.
                let n = posixWrite(fileDescriptor, bytes.baseAddress! + offset, min(bytes.count - offset, 1 << 30))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw AtomicFileError.write(path: path, errno: errno)
                }
                if n == 0 { throw AtomicFileError.write(path: path, errno: EIO) }
                offset += n
            }
        }

        public func write(_ data: Data) throws {
            try data.withUnsafeBytes { try write($0) }
        }

        public func write(_ floats: [Float]) throws {
            #if _endian(big)
            try write(Data(floats.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } }))
            #else
            try floats.withUnsafeBytes { try write($0) }
            #endif
        }
    }

    /// Writes `data` to `url` atomically.
    public static func write(_ data: Data, to url: URL, permissions: mode_t = 0o644) throws {
        try write(to: url, permissions: permissions) { try $0.write(data) }
    }

    /// Streams a file to `url` atomically: `body` writes the content through the sink. If `body`
    /// throws, the temporary file is removed and the error is rethrown unchanged.
    public static func write(to url: URL, permissions: mode_t = 0o644, _ body: (Sink) throws -> Void) throws {
        let finalPath = url.path
        let directory = url.deletingLastPathComponent().path
        let tempPath = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

        let fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, permissions)
        if fd < 0 { throw AtomicFileError.createTemporary(path: finalPath, errno: errno) }
        var closed = false
        var renamed = false
        defer {
            if !closed { close(fd) }
            if !renamed { unlink(tempPath) }
        }
        try body(Sink(fileDescriptor: fd, path: finalPath))
        if fsync(fd) != 0 { throw AtomicFileError.sync(path: finalPath, errno: errno) }
        closed = true
        // close(2) can report a delayed write error (NFS and friends): treat it as a failed write.
        if close(fd) != 0 { throw AtomicFileError.write(path: finalPath, errno: errno) }
        if rename(tempPath, finalPath) != 0 {
            throw AtomicFileError.rename(from: tempPath, to: finalPath, errno: errno)
        }
        renamed = true
        try syncDirectory(directory)
    }

    /// fsync of a directory makes renames and creations inside it durable.
    public static func syncDirectory(_ path: String) throws {
        let dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd < 0 { throw AtomicFileError.syncDirectory(path: path, errno: errno) }
        defer { close(dfd) }
        if fsync(dfd) != 0 { throw AtomicFileError.syncDirectory(path: path, errno: errno) }
    }
}
