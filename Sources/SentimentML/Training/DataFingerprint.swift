import Foundation

/// The identity of a list of labelled examples, recorded with every run.
///
/// Definition (version 1): SHA-256 over the bytes
///
///     "sentimentd-data-v1\n"
///     then for each example, in order:
///         u32 little-endian byte length of the label name, the label name (UTF-8)
///         u32 little-endian byte length of the text, the text (UTF-8)
///
/// as 64 lowercase hex digits. The example is taken in its normalised form: the label as its name in
/// the model's `id2label` (so `0`, `"Negative"` and `"negative"` are the same example), the text exactly
/// as it is trained on — the loader has already removed a byte order mark and the CR of CRLF line ends
/// in the line formats, and undone CSV quoting and JSON escapes, so the same examples give the same
/// fingerprint whichever of the formats they came in. No Unicode normalisation is applied: the
/// tokenizers do not normalise either, so two spellings that tokenize differently stay different.
/// Order matters (subset mode takes the first N examples).
public enum DataFingerprint {
    public static let domain = "sentimentd-data-v1\n"

    public static func of(_ examples: [TrainingExample], labels: LabelSet) -> String {
        var h = SHA256Hasher()
        h.update(Array(domain.utf8))
        for e in examples {
            precondition(labels.names.indices.contains(e.label), "label index out of range")
            for part in [labels.names[e.label], e.text] {
                let bytes = Array(part.utf8)
                var n = UInt32(bytes.count).littleEndian
                withUnsafeBytes(of: &n) { h.update(Array($0)) }
                h.update(bytes)
            }
        }
        return h.finalizeHex()
    }
}

/// SHA-256 (FIPS 180-4), streaming. SentimentML has no other digest and Foundation on Linux has none.
struct SHA256Hasher {
    private var h: [UInt32] = [0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a,
                               0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19]
    private var buffer: [UInt8] = []
    private var length: UInt64 = 0

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    mutating func update(_ bytes: [UInt8]) {
        length &+= UInt64(bytes.count)
        buffer.append(contentsOf: bytes)
        if buffer.count >= 64 {
            let whole = buffer.count / 64 * 64
            var i = 0
            while i < whole { compress(buffer, at: i); i += 64 }
            buffer.removeFirst(whole)
        }
    }

    mutating func finalizeHex() -> String {
        let bits = length &* 8
        var tail: [UInt8] = [0x80]
        tail.append(contentsOf: [UInt8](repeating: 0, count: (55 - buffer.count % 64 + 64) % 64))
        for s in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bits >> UInt64(s))) }
        buffer.append(contentsOf: tail)
        var i = 0
        while i < buffer.count { compress(buffer, at: i); i += 64 }
        buffer = []
        return h.map { w in
            let s = String(w, radix: 16)
            return String(repeating: "0", count: 8 - s.count) + s
        }.joined()
    }

    private mutating func compress(_ b: [UInt8], at o: Int) {
        var w = [UInt32](repeating: 0, count: 64)
        for t in 0..<16 {
            w[t] = UInt32(b[o + 4 * t]) << 24 | UInt32(b[o + 4 * t + 1]) << 16 | UInt32(b[o + 4 * t + 2]) << 8 | UInt32(b[o + 4 * t + 3])
        }
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
        for t in 16..<64 {
            let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
            let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
            w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
        }
        var a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7]
        for t in 0..<64 {
            let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
            let ch = (e & f) ^ (~e & g)
            let t1 = hh &+ s1 &+ ch &+ Self.k[t] &+ w[t]
            let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
            let maj = (a & bb) ^ (a & c) ^ (bb & c)
            let t2 = s0 &+ maj
            hh = g; g = f; f = e; e = d &+ t1; d = c; c = bb; bb = a; a = t1 &+ t2
        }
        h[0] &+= a; h[1] &+= bb; h[2] &+= c; h[3] &+= d; h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
    }
}
