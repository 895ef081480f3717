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
    /// The tensor converted to fp32 (F16/BF16/F64 are widened or narrowed; integer tensors are refused).
    func tensor(_ name: String) throws -> Tensor
}
