import Foundation

/// A `pytorch_model.bin` as `torch.save` (torch >= 1.6) writes it, read without Python:
///
///     <prefix>/data.pkl        the state dict, pickled; tensors are `_rebuild_tensor_v2(storage, offset,
///                              size, stride, ...)` calls whose storage is a persistent id
///                              ('storage', torch.FloatStorage, key, location, numel)
///     <prefix>/data/<key>      the raw little-endian bytes of each storage
///     <prefix>/byteorder       "little" (absent in older files, which are little-endian)
///
/// The pickle goes through `RestrictedUnpickler`: any global outside the state-dict allowlist is
/// refused by name and nothing is ever executed. At open every tensor is resolved and checked: its
/// storage entry exists, holds `numel * element size` bytes, and every element the view's size,
/// stride and offset reach lies inside it. Views (transposes, slices) are materialised by strides; several
/// tensors may share one storage, and a view may repeat stored values (`expand`'s stride 0), as torch reads
/// them. Such a view's size is bounded by its shape, not by the file's bytes: a model load therefore also
/// checks that its tensors need no more bytes than the file holds (`WeightMap`). Storage bytes are CRC-checked
/// as they are read.
///
/// Legacy (pre-1.6, non-zip) files and compressed zip entries are refused with a clear error.
public final class PyTorchCheckpoint: TensorArchive, @unchecked Sendable {
    public let path: String
    public let tensorNames: [String]

    struct StorageRecord {
        var key: String
        var dtype: DType
        var numel: Int
        var entry: ZipArchive.Entry
    }

    struct TensorRecord {
        var storageKey: String
        var offset: Int
        var shape: [Int]
        var strides: [Int]
        var dtype: DType
    }

    private let zip: ZipArchive
    private let storages: [String: StorageRecord]
    private let records: [String: TensorRecord]

    /// torch's legacy format starts with a pickled magic number: LONG1 of these 10 bytes.
    static let legacyMagic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    /// Opens `url` on its own (tests, tools); a model folder's weights are opened through its `ModelFolderReader`.
    public convenience init(url: URL) throws {
        try self.init(file: try ModelFolderReader(url.deletingLastPathComponent()).open(url.lastPathComponent))
    }

    public convenience init(path: String) throws {
        try self.init(url: URL(fileURLWithPath: path))
    }

    public var storedBytes: Int { zip.file.size }

