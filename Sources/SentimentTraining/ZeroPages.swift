#if canImport(Glibc)
import Glibc
import SentimentEngine
#endif

/// Sparse-friendly zero buffers. A FloatBuffer is zero-filled when made, which makes every page of it
/// resident. For tensors whose rows are touched sparsely — the word-embedding gradient and Adam moments
/// of a 50k-token vocabulary, of which a batch uses a few thousand rows — the whole pages are handed back
/// to the kernel right away: on Linux a private anonymous page given up with MADV_DONTNEED reads as zero
/// again and takes no memory until written. The kernels that walk these buffers (clipping, AdamW,
/// zeroGrad) skip writing zeros over zeros, so untouched rows stay free.
enum ZeroPages {
    static let pageSize: Int = {
        #if canImport(Glibc)
        return max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))
        #else
        return 4096
        #endif
    }()

    /// Gives back the whole pages inside `buffer`, which must be all zero (as made). No-op off Linux.
    static func release(_ buffer: FloatBuffer) {
        #if os(Linux)
        let bytes = buffer.count * MemoryLayout<Float>.stride
        guard bytes >= 16 * pageSize else { return }
        let start = UInt(bitPattern: UnsafeMutableRawPointer(buffer.pointer))
        let lo = (start + UInt(pageSize) - 1) / UInt(pageSize) * UInt(pageSize)
        let hi = (start + UInt(bytes)) / UInt(pageSize) * UInt(pageSize)
        guard hi > lo, let p = UnsafeMutableRawPointer(bitPattern: lo) else { return }
        _ = madvise(p, Int(hi - lo), MADV_DONTNEED)
        #endif
    }

    /// A zero FloatBuffer whose pages are not resident until written.
    static func buffer(count: Int) -> FloatBuffer {
        let b = FloatBuffer(count: count)
        release(b)
        return b
    }
}

/// True when all eight lanes are +0.0 (bit pattern 0).
@inline(__always)
func isAllZeroBits(_ v: V8) -> Bool {
    unsafeBitCast(v, to: SIMD8<UInt32>.self) == SIMD8<UInt32>(repeating: 0)
}
