// The HTTP API's request decoders (SentimentOpenInference): the Open Inference Protocol v2 infer request in JSON and
// with Triton's binary tensor extension (Inference-Header-Content-Length), and the TF Serving v1 :predict body; then
// the v2 response encoder on what was decoded. Input: the first byte picks the form (0 v2 JSON, 1 v2 with the
// header: its value is the bytes up to the first newline, the body the rest; 2 v1); the rest is the body.
// Promises (the errors are InferenceProtocolError by the decoders' typed throws; each must say where and what):
// - a decoded v2 request is consistent with what it declared, read here from the JSON independently: one input,
//   "text", BYTES, as many texts as its shape's first dimension (the others 1); with binary data, the texts written
//   back as BYTES elements are exactly the bytes after the JSON; without, they are the JSON data flattened;
// - its outputs exist, appear once, and ask for classification only of the probabilities;
// - it survives its own round trip, in JSON and in the binary form; the v1 texts survive theirs in both v1 forms;
// - the response to it is JSON (plus binary data adding up to the body) with one output per requested output.
import Foundation
import SentimentCore
import SentimentOpenInference

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    switch input[0] % 3 {
    case 0:
        v2(body: Array(input[1...]), header: nil)
    case 1:
        let rest = input[1...]
        guard let nl = rest.firstIndex(of: 0x0A) else { return 0 }
        v2(body: Array(rest[(nl + 1)...]), header: String(decoding: rest[..<nl], as: UTF8.self))
    default:
        v1(body: Array(input[1...]))
    }
    return 0
}

private func checkError(_ error: InferenceProtocolError) {
    precondition(!error.description.isEmpty)
    switch error {
    case let .invalidField(path, problem), let .invalidBinaryData(path, problem):
        precondition(!path.isEmpty && !problem.isEmpty, "\(error)")
    case let .unknownTensor(path, name, known):
        precondition(!path.isEmpty && !known.isEmpty && !known.contains(name), "\(error)")
    case .malformedJSON, .nestedTooDeep, .invalidHeaderLength:
        break
    }
}

private func v2(body: [UInt8], header: String?) {
    let request: InferenceRequest
    do {
        request = try InferenceRequestDecoder.decode(body: body, inferenceHeaderLength: header)
    } catch {
        checkError(error)
        return
    }
    // What the request declared, read from its JSON here.
    let jsonEnd = header.map { Int($0.trimmingCharacters(in: .whitespaces))! } ?? body.count
    guard case let .object(root)? = try? JSONValue.parse(Data(body[..<jsonEnd])) else {
        fatalError("a request decoded whose JSON part does not parse")
    }
    if case let .string(id)? = root["id"] { precondition(request.id == id, "id \(String(describing: request.id)) != \(id)") }
    else { precondition(request.id == nil && root["id"] == nil, "id") }
    guard case let .array(inputs)? = root["inputs"], inputs.count == 1, case let .object(tensor) = inputs[0],
          tensor["name"] == .string(SentimentTensors.input), tensor["datatype"] == .string("BYTES"),
          case let .array(dims)? = tensor["shape"], !dims.isEmpty else {
        fatalError("a request decoded without exactly one BYTES input \"text\" with a shape")
    }
    let shape = dims.map { dim -> Int64 in
        guard case let .int(n) = dim, n >= 0 else { fatalError("a shape dimension \(dim) decoded") }
        return n
    }
    precondition(shape.dropFirst().allSatisfy { $0 == 1 }, "shape \(shape) decoded")
    precondition(Int64(request.texts.count) == shape[0], "\(request.texts.count) texts for shape \(shape)")
    var binarySize: Int64?
    if case let .object(p)? = tensor["parameters"], case let .int(n)? = p["binary_data_size"] { binarySize = n }
    if let binarySize {
        precondition(header != nil && tensor["data"] == nil, "binary data without the header, or with data")
        precondition(Int64(body.count - jsonEnd) == binarySize, "binary_data_size \(binarySize) != \(body.count - jsonEnd) bytes")
        var written: [UInt8] = []
        BinaryTensorData.appendBytesElements(request.texts, to: &written)
        precondition(written[...] == body[jsonEnd...], "the texts written back are not the request's binary data")
    } else {
        precondition(jsonEnd == body.count, "\(body.count - jsonEnd) bytes after the JSON were accepted")
        guard let data = tensor["data"] else { fatalError("texts decoded from no data") }
        var flat: [String] = []
        func flatten(_ v: JSONValue) {
            switch v {
            case let .string(s): flat.append(s)
            case let .array(a): a.forEach(flatten)
            default: fatalError("a non-text element \(v) decoded")
            }
        }
        flatten(data)
        precondition(flat == request.texts, "the texts are not the JSON data flattened")
    }

    precondition(!request.outputs.isEmpty, "no outputs")
    precondition(Set(request.outputs.map(\.name)).count == request.outputs.count, "an output twice: \(request.outputs)")
    for o in request.outputs {
        precondition(SentimentTensors.outputs.contains(o.name), "unknown output \(o.name) decoded")
        if let n = o.classCount { precondition(n > 0 && o.name == SentimentTensors.probabilities, "classification \(o)") }
    }

    roundTrip(request)
    respond(request)
}

