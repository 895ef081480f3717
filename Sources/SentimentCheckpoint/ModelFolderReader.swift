#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import SentimentCore

/// Size and SHA-256 of one file as it was read.
public struct FileDigest: Sendable, Equatable, Codable {
    public var size: Int64
    public var sha256: String

    public init(size: Int64, sha256: String) {
        self.size = size
        self.sha256 = sha256
    }
}

/// The files of one model folder, opened so that no file in it can hang, crash or mislead the process that
/// reads it, and hashed as they are read.
///
/// Policy, and why:
/// - Names are opened relative to the folder's descriptor, never followed out of it: a symbolic link is
///   followed only when its target is another plain name in the same folder; any other link is refused by
///   name (a link to /dev/zero, to a file being written elsewhere, or to someone else's data is not a
///   checkpoint file).
/// - Every file is opened non-blocking and checked with fstat before a byte is read: a FIFO, socket, device
///   or directory is refused by name. (Opening a FIFO for reading blocks until a writer appears: the
///   registry's queue once hung there for good.)
/// - Nothing is memory-mapped. Weights are read with pread into the buffers they are served from, so a file
///   truncated or rewritten while it loads ends the load with `changedWhileReading` instead of a SIGBUS
///   that would take the whole process down.
/// - Each file read is hashed on the way (SHA-256 of every byte, in file order) and its digest kept in
///   `digests`. With `expected` digests (what a validation process read), a file whose bytes differ is
///   refused: what was checked is what is served. Small files are compared before they are parsed; a
///   weights file when it has been read to its end, before the model is returned.
///
/// Not thread-safe: one load reads one folder on one thread.
public final class ModelFolderReader: @unchecked Sendable {
    public let url: URL
    /// Digests of the validated files; nil: no expectation (a folder read for the first time).
    public let expected: [String: FileDigest]?
    /// Every file read so far, by name.
    public private(set) var digests: [String: FileDigest] = [:]
    private let directory: Int32

    /// The most a file read whole into memory may hold (config.json, tokenizer files, indexes): the largest
    /// tokenizer.json of a 250k-token vocabulary is ~20 MB.
    public static let smallFileLimit = 256 << 20

