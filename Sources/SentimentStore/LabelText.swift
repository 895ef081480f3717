import Foundation
import SentimentCore

/// The form of a text that labels are keyed by: two texts that differ only in Unicode composition or in
/// whitespace are the same example.
public enum LabelText {
    /// Unicode NFC, leading and trailing whitespace removed, every run of whitespace (spaces, tabs, newlines,
    /// any Unicode white space) replaced by one space. Idempotent.
    public static func normalise(_ s: String) -> String {
        if s.utf8.allSatisfy({ $0 < 0x80 }) { return normaliseASCII(s) }  // ASCII is NFC already
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        for scalar in s.precomposedStringWithCanonicalMapping.unicodeScalars {
            if scalar.value < 0x80 ? isASCIIWhitespace(UInt8(scalar.value)) : scalar.properties.isWhitespace {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace {
                out.append(" ")
                pendingSpace = false
            }
            out.append(scalar)
        }
        return String(out)
    }

    /// The ASCII members of Unicode White_Space: tab, line feed, vertical tab, form feed, carriage return, space.
    @inline(__always)
    static func isASCIIWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }

    /// `normalise` for pure ASCII, on bytes (the common case, and several times faster).
    static func normaliseASCII(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        var pendingSpace = false
        for byte in s.utf8 {
            if isASCIIWhitespace(byte) {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace {
                out.append(0x20)
                pendingSpace = false
            }
            out.append(byte)
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Assigns a normalised text to the train or the eval split, from the text alone, so that the same text
/// always lands in the same split on every machine.
public enum SplitAssignment {
    /// Buckets per unit of `evalFraction`.
    public static let buckets: UInt64 = 10_000

    /// `eval` when the text's bucket is below `evalFraction` × 10 000 (fraction clamped to 0...1).
    public static func split(forNormalised text: String, evalFraction: Double) -> LabelSplit {
        let bound = evalFraction.isNaN ? 0 : Int((min(max(evalFraction, 0), 1) * Double(buckets)).rounded())
        return bucket(forNormalised: text) < bound ? .eval : .train
    }

    /// The text's bucket in 0..<10 000: 64-bit FNV-1a over its UTF-8 bytes, mixed by the splitmix64
    /// finaliser (FNV alone spreads short, similar texts poorly over the low digits).
    public static func bucket(forNormalised text: String) -> Int {
        Int(SplitMix64.mix(FNV1a64.hash(text.utf8)) % buckets)
    }
}

/// 64-bit FNV-1a: the split's bucket function, not a digest (identities use SentimentCore's SHA-256). Never change
/// it: every stored label's train/eval split was drawn with it, and the eval split must stay frozen.
enum FNV1a64 {
    static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x0000_0100_0000_01b3

    static func hash<Bytes: Sequence>(_ bytes: Bytes, into state: UInt64 = offsetBasis) -> UInt64
    where Bytes.Element == UInt8 {
        var h = state
        for byte in bytes {
            h ^= UInt64(byte)
            h &*= prime
        }
        return h
    }
}

/// splitmix64: the finaliser as a mixing function, and the generator for seeded sampling.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        return Self.mix(state)
    }

    /// Uniform in 0..<bound without modulo bias (Lemire's method). Own implementation so that a seed gives
    /// the same sample whatever the standard library's `random(in:using:)` does in later releases.
    mutating func below(_ bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold {
                product = next().multipliedFullWidth(by: bound)
            }
        }
        return product.high
    }
}
