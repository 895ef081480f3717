import Foundation

/// A read-only view of a zip archive: enough for torch.save's output.
///
/// Reads the end-of-central-directory record (and the ZIP64 one when its locator is present), the
/// central directory (ZIP64 extra fields included) and every local header, so each entry's data
/// range is known and checked to lie inside the file at open. Sizes are taken from the central
/// directory, because torch writes its local headers with data descriptors (flag bit 3).
///
/// The directory is read with `peek` (it sits at the end; hashing it there would mean reading the whole
/// file first), entries' data with hashed reads in file order (see `CheckpointFile`).
///
/// Only STORED entries can be read: torch.save never compresses, and an inflater is not worth its
/// code here. A DEFLATE entry yields `CheckpointError.compressedEntry`. Encrypted entries and
/// multi-disk archives are refused.
struct ZipArchive {
    struct Entry {
        var name: String
        var method: UInt16
        var crc32: UInt32
        var size: Int
        var compressedSize: Int
        var dataOffset: Int
    }

    let path: String
    let file: CheckpointFile
    /// Entries in central-directory order.
    let entries: [Entry]
    private let index: [String: Int]

    static let methodStored: UInt16 = 0
    /// A torch checkpoint's central directory holds a few hundred records of ~100 bytes; anything this large is
    /// not one (and would be read into memory whole).
    static let maxDirectorySize = 64 << 20