    public init(_ url: URL, expected: [String: FileDigest]? = nil) throws {
        self.url = url
        self.expected = expected
        let fd = Glibc.open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOTDIR { throw CheckpointError.notARegularFile(path: url.path, kind: "not a directory") }
            throw CheckpointError.cannotOpen(path: url.path, reason: String(cString: strerror(code)))
        }
        directory = fd
    }

    deinit { close(directory) }

    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Whether the folder has an entry `name` of any kind (a FIFO or a dangling link counts: reading it then
    /// says what is wrong, instead of the file being silently absent).
    public func exists(_ name: String) -> Bool {
        guard Self.isPlainName(name) else { return false }
        var st = stat()
        return fstatat(directory, name, &st, AT_SYMLINK_NOFOLLOW) == 0
    }

    /// The whole file, at most `limit` bytes, checked against `expected` before it is returned.
    public func contents(_ name: String, limit: Int = ModelFolderReader.smallFileLimit) throws -> Data {
        let file = try open(name)
        guard file.size <= limit else { throw CheckpointError.fileTooLarge(path: file.path, size: file.size, limit: limit) }
        var data = Data(count: file.size)
        try data.withUnsafeMutableBytes { raw in
            if file.size > 0 { try file.read(at: 0, count: file.size, into: raw.baseAddress!) }
        }
        try file.finish()
        return data
    }

    /// The digest of a file whose contents the load does not use (manifest checks), read in pieces.
    public func digest(of name: String) throws -> FileDigest {
        let file = try open(name)
        try file.finish()
        return digests[name]!
    }

    /// Opens a file for reading in pieces (weights). Its digest is recorded when `finish()` has read it to the end.
    func open(_ name: String) throws -> CheckpointFile {
        let fd = try openRegular(name)
        TestHooks.pause("opened \(url.lastPathComponent)/\(name)")
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw CheckpointError.cannotOpen(path: path(name), reason: reason)
        }
        return CheckpointFile(path: path(name), descriptor: fd, size: Int(st.st_size)) { [self] digest in
            try self.record(name, digest)
        }
    }

    private func record(_ name: String, _ digest: FileDigest) throws {
        if let expected {
            guard let want = expected[name] else {
                throw CheckpointError.notTheValidatedFile(path: path(name), expected: "(not read by the validation)",
                                                          actual: digest.sha256)
            }
            guard want == digest else {
                throw CheckpointError.notTheValidatedFile(path: path(name), expected: want.sha256, actual: digest.sha256)
            }
        }
        digests[name] = digest
    }

    /// A descriptor of the regular file `name`, following at most one link to a sibling.
    private func openRegular(_ name: String) throws -> Int32 {
        precondition(Self.isPlainName(name), "checkpoint file names are plain names: \(name)")
        var target = name
        var fd = openat(directory, target, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 && (errno == ELOOP || errno == EMLINK) {
            // A symbolic link: allowed only to a plain name in this folder (no "/"), itself not a link.
            let link = try readLink(name)
            guard Self.isPlainName(link) else {
                throw CheckpointError.linkLeavesFolder(path: path(name), target: link)
            }
            target = link
            fd = openat(directory, target, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            if fd < 0 && (errno == ELOOP || errno == EMLINK) {
                throw CheckpointError.linkLeavesFolder(path: path(name), target: "\(link), itself a link")
            }
        }
        guard fd >= 0 else {
            let code = errno
            // A socket cannot be opened at all (ENXIO): say what it is rather than the errno.
            var st = stat()
            if fstatat(directory, target, &st, AT_SYMLINK_NOFOLLOW) == 0, let kind = Self.kind(st.st_mode) {
                throw CheckpointError.notARegularFile(path: path(name), kind: kind)
            }
            throw CheckpointError.cannotOpen(path: path(name), reason: String(cString: strerror(code)))
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw CheckpointError.cannotOpen(path: path(name), reason: reason)
        }
        let kind = Self.kind(st.st_mode)
        guard kind == nil else {
            close(fd)
            throw CheckpointError.notARegularFile(path: path(name), kind: kind!)
        }
        // Back to blocking reads (O_NONBLOCK only kept open() from waiting on a FIFO).
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return fd
    }

    private func readLink(_ name: String) throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(directory, name, &buffer, buffer.count - 1)
        guard n >= 0 else { throw CheckpointError.cannotOpen(path: path(name), reason: String(cString: strerror(errno))) }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// What a non-regular file is, for the message; nil for a regular file.
    static func kind(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFSOCK: return "a socket"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFDIR: return "a directory"
        default: return "not a regular file"
        }
    }

    static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
    }
}

/// One open checkpoint file, read with pread and hashed in file order.
///
/// `read(at:count:into:)` hashes what it reads whenever it reads at or beyond what has been hashed so far
/// (first hashing any gap before it), so a load that reads its tensors in file order reads every byte once.
/// `peek` reads metadata out of order (a zip's directory at the end) without hashing; `finish()` hashes the rest
/// of the file, checks that its size did not change, and records the digest with the folder reader.
final class CheckpointFile {
    let path: String
    /// The size at open: every bound is checked against it, and a file that ends before it was truncated.
    let size: Int
    private let descriptor: Int32
    private var hasher = SHA256Hasher()
    private var hashed = 0
    private var finished = false
    private let onFinish: (FileDigest) throws -> Void

    /// Reads of at most this many bytes, each followed by a pacing point (`Pacing`).
    static let piece = 4 << 20

    init(path: String, descriptor: Int32, size: Int, onFinish: @escaping (FileDigest) throws -> Void) {
        self.path = path
        self.descriptor = descriptor
        self.size = size
        self.onFinish = onFinish
    }

    deinit { close(descriptor) }

    /// `count` bytes at `offset` (within the size at open) into `destination`.
    ///
    /// A large read in file order outside a paced job (a start-up's load: nothing else wants the other cores) hashes
    /// each piece on another thread while the next one is read, so hashing costs next to no time; everything is
    /// hashed before this returns. A paced job (a load beside serving) does both on its own thread.
    func read(at offset: Int, count: Int, into destination: UnsafeMutableRawPointer) throws {
        precondition(offset >= 0 && count >= 0 && offset <= size && count <= size - offset, "unchecked range")
        if offset > hashed { try hashGap(upTo: offset) }
        let end = offset + count
        if offset == hashed && count >= 2 * Self.piece && !Pacing.isActive {
            try readHashingAlongside(offset, count, destination)
            return
        }
        try pread(offset, count, destination)
        if end > hashed {
            let from = max(offset, hashed)
            hasher.update(UnsafeRawBufferPointer(start: destination + (from - offset), count: end - from))
            hashed = end
        }
    }

