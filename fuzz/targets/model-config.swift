// config.json of a model folder (ModelConfig): the JSON reader and every field's check. A config that loads must
// survive its own round trip (jsonObject() read back gives the same config).
import Foundation
import SentimentCore
import SentimentCheckpoint

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    guard let value = try? JSONValue.parse(bytes), case let .object(obj) = value else { return 0 }
    do {
        let config = try ModelConfig(json: obj, path: "config.json")
        let again = try ModelConfig(json: config.jsonObject(), path: "config.json")
        precondition(again == config, "config.json does not round-trip")
    } catch is ConfigError {
    } catch {
        fatalError("config.json threw something other than ConfigError: \(error)")
    }
    return 0
}
