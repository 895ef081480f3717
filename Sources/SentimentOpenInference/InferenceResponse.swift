import Foundation

/// What the model answered for the texts of one request: label names by class index, and per text its
/// probabilities (in that order) and the index of its label.
public struct ClassifiedTexts: Sendable, Equatable {
    public var labels: [String]
    public var probabilities: [[Float]]
    public var labelIndexes: [Int]

    public init(labels: [String], probabilities: [[Float]], labelIndexes: [Int]) {
        self.labels = labels
        self.probabilities = probabilities
        self.labelIndexes = labelIndexes
    }
}

/// An encoded response body. `jsonLength` is set when binary tensor data follows the JSON
/// (`Inference-Header-Content-Length`; the body is then `application/octet-stream`).
public struct EncodedResponse: Sendable, Equatable {
    public var body: [UInt8]
    public var jsonLength: Int?
}

/// Writes the inference response: `model_name`, `model_version`, the request's `id`, and the requested outputs in
/// the requested order, each in JSON or in the binary section after the JSON (`binary_data_size` says how long).
public enum InferenceResponseEncoder {
    public static func encode(modelName: String, modelVersion: String, request: InferenceRequest,
                              result: ClassifiedTexts) -> EncodedResponse {
        let n = result.probabilities.count
        var outputs: [ResponseOutput] = []
        var binary: [UInt8] = []
        for requested in request.outputs {
            var output: ResponseOutput
            switch (requested.name, requested.classCount) {
            case (SentimentTensors.probabilities, nil):
                let flat = result.probabilities.flatMap { $0 }
                output = ResponseOutput(name: requested.name, datatype: "FP32", shape: [n, result.labels.count])
                if requested.binary {
                    let start = binary.count
                    BinaryTensorData.appendFP32(flat, to: &binary)
                    output.parameters = ["binary_data_size": binary.count - start]
                } else {
                    output.data = .numbers(flat)
                }
            case let (_, count?):
                let strings = classification(result, top: count)
                output = ResponseOutput(name: requested.name, datatype: "BYTES", shape: [n, min(count, result.labels.count)])
                output.put(strings, binary: requested.binary, into: &binary)
            default:
                let strings = result.labelIndexes.map { result.labels.indices.contains($0) ? result.labels[$0] : String($0) }
                output = ResponseOutput(name: requested.name, datatype: "BYTES", shape: [n])
                output.put(strings, binary: requested.binary, into: &binary)
            }
            outputs.append(output)
        }
        let header = ResponseHeader(modelName: modelName, modelVersion: modelVersion, id: request.id, outputs: outputs)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every field is a string, an integer or a finite float: encoding cannot fail.
        var body = (try? encoder.encode(header)).map { [UInt8]($0) } ?? []
        guard !binary.isEmpty || request.outputs.contains(where: \.binary) else {
            return EncodedResponse(body: body, jsonLength: nil)
        }
        let jsonLength = body.count
        body.append(contentsOf: binary)
        return EncodedResponse(body: body, jsonLength: jsonLength)
    }

    /// Triton's classification extension: per text, the `top` most probable classes, most probable first, as
    /// `"<probability>:<index>:<label>"`.
    static func classification(_ result: ClassifiedTexts, top: Int) -> [String] {
        var out: [String] = []
        for row in result.probabilities {
            let order = row.indices.sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }
            for index in order.prefix(top) {
                let label = result.labels.indices.contains(index) ? result.labels[index] : String(index)
                out.append("\(row[index]):\(index):\(label)")
            }
        }
        return out
    }
}

/// `{"error": "..."}`: the protocol's error object, for every failure of the HTTP API.
public struct ErrorBody: Codable, Sendable, Equatable {
    public var error: String
    public init(_ error: String) { self.error = error }

    public var encoded: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { [UInt8]($0) } ?? Array(#"{"error":"internal error"}"#.utf8)
    }
}

struct ResponseHeader: Encodable {
    var modelName: String
    var modelVersion: String
    var id: String?
    var outputs: [ResponseOutput]

    enum CodingKeys: String, CodingKey {
        case modelName = "model_name"
        case modelVersion = "model_version"
        case id, outputs
    }
}

struct ResponseOutput: Encodable {
    enum TensorData: Encodable {
        case numbers([Float])
        case strings([String])

        func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case let .numbers(v): try c.encode(v)
            case let .strings(v): try c.encode(v)
            }
        }
    }

    var name: String
    var datatype: String
    var shape: [Int]
    var parameters: [String: Int]?
    var data: TensorData?

    init(name: String, datatype: String, shape: [Int]) {
        self.name = name
        self.datatype = datatype
        self.shape = shape
    }

    mutating func put(_ strings: [String], binary: Bool, into section: inout [UInt8]) {
        if binary {
            let start = section.count
            BinaryTensorData.appendBytesElements(strings, to: &section)
            parameters = ["binary_data_size": section.count - start]
        } else {
            data = .strings(strings)
        }
    }
}