    private func readHashingAlongside(_ offset: Int, _ count: Int, _ destination: UnsafeMutableRawPointer) throws {
        let hashing = DispatchQueue(label: "sentimentd.checkpoint-hash")
        let box = HasherBox(hasher)
        let pending = DispatchGroup()
        defer { pending.wait() }   // no hashing outlives this call, even when a read fails
        var done = 0
        while done < count {
            let n = min(Self.piece, count - done)
            try pread(offset + done, n, destination + done)
            let piece = Piece(bytes: UnsafeRawBufferPointer(start: destination + done, count: n))
            hashing.async(group: pending) { box.hasher.update(piece.bytes) }
            done += n
        }
        pending.wait()
        hasher = box.hasher
        hashed = offset + count
    }

    func read(at offset: Int, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { if count > 0 { try read(at: offset, count: count, into: $0.baseAddress!) } }
        return bytes
    }

    /// Bytes that describe the file (a zip's central directory), read without hashing them now.
    func peek(at offset: Int, count: Int) throws -> [UInt8] {
        precondition(offset >= 0 && count >= 0 && offset <= size && count <= size - offset, "unchecked range")
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { if count > 0 { try pread(offset, count, $0.baseAddress!) } }
        return bytes
    }

    /// Hashes what was not read, makes sure the file still ends where it did at open, and records the digest.
    func finish() throws {
        guard !finished else { return }
        try hashGap(upTo: size)
        var probe: UInt8 = 0
        let more = Glibc.pread(descriptor, &probe, 1, off_t(size))
        var st = stat()
        if more != 0 || fstat(descriptor, &st) != 0 || Int(st.st_size) != size {
            throw CheckpointError.changedWhileReading(path: path, reason: "it was \(size) bytes when opened and is \(st.st_size) now")
        }
        finished = true
        try onFinish(FileDigest(size: Int64(size), sha256: hasher.finalizeHex()))
    }

    private func hashGap(upTo end: Int) throws {
        guard end > hashed else { return }
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: min(Self.piece, end - hashed), alignment: 64)
        defer { scratch.deallocate() }
        while hashed < end {
            let n = min(Self.piece, end - hashed)
            try pread(hashed, n, scratch)
            hasher.update(UnsafeRawBufferPointer(start: scratch, count: n))
            hashed += n
        }
    }

    /// Exactly `count` bytes at `offset`, in pieces with a pacing point after each; a short read means the file
    /// was truncated under us.
    private func pread(_ offset: Int, _ count: Int, _ destination: UnsafeMutableRawPointer) throws {
        var done = 0
        while done < count {
            let want = min(Self.piece, count - done)
            let n = Glibc.pread(descriptor, destination + done, want, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.changedWhileReading(path: path, reason: "read failed at byte \(offset + done): \(String(cString: strerror(errno)))")
            }
            if n == 0 {
                throw CheckpointError.changedWhileReading(path: path,
                    reason: "it ended at byte \(offset + done) of the \(size) it had when opened (truncated)")
            }
            done += n
            Pacing.point()
        }
    }
}

/// Little-endian reads from unaligned bytes.
extension UnsafeRawBufferPointer {
    @inline(__always) func le16(_ at: Int) -> UInt16 { UInt16(littleEndian: loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
    @inline(__always) func le32(_ at: Int) -> UInt32 { UInt32(littleEndian: loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
    @inline(__always) func le64(_ at: Int) -> UInt64 { UInt64(littleEndian: loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
}

/// Bytes already read, handed to the hashing thread; they stay put until the reader has waited for it.
private struct Piece: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
}

/// The hasher while another thread feeds it (only that thread touches it until the reader waits for it).
private final class HasherBox: @unchecked Sendable {
    var hasher: SHA256Hasher
    init(_ hasher: SHA256Hasher) { self.hasher = hasher }
}
