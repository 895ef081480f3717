import Foundation

/// The 64-byte block buffering and length padding that SHA-1 and SHA-256 share (Merkle–Damgård, 512-bit blocks,
/// 64-bit big-endian message length in bits).
struct MessageBlock: Sendable {
    private var pending: [UInt8] = []
    private(set) var byteCount: UInt64 = 0

    init() {}

    /// Moves the buffer out of `slot` (leaving an empty one), so a hasher can feed it while its compression
    /// closure mutates the hasher's other state.
    static func take(_ slot: inout MessageBlock) -> MessageBlock {
        let taken = slot
        slot = MessageBlock()
        return taken
    }

    /// Buffers `bytes` and hands complete 64-byte blocks to `compress(pointer, blockCount)`, in order, as few
    /// calls as possible (whole runs of blocks straight from `bytes`).
    mutating func feed(_ bytes: UnsafeRawBufferPointer, compress: (UnsafeRawPointer, Int) -> Void) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        byteCount &+= UInt64(bytes.count)
        var offset = 0
        if !pending.isEmpty {
            let take = min(64 - pending.count, bytes.count)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<take]))
            offset = take
            guard pending.count == 64 else { return }
            pending.withUnsafeBytes { compress($0.baseAddress!, 1) }
            pending.removeAll(keepingCapacity: true)
        }
        let whole = (bytes.count - offset) / 64
        if whole > 0 {
            compress(base + offset, whole)
            offset += whole * 64
        }
        if offset < bytes.count { pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset...])) }
    }

    /// Appends 0x80, zeros and the message length so the total is a multiple of 64, compressing what completes.
    mutating func pad(compress: (UnsafeRawPointer, Int) -> Void) {
        let bitLength = byteCount &* 8
        var tail: [UInt8] = [0x80]
        tail.append(contentsOf: repeatElement(0, count: (55 - pending.count + 64) % 64))
        tail.append(contentsOf: (0..<8).map { UInt8(truncatingIfNeeded: bitLength >> UInt64(56 - 8 * $0)) })
        let counted = byteCount
        tail.withUnsafeBytes { feed($0, compress: compress) }
        byteCount = counted
        precondition(pending.isEmpty, "padding must end on a block boundary")
    }
}

extension UInt32 {
    @inline(__always) func rotatedRight(_ n: UInt32) -> UInt32 { (self >> n) | (self << (32 - n)) }
    @inline(__always) func rotatedLeft(_ n: UInt32) -> UInt32 { (self << n) | (self >> (32 - n)) }
    var bigEndianBytes: [UInt8] { [UInt8(self >> 24), UInt8(truncatingIfNeeded: self >> 16), UInt8(truncatingIfNeeded: self >> 8), UInt8(truncatingIfNeeded: self)] }
}

extension Sequence where Element == UInt8 {
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in self { out.append(digits[Int(byte >> 4)]); out.append(digits[Int(byte & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
