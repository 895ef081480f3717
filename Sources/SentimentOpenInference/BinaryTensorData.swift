/// Triton's binary tensor data extension, the element layouts: tensors are little-endian, row major, without
/// padding; a `BYTES` element is a 4-byte unsigned little-endian length followed by that many bytes; `FP32` is the
/// IEEE 754 single as 4 little-endian bytes. A tensor's bytes follow the JSON object in the HTTP body, in the order
/// the tensors appear in the JSON, each `binary_data_size` long.
public enum BinaryTensorData {
    /// The BYTES elements of one tensor's binary data, each as raw bytes (a text is checked for UTF-8 by the
    /// caller, which knows which element it is). The elements must fill `bytes` exactly: a length that runs past
    /// the end, or bytes left over after the last element, is an error, never a partial answer.
    public static func decodeBytesElements(_ bytes: ArraySlice<UInt8>, path: String) throws(InferenceProtocolError)
        -> [ArraySlice<UInt8>]
    {
        var elements: [ArraySlice<UInt8>] = []
        var i = bytes.startIndex
        while i < bytes.endIndex {
            guard bytes.endIndex - i >= 4 else {
                throw .invalidBinaryData(path: path, problem: "element \(elements.count) starts at byte "
                    + "\(i - bytes.startIndex) of \(bytes.count), but a BYTES element needs a 4-byte length first")
            }
            let length = Int(bytes[i]) | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 24
            let start = i + 4
            guard length <= bytes.endIndex - start else {
                throw .invalidBinaryData(path: path, problem: "element \(elements.count) declares \(length) bytes, "
                    + "but only \(bytes.endIndex - start) remain of the tensor's \(bytes.count) (binary_data_size)")
            }
            elements.append(bytes[start..<(start + length)])
            i = start + length
        }
        return elements
    }

    /// FP32 elements: 4 little-endian bytes each; a length that is not a multiple of 4 is an error.
    public static func decodeFP32(_ bytes: ArraySlice<UInt8>, path: String) throws(InferenceProtocolError) -> [Float] {
        guard bytes.count % 4 == 0 else {
            throw .invalidBinaryData(path: path, problem: "\(bytes.count) bytes is not a whole number of FP32 elements")
        }
        return stride(from: bytes.startIndex, to: bytes.endIndex, by: 4).map { i in
            let b0 = UInt32(bytes[i]), b1 = UInt32(bytes[i + 1]), b2 = UInt32(bytes[i + 2]), b3 = UInt32(bytes[i + 3])
            return Float(bitPattern: b0 | b1 << 8 | b2 << 16 | b3 << 24)
        }
    }

    /// Appends BYTES elements, each as its 4-byte little-endian length and its bytes.
    public static func appendBytesElements<S: Sequence>(_ elements: S, to out: inout [UInt8])
        where S.Element == String
    {
        for element in elements {
            let utf8 = Array(element.utf8)
            appendUInt32(UInt32(utf8.count), to: &out)
            out.append(contentsOf: utf8)
        }
    }

    /// Appends FP32 values as little-endian IEEE 754 singles.
    public static func appendFP32<S: Sequence>(_ values: S, to out: inout [UInt8]) where S.Element == Float {
        for value in values { appendUInt32(value.bitPattern, to: &out) }
    }

    /// The bytes `appendBytesElements` writes for these elements.
    public static func bytesElementsSize<S: Sequence>(_ elements: S) -> Int where S.Element == String {
        elements.reduce(0) { $0 + 4 + $1.utf8.count }
    }

    static func appendUInt32(_ value: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: value))
        out.append(UInt8(truncatingIfNeeded: value >> 8))
        out.append(UInt8(truncatingIfNeeded: value >> 16))
        out.append(UInt8(truncatingIfNeeded: value >> 24))
    }
}