    init(file: CheckpointFile) throws {
        path = file.path
        self.file = file
        let count = file.size
        let path = self.path
        func corrupt(_ reason: String) -> CheckpointError { .corruptZip(path: path, reason: reason) }

        // End of central directory: 22 bytes + a comment of up to 65535 bytes, at the very end. The ZIP64
        // locator (20 bytes) sits right before it.
        guard count >= 22 else { throw CheckpointError.notZipArchive(path: path, reason: "\(count) bytes is too short for a zip archive") }
        let tailStart = max(0, count - 22 - 0xFFFF - 20)
        let tail = try file.peek(at: tailStart, count: count - tailStart)
        var eocd = -1   // offset in `tail`
        try tail.withUnsafeBytes { bytes in
            var p = tail.count - 22
            let lowest = max(0, tail.count - 22 - 0xFFFF)
            while p >= lowest {
                if bytes.le32(p) == 0x0605_4B50, p + 22 + Int(bytes.le16(p + 20)) == tail.count { eocd = p; break }
                p -= 1
            }
            guard eocd >= 0 else { throw CheckpointError.notZipArchive(path: path, reason: "no end-of-central-directory record") }
        }
        let eocdOffset = tailStart + eocd
        var entryCount = 0 as UInt64, directorySize = 0 as UInt64, directoryOffset = 0 as UInt64
        var directoryLimit = eocdOffset   // the central directory must end before this
        var locator: UInt64?
        try tail.withUnsafeBytes { bytes in
            entryCount = UInt64(bytes.le16(eocd + 10))
            directorySize = UInt64(bytes.le32(eocd + 12))
            directoryOffset = UInt64(bytes.le32(eocd + 16))
            if bytes.le16(eocd + 4) != 0 || bytes.le16(eocd + 6) != 0 || bytes.le16(eocd + 8) != bytes.le16(eocd + 10) {
                throw corrupt("multi-disk archives are not supported")
            }
            if eocd >= 20, bytes.le32(eocd - 20) == 0x0706_4B50 { locator = bytes.le64(eocd - 20 + 8) }
        }
        // ZIP64: the locator points at the ZIP64 end record (56 bytes), which must end before the locator.
        if let recordOffset = locator {
            let locatorOffset = eocdOffset - 20
            guard locatorOffset >= 56, recordOffset <= UInt64(locatorOffset - 56) else {
                throw corrupt("ZIP64 end-of-central-directory locator points at offset \(recordOffset), where no ZIP64 record is")
            }
            let record = try file.peek(at: Int(recordOffset), count: 56)
            try record.withUnsafeBytes { r in
                guard r.le32(0) == 0x0606_4B50 else {
                    throw corrupt("ZIP64 end-of-central-directory locator points at offset \(recordOffset), where no ZIP64 record is")
                }
                entryCount = r.le64(32)
                directorySize = r.le64(40)
                directoryOffset = r.le64(48)
            }
            directoryLimit = Int(recordOffset)
        }
        guard directoryOffset <= UInt64(directoryLimit), directorySize <= UInt64(directoryLimit) - directoryOffset else {
            throw corrupt("central directory [\(directoryOffset), +\(directorySize)) lies outside the file")
        }
        guard directorySize <= UInt64(Self.maxDirectorySize) else {
            throw corrupt("a central directory of \(directorySize) bytes is far larger than a checkpoint's")
        }
        // Each central-directory record is at least 46 bytes: bounds the count before we trust it.
        guard entryCount <= directorySize / 46 else {
            throw corrupt("\(entryCount) entries cannot fit in a \(directorySize)-byte central directory")
        }
        let directory = try file.peek(at: Int(directoryOffset), count: Int(directorySize))

        var entries: [Entry] = []
        var index: [String: Int] = [:]
        var q = 0
        let end = directory.count
        try directory.withUnsafeBytes { bytes in
            for _ in 0..<Int(entryCount) {
                let at = Int(directoryOffset) + q
                guard q + 46 <= end, bytes.le32(q) == 0x0201_4B50 else { throw corrupt("bad central directory record at offset \(at)") }
                let flags = bytes.le16(q + 8)
                let method = bytes.le16(q + 10)
                let crc = bytes.le32(q + 16)
                var compressedSize = UInt64(bytes.le32(q + 20))
                var size = UInt64(bytes.le32(q + 24))
                let nameLength = Int(bytes.le16(q + 28))
                let extraLength = Int(bytes.le16(q + 30))
                let commentLength = Int(bytes.le16(q + 32))
                var localOffset = UInt64(bytes.le32(q + 42))
                let recordEnd = q + 46 + nameLength + extraLength + commentLength
                guard recordEnd <= end else { throw corrupt("central directory record at offset \(at) runs past the directory") }
                let nameBytes = Array(UnsafeRawBufferPointer(rebasing: bytes[(q + 46)..<(q + 46 + nameLength)]))
                let name = String(decoding: nameBytes, as: UTF8.self)
                if flags & 1 != 0 { throw corrupt("entry '\(name)' is encrypted") }

                // ZIP64 extra field (id 1): the 64-bit values of exactly the fields saturated at 0xFFFFFFFF.
                if size == 0xFFFF_FFFF || compressedSize == 0xFFFF_FFFF || localOffset == 0xFFFF_FFFF {
                    var e = q + 46 + nameLength
                    let extraEnd = e + extraLength
                    var found = false
                    while e + 4 <= extraEnd {
                        let id = bytes.le16(e), length = Int(bytes.le16(e + 2))
                        guard e + 4 + length <= extraEnd else { break }
                        if id == 0x0001 {
                            var f = e + 4
                            func next() throws -> UInt64 {
                                guard f + 8 <= e + 4 + length else { throw corrupt("ZIP64 extra field of '\(name)' is too short") }
                                defer { f += 8 }
                                return bytes.le64(f)
                            }
                            if size == 0xFFFF_FFFF { size = try next() }
                            if compressedSize == 0xFFFF_FFFF { compressedSize = try next() }
                            if localOffset == 0xFFFF_FFFF { localOffset = try next() }
                            found = true
                            break
                        }
                        e += 4 + length
                    }
                    if !found { throw corrupt("entry '\(name)' needs a ZIP64 extra field and has none") }
                }

                // The local header repeats the name; its extra field (torch pads with it) may differ in length.
                guard localOffset <= UInt64(count), UInt64(count) - localOffset >= 30 else {
                    throw corrupt("entry '\(name)': no local header at offset \(localOffset)")
                }
                let l = Int(localOffset)
                let local = try file.peek(at: l, count: min(30 + nameLength, count - l))
                let (signature, localNameLength, localExtraLength) = local.withUnsafeBytes {
                    ($0.le32(0), Int($0.le16(26)), Int($0.le16(28)))
                }
                guard signature == 0x0403_4B50 else { throw corrupt("entry '\(name)': no local header at offset \(localOffset)") }
                let dataOffset = l + 30 + localNameLength + localExtraLength
                guard localNameLength == nameLength, dataOffset <= count, local.count == 30 + nameLength,
                      local[30...].elementsEqual(nameBytes) else {
                    throw corrupt("entry '\(name)': local header does not match the central directory")
                }
                guard compressedSize <= UInt64(count - dataOffset) else {
                    throw corrupt("entry '\(name)': \(compressedSize) bytes at offset \(dataOffset) run past the end of the file")
                }
                if method == Self.methodStored, compressedSize != size {
                    throw corrupt("stored entry '\(name)' has compressed size \(compressedSize) but size \(size)")
                }
                // A compressed entry's size is never used, but must still convert to Int.
                guard size <= UInt64(Int.max) else { throw corrupt("entry '\(name)' claims \(size) bytes") }
                guard index.updateValue(entries.count, forKey: name) == nil else { throw corrupt("entry '\(name)' appears twice") }
                entries.append(Entry(name: name, method: method, crc32: crc, size: Int(size),
                                     compressedSize: Int(compressedSize), dataOffset: dataOffset))
                q = recordEnd
            }
        }
        self.entries = entries
        self.index = index
    }

