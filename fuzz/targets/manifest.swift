// The checkpoint manifest (`sentimentd.json` in a model folder): decode, and encode-decode round trip of
// whatever decodes. Errors must be CheckpointManifest.Problem.
import Foundation
import SentimentCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    do {
        let manifest = try CheckpointManifest.decode(bytes)
        let again = try CheckpointManifest.decode(try manifest.encoded())
        precondition(again == manifest, "manifest does not round-trip")
    } catch is CheckpointManifest.Problem {
    } catch {
        fatalError("manifest threw something other than CheckpointManifest.Problem: \(error)")
    }
    return 0
}
