import Foundation
import SentimentCore

/// The TF Serving / KServe v1 form, for people with curl: `POST /v1/models/{name}:predict` with
/// `{"instances": [...]}` (row form) or `{"inputs": [...]}` (column form), answered `{"predictions": [...]}`, one
/// prediction per text in order. An instance is a text, or an object with the text under `"text"` (the model's
/// input name, as TF Serving names row-form inputs).
public enum PredictV1 {
    public static func decode(body: [UInt8]) throws(InferenceProtocolError) -> [String] {
        let root = try JSONReading.parse(body[...])
        guard case let .object(members) = root else {
            throw .invalidField(path: "the request", problem: "must be a JSON object like {\"instances\": [\"a text\"]}, "
                + "not \(root.typeName)")
        }
        let key: String
        switch (members["instances"], members["inputs"]) {
        case (_?, _?): throw .invalidField(path: "the request", problem: "has both \"instances\" and \"inputs\"; give one")
        case (_?, nil): key = "instances"
        case (nil, _?): key = "inputs"
        case (nil, nil): throw .invalidField(path: "instances", problem: "is missing: {\"instances\": [\"a text\", ...]}")
        }
        var raw = members[key]!
        // Column form may name the input: {"inputs": {"text": [...]}}.
        if key == "inputs", case let .object(o) = raw {
            guard o.count == 1, let texts = o[SentimentTensors.input] else {
                throw .invalidField(path: "inputs", problem: "as an object must have one member, \"\(SentimentTensors.input)\"")
            }
            raw = texts
        }
        guard case let .array(items) = raw else {
            throw .invalidField(path: key, problem: "must be an array of texts, not \(raw.typeName)")
        }
        var texts: [String] = []
        texts.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            switch item {
            case let .string(s):
                texts.append(s)
            case let .object(o) where key == "instances":
                guard o.count == 1, let value = o[SentimentTensors.input] else {
                    throw .invalidField(path: "instances[\(i)]", problem: "an instance object has one member, "
                        + "\"\(SentimentTensors.input)\" (found \(o.keys.sorted().map { "\"\($0)\"" }.joined(separator: ", ")))")
                }
                guard case let .string(s) = value else {
                    throw .invalidField(path: "instances[\(i)].text", problem: "must be a string, not \(value.typeName)")
                }
                texts.append(s)
            default:
                throw .invalidField(path: "\(key)[\(i)]", problem: "must be a text (a JSON string), not \(item.typeName)")
            }
        }
        return texts
    }

    public static func encode(modelVersion: String, result: ClassifiedTexts) -> [UInt8] {
        let predictions = zip(result.probabilities, result.labelIndexes).map { row, index in
            Prediction(label: result.labels.indices.contains(index) ? result.labels[index] : String(index),
                       labelIndex: index,
                       scores: Dictionary(zip(result.labels, row), uniquingKeysWith: { a, _ in a }))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(Response(predictions: predictions, modelVersion: modelVersion)))
            .map { [UInt8]($0) } ?? []
    }

    struct Response: Encodable {
        var predictions: [Prediction]
        var modelVersion: String
        enum CodingKeys: String, CodingKey {
            case predictions
            case modelVersion = "model_version"
        }
    }

    struct Prediction: Encodable {
        var label: String
        var labelIndex: Int
        /// Probability per label name.
        var scores: [String: Float]
        enum CodingKeys: String, CodingKey {
            case label
            case labelIndex = "label_index"
            case scores
        }
    }
}
