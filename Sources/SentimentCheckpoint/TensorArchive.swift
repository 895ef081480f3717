import Foundation

/// Name, element type and shape of one stored tensor, as its file declares it.
public struct TensorInfo: Sendable, Equatable {
    public var dtype: DType
    public var shape: [Int]
    public init(dtype: DType, shape: [Int]) { self.dtype = dtype; self.shape = shape }
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A file of named tensors: safetensors or a PyTorch zip checkpoint.
/// Implementations validate their whole index when opened, so `tensor(_:)` only fails on I/O.
public protocol TensorArchive: Sendable {
    /// Where the tensors come from, for error messages.
    var path: String { get }
    /// Every tensor name, sorted.
    var tensorNames: [String] { get }
    func info(_ name: String) -> TensorInfo?
    /// Writes the tensor, converted to fp32 (F16/BF16/F64 are widened or narrowed; integer tensors are
    /// refused), row-major into `destination`, which has room for `info(name)!.elementCount` floats.
    func read(_ name: String, into destination: UnsafeMutablePointer<Float>) throws
}

extension TensorArchive {
    /// The tensor converted to fp32, as `read(_:into:)` writes it.
    public func tensor(_ name: String) throws -> Tensor {
        guard let info = info(name) else { throw CheckpointError.noSuchTensor(path: path, tensor: name) }
        let count = info.elementCount
        if count == 0 {
            var none: Float = 0
            try withUnsafeMutablePointer(to: &none) { try read(name, into: $0) }   // still refuses integer dtypes
            return Tensor(shape: info.shape, values: [])
        }
        var failure: Error?
        let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            do {
                try read(name, into: buffer.baseAddress!)
                initialized = count
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return Tensor(shape: info.shape, values: values)
    }
}
