import Foundation
import SentimentOpenInference
import XCTest

/// The request decoders against hand-built bodies: every way a client can get the JSON, the shapes or the binary
/// section wrong gets its own error, and valid requests in every accepted form give the same texts.
final class InferenceRequestDecoderTests: XCTestCase {
    /// A body of JSON `header` followed by `binary`, and the header-length value a client would send.
    func body(_ header: String, binary: [UInt8] = []) -> (bytes: [UInt8], length: String) {
        let json = Array(header.utf8)
        return (json + binary, String(json.count))
    }

    func bytesElements(_ texts: [String]) -> [UInt8] {
        var out: [UInt8] = []
        BinaryTensorData.appendBytesElements(texts, to: &out)
        return out
    }

    func decodeError(_ bytes: [UInt8], header: String? = nil) -> InferenceProtocolError? {
        do {
            _ = try InferenceRequestDecoder.decode(body: bytes, inferenceHeaderLength: header)
            return nil
        } catch {
            return error
        }
    }

    func testJSONTexts_flatNestedAndColumn() throws {
        let flat = #"{"id":"7","inputs":[{"name":"text","shape":[2],"datatype":"BYTES","data":["a","b"]}]}"#
        let column = #"{"inputs":[{"name":"text","shape":[2,1],"datatype":"BYTES","data":[["a"],["b"]]}]}"#
        let columnFlat = #"{"inputs":[{"name":"text","shape":[2,1],"datatype":"BYTES","data":["a","b"]}]}"#
        for json in [flat, column, columnFlat] {
            let r = try InferenceRequestDecoder.decode(body: Array(json.utf8), inferenceHeaderLength: nil)
            XCTAssertEqual(r.texts, ["a", "b"], json)
            XCTAssertEqual(r.outputs.map(\.name), ["probabilities", "label"])
            XCTAssertEqual(r.outputs.map(\.binary), [false, false])
        }
        XCTAssertEqual(try InferenceRequestDecoder.decode(body: Array(flat.utf8), inferenceHeaderLength: nil).id, "7")
    }

