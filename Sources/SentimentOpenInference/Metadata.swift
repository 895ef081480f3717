import Foundation

/// `GET /v2`: who answers and which extensions it speaks.
public struct ServerMetadata: Codable, Sendable, Equatable {
    public var name: String
    public var version: String
    public var extensions: [String]

    public init(name: String, version: String, extensions: [String]) {
        self.name = name
        self.version = version
        self.extensions = extensions
    }
}

/// One tensor of a model's metadata: `-1` is a dimension of any size.
public struct TensorMetadata: Codable, Sendable, Equatable {
    public var name: String
    public var datatype: String
    public var shape: [Int]

    public init(name: String, datatype: String, shape: [Int]) {
        self.name = name
        self.datatype = datatype
        self.shape = shape
    }
}

/// `GET /v2/models/{name}[/versions/{version}]`.
public struct ModelMetadata: Codable, Sendable, Equatable {
    public var name: String
    public var versions: [String]
    public var platform: String
    public var inputs: [TensorMetadata]
    public var outputs: [TensorMetadata]

    /// A sentiment model's metadata: the tensors of `SentimentTensors`, `labelCount` probabilities per text.
    public init(name: String, versions: [String], labelCount: Int) {
        self.name = name
        self.versions = versions
        platform = "sentimentd"
        inputs = [TensorMetadata(name: SentimentTensors.input, datatype: "BYTES", shape: [-1])]
        outputs = [
            TensorMetadata(name: SentimentTensors.probabilities, datatype: "FP32", shape: [-1, labelCount]),
            TensorMetadata(name: SentimentTensors.label, datatype: "BYTES", shape: [-1]),
        ]
    }
}

/// `GET /v2/models/{name}[/versions/{version}]/ready`.
public struct ModelReadiness: Codable, Sendable, Equatable {
    public var name: String
    public var ready: Bool
    public init(name: String, ready: Bool) {
        self.name = name
        self.ready = ready
    }
}

/// `GET /v2/health/live` and `/v2/health/ready`.
public struct HealthAnswer: Codable, Sendable, Equatable {
    public var live: Bool?
    public var ready: Bool?
    public init(live: Bool? = nil, ready: Bool? = nil) {
        self.live = live
        self.ready = ready
    }
}
