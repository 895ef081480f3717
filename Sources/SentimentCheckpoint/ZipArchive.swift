import Foundation

/// A read-only view of a zip archive in a mapped file: enough for torch.save's output.
///
/// Reads the end-of-central-directory record (and the ZIP64 one when its locator is present), the
/// central directory (ZIP64 extra fields included) and every local header, so each entry's data
/// range is known and checked to lie inside the file at open. Sizes are taken from the central
/// directory, because torch writes its local headers with data descriptors (flag bit 3).
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
    let file: MappedFile
    /// Entries in central-directory order.
    let entries: [Entry]
    private let index: [String: Int]

    static let methodStored: UInt16 = 0

    init(file: MappedFile) throws {
        path = file.path
        self.file = file
        let bytes = file.all
        let count = file.count
        func corrupt(_ reason: String) -> CheckpointError { .corruptZip(path: file.path, reason: reason) }

        // End of central directory: 22 bytes + a comment of up to 65535 bytes, at the very end.
        guard count >= 22 else { throw CheckpointError.notZipArchive(path: path, reason: "\(count) bytes is too short for a zip archive") }
        var eocd = -1
        var p = count - 22
        let lowest = max(0, count - 22 - 0xFFFF)
        while p >= lowest {
            if bytes.le32(p) == 0x0605_4B50, p + 22 + Int(bytes.le16(p + 20)) == count { eocd = p; break }
            p -= 1
        }
        guard eocd >= 0 else { throw CheckpointError.notZipArchive(path: path, reason: "no end-of-central-directory record") }

        var entryCount = UInt64(bytes.le16(eocd + 10))
        var directorySize = UInt64(bytes.le32(eocd + 12))
        var directoryOffset = UInt64(bytes.le32(eocd + 16))
        var directoryLimit = eocd   // the central directory must end before this
        if bytes.le16(eocd + 4) != 0 || bytes.le16(eocd + 6) != 0 || bytes.le16(eocd + 8) != bytes.le16(eocd + 10) {
            throw corrupt("multi-disk archives are not supported")
        }
        // ZIP64: a 20-byte locator right before the EOCD points at the ZIP64 end record.
        if eocd >= 20, bytes.le32(eocd - 20) == 0x0706_4B50 {
            let recordOffset = bytes.le64(eocd - 20 + 8)
            guard eocd - 20 >= 56, recordOffset <= UInt64(eocd - 20 - 56), bytes.le32(Int(recordOffset)) == 0x0606_4B50 else {
                throw corrupt("ZIP64 end-of-central-directory locator points at offset \(recordOffset), where no ZIP64 record is")
            }
            let r = Int(recordOffset)
            entryCount = bytes.le64(r + 32)
            directorySize = bytes.le64(r + 40)
            directoryOffset = bytes.le64(r + 48)
            directoryLimit = r
        }
        guard directoryOffset <= UInt64(directoryLimit), directorySize <= UInt64(directoryLimit) - directoryOffset else {
            throw corrupt("central directory [\(directoryOffset), +\(directorySize)) lies outside the file")
        }
        // Each central-directory record is at least 46 bytes: bounds the count before we trust it.
        guard entryCount <= directorySize / 46 else {
            throw corrupt("\(entryCount) entries cannot fit in a \(directorySize)-byte central directory")
        }

        var entries: [Entry] = []
        var index: [String: Int] = [:]
        var q = Int(directoryOffset)
        let end = Int(directoryOffset + directorySize)
        for _ in 0..<Int(entryCount) {
            guard q + 46 <= end, bytes.le32(q) == 0x0201_4B50 else { throw corrupt("bad central directory record at offset \(q)") }
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
            guard recordEnd <= end else { throw corrupt("central directory record at offset \(q) runs past the directory") }
            let nameBytes = file.bytes((q + 46)..<(q + 46 + nameLength))
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
            guard localOffset <= UInt64(count), UInt64(count) - localOffset >= 30, bytes.le32(Int(localOffset)) == 0x0403_4B50 else {
                throw corrupt("entry '\(name)': no local header at offset \(localOffset)")
            }
            let l = Int(localOffset)
            let localNameLength = Int(bytes.le16(l + 26)), localExtraLength = Int(bytes.le16(l + 28))
            let dataOffset = l + 30 + localNameLength + localExtraLength
            guard localNameLength == nameLength, dataOffset <= count,
                  file.bytes((l + 30)..<(l + 30 + nameLength)).elementsEqual(nameBytes) else {
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
        self.entries = entries
        self.index = index
    }

    func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    /// The bytes of a stored entry. Compressed entries are refused.
    func contents(of entry: Entry) throws -> UnsafeRawBufferPointer {
        guard entry.method == Self.methodStored else {
            throw CheckpointError.compressedEntry(path: path, entry: entry.name, method: Int(entry.method))
        }
        return file.bytes(entry.dataOffset..<(entry.dataOffset + entry.size))
    }

    /// Verifies an entry against its recorded CRC-32. torch.save with `compute_crc32 = False` records
    /// 0 for every entry, so 0 means "not recorded" (a true CRC of 0 is a 1-in-2^32 case that then goes
    /// unchecked; every bound is still checked independently of the CRC).
    func checkCRC(of entry: Entry) throws {
        if entry.crc32 == 0 { return }
        let data = try contents(of: entry)
        guard CRC32.checksum(data) == entry.crc32 else { throw CheckpointError.crcMismatch(path: path, entry: entry.name) }
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
        guard let base = data.baseAddress else { return 0 }
        let n = data.count
        return table.withUnsafeBufferPointer { t -> UInt32 in
            // Keep the running value local to the closure: a captured var would live in memory.
            var crc: UInt32 = 0xFFFF_FFFF
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
