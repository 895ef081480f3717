/// Character classes exactly as `tokenizers` (the Rust library behind `transformers`' tokenizers) sees them.
///
/// Swift's Unicode tables are newer than the ones compiled into `tokenizers`, so each class below is
/// Swift's property restricted to the characters that existed in the Unicode version the Rust side uses,
/// plus the handful of characters whose category changed since. The tests check every code point against
/// tables dumped from `tokenizers` (Fixtures/tokenizer/unicode_classes.json).
///
/// - GPT-2 pre-tokeniser regex (Oniguruma inside `tokenizers`): `\p{L}`, `\p{N}` of Unicode 16.0; `\s` is
///   the White_Space property.
/// - BERT normaliser and pre-tokeniser: the `unicode_categories` crate, Unicode 8.0 (control/format chars,
///   punctuation, non-spacing marks); whitespace is Rust's `char::is_whitespace` (White_Space, current).
enum UnicodeClasses {
    /// The four classes the GPT-2 regex distinguishes.
    enum GPT2: UInt8 {
        case whitespace, letter, number, other
    }

    /// ASCII class bitmaps (bit c of the 128-bit set), literals so the hot path reads no lazy global.
    @inline(__always)
    private static func inSet(_ v: UInt32, _ lo: UInt64, _ hi: UInt64) -> Bool {
        v < 64 ? (lo >> UInt64(v)) & 1 == 1 : (hi >> UInt64(v - 64)) & 1 == 1
    }

    @inline(__always)
    static func gpt2(_ v: UInt32) -> GPT2 {
        if v < 0x80 {
            // letters A-Z a-z; digits 0-9; whitespace \t \n \v \f \r and space.
            if inSet(v, 0, 0x07FF_FFFE_07FF_FFFE) { return .letter }
            if inSet(v, 0x03FF_0000_0000_0000, 0) { return .number }
            if inSet(v, 0x0000_0001_0000_3E00, 0) { return .whitespace }
            return .other
        }
        return gpt2NonASCII(v)
    }

    static func gpt2NonASCII(_ v: UInt32) -> GPT2 {
        guard let s = Unicode.Scalar(v) else { return .other }
        let p = s.properties
        if p.isWhitespace { return .whitespace }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return existed(p, in: (16, 0)) ? .letter : .other
        case .decimalNumber, .letterNumber, .otherNumber:
            return existed(p, in: (16, 0)) ? .number : .other
        default:
            return .other
        }
    }

    @inline(__always)
    private static func existed(_ p: Unicode.Scalar.Properties, in version: (Int, Int)) -> Bool {
        guard let age = p.age else { return false }
        return (age.major, age.minor) <= version
    }

    // MARK: BERT

    /// Removed by BertNormalizer's clean_text: NUL, U+FFFD, and "other" characters (Cc, Cf, Co of
    /// Unicode 8.0) except tab, newline and carriage return, which count as whitespace.
    static func bertRemoved(_ v: UInt32) -> Bool {
        if v == 0x09 || v == 0x0A || v == 0x0D { return false }
        if v < 0x20 || v == 0x7F { return true }
        if v < 0x80 { return false }
        if v == 0xFFFD { return true }
        guard let s = Unicode.Scalar(v) else { return true }
        let p = s.properties
        switch p.generalCategory {
        case .control, .privateUse: return true
        case .format: return existed(p, in: (8, 0))
        default: return false
        }
    }

    /// Whitespace for clean_text (replaced by a space) and for the BERT pre-tokeniser (split point).
    @inline(__always)
    static func isWhitespace(_ v: UInt32) -> Bool {
        if v < 0x80 { return v == 0x20 || (0x09...0x0D).contains(v) }
        guard let s = Unicode.Scalar(v) else { return false }
        return s.properties.isWhitespace
    }

    /// BERT's "Chinese character" blocks, with the bounds `tokenizers` uses (note 0x2B920, not 0x2B820).
    @inline(__always)
    static func isCJK(_ v: UInt32) -> Bool {
        switch v {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// Assigned after Unicode 8.0, the version of the normalisation tables inside `tokenizers`.
    @inline(__always)
    static func isNewerThanBertTables(_ s: Unicode.Scalar) -> Bool {
        s.value >= 0x300 && !existed(s.properties, in: (8, 0))
    }

    /// Non-spacing marks (Mn) of Unicode 8.0, which strip_accents removes after NFD.
    static func isBertNonspacingMark(_ v: UInt32) -> Bool {
        if v < 0x300 { return false }
        switch v {
        case 0x1734, 0x1171E: return true           // Mn in 8.0, Mc since
        case 0x1885, 0x1886, 0xA9BD, 0x111C9: return false  // became Mn after 8.0
        default: break
        }
        guard let s = Unicode.Scalar(v) else { return false }
        let p = s.properties
        return p.generalCategory == .nonspacingMark && existed(p, in: (8, 0))
    }

    /// BERT's punctuation: every ASCII symbol and punctuation character, and the P* categories of Unicode 8.0.
    @inline(__always)
    static func isBertPunctuation(_ v: UInt32) -> Bool {
        // ! through /, : through @, [ through `, { through ~
        if v < 0x80 { return inSet(v, 0xFC00_FFFE_0000_0000, 0x7800_0001_F800_0001) }
        return isBertPunctuationNonASCII(v)
    }

    static func isBertPunctuationNonASCII(_ v: UInt32) -> Bool {
        if v == 0x166D || v == 0x111C9 { return true }  // Po in 8.0, So / Mn since
        guard let s = Unicode.Scalar(v) else { return false }
        let p = s.properties
        switch p.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return existed(p, in: (8, 0))
        default:
            return false
        }
    }
}

/// Decodes one scalar from well-formed UTF-8 (the bytes of a Swift `String` or of a validated buffer).
@inline(__always)
func decodeScalar(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> (value: UInt32, length: Int) {
    let c0 = UInt32(b[i])
    if c0 < 0x80 { return (c0, 1) }
    if c0 < 0xE0 { return ((c0 & 0x1F) << 6 | UInt32(b[i + 1] & 0x3F), 2) }
    if c0 < 0xF0 {
        return ((c0 & 0x0F) << 12 | UInt32(b[i + 1] & 0x3F) << 6 | UInt32(b[i + 2] & 0x3F), 3)
    }
    return ((c0 & 0x07) << 18 | UInt32(b[i + 1] & 0x3F) << 12 | UInt32(b[i + 2] & 0x3F) << 6
        | UInt32(b[i + 3] & 0x3F), 4)
}

/// Appends the UTF-8 encoding of `v` (a valid scalar value).
@inline(__always)
func appendUTF8(_ v: UInt32, to out: inout [UInt8]) {
    if v < 0x80 {
        out.append(UInt8(v))
    } else if v < 0x800 {
        out.append(UInt8(0xC0 | v >> 6)); out.append(UInt8(0x80 | v & 0x3F))
    } else if v < 0x10000 {
        out.append(UInt8(0xE0 | v >> 12)); out.append(UInt8(0x80 | (v >> 6) & 0x3F)); out.append(UInt8(0x80 | v & 0x3F))
    } else {
        out.append(UInt8(0xF0 | v >> 18)); out.append(UInt8(0x80 | (v >> 12) & 0x3F))
        out.append(UInt8(0x80 | (v >> 6) & 0x3F)); out.append(UInt8(0x80 | v & 0x3F))
    }
}