/// The request written as a client would (JSON data, then binary data) decodes to the same request.
private func roundTrip(_ request: InferenceRequest) {
    let outputs: [JSONValue] = request.outputs.map { o in
        var p: [String: JSONValue] = ["binary_data": .bool(o.binary)]
        if let n = o.classCount { p["classification"] = .int(Int64(n)) }
        return .object(["name": .string(o.name), "parameters": .object(p)])
    }
    func body(_ tensor: [String: JSONValue]) -> [UInt8] {
        var root: [String: JSONValue] = ["inputs": .array([.object(tensor)]), "outputs": .array(outputs)]
        if let id = request.id { root["id"] = .string(id) }
        return [UInt8]((try? JSONEncoder().encode(JSONValue.object(root))) ?? Data())
    }
    var tensor: [String: JSONValue] = ["name": .string(SentimentTensors.input), "datatype": .string("BYTES"),
                                       "shape": .array([.int(Int64(request.texts.count))])]
    var json = tensor
    json["data"] = .array(request.texts.map(JSONValue.string))
    do {
        let again = try InferenceRequestDecoder.decode(body: body(json), inferenceHeaderLength: nil)
        precondition(again == request, "the request written back as JSON decodes to \(again), not \(request)")
    } catch {
        fatalError("the request written back as JSON does not decode: \(error)")
    }
    var binary: [UInt8] = []
    BinaryTensorData.appendBytesElements(request.texts, to: &binary)
    tensor["parameters"] = .object(["binary_data_size": .int(Int64(binary.count))])
    let head = body(tensor)
    do {
        let again = try InferenceRequestDecoder.decode(body: head + binary, inferenceHeaderLength: String(head.count))
        precondition(again == request, "the request written back with binary data decodes to \(again), not \(request)")
    } catch {
        fatalError("the request written back with binary data does not decode: \(error)")
    }
}

/// The response to the request: JSON, then the binary outputs adding up to the rest of the body.
private func respond(_ request: InferenceRequest) {
    let labels = ["negative", "neutral", "positive"]
    let n = request.texts.count
    let result = ClassifiedTexts(labels: labels,
                                 probabilities: (0..<n).map { i in [0.25, 0.5, 0.25].map { Float($0) + Float(i % 2) * 0.01 } },
                                 labelIndexes: (0..<n).map { $0 % 3 })
    let response = InferenceResponseEncoder.encode(modelName: "sentiment", modelVersion: "v1", request: request, result: result)
    let jsonLength = response.jsonLength ?? response.body.count
    precondition(jsonLength <= response.body.count)
    guard case let .object(root)? = try? JSONValue.parse(Data(response.body[..<jsonLength])),
          case let .array(outputs)? = root["outputs"] else {
        fatalError("the response is not a JSON object with outputs")
    }
    precondition(outputs.count == request.outputs.count, "\(outputs.count) outputs for \(request.outputs.count) requested")
    var binaryBytes: Int64 = 0
    for (o, asked) in zip(outputs, request.outputs) {
        guard case let .object(out) = o, out["name"] == .string(asked.name) else { fatalError("output \(o) for \(asked)") }
        if case let .object(p)? = out["parameters"], case let .int(size)? = p["binary_data_size"] {
            precondition(asked.binary, "binary data for \(asked)")
            binaryBytes += size
        } else {
            precondition(!asked.binary && out["data"] != nil, "no data for \(asked)")
        }
    }
    precondition(binaryBytes == Int64(response.body.count - jsonLength), "binary sizes do not add up to the body")
    precondition((response.jsonLength != nil) == request.outputs.contains(where: \.binary), "jsonLength")
}

private func v1(body: [UInt8]) {
    let texts: [String]
    do {
        texts = try PredictV1.decode(body: body)
    } catch {
        checkError(error)
        return
    }
    guard case let .object(root)? = try? JSONValue.parse(Data(body)) else { fatalError("a v1 body decoded that does not parse") }
    var items: [JSONValue] = []
    if case let .array(a)? = root["instances"] { items = a }
    else if case let .array(a)? = root["inputs"] { items = a }
    else if case let .object(o)? = root["inputs"], case let .array(a)? = o[SentimentTensors.input] { items = a }
    else { fatalError("v1 texts decoded from neither instances nor inputs") }
    precondition(items.count == texts.count, "\(texts.count) texts from \(items.count) items")
    for (text, item) in zip(texts, items) {
        precondition(item == .string(text) || item == .object([SentimentTensors.input: .string(text)]), "\(item) -> \(text)")
    }
    for root in [["instances": JSONValue.array(texts.map(JSONValue.string))],
                 ["inputs": .object([SentimentTensors.input: .array(texts.map(JSONValue.string))])]] {
        let again = try? PredictV1.decode(body: [UInt8]((try? JSONEncoder().encode(JSONValue.object(root))) ?? Data()))
        precondition(again == texts, "the v1 texts written back decode to \(String(describing: again))")
    }
}