    func testBinaryTexts_roundTripWithUnicodeAndEmptyText() throws {
        let texts = ["I love this 😀", "", "ünïcödé\nline"]
        let data = bytesElements(texts)
        let (bytes, length) = body(#"{"inputs":[{"name":"text","shape":[3],"datatype":"BYTES","parameters":{"binary_data_size":\#(data.count)}}],"outputs":[{"name":"label","parameters":{"binary_data":true}},{"name":"probabilities"}]}"#, binary: data)
        let r = try InferenceRequestDecoder.decode(body: bytes, inferenceHeaderLength: length)
        XCTAssertEqual(r.texts, texts)
        XCTAssertEqual(r.outputs, [RequestedOutput(name: "label", binary: true), RequestedOutput(name: "probabilities", binary: false)])
    }

    func testBinaryDataOutput_isTheDefaultThatAnOutputOverrides() throws {
        let json = #"{"parameters":{"binary_data_output":true},"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":["x"]}],"outputs":[{"name":"probabilities"},{"name":"label","parameters":{"binary_data":false}}]}"#
        let r = try InferenceRequestDecoder.decode(body: Array(json.utf8), inferenceHeaderLength: nil)
        XCTAssertEqual(r.outputs.map(\.binary), [true, false])
        let all = #"{"parameters":{"binary_data_output":true},"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":["x"]}]}"#
        XCTAssertEqual(try InferenceRequestDecoder.decode(body: Array(all.utf8), inferenceHeaderLength: nil).outputs.map(\.binary), [true, true])
    }

    func testBinaryElementLengthRunningPastTheTensor_isRefused() {
        var data = bytesElements(["abc"])
        data[0] = 200 // declares 200 bytes, 3 follow
        let (bytes, length) = body(#"{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":\#(data.count)}}]}"#, binary: data)
        guard case let .invalidBinaryData(_, problem)? = decodeError(bytes, header: length) else {
            return XCTFail("expected invalidBinaryData, got \(String(describing: decodeError(bytes, header: length)))")
        }
        XCTAssertTrue(problem.contains("declares 200 bytes"), problem)
    }

    func testBinaryLengthPrefixCutShort_isRefused() {
        let data: [UInt8] = bytesElements(["ab"]) + [1, 0] // a second element with half a length
        let (bytes, length) = body(#"{"inputs":[{"name":"text","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":\#(data.count)}}]}"#, binary: data)
        guard case let .invalidBinaryData(_, problem)? = decodeError(bytes, header: length) else { return XCTFail() }
        XCTAssertTrue(problem.contains("4-byte length"), problem)
    }

    func testBinarySizesMustAddUpToTheBody() {
        let data = bytesElements(["ab"])
        // binary_data_size larger than what follows
        var (bytes, length) = body(#"{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":\#(data.count + 1)}}]}"#, binary: data)
        XCTAssertNotNil(decodeError(bytes, header: length))
        // bytes left over after the tensors
        (bytes, length) = body(#"{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":\#(data.count)}}]}"#, binary: data + [0])
        guard case let .invalidBinaryData(_, problem)? = decodeError(bytes, header: length) else { return XCTFail() }
        XCTAssertTrue(problem.contains("1 bytes follow"), problem)
        // JSON texts with trailing bytes after a header length
        let json = Array(#"{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":["a"]}]}"#.utf8)
        XCTAssertNotNil(decodeError(json + [9, 9], header: String(json.count)))
    }

    func testBinaryElementCountMustMatchTheShape() {
        let data = bytesElements(["a", "b"])
        let (bytes, length) = body(#"{"inputs":[{"name":"text","shape":[3],"datatype":"BYTES","parameters":{"binary_data_size":\#(data.count)}}]}"#, binary: data)
        guard case let .invalidBinaryData(_, problem)? = decodeError(bytes, header: length) else { return XCTFail() }
        XCTAssertTrue(problem.contains("holds 2 elements; shape [3] needs 3"), problem)
    }

    func testBinaryTextThatIsNotUTF8_isRefused() {
        var data: [UInt8] = []
        BinaryTensorData.appendBytesElements(["ok"], to: &data)
        data += [2, 0, 0, 0, 0xC3, 0x28]
        let (bytes, length) = body(#"{"inputs":[{"name":"text","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":\#(data.count)}}]}"#, binary: data)
        guard case let .invalidBinaryData(path, _)? = decodeError(bytes, header: length) else { return XCTFail() }
        XCTAssertTrue(path.contains("element 1"), path)
    }

    func testBinaryWithoutTheHeaderLength_isRefused() {
        let data = bytesElements(["a"])
        let (bytes, _) = body(#"{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":\#(data.count)}}]}"#, binary: data)
        // Without the header the whole body is the JSON, which then does not parse.
        XCTAssertNotNil(decodeError(bytes, header: nil))
        let jsonOnly = Array(#"{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":0}}]}"#.utf8)
        guard case let .invalidBinaryData(_, problem)? = decodeError(jsonOnly, header: nil) else { return XCTFail() }
        XCTAssertTrue(problem.contains("Inference-Header-Content-Length"), problem)
    }

    func testHeaderLengthValues() {
        let json = Array(#"{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":["a"]}]}"#.utf8)
        for bad in ["", "-1", "abc", "1e3", "+5", String(json.count + 1), "99999999999999999999999"] {
            guard case .invalidHeaderLength? = decodeError(json, header: bad) else { return XCTFail("accepted \(bad)") }
        }
        XCTAssertNil(decodeError(json, header: String(json.count)))
        XCTAssertNil(decodeError(json, header: " \(json.count) "))
    }

    func testFieldErrors_sayWhere() {
        func expect(_ json: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
            let error = decodeError(Array(json.utf8))
            XCTAssertNotNil(error, json, file: file, line: line)
            XCTAssertTrue(error?.description.contains(fragment) == true, "\(error?.description ?? "nil") lacks \(fragment)",
                          file: file, line: line)
        }
        expect("", "not valid JSON")
        expect("[1]", "must be a JSON object")
        expect(#"{}"#, "inputs: is missing")
        expect(#"{"inputs":[]}"#, "inputs: is empty")
        expect(#"{"inputs":{}}"#, "inputs: must be an array")
        expect(#"{"id":5,"inputs":[]}"#, "id: must be a string")
        expect(#"{"inputs":[{"name":"TEXT","shape":[1],"datatype":"BYTES","data":["a"]}]}"#, "no tensor \"TEXT\"")
        expect(#"{"inputs":[{"name":"text","shape":[1],"datatype":"FP32","data":[1.0]}]}"#, "datatype \"BYTES\"")
        expect(#"{"inputs":[{"name":"text","shape":[2,2],"datatype":"BYTES","data":["a","b","c","d"]}]}"#, "one per row")
        expect(#"{"inputs":[{"name":"text","shape":[-1],"datatype":"BYTES","data":["a"]}]}"#, "shape[0]")
        expect(#"{"inputs":[{"name":"text","shape":[1.5],"datatype":"BYTES","data":["a"]}]}"#, "shape[0]")
        expect(#"{"inputs":[{"name":"text","shape":"1","datatype":"BYTES","data":["a"]}]}"#, "shape: must be a non-empty array")
        expect(#"{"inputs":[{"name":"text","shape":[2],"datatype":"BYTES","data":["a"]}]}"#, "holds 1 texts; shape [2] needs 2")
        expect(#"{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":[1]}]}"#, "data[0]: must be a text")
        expect(#"{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":[["a"]]}]}"#, "data[0]: must be a text")
        expect(#"{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES"}]}"#, "data: is missing")
        expect(#"{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":["a"],"parameters":{"binary_data_size":3}}]}"#, "both")
        expect(#"{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":["a"]},{"name":"text","shape":[1],"datatype":"BYTES","data":["a"]}]}"#, "given twice")
        expect(#"{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":["a"]}],"outputs":[{"name":"logits"}]}"#, "no tensor \"logits\"")
        expect(#"{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":["a"]}],"outputs":[{"name":"label"},{"name":"label"}]}"#, "asked for twice")
        expect(#"{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":["a"]}],"outputs":[{"name":"label","parameters":{"binary_data":1}}]}"#, "binary_data: must be true or false")
        expect(#"{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":["a"]}],"outputs":[{"name":"label","parameters":{"classification":2}}]}"#, "classification applies")
        expect(#"{"parameters":[],"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":["a"]}]}"#, "parameters: must be an object")
    }

    func testDeepNesting_isRefusedBeforeParsing() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        XCTAssertEqual(decodeError(Array(deep.utf8)), .nestedTooDeep(limit: InferenceLimits.maxJSONDepth))
        // Brackets inside strings do not count.
        let json = #"{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":["\#(String(repeating: "[{", count: 100))"]}]}"#
        XCTAssertNil(decodeError(Array(json.utf8)))
    }

    func testEmptyShape_givesNoTexts() throws {
        let json = #"{"inputs":[{"name":"text","shape":[0],"datatype":"BYTES","data":[]}]}"#
        XCTAssertEqual(try InferenceRequestDecoder.decode(body: Array(json.utf8), inferenceHeaderLength: nil).texts, [])
    }

    func testV1Forms() throws {
        XCTAssertEqual(try PredictV1.decode(body: Array(#"{"instances":["a","b"]}"#.utf8)), ["a", "b"])
        XCTAssertEqual(try PredictV1.decode(body: Array(#"{"instances":[{"text":"a"},"b"]}"#.utf8)), ["a", "b"])
        XCTAssertEqual(try PredictV1.decode(body: Array(#"{"inputs":["a"]}"#.utf8)), ["a"])
        XCTAssertEqual(try PredictV1.decode(body: Array(#"{"inputs":{"text":["a","b"]}}"#.utf8)), ["a", "b"])
        for bad in [#"{}"#, #"{"instances":"a"}"#, #"{"instances":[1]}"#, #"{"instances":[{"txt":"a"}]}"#,
                    #"{"instances":["a"],"inputs":["b"]}"#, "nope", #"{"instances":[{"text":3}]}"#] {
            XCTAssertThrowsError(try PredictV1.decode(body: Array(bad.utf8)), bad)
        }
    }
}
