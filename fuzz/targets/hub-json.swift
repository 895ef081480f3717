// The hub's answers as `sentimentctl pull` reads them: the model-info JSON (HubModelInfo.decode) and the file
// choice made from it (CheckpointFileSelection.choose), a sharded checkpoint's index JSON (shardNames), the
// Content-Range and ETag headers, and an error answer's message. The first byte picks which; the rest is the
// answer. Errors must be HubError.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SentimentCore
@testable import SentimentHub

private let url = URL(string: "https://huggingface.co/api/models/cardiffnlp/x/revision/main")!
private let repo = try! HubRepositoryID("cardiffnlp/twitter-roberta-base-sentiment-latest")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let body = Data(bytes: data + 1, count: size - 1)
    let text = String(decoding: body, as: UTF8.self)
    do {
        switch data[0] % 6 {
        case 0, 1:
            let info = try HubModelInfo.decode(body, url: url)
            _ = try CheckpointFileSelection.choose(from: info, repo: repo, revision: "main")
        case 2:
            _ = try CheckpointFileSelection.shardNames(fromIndex: body, indexName: "model.safetensors.index.json")
        case 3:
            if let range = HubResponse.contentRange(text) {
                precondition(range.first <= range.last, "content range with first > last")
            }
            _ = HubResponse.bareETag(text)
        case 4:
            _ = try HubRepositoryID(text)
        default:
            let response = HTTPURLResponse(url: url, statusCode: 500, httpVersion: "HTTP/1.1",
                                           headerFields: ["Content-Type": "application/json"])!
            _ = HubResponse.message(of: HTTPTransfer.Outcome(response: response, redirects: [], errorBody: body))
        }
    } catch is HubError {
    } catch {
        fatalError("hub parsing threw something other than HubError: \(error)")
    }
    return 0
}
