import Foundation
import SentimentCore

/// The tensors of a sentiment model as the Open Inference Protocol sees it: one `BYTES` input of texts, shape
/// `[-1]` (also accepted: `[-1, 1]`, a column of texts, what a Triton client with a batch dimension sends), and two
/// outputs: the class probabilities (`FP32`, `[-1, labels]`, in the order of the model's labels) and each text's
/// label (`BYTES`, `[-1]`).
public enum SentimentTensors {
    public static let input = "text"
    public static let probabilities = "probabilities"
    public static let label = "label"
    public static let outputs = [probabilities, label]
}

/// One output the client asked for, and how it wants it.
public struct RequestedOutput: Sendable, Equatable {
    public var name: String
    /// Send it in the binary section (Triton's extension) instead of JSON.
    public var binary: Bool
    /// Triton's classification extension: the top `classCount` classes of each text as `BYTES` strings
    /// `"<probability>:<index>:<label>"`, instead of the probabilities (only for `probabilities`; nil: off).
    public var classCount: Int?

    public init(name: String, binary: Bool, classCount: Int? = nil) {
        self.name = name
        self.binary = binary
        self.classCount = classCount
    }
}

/// A decoded `POST /v2/models/{name}/infer` request.
public struct InferenceRequest: Sendable, Equatable {
    /// The request's `id`, echoed in the response.
    public var id: String?
    public var texts: [String]
    /// The outputs to answer, in order. When the request names none: every output, binary when
    /// `binary_data_output` is true.
    public var outputs: [RequestedOutput]

    public init(id: String?, texts: [String], outputs: [RequestedOutput]) {
        self.id = id
        self.texts = texts
        self.outputs = outputs
    }
}

/// Bounds the decoders hold to before any value is interpreted.
public enum InferenceLimits {
    /// Arrays and objects nested deeper than this are refused before parsing (a few levels are all the protocol
    /// needs; the bound keeps a hostile body from exhausting the parser's stack).
    public static let maxJSONDepth = 32
}

/// Reads an inference request: the JSON object, and when `Inference-Header-Content-Length` is given, the binary
/// tensor data after it. A pure function of the bytes (no I/O, no NIO), total over every input: it answers a
/// request or an `InferenceProtocolError`, never traps.
///
/// Policy: strict about what it interprets — the input must be the model's one `BYTES` input, its element count
/// must match its shape, binary sizes must add up to the body exactly, texts must be UTF-8, a requested output must
/// exist and appear once — and tolerant of what it does not: unknown top-level members (`model_name`, …) and
/// parameters it does not use are ignored, as Triton forwards them to backends that may not use them either.
public enum InferenceRequestDecoder {
    public static func decode(body: [UInt8], inferenceHeaderLength: String?) throws(InferenceProtocolError)
        -> InferenceRequest
    {
        let jsonEnd: Int
        if let header = inferenceHeaderLength {
            let trimmed = header.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, trimmed.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int(trimmed),
                  n <= body.count else {
                throw .invalidHeaderLength(value: header, bodyBytes: body.count)
            }
            jsonEnd = n
        } else {
            jsonEnd = body.count
        }
        let root = try JSONReading.parse(body[..<jsonEnd])
        guard case let .object(members) = root else {
            throw .invalidField(path: "the request", problem: "must be a JSON object, not \(root.typeName)")
        }

        var id: String?
        if let raw = members["id"] {
            guard case let .string(s) = raw else {
                throw .invalidField(path: "id", problem: "must be a string, not \(raw.typeName)")
            }
            id = s
        }
        let parameters = try JSONReading.parameters(members["parameters"], path: "parameters")
        let binaryOutputs = try JSONReading.bool(parameters["binary_data_output"], path: "parameters.binary_data_output")
            ?? false

        // Inputs.
        guard let rawInputs = members["inputs"] else {
            throw .invalidField(path: "inputs", problem: "is missing: give one input, \"\(SentimentTensors.input)\" "
                + "(BYTES, shape [n]), holding the texts")
        }
        guard case let .array(inputs) = rawInputs else {
            throw .invalidField(path: "inputs", problem: "must be an array, not \(rawInputs.typeName)")
        }
        guard !inputs.isEmpty else {
            throw .invalidField(path: "inputs", problem: "is empty: give one input, \"\(SentimentTensors.input)\"")
        }
        var binaryOffset = jsonEnd
        var texts: [String]?
        for (i, raw) in inputs.enumerated() {
            let path = "inputs[\(i)]"
            let input = try InputTensor(raw, path: path)
            guard input.name == SentimentTensors.input else {
                throw .unknownTensor(path: "\(path).name", name: input.name, known: [SentimentTensors.input])
            }
            guard texts == nil else {
                throw .invalidField(path: path, problem: "input \"\(input.name)\" is given twice")
            }
            texts = try input.texts(body: body, binaryOffset: &binaryOffset, hasBinarySection: inferenceHeaderLength != nil)
        }
        guard binaryOffset == body.count else {
            throw .invalidBinaryData(path: "the request", problem: "\(body.count - binaryOffset) bytes follow the "
                + "tensors' binary data (binary_data_size adds up to \(binaryOffset - jsonEnd) of the "
                + "\(body.count - jsonEnd) bytes after the JSON)")
        }

        // Outputs.
        var outputs: [RequestedOutput] = []
        if let rawOutputs = members["outputs"] {
            guard case let .array(list) = rawOutputs else {
                throw .invalidField(path: "outputs", problem: "must be an array, not \(rawOutputs.typeName)")
            }
            for (i, raw) in list.enumerated() {
                let path = "outputs[\(i)]"
                guard case let .object(o) = raw else {
                    throw .invalidField(path: path, problem: "must be an object, not \(raw.typeName)")
                }
                guard let rawName = o["name"] else { throw .invalidField(path: "\(path).name", problem: "is missing") }
                guard case let .string(name) = rawName else {
                    throw .invalidField(path: "\(path).name", problem: "must be a string, not \(rawName.typeName)")
                }
                guard SentimentTensors.outputs.contains(name) else {
                    throw .unknownTensor(path: "\(path).name", name: name, known: SentimentTensors.outputs)
                }
                guard !outputs.contains(where: { $0.name == name }) else {
                    throw .invalidField(path: path, problem: "output \"\(name)\" is asked for twice")
                }
                let p = try JSONReading.parameters(o["parameters"], path: "\(path).parameters")
                let binary = try JSONReading.bool(p["binary_data"], path: "\(path).parameters.binary_data") ?? binaryOutputs
                var classCount: Int?
                if let raw = p["classification"] ?? p["class_count"] {
                    let key = p["classification"] != nil ? "classification" : "class_count"
                    guard let n = raw.intValue, n >= 0 else {
                        throw .invalidField(path: "\(path).parameters.\(key)",
                                            problem: "must be a whole number of classes (0 or more), not \(JSONReading.show(raw))")
                    }
                    if n > 0 {
                        guard name == SentimentTensors.probabilities else {
                            throw .invalidField(path: "\(path).parameters.\(key)", problem: "classification applies "
                                + "to \"\(SentimentTensors.probabilities)\" only, not \"\(name)\"")
                        }
                        classCount = n
                    }
                }
                outputs.append(RequestedOutput(name: name, binary: binary, classCount: classCount))
            }
        }
        if outputs.isEmpty {
            outputs = SentimentTensors.outputs.map { RequestedOutput(name: $0, binary: binaryOutputs) }
        }
        return InferenceRequest(id: id, texts: texts ?? [], outputs: outputs)
    }
}