    init(file: CheckpointFile) throws {
        self.path = file.path
        let path = file.path
        let head = try file.peek(at: 0, count: min(file.size, 64))
        if head.first == 0x80 {   // a pickle, not a zip
            if head.withUnsafeBytes({ Self.contains($0, Self.legacyMagic) }) { throw CheckpointError.legacyTorchFormat(path: path) }
            throw CheckpointError.notZipArchive(path: path, reason: "the file is a bare pickle, not torch.save's zip format")
        }
        zip = try ZipArchive(file: file)

        // The archive's top folder is named after the file torch.save wrote to; find it by data.pkl.
        let pickles = zip.entries.filter { $0.name.hasSuffix("/data.pkl") && $0.name.split(separator: "/", omittingEmptySubsequences: false).count == 2 }
        guard pickles.count == 1, let pickleEntry = pickles.first else {
            if pickles.isEmpty { throw CheckpointError.missingEntry(path: path, entry: "<archive>/data.pkl") }
            throw CheckpointError.corruptZip(path: path, reason: "several data.pkl entries: \(pickles.map(\.name).joined(separator: ", "))")
        }
        let prefix = String(pickleEntry.name.dropLast("data.pkl".count))

        if let byteorder = zip.entry(prefix + "byteorder") {
            let text = String(decoding: try zip.contents(of: byteorder, limit: 64), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard text == "little" else { throw CheckpointError.bigEndian(path: path, byteorder: text) }
        }

        let pickle = try zip.contents(of: pickleEntry, limit: RestrictedUnpickler.maxPickleSize)
        try zip.checkCRC(pickle.withUnsafeBytes { CRC32.checksum($0) }, of: pickleEntry)
        var unpickler = RestrictedUnpickler(path: path)
        let root = try pickle.withUnsafeBytes { try unpickler.load($0) }
        var interpreter = StateDictInterpreter(path: path, zip: zip, prefix: prefix, nodes: unpickler.nodes)
        try interpreter.interpret(root: root)
        storages = interpreter.storages
        records = interpreter.records
        tensorNames = records.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    public func info(_ name: String) -> TensorInfo? {
        records[name].map { TensorInfo(dtype: $0.dtype, shape: $0.shape) }
    }

    public func checkReadable(_ name: String) throws {
        guard let record = records[name] else { throw CheckpointError.noSuchTensor(path: path, tensor: name) }
        guard ElementConversion.isFloatingPoint(record.dtype) else {
            throw CheckpointError.unsupportedDType(path: path, tensor: name, dtype: record.dtype.rawValue)
        }
    }

    /// Storage by storage in file order. A storage read by one dense tensor that starts at its beginning (what
    /// torch.save writes for a state dict) streams straight into that tensor's buffer; any other storage (views,
    /// storages shared by several tensors) is read whole, then gathered from.
    public func read(_ requests: [TensorRead]) throws {
        for request in requests { try checkReadable(request.name) }
        var byStorage: [String: [TensorRead]] = [:]
        for request in requests { byStorage[records[request.name]!.storageKey, default: []].append(request) }
        let order = byStorage.keys.sorted { storages[$0]!.entry.dataOffset < storages[$1]!.entry.dataOffset }
        for key in order {
            let storage = storages[key]!   // every record's storage was resolved at open
            let reads = byStorage[key]!
            let first = records[reads[0].name]!
            if reads.count == 1, first.offset == 0,
               ElementConversion.isRowMajor(shape: first.shape, strides: first.strides) {
                try stream(storage, count: first.shape.reduce(1, *), into: reads[0].destination)
            } else {
                try gather(storage, reads)
            }
        }
    }

    public func finish() throws { try zip.file.finish() }

    /// The first `count` elements of `storage`, converted into `destination`, CRC-checked when they are all of it.
    private func stream(_ storage: StorageRecord, count: Int, into destination: UnsafeMutablePointer<Float>) throws {
        let entry = storage.entry
        try zip.requireStored(entry)
        let size = storage.dtype.byteSize
        var crc: UInt32 = 0
        if storage.dtype == .f32 {
            let raw = UnsafeMutableRawPointer(destination)
            if count > 0 { try zip.file.read(at: entry.dataOffset, count: count * 4, into: raw) }
            crc = CRC32.update(crc, UnsafeRawBufferPointer(start: raw, count: count * 4))
            #if _endian(big)
            for i in 0..<count { destination[i] = Float(bitPattern: UInt32(littleEndian: destination[i].bitPattern)) }
            #endif
        } else {
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: CheckpointFile.piece, alignment: 64)
            defer { scratch.deallocate() }
            let perPiece = CheckpointFile.piece / size
            var done = 0
            while done < count {
                let n = min(perPiece, count - done)
                try zip.file.read(at: entry.dataOffset + done * size, count: n * size, into: scratch)
                crc = CRC32.update(crc, UnsafeRawBufferPointer(start: scratch, count: n * size))
                ElementConversion.convertRun(storage.dtype, src: scratch, elementStride: 1, count: n, into: destination + done)
                done += n
            }
        }
        if count * size == entry.size { try zip.checkCRC(crc, of: entry) }
    }

    /// The whole storage read and CRC-checked, then each tensor gathered from it by its strides.
    private func gather(_ storage: StorageRecord, _ reads: [TensorRead]) throws {
        let entry = storage.entry
        try zip.requireStored(entry)
        let bytes = try zip.file.read(at: entry.dataOffset, count: entry.size)
        try bytes.withUnsafeBytes { raw in
            try zip.checkCRC(CRC32.checksum(raw), of: entry)
            for read in reads {
                let record = records[read.name]!
                ElementConversion.gather(storage: raw, dtype: record.dtype, offset: record.offset,
                                         shape: record.shape, strides: record.strides, into: read.destination)
            }
        }
    }

    /// Storage key, element offset and element strides of a tensor, as the pickle declares them.
    public func layout(_ name: String) -> (storage: String, offset: Int, strides: [Int])? {
        records[name].map { ($0.storageKey, $0.offset, $0.strides) }
    }

    private static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if (0..<needle.count).allSatisfy({ haystack[start + $0] == needle[$0] }) { return true }
        }
        return false
    }
}

/// Turns the unpickled value graph into tensor records, checking every reference and bound.
private struct StateDictInterpreter {
    typealias Node = RestrictedUnpickler.Node
    typealias NodeID = RestrictedUnpickler.NodeID

    let path: String
    let zip: ZipArchive
    let prefix: String
    let nodes: [Node]
    var storages: [String: PyTorchCheckpoint.StorageRecord] = [:]
    var records: [String: PyTorchCheckpoint.TensorRecord] = [:]

    init(path: String, zip: ZipArchive, prefix: String, nodes: [Node]) {
        self.path = path
        self.zip = zip
        self.prefix = prefix
        self.nodes = nodes
    }

    func notStateDict(_ reason: String) -> CheckpointError { .notAStateDict(path: path, reason: reason) }

    mutating func interpret(root: NodeID) throws {
        guard case let .dict(pairs) = nodes[root] else {
            throw notStateDict("the pickle holds \(nodes[root].kind), not a dict of tensors")
        }
        for (keyID, valueID) in pairs {
            guard case let .string(name) = nodes[keyID] else {
                throw notStateDict("a key is \(nodes[keyID].kind), not a string")
            }
            let record = try tensor(valueID, name: name, depth: 0)
            guard records.updateValue(record, forKey: name) == nil else {
                throw notStateDict("key '\(name)' appears twice")
            }
        }
    }

