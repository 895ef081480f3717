#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A whole file mapped read-only. The mapping lives as long as this object; byte views handed out
/// by `bytes(_:)` must not outlive it.
///
/// Checkpoints are replaced by rename, never rewritten in place, so the mapped inode stays intact.
/// (A file truncated in place by someone else while mapped would fault on access: that is the
/// price of not copying 500 MB at open.)
final class MappedFile: @unchecked Sendable {
    let path: String
    let count: Int
    private let base: UnsafeRawPointer?

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw CheckpointError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw CheckpointError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        if (st.st_mode & S_IFMT) != S_IFREG {
            throw CheckpointError.cannotOpen(path: path, reason: "not a regular file")
        }
        count = Int(st.st_size)
        if count == 0 {
            base = nil   // mmap refuses length 0; an empty file is reported by the format readers
            return
        }
        let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        if p == MAP_FAILED || p == nil {
            throw CheckpointError.cannotOpen(path: path, reason: "mmap: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p!)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// The bytes in `range`, which the caller has checked lies within `0..<count`.
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "unchecked range \(range) of \(count)")
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    var all: UnsafeRawBufferPointer { bytes(0..<count) }
}

/// Little-endian reads from unaligned bytes.
extension UnsafeRawBufferPointer {
    @inline(__always) func le16(_ at: Int) -> UInt16 { UInt16(littleEndian: loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
    @inline(__always) func le32(_ at: Int) -> UInt32 { UInt32(littleEndian: loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
    @inline(__always) func le64(_ at: Int) -> UInt64 { UInt64(littleEndian: loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
}
