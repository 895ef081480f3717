// Label files (sentimentctl import, sentimentd finetune): JSON Lines, a JSON array, CSV and a TweetEval pair.
// Input: the first byte picks the format (mod 4); for TweetEval the rest is the text file, a NUL byte, then the
// labels file. Every outcome must be items + problems or a LabelFileError, never a trap.
import Foundation
import SentimentCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let body = Data(bytes: data + 1, count: size - 1)
    do {
        switch data[0] % 4 {
        case 0: check(try LabelFile.parse(body, format: .jsonl, name: "fuzz.jsonl"))
        case 1: check(try LabelFile.parse(body, format: .json, name: "fuzz.json"))
        case 2: check(try LabelFile.parse(body, format: .csv, name: "fuzz.csv"))
        default:
            let nul = body.firstIndex(of: 0) ?? body.endIndex
            let text = body[body.startIndex..<nul]
            let labels = nul < body.endIndex ? body[(nul + 1)...] : Data()
            check(try LabelFile.parseTweetEval(text: Data(text), labels: Data(labels), textName: "fuzz_text.txt",
                                               labelsName: "fuzz_labels.txt"))
        }
    } catch is LabelFileError {
    } catch {
        fatalError("label files threw something other than LabelFileError: \(error)")
    }
    return 0
}

/// What a parse promises: every item has a non-empty text and problems carry a line.
private func check(_ parsed: LabelFile.Parsed) {
    for problem in parsed.problems { precondition(problem.line >= 0, "problem without a line") }
    _ = parsed.items.count
}