    private mutating func tensor(_ id: NodeID, name: String, depth: Int) throws -> PyTorchCheckpoint.TensorRecord {
        guard case let .reduced(kind, _, argsID) = nodes[id], case let .tuple(args) = nodes[argsID], depth < 4 else {
            throw notStateDict("value of '\(name)' is \(nodes[id].kind), not a tensor")
        }
        switch kind {
        case .rebuildParameter, .rebuildParameterWithState:
            // (data, requires_grad, backward_hooks[, state]): the tensor is `data`.
            guard args.count >= 3 else { throw notStateDict("'\(name)': _rebuild_parameter with \(args.count) arguments") }
            return try tensor(args[0], name: name, depth: depth + 1)
        case .rebuildTensorV2:
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            guard args.count == 6 || args.count == 7 else {
                throw notStateDict("'\(name)': _rebuild_tensor_v2 with \(args.count) arguments")
            }
            let storage = try self.storage(args[0], tensor: name)
            guard case let .int(offset) = nodes[args[1]], offset >= 0 else {
                throw notStateDict("'\(name)': storage offset is \(nodes[args[1]].kind), not a non-negative int")
            }
            let shape = try intTuple(args[2], what: "size", tensor: name)
            let strides = try intTuple(args[3], what: "stride", tensor: name)
            guard shape.count == strides.count else {
                throw notStateDict("'\(name)': size has \(shape.count) dimensions but stride has \(strides.count)")
            }
            try checkBounds(name: name, storage: storage, offset: offset, shape: shape, strides: strides)
            return .init(storageKey: storage.key, offset: offset, shape: shape, strides: strides, dtype: storage.dtype)
        default:
            throw notStateDict("value of '\(name)' is \(nodes[id].kind), not a tensor")
        }
    }

    private func intTuple(_ id: NodeID, what: String, tensor: String) throws -> [Int] {
        guard case let .tuple(items) = nodes[id] else {
            throw notStateDict("'\(tensor)': \(what) is \(nodes[id].kind), not a tuple")
        }
        return try items.map {
            guard case let .int(v) = nodes[$0], v >= 0 else {
                throw notStateDict("'\(tensor)': \(what) holds \(nodes[$0].kind) where a non-negative int belongs")
            }
            return v
        }
    }

    /// Resolves ('storage', torch.XStorage, key, location, numel) to its zip entry.
    private mutating func storage(_ id: NodeID, tensor: String) throws -> PyTorchCheckpoint.StorageRecord {
        guard case let .persistent(pid) = nodes[id], case let .tuple(f) = nodes[pid], f.count == 5,
              case .string("storage") = nodes[f[0]] else {
            throw notStateDict("'\(tensor)': storage is \(nodes[id].kind), not a ('storage', type, key, location, numel) reference")
        }
        guard case let .global(.storage(dtype), _) = nodes[f[1]] else {
            throw notStateDict("'\(tensor)': storage type is \(nodes[f[1]].kind), not a torch storage class")
        }
        guard case let .string(key) = nodes[f[2]], case .string = nodes[f[3]], case let .int(numel) = nodes[f[4]], numel >= 0 else {
            throw notStateDict("'\(tensor)': malformed storage reference (key, location or numel)")
        }
        if let known = storages[key] {
            guard known.dtype == dtype, known.numel == numel else {
                throw notStateDict("storage '\(key)' is declared as \(known.numel) \(known.dtype.rawValue) and as \(numel) \(dtype.rawValue)")
            }
            return known
        }
        let entryName = prefix + "data/" + key
        guard let entry = zip.entry(entryName) else { throw CheckpointError.missingEntry(path: path, entry: entryName) }
        try zip.requireStored(entry)   // refuses compressed storages now rather than at first use
        guard let needed = CheckedSize.multiply(numel, dtype.byteSize), needed <= entry.size else {
            throw CheckpointError.storageTooShort(path: path, storage: key,
                                                  needed: UInt64(numel) &* UInt64(dtype.byteSize), available: UInt64(entry.size))
        }
        let record = PyTorchCheckpoint.StorageRecord(key: key, dtype: dtype, numel: numel, entry: entry)
        storages[key] = record
        return record
    }

    /// The largest element index a view reaches, offset + Σ (size-1)·stride, must lie in the storage.
    private func checkBounds(name: String, storage: PyTorchCheckpoint.StorageRecord, offset: Int, shape: [Int], strides: [Int]) throws {
        guard let count = CheckedSize.product(shape) else {
            throw CheckpointError.viewOutOfBounds(path: path, tensor: name, reason: "size \(shape) overflows")
        }
        if count == 0 { return }
        var last = offset
        for (size, stride) in Swift.zip(shape, strides) {
            guard let reach = CheckedSize.multiply(size - 1, stride), let sum = CheckedSize.add(last, reach) else {
                throw CheckpointError.viewOutOfBounds(path: path, tensor: name, reason: "size \(shape) with stride \(strides) overflows")
            }
            last = sum
        }
        guard last < storage.numel else {
            throw CheckpointError.viewOutOfBounds(path: path, tensor: name,
                reason: "offset \(offset), size \(shape), stride \(strides) reach element \(last) of storage '\(storage.key)' which holds \(storage.numel)")
        }
    }
}
