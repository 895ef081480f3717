/// A fixed-size fp32 buffer with a stable address: weights, activations and gradients that kernels
/// read and write through raw pointers without copy-on-write. Freed when the last reference goes.
public final class FloatBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        self.count = count
        // 64-byte alignment: whole cache lines for the SIMD kernels and OpenBLAS.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: count)
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
}