/// One element of `inputs`, checked field by field.
struct InputTensor {
    let name: String
    let shape: [Int]
    let path: String
    let data: JSONValue?
    let binarySize: Int?

    init(_ raw: JSONValue, path: String) throws(InferenceProtocolError) {
        self.path = path
        guard case let .object(o) = raw else {
            throw .invalidField(path: path, problem: "must be an object, not \(raw.typeName)")
        }
        guard let rawName = o["name"] else { throw .invalidField(path: "\(path).name", problem: "is missing") }
        guard case let .string(name) = rawName else {
            throw .invalidField(path: "\(path).name", problem: "must be a string, not \(rawName.typeName)")
        }
        self.name = name
        guard let rawType = o["datatype"] else { throw .invalidField(path: "\(path).datatype", problem: "is missing") }
        guard case let .string(datatype) = rawType else {
            throw .invalidField(path: "\(path).datatype", problem: "must be a string, not \(rawType.typeName)")
        }
        guard datatype == "BYTES" else {
            throw .invalidField(path: "\(path).datatype", problem: "is \"\(datatype)\"; the input \"\(name)\" holds "
                + "texts, datatype \"BYTES\"")
        }
        guard let rawShape = o["shape"] else { throw .invalidField(path: "\(path).shape", problem: "is missing") }
        guard case let .array(dims) = rawShape, !dims.isEmpty else {
            throw .invalidField(path: "\(path).shape", problem: "must be a non-empty array of dimensions, not \(JSONReading.show(rawShape))")
        }
        var shape: [Int] = []
        for (d, dim) in dims.enumerated() {
            guard case let .int(v) = dim, v >= 0, let n = Int(exactly: v) else {
                throw .invalidField(path: "\(path).shape[\(d)]", problem: "must be a whole number of 0 or more, not \(JSONReading.show(dim))")
            }
            shape.append(n)
        }
        // Texts are one per row: [n], or a column [n, 1] (also [n, 1, 1], ...).
        guard shape.dropFirst().allSatisfy({ $0 == 1 }) else {
            throw .invalidField(path: "\(path).shape", problem: "is \(shape); texts are one per row: shape [n] or [n, 1]")
        }
        self.shape = shape
        let parameters = try JSONReading.parameters(o["parameters"], path: "\(path).parameters")
        if let raw = parameters["binary_data_size"] {
            guard case let .int(v) = raw, v >= 0, let n = Int(exactly: v) else {
                throw .invalidField(path: "\(path).parameters.binary_data_size",
                                    problem: "must be a whole number of bytes, not \(JSONReading.show(raw))")
            }
            binarySize = n
        } else {
            binarySize = nil
        }
        data = o["data"]
        if binarySize != nil && data != nil {
            throw .invalidField(path: path, problem: "has both \"data\" and parameters.binary_data_size; give one")
        }
        if binarySize == nil && data == nil {
            throw .invalidField(path: "\(path).data", problem: "is missing (or give parameters.binary_data_size and "
                + "the bytes after the JSON)")
        }
    }

