/// What can be wrong with a request in the Open Inference Protocol v2 or the TF Serving v1 form. Each case says
/// where (a JSON path such as `inputs[0].shape`, or the header) and what was wrong, in words a client's author can
/// act on; the HTTP front end answers them as `400 {"error": "<description>"}`.
public enum InferenceProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The body (or its JSON part) is not JSON.
    case malformedJSON(String)
    /// JSON nested deeper than `InferenceLimits.maxJSONDepth`.
    case nestedTooDeep(limit: Int)
    /// A field is missing, of the wrong type, or has a value the protocol does not allow.
    case invalidField(path: String, problem: String)
    /// `Inference-Header-Content-Length` is not a length within the body.
    case invalidHeaderLength(value: String, bodyBytes: Int)
    /// The binary section does not match the `binary_data_size` parameters, or a BYTES element overruns it.
    case invalidBinaryData(path: String, problem: String)
    /// An input or output the model does not have.
    case unknownTensor(path: String, name: String, known: [String])

    public var description: String {
        switch self {
        case let .malformedJSON(reason): return "the request body is not valid JSON: \(reason)"
        case let .nestedTooDeep(limit): return "the request JSON is nested deeper than \(limit) levels"
        case let .invalidField(path, problem): return "\(path): \(problem)"
        case let .invalidHeaderLength(value, bodyBytes):
            return "Inference-Header-Content-Length \"\(value)\" must be a whole number of bytes from 0 to the body's "
                + "length (\(bodyBytes)): the length of the JSON object that starts the body"
        case let .invalidBinaryData(path, problem): return "\(path): \(problem)"
        case let .unknownTensor(path, name, known):
            return "\(path): this model has no tensor \"\(name)\" (it has \(known.map { "\"\($0)\"" }.joined(separator: ", ")))"
        }
    }
}