    func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    /// Refuses compressed entries (their bytes are not the data).
    func requireStored(_ entry: Entry) throws {
        guard entry.method == Self.methodStored else {
            throw CheckpointError.compressedEntry(path: path, entry: entry.name, method: Int(entry.method))
        }
    }

    /// The bytes of a small stored entry (data.pkl, byteorder), read whole; at most `limit` bytes.
    func contents(of entry: Entry, limit: Int) throws -> [UInt8] {
        try requireStored(entry)
        guard entry.size <= limit else {
            throw CheckpointError.corruptZip(path: path, reason: "entry '\(entry.name)' holds \(entry.size) bytes, more than such an entry may (\(limit))")
        }
        return try file.read(at: entry.dataOffset, count: entry.size)
    }

    /// Verifies bytes read from an entry against its recorded CRC-32. torch.save with `compute_crc32 = False`
    /// records 0 for every entry, so 0 means "not recorded" (a true CRC of 0 is a 1-in-2^32 case that then goes
    /// unchecked; every bound is still checked independently of the CRC).
    func checkCRC(_ crc: UInt32, of entry: Entry) throws {
        if entry.crc32 == 0 { return }
        guard crc == entry.crc32 else { throw CheckpointError.crcMismatch(path: path, entry: entry.name) }
    }
}

/// CRC-32 (IEEE 802.3, as zip uses), slicing by 8: a few GB/s, so verifying a checkpoint costs
/// little next to reading it.
enum CRC32 {
    /// Eight 256-entry tables back to back: table k advances a byte through k further zero bytes.
    private static let table: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (0xEDB8_8320 ^ (c >> 1)) : (c >> 1) }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 { t[k * 256 + i] = (t[(k - 1) * 256 + i] >> 8) ^ t[Int(t[(k - 1) * 256 + i] & 0xFF)] }
        }
        return t
    }()

    static func checksum(_ data: UnsafeRawBufferPointer) -> UInt32 {
        update(0, data)
    }

    /// The CRC of the bytes before `data` (0 for none) extended by `data`: pieces read one after the other.
    static func update(_ running: UInt32, _ data: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = data.baseAddress else { return running }
        let n = data.count
        return table.withUnsafeBufferPointer { t -> UInt32 in
            // Keep the running value local to the closure: a captured var would live in memory.
            var crc: UInt32 = running ^ 0xFFFF_FFFF
            var i = 0
            while i + 8 <= n {
                let lo = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt32.self)) ^ crc
                let hi = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
                crc = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                crc = t[Int((crc ^ UInt32(base.load(fromByteOffset: i, as: UInt8.self))) & 0xFF)] ^ (crc >> 8)
                i += 1
            }
            return crc ^ 0xFFFF_FFFF
        }
    }
}
