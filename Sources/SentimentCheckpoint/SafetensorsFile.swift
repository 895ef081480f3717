import Foundation

/// A safetensors file, validated completely at open (its header, read in full) and read with pread (see
/// `CheckpointFile`): nothing is mapped, so a file truncated under a load fails the load, not the process.
///
/// Layout: `u64 little-endian N` | `N bytes of JSON header` | data section. The header maps tensor
/// names to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the data section)
/// and may hold `"__metadata__": {string: string}`.
///
/// Open rejects: a header length beyond the file, a header that is not a UTF-8 JSON object (or has
/// duplicate names), unknown dtypes, negative or non-integer shapes, `begin > end`, ranges outside
/// the data section, byte lengths that differ from `product(shape) * dtype size`, and overlapping
/// tensors. All size arithmetic is overflow-checked. After that, `tensor(_:)` only refuses
/// non-float dtypes.
public final class SafetensorsFile: TensorArchive, @unchecked Sendable {
    /// The reference implementation refuses headers above 100 MB; so do we.
    public static let maxHeaderLength: UInt64 = 100_000_000

    public let path: String
    public let metadata: [String: String]
    public let tensorNames: [String]

    struct Entry {
        var info: TensorInfo
        var begin: Int   // absolute byte offsets in the file
        var end: Int
    }

    private let file: CheckpointFile
    private let entries: [String: Entry]

    public var storedBytes: Int { file.size }

    /// Opens `url` on its own (tests, tools); a model folder's weights are opened through its `ModelFolderReader`.
    public convenience init(url: URL) throws {
        try self.init(file: try ModelFolderReader(url.deletingLastPathComponent()).open(url.lastPathComponent))
    }

    public convenience init(path: String) throws {
        try self.init(url: URL(fileURLWithPath: path))
    }

    init(file: CheckpointFile) throws {
        self.path = file.path
        self.file = file
        let path = file.path
        guard file.size >= 8 else { throw CheckpointError.fileTooShort(path: path, size: file.size) }
        let headerLength = try file.read(at: 0, count: 8).withUnsafeBytes { $0.le64(0) }
        guard headerLength <= UInt64(file.size - 8) else {
            throw CheckpointError.headerLengthOutOfBounds(path: path, headerLength: headerLength, fileSize: file.size)
        }
        guard headerLength <= Self.maxHeaderLength else {
            throw CheckpointError.headerNotJSON(path: path, reason: "header of \(headerLength) bytes exceeds the \(Self.maxHeaderLength)-byte limit")
        }
        let dataStart = 8 + Int(headerLength)
        let headerBytes = try file.read(at: 8, count: Int(headerLength))
        guard String(bytes: headerBytes, encoding: .utf8) != nil else {
            throw CheckpointError.headerNotJSON(path: path, reason: "header is not valid UTF-8")
        }
        let root: StrictJSON.Value
        do {
            root = try headerBytes.withUnsafeBytes { try StrictJSON.parse($0) }
        } catch let e as StrictJSON.ParseError {
            if let name = e.duplicateKey { throw CheckpointError.duplicateTensorName(path: path, tensor: name) }
            throw CheckpointError.headerNotJSON(path: path, reason: e.description)
        }
        guard case let .object(members) = root else {
            throw CheckpointError.headerNotJSON(path: path, reason: "the header is \(root.kind), not an object")
        }

        let dataSize = UInt64(file.size - dataStart)
        var metadata: [String: String] = [:]
        var entries: [String: Entry] = [:]
        for (name, value) in members {
            if name == "__metadata__" {
                metadata = try Self.parseMetadata(value, path: path)
                continue
            }
            let entry = try Self.parseEntry(name: name, value: value, path: path, dataSize: dataSize, dataStart: dataStart)
            // Names unique by bytes (checked by the parser) may still be equal as Swift Strings
            // (canonical equivalence); refuse rather than let one shadow the other.
            guard entries.updateValue(entry, forKey: name) == nil else {
                throw CheckpointError.duplicateTensorName(path: path, tensor: name)
            }
        }
        try Self.checkNoOverlap(entries, path: path)
        self.metadata = metadata
        self.entries = entries
        self.tensorNames = entries.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    public func info(_ name: String) -> TensorInfo? { entries[name]?.info }

    public func checkReadable(_ name: String) throws {
        guard let entry = entries[name] else { throw CheckpointError.noSuchTensor(path: path, tensor: name) }
        guard ElementConversion.isFloatingPoint(entry.info.dtype) else {
            throw CheckpointError.unsupportedDType(path: path, tensor: name, dtype: entry.info.dtype.rawValue)
        }
    }

    /// In file order; fp32 data goes straight from the file into its destination, other dtypes through a
    /// 4 MiB scratch buffer.
    public func read(_ requests: [TensorRead]) throws {
        for request in requests { try checkReadable(request.name) }
        let ordered = requests.sorted { entries[$0.name]!.begin < entries[$1.name]!.begin }
        var scratch: UnsafeMutableRawPointer?
        defer { scratch?.deallocate() }
        for request in ordered {
            let entry = entries[request.name]!
            let dtype = entry.info.dtype
            let count = entry.info.elementCount
            if dtype == .f32 {
                if count > 0 { try file.read(at: entry.begin, count: count * 4, into: UnsafeMutableRawPointer(request.destination)) }
                #if _endian(big)
                for i in 0..<count { request.destination[i] = Float(bitPattern: UInt32(littleEndian: request.destination[i].bitPattern)) }
                #endif
                continue
            }
            let size = dtype.byteSize
            let perPiece = CheckpointFile.piece / size
            if scratch == nil { scratch = UnsafeMutableRawPointer.allocate(byteCount: CheckpointFile.piece, alignment: 64) }
            var done = 0
            while done < count {
                let n = min(perPiece, count - done)
                try file.read(at: entry.begin + done * size, count: n * size, into: scratch!)
                ElementConversion.convertRun(dtype, src: scratch!, elementStride: 1, count: n, into: request.destination + done)
                done += n
            }
        }
    }

    public func finish() throws { try file.finish() }

    /// The stored bytes of one tensor, exactly as in the file (little-endian elements of its dtype).
    public func withRawBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let entry = entries[name] else { throw CheckpointError.noSuchTensor(path: path, tensor: name) }
        let bytes = try file.read(at: entry.begin, count: entry.end - entry.begin)
        return try bytes.withUnsafeBytes { try body($0) }
    }

