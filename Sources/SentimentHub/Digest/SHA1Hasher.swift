import Foundation

/// SHA-1 (FIPS 180-4), streaming. Only used to check non-LFS files against the hub's `blobId`, which is git's
/// object id: SHA-1 of `"blob <size>\0"` followed by the content (see `gitBlob(size:)`). Not for security.
public struct SHA1Hasher: Sendable {
    private var h: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476, 0xc3d2_e1f0)
    private var block = MessageBlock()

    public init() {}

    /// A hasher primed with git's blob header, so that feeding the `size` bytes of content yields the blob id.
    public static func gitBlob(size: Int64) -> SHA1Hasher {
        var hasher = SHA1Hasher()
        hasher.update(Data("blob \(size)\0".utf8))
        return hasher
    }

    public mutating func update(_ data: Data) {
        data.withUnsafeBytes { update($0) }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var buffer = MessageBlock.take(&block)
        buffer.feed(bytes) { compress($0, $1) }
        block = buffer
    }

    /// The 20-byte digest. The hasher is consumed.
    public mutating func finalize() -> [UInt8] {
        var buffer = MessageBlock.take(&block)
        buffer.pad { compress($0, $1) }
        return [h.0, h.1, h.2, h.3, h.4].flatMap(\.bigEndianBytes)
    }

    public mutating func finalizeHex() -> String { finalize().hexString }

    public static func hex(of data: Data) -> String {
        var hasher = SHA1Hasher()
        hasher.update(data)
        return hasher.finalizeHex()
    }

    /// `count` consecutive 64-byte blocks into the state.
    private mutating func compress(_ blocks: UnsafeRawPointer, _ count: Int) {
        var (h0, h1, h2, h3, h4) = h
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 80) { w in
            for index in 0..<count {
                let block = blocks + index * 64
                for i in 0..<16 { w[i] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)) }
                for i in 16..<80 { w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotatedLeft(1) }
                var (a, b, c, d, e) = (h0, h1, h2, h3, h4)
                for i in 0..<20 { (a, b, c, d, e) = (a.rotatedLeft(5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5a82_7999 &+ w[i], a, b.rotatedLeft(30), c, d) }
                for i in 20..<40 { (a, b, c, d, e) = (a.rotatedLeft(5) &+ (b ^ c ^ d) &+ e &+ 0x6ed9_eba1 &+ w[i], a, b.rotatedLeft(30), c, d) }
                for i in 40..<60 {
                    (a, b, c, d, e) = (a.rotatedLeft(5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8f1b_bcdc &+ w[i], a, b.rotatedLeft(30), c, d)
                }
                for i in 60..<80 { (a, b, c, d, e) = (a.rotatedLeft(5) &+ (b ^ c ^ d) &+ e &+ 0xca62_c1d6 &+ w[i], a, b.rotatedLeft(30), c, d) }
                h0 = h0 &+ a; h1 = h1 &+ b; h2 = h2 &+ c; h3 = h3 &+ d; h4 = h4 &+ e
            }
        }
        h = (h0, h1, h2, h3, h4)
    }
}
