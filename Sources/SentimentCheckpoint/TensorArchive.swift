import Foundation

/// Name, element type and shape of one stored tensor, as its file declares it.
public struct TensorInfo: Sendable, Equatable {
    public var dtype: DType
    public var shape: [Int]
    public init(dtype: DType, shape: [Int]) { self.dtype = dtype; self.shape = shape }
    public var elementCount: Int { shape.reduce(1, *) }
}

/// One tensor to read: converted to fp32, row-major, into `destination`, which has room for its
/// `info(name)!.elementCount` floats.
public struct TensorRead {
    public var name: String
    public var destination: UnsafeMutablePointer<Float>

    public init(name: String, destination: UnsafeMutablePointer<Float>) {
        self.name = name
        self.destination = destination
    }
}

/// A file of named tensors: safetensors, a PyTorch zip checkpoint, or a sharded set of either.
/// Implementations validate their whole index when opened (every declared byte lies inside the file), so reads
/// only fail on I/O or a file that changed meanwhile.
///
/// Loading is two steps: everything that can be checked without the data (names, shapes, `checkReadable`,
/// and the byte count against `storedBytes`) before any buffer is allocated, then one `read(_:)` of every tensor
/// in file order (each byte read once, hashed as it is read), then `finish()`.
public protocol TensorArchive: AnyObject, Sendable {
    /// Where the tensors come from, for error messages.
    var path: String { get }
    /// Every tensor name, sorted.
    var tensorNames: [String] { get }
    func info(_ name: String) -> TensorInfo?
    /// Bytes of the file (or shards) the tensors are stored in: a load may not need more stored bytes than
    /// this, whatever its views and shapes say.
    var storedBytes: Int { get }
    /// Throws if `name` cannot be read as fp32: an integer dtype, or a view whose elements repeat stored
    /// values. Checked before anything is allocated for it.
    func checkReadable(_ name: String) throws
    /// Writes each tensor, converted to fp32 (F16/BF16/F64 are widened or narrowed), into its destination.
    func read(_ requests: [TensorRead]) throws
    /// Reads what no tensor used, so the files' digests are complete, and checks that no file changed size.
    func finish() throws
}

extension TensorArchive {
    /// One tensor into `destination` (room for `info(name)!.elementCount` floats).
    public func read(_ name: String, into destination: UnsafeMutablePointer<Float>) throws {
        try read([TensorRead(name: name, destination: destination)])
    }

    /// The tensor converted to fp32, as `read(_:into:)` writes it.
    public func tensor(_ name: String) throws -> Tensor {
        guard let info = info(name) else { throw CheckpointError.noSuchTensor(path: path, tensor: name) }
        let count = info.elementCount
        // A view may repeat stored values (stride 0): bound what it may expand to by the file's size.
        guard let bytes = CheckedSize.multiply(count, info.dtype.byteSize), bytes <= storedBytes else {
            throw CheckpointError.viewOutOfBounds(path: path, tensor: name,
                reason: "its \(count) elements would need more bytes than the file's \(storedBytes)")
        }
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