    static func rowMajorStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[d] = s
            s *= shape[d]
        }
        return strides
    }

    // MARK: - Header validation

    private static func parseMetadata(_ value: StrictJSON.Value, path: String) throws -> [String: String] {
        guard case let .object(pairs) = value else {
            throw CheckpointError.invalidMetadata(path: path, reason: "__metadata__ is \(value.kind), not an object")
        }
        var metadata: [String: String] = [:]
        for (key, v) in pairs {
            guard case let .string(s) = v else {
                throw CheckpointError.invalidMetadata(path: path, reason: "value of '\(key)' is \(v.kind), not a string")
            }
            guard metadata.updateValue(s, forKey: key) == nil else {
                throw CheckpointError.invalidMetadata(path: path, reason: "key '\(key)' appears more than once")
            }
        }
        return metadata
    }

    private static func parseEntry(name: String, value: StrictJSON.Value, path: String,
                                   dataSize: UInt64, dataStart: Int) throws -> Entry {
        func invalid(_ reason: String) -> CheckpointError { .invalidEntry(path: path, tensor: name, reason: reason) }
        guard case let .object(fields) = value else { throw invalid("entry is \(value.kind), not an object") }
        func field(_ key: String) throws -> StrictJSON.Value {
            guard let v = fields.first(where: { $0.key == key })?.value else { throw invalid("missing field '\(key)'") }
            return v
        }
        guard case let .string(dtypeName) = try field("dtype") else { throw invalid("'dtype' is not a string") }
        guard case let .array(shapeValues) = try field("shape") else { throw invalid("'shape' is not a list") }
        guard case let .array(offsetValues) = try field("data_offsets") else { throw invalid("'data_offsets' is not a list") }

        guard let dtype = DType(rawValue: dtypeName) else {
            throw CheckpointError.unknownDType(path: path, tensor: name, dtype: dtypeName)
        }
        var shape: [Int] = []
        for v in shapeValues {
            guard let d = v.integerValue, d >= 0 else {
                throw invalid("'shape' must list non-negative integers, found \(v.textForMessage)")
            }
            shape.append(d)
        }
        guard offsetValues.count == 2, let begin = offsetValues[0].unsignedValue, let end = offsetValues[1].unsignedValue else {
            throw invalid("'data_offsets' must be two non-negative integers [begin, end], found [\(offsetValues.map(\.textForMessage).joined(separator: ", "))]")
        }
        guard begin <= end else { throw invalid("data_offsets begin \(begin) is after end \(end)") }
        guard end <= dataSize else {
            throw CheckpointError.offsetsOutOfBounds(path: path, tensor: name, begin: begin, end: end, dataSize: dataSize)
        }
        let byteLength = end - begin
        guard let count = CheckedSize.product(shape), let expected = CheckedSize.multiply(count, dtype.byteSize),
              UInt64(expected) == byteLength else {
            throw CheckpointError.byteLengthMismatch(path: path, tensor: name, shape: shape, dtype: dtypeName, byteLength: byteLength)
        }
        // end <= dataSize <= file size, so these fit in Int.
        return Entry(info: TensorInfo(dtype: dtype, shape: shape), begin: dataStart + Int(begin), end: dataStart + Int(end))
    }

    private static func checkNoOverlap(_ entries: [String: Entry], path: String) throws {
        // Empty tensors occupy no bytes and may sit anywhere.
        let ranges = entries.filter { $0.value.begin < $0.value.end }
            .sorted { ($0.value.begin, $0.value.end) < ($1.value.begin, $1.value.end) }
        var previous: (name: String, end: Int)?
        for (name, entry) in ranges {
            if let p = previous, entry.begin < p.end {
                let pair = [p.name, name].sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                throw CheckpointError.overlappingTensors(path: path, first: pair[0], second: pair[1])
            }
            if previous == nil || entry.end > previous!.end { previous = (name, entry.end) }
        }
    }
}

extension StrictJSON.Value {
    /// A short rendering for error messages.
    var textForMessage: String {
        switch self {
        case let .number(t): return t
        case let .string(s): return StrictJSON.quoted(s)
        case let .bool(b): return String(b)
        case .null: return "null"
        case .array: return "a list"
        case .object: return "an object"
        }
    }
}
