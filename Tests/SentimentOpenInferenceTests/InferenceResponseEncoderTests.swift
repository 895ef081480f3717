import Foundation
import SentimentOpenInference
import XCTest

/// The response encoder: JSON outputs, the binary section's layout (what tritonclient reads), and the
/// classification extension.
final class InferenceResponseEncoderTests: XCTestCase {
    let result = ClassifiedTexts(labels: ["negative", "neutral", "positive"],
                                 probabilities: [[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]], labelIndexes: [2, 0])

    func request(_ outputs: [RequestedOutput]) -> InferenceRequest {
        InferenceRequest(id: "r1", texts: ["a", "b"], outputs: outputs)
    }

    func json(_ bytes: ArraySlice<UInt8>) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    func testJSONOutputs() throws {
        let encoded = InferenceResponseEncoder.encode(
            modelName: "sentiment", modelVersion: "v3",
            request: request([RequestedOutput(name: "probabilities", binary: false), RequestedOutput(name: "label", binary: false)]),
            result: result)
        XCTAssertNil(encoded.jsonLength)
        let object = try json(encoded.body[...])
        XCTAssertEqual(object["model_name"] as? String, "sentiment")
        XCTAssertEqual(object["model_version"] as? String, "v3")
        XCTAssertEqual(object["id"] as? String, "r1")
        let outputs = try XCTUnwrap(object["outputs"] as? [[String: Any]])
        XCTAssertEqual(outputs[0]["shape"] as? [Int], [2, 3])
        XCTAssertEqual(outputs[0]["datatype"] as? String, "FP32")
        XCTAssertEqual((outputs[0]["data"] as? [Double])?.map { Float($0) }, [0.1, 0.2, 0.7, 0.6, 0.3, 0.1])
        XCTAssertEqual(outputs[1]["data"] as? [String], ["positive", "negative"])
        XCTAssertEqual(outputs[1]["shape"] as? [Int], [2])
    }

    func testBinaryOutputs_layoutInRequestedOrder() throws {
        let encoded = InferenceResponseEncoder.encode(
            modelName: "sentiment", modelVersion: "v3",
            request: request([RequestedOutput(name: "label", binary: true), RequestedOutput(name: "probabilities", binary: true)]),
            result: result)
        let jsonLength = try XCTUnwrap(encoded.jsonLength)
        let outputs = try XCTUnwrap(try json(encoded.body[..<jsonLength])["outputs"] as? [[String: Any]])
        let labelSize = try XCTUnwrap((outputs[0]["parameters"] as? [String: Any])?["binary_data_size"] as? Int)
        let probSize = try XCTUnwrap((outputs[1]["parameters"] as? [String: Any])?["binary_data_size"] as? Int)
        XCTAssertNil(outputs[0]["data"])
        XCTAssertEqual(labelSize, 4 + 8 + 4 + 8)
        XCTAssertEqual(probSize, 6 * 4)
        XCTAssertEqual(encoded.body.count, jsonLength + labelSize + probSize)
        let labels = try BinaryTensorData.decodeBytesElements(encoded.body[jsonLength..<(jsonLength + labelSize)], path: "t")
        XCTAssertEqual(labels.map { String(decoding: $0, as: UTF8.self) }, ["positive", "negative"])
        let floats = try BinaryTensorData.decodeFP32(encoded.body[(jsonLength + labelSize)...], path: "t")
        XCTAssertEqual(floats, [0.1, 0.2, 0.7, 0.6, 0.3, 0.1])
    }

    func testClassificationExtension() throws {
        let encoded = InferenceResponseEncoder.encode(
            modelName: "m", modelVersion: "v", request: request([RequestedOutput(name: "probabilities", binary: false, classCount: 2)]),
            result: result)
        let outputs = try XCTUnwrap(try json(encoded.body[...])["outputs"] as? [[String: Any]])
        XCTAssertEqual(outputs[0]["datatype"] as? String, "BYTES")
        XCTAssertEqual(outputs[0]["shape"] as? [Int], [2, 2])
        XCTAssertEqual(outputs[0]["data"] as? [String], ["0.7:2:positive", "0.2:1:neutral", "0.6:0:negative", "0.3:1:neutral"])
    }

    func testV1Answer() throws {
        let object = try json(PredictV1.encode(modelVersion: "v3", result: result)[...])
        let predictions = try XCTUnwrap(object["predictions"] as? [[String: Any]])
        XCTAssertEqual(predictions.map { $0["label"] as? String }, ["positive", "negative"])
        XCTAssertEqual((predictions[0]["scores"] as? [String: Double])?["positive"].map { Float($0) }, 0.7)
    }

    func testErrorBody() throws {
        XCTAssertEqual(try json(ErrorBody("bad \"thing\"").encoded[...])["error"] as? String, "bad \"thing\"")
    }
}
