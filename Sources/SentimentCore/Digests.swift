#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Crypto
import Foundation

/// The project's digests, all through swift-crypto (BoringSSL's SHA-256 and SHA-1 on Linux; no hand-written
/// hash anywhere). Everything that names a file or a data set by its content calls these: the checkpoint
/// manifest (`sentimentd.json`), the registry's folder fingerprint, the hub's download checks and the training
/// data fingerprint.
///
/// Streaming: `update` any number of times, then `finalizeHex()` once (the hasher is consumed).
public struct SHA256Hasher {
    private var state = Crypto.SHA256()

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) { state.update(bufferPointer: bytes) }
    public mutating func update(_ data: Data) { state.update(data: data) }
    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }
    /// The string's UTF-8 bytes.
    public mutating func update(_ string: String) { update(Data(string.utf8)) }

    /// The 32-byte digest as 64 lowercase hex digits.
    public mutating func finalizeHex() -> String { state.finalize().hexDigits }

    public static func hex(of data: Data) -> String {
        var hasher = SHA256Hasher()
        hasher.update(data)
        return hasher.finalizeHex()
    }

    /// Of the string's UTF-8 bytes.
    public static func hex(of string: String) -> String { hex(of: Data(string.utf8)) }

    /// Of a file's contents, read in 1 MiB chunks (never the whole file in memory).
    public static func hex(ofFileAt url: URL) throws -> String {
        try FileDigests.of(fileAt: url.path, gitBlob: false).sha256
    }
}

/// SHA-1, streaming. Not for security: only to check a downloaded file against the Hugging Face hub's `blobId`,
/// which is git's object id (SHA-1 of `"blob <size>\0"` then the content; see `gitBlob(size:)`).
public struct SHA1Hasher {
    private var state = Insecure.SHA1()

    public init() {}

    /// A hasher primed with git's blob header, so that feeding the `size` bytes of content yields the blob id.
    public static func gitBlob(size: Int64) -> SHA1Hasher {
        var hasher = SHA1Hasher()
        hasher.update(Data("blob \(size)\0".utf8))
        return hasher
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) { state.update(bufferPointer: bytes) }
    public mutating func update(_ data: Data) { state.update(data: data) }

    /// The 20-byte digest as 40 lowercase hex digits.
    public mutating func finalizeHex() -> String { state.finalize().hexDigits }

    public static func hex(of data: Data) -> String {
        var hasher = SHA1Hasher()
        hasher.update(data)
        return hasher.finalizeHex()
    }
}

/// A file that could not be read to the end for hashing.
public struct FileDigestError: Error, Equatable, CustomStringConvertible {
    public var path: String
    /// The step that failed: `open`, `stat` or `read`.
    public var operation: String
    public var reason: String

    public var description: String { "\(path): cannot \(operation): \(reason)" }
}

extension FileDigestError: LocalizedError {
    public var errorDescription: String? { description }
}

/// SHA-256 (and, when asked, git's blob SHA-1) of one file in a single pass of `bufferSize` reads.
public struct FileDigests: Sendable, Equatable {
    public var size: Int64
    public var sha256: String
    /// Only when asked for (`gitBlob: true`).
    public var gitBlobSHA1: String?

    /// The size is taken before reading; a file that grows or shrinks meanwhile is an error, not a digest of
    /// some prefix of it.
    public static func of(fileAt path: String, gitBlob: Bool, bufferSize: Int = 1 << 20) throws -> FileDigests {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw FileDigestError(path: path, operation: "open", reason: String(cString: strerror(errno)))
        }
        defer { close(descriptor) }
        return try of(descriptor: descriptor, path: path, gitBlob: gitBlob, bufferSize: bufferSize)
    }

    /// The same for a file already open for reading, read from its current offset; `path` only names it in errors.
    public static func of(descriptor: Int32, path: String, gitBlob: Bool, bufferSize: Int = 1 << 20) throws -> FileDigests {
        func failure(_ operation: String, _ code: Int32) -> FileDigestError {
            FileDigestError(path: path, operation: operation, reason: String(cString: strerror(code)))
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw failure("stat", errno) }
        let size = Int64(info.st_size)
        var sha256 = SHA256Hasher()
        var sha1 = gitBlob ? SHA1Hasher.gitBlob(size: size) : nil
        var total: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = read(descriptor, buffer.baseAddress!, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("read", errno)
            }
            if count == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            sha256.update(chunk)
            sha1?.update(chunk)
            total += Int64(count)
        }
        guard total == size else {
            throw FileDigestError(path: path, operation: "read", reason: "the file changed size while being hashed")
        }
        return FileDigests(size: size, sha256: sha256.finalizeHex(), gitBlobSHA1: sha1?.finalizeHex())
    }
}

extension Sequence where Element == UInt8 {
    /// Lowercase hex, two digits a byte.
    var hexDigits: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
