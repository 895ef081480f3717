// config.json of a model folder (ModelConfig): the JSON reader and every field's check. A config that loads must
// load again as written back (jsonObject(), what a published version's config.json is), and that writing must be
// stable (the raw JSON is kept, so only the written form is compared: layer_norm_eps goes through Float once).
import Foundation
import SentimentCore
import SentimentCheckpoint

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    guard let value = try? JSONValue.parse(bytes), case let .object(obj) = value else { return 0 }
    do {
        let config = try ModelConfig(json: obj, path: "config.json")
        let written = config.jsonObject()
        let again: ModelConfig
        do { again = try ModelConfig(json: written, path: "config.json") } catch {
            fatalError("a config.json that loaded does not load once written back: \(error)")
        }
        precondition(again.jsonObject() == written, "config.json written back twice differs")
    } catch is ConfigError {
    } catch {
        fatalError("config.json threw something other than ConfigError: \(error)")
    }
    return 0
}