    /// The texts, from `data` or from the binary section at `binaryOffset` (advanced past this tensor's bytes).
    func texts(body: [UInt8], binaryOffset: inout Int, hasBinarySection: Bool) throws(InferenceProtocolError) -> [String] {
        let count = shape[0]
        var texts: [String] = []
        if let size = binarySize {
            guard hasBinarySection else {
                throw .invalidBinaryData(path: "\(path).parameters.binary_data_size", problem: "binary data needs the "
                    + "Inference-Header-Content-Length header (the length of the JSON part of the body)")
            }
            guard size <= body.count - binaryOffset else {
                throw .invalidBinaryData(path: "\(path).parameters.binary_data_size", problem: "is \(size) bytes, but "
                    + "only \(body.count - binaryOffset) bytes of binary data remain in the body")
            }
            let elements = try BinaryTensorData.decodeBytesElements(body[binaryOffset..<(binaryOffset + size)],
                                                                    path: "\(path) (binary data)")
            binaryOffset += size
            guard elements.count == count else {
                throw .invalidBinaryData(path: "\(path) (binary data)", problem: "holds \(elements.count) elements; "
                    + "shape \(shape) needs \(count)")
            }
            texts.reserveCapacity(elements.count)
            for (i, element) in elements.enumerated() {
                guard let text = String(validating: element, as: UTF8.self) else {
                    throw .invalidBinaryData(path: "\(path) (binary data) element \(i)", problem: "is not UTF-8 text")
                }
                texts.append(text)
            }
        } else if let data {
            try JSONReading.flattenStrings(data, rank: shape.count, path: "\(path).data", into: &texts)
            guard texts.count == count else {
                throw .invalidField(path: "\(path).data", problem: "holds \(texts.count) texts; shape \(shape) needs \(count)")
            }
        }
        return texts
    }
}

/// The small readers the decoders share.
enum JSONReading {
    static func parse(_ bytes: ArraySlice<UInt8>) throws(InferenceProtocolError) -> JSONValue {
        try checkDepth(bytes)
        do {
            return try JSONValue.parse(Data(bytes))
        } catch {
            throw .malformedJSON(bytes.isEmpty ? "the body is empty" : "it does not parse as one JSON value")
        }
    }

    /// A value as compact JSON for an error message, cut at 40 characters.
    static func show(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let text = (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? value.typeName
        return text.count > 40 ? String(text.prefix(40)) + "…" : text
    }

    /// Refuses nesting deeper than `InferenceLimits.maxJSONDepth` with one pass over the bytes (brackets inside
    /// strings do not count), before the parser recurses.
    static func checkDepth(_ bytes: ArraySlice<UInt8>) throws(InferenceProtocolError) {
        var depth = 0
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == 0x5C { escaped = true } else if byte == 0x22 { inString = false }
                continue
            }
            switch byte {
            case 0x22: inString = true
            case 0x5B, 0x7B:
                depth += 1
                if depth > InferenceLimits.maxJSONDepth { throw .nestedTooDeep(limit: InferenceLimits.maxJSONDepth) }
            case 0x5D, 0x7D: depth -= 1
            default: break
            }
        }
    }

    /// A `parameters` object (absent: empty); values must be strings, numbers or booleans.
    static func parameters(_ raw: JSONValue?, path: String) throws(InferenceProtocolError) -> [String: JSONValue] {
        guard let raw else { return [:] }
        guard case let .object(o) = raw else {
            throw .invalidField(path: path, problem: "must be an object, not \(raw.typeName)")
        }
        return o
    }

    static func bool(_ raw: JSONValue?, path: String) throws(InferenceProtocolError) -> Bool? {
        guard let raw else { return nil }
        guard case let .bool(b) = raw else {
            throw .invalidField(path: path, problem: "must be true or false, not \(raw.typeName)")
        }
        return b
    }

    /// Tensor data, flat or nested (at most `rank` levels), row major, every element a string.
    static func flattenStrings(_ value: JSONValue, rank: Int, path: String, into out: inout [String])
        throws(InferenceProtocolError)
    {
        guard case let .array(elements) = value else {
            throw .invalidField(path: path, problem: "must be an array of texts, not \(value.typeName)")
        }
        for (i, element) in elements.enumerated() {
            switch element {
            case let .string(s): out.append(s)
            case .array where rank > 1: try flattenStrings(element, rank: rank - 1, path: "\(path)[\(i)]", into: &out)
            default:
                throw .invalidField(path: "\(path)[\(i)]", problem: "must be a text (a JSON string), not \(element.typeName)")
            }
        }
    }
}
