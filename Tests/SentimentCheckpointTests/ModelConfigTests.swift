import XCTest
@testable import SentimentCheckpoint
import SentimentCore

final class ModelConfigTests: XCTestCase {
    func testUnknownModelTypeIsRejectedByName() throws {
        let obj: [String: JSONValue] = ["model_type": .string("gpt2"), "hidden_size": .number(8)]
        XCTAssertThrowsError(try ModelConfig(json: obj, path: "x/config.json")) { error in
            XCTAssertEqual(error as? ConfigError, .unsupportedModelType(path: "x/config.json", modelType: "gpt2"))
        }
    }
}
