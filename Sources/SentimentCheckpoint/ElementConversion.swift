import Foundation
import SentimentCore

/// Stored floating-point elements -> fp32. All conversions are exact except F64, which is rounded
/// to nearest even like `tensor.float()` in PyTorch (values beyond Float's range become ±inf).
enum ElementConversion {
    /// IEEE binary16 -> binary32, exact for every input: subnormals, ±0, ±inf and NaN (payload kept).
    @inline(__always)
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x03FF)
        switch exponent {
        case 0:
            // ±0 or subnormal: mantissa * 2^-24, exact in binary32.
            let magnitude = Float(mantissa) * 0x1p-24
            return Float(bitPattern: magnitude.bitPattern | sign)
        case 0x1F:
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        default:
            return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
        }
    }

    /// bfloat16 is the upper half of a binary32.
    @inline(__always)
    static func bfloat16ToFloat(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

    static func isFloatingPoint(_ dtype: DType) -> Bool {
        switch dtype {
        case .f32, .f16, .bf16, .f64: return true
        default: return false
        }
    }

    /// Converts `count` elements at `src`, `elementStride` elements apart, into `dst`.
    /// The caller has checked that every element read lies inside the mapped bytes.
    @inline(__always)
    static func convertRun(_ dtype: DType, src: UnsafeRawPointer, elementStride: Int, count: Int,
                           into dst: UnsafeMutablePointer<Float>) {
        let size = dtype.byteSize
        if elementStride == 1, dtype == .f32 {
            dst.withMemoryRebound(to: UInt8.self, capacity: count * 4) { $0.update(from: src.assumingMemoryBound(to: UInt8.self), count: count * 4) }
            #if _endian(big)
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(littleEndian: dst[i].bitPattern)) }
            #endif
            return
        }
        let step = elementStride * size
        switch dtype {
        case .f32:
            for i in 0..<count {
                dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: i * step, as: UInt32.self)))
            }
        case .f16:
            for i in 0..<count {
                dst[i] = halfToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i * step, as: UInt16.self)))
            }
        case .bf16:
            for i in 0..<count {
                dst[i] = bfloat16ToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i * step, as: UInt16.self)))
            }
        case .f64:
            for i in 0..<count {
                dst[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: i * step, as: UInt64.self))))
            }
        default:
            preconditionFailure("convertRun called for integer dtype \(dtype)")
        }
    }

    /// Materialises a strided view of `storage` (elements of `dtype`) as a dense row-major fp32 tensor.
    /// `offset` and `strides` count elements. The caller has validated that the largest element index,
    /// `offset + Σ (shape[i]-1)·strides[i]`, lies inside `storage`, and that no stride is negative.
    static func gather(storage: UnsafeRawBufferPointer, dtype: DType, offset: Int, shape: [Int], strides: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        if count == 0 { return Tensor(shape: shape, values: []) }
        let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            gather(storage: storage, dtype: dtype, offset: offset, shape: shape, strides: strides, into: buffer.baseAddress!)
            initialized = count
        }
        return Tensor(shape: shape, values: values)
    }

    /// `gather` into `dst`, which has room for the shape's element count: a model's weight goes from the
    /// mapped file straight into the buffer it is served from, with no intermediate array (every page of
    /// fresh memory costs a fault, which is most of what loading a model takes).
    static func gather(storage: UnsafeRawBufferPointer, dtype: DType, offset: Int, shape: [Int], strides: [Int],
                       into dst: UnsafeMutablePointer<Float>) {
        precondition(shape.count == strides.count)
        let count = shape.reduce(1, *)
        if count == 0 { return }
        let base = storage.baseAddress!
        let size = dtype.byteSize
        // Collapse to the innermost run; a size-1 dimension's stride never matters.
        let rank = shape.count
        if rank == 0 || isRowMajor(shape: shape, strides: strides) {
            // In pieces of 1 Mi elements (4 MiB of fp32), so a paced load never copies for long (`Pacing`).
            let piece = 1 << 20
            var done = 0
            while done < count {
                let n = min(piece, count - done)
                convertRun(dtype, src: base + (offset + done) * size, elementStride: 1, count: n, into: dst + done)
                done += n
                Pacing.point()
            }
            return
        }
        let inner = shape[rank - 1]
        let innerStride = strides[rank - 1]
        var index = [Int](repeating: 0, count: rank - 1)   // odometer over the outer dimensions
        var written = 0
        var start = offset
        while written < count {
            convertRun(dtype, src: base + start * size, elementStride: innerStride, count: inner, into: dst + written)
            written += inner
            // Advance the odometer from the last outer dimension.
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                start += strides[d]
                if index[d] < shape[d] { break }
                start -= strides[d] * shape[d]
                index[d] = 0
                d -= 1
            }
        }
    }

    static func isRowMajor(shape: [Int], strides: [Int]) -> Bool {
        var expected = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            if shape[d] != 1 && strides[d] != expected { return false }
            expected *= shape[d]
        }
        return true
    }
}

/// Overflow-checked arithmetic on sizes read from files: nil instead of a trap.
public enum CheckedSize {
    public static func product(_ values: [Int]) -> Int? {
        var p = 1
        for v in values {
            guard v >= 0 else { return nil }
            let (r, o) = p.multipliedReportingOverflow(by: v)
            if o { return nil }
            p = r
        }
        return p
    }

    public static func multiply(_ a: Int, _ b: Int) -> Int? {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        return o ? nil : r
    }

    public static func add(_ a: Int, _ b: Int) -> Int? {
        let (r, o) = a.addingReportingOverflow(b)
        return o ? nil : r
    }
}
