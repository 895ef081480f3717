import Foundation
import SentimentCore
@testable import SentimentProtocol
import XCTest

/// How `sentimentctl import` cuts a read label file (SentimentCore's `LabelFile`) into labels.import.chunk requests.
final class LabelImportChunkTests: XCTestCase {
    // MARK: Import chunks

    private func requestLine(_ chunk: LabelImportChunk) throws -> Int {
        let params = LabelsImportChunkMethod.Params(importID: Int64.max, items: chunk.items,
                                                    problems: chunk.problems.isEmpty ? nil : chunk.problems)
        return try RPCRequest(LabelsImportChunkMethod.self, id: .int(Int64.max), params: params).encodedLine().count
    }

    func testImportChunks_keepOrderRespectBothLimitsAndCarryProblemsFirst() throws {
        let awkward = ["plain", "quotes \" and \\ backslashes", "control \u{01}\u{1F} and\nnewline", "emoji 😀 and é",
                       String(repeating: "long text ", count: 300)]
        let items = (0..<500).map { i in
            LabelItem(text: awkward[i % awkward.count] + " \(i)",
                      label: i % 3 == 0 ? .index(i % 3) : .name(i % 2 == 0 ? "positive" : "a-rather-long-label-name"), line: i + 1)
        }
        let problems = (0..<30).map { LabelProblem(line: 1000 + $0, reason: "\"label\" is missing \u{7}") }
        for (maxItems, maxBytes) in [(64, 16_384), (500, 65_536), (7, 1 << 20), (1, 4_096)] {
            let chunks = LabelImportChunk.plan(items: items, problems: problems, maxItems: maxItems, maxBytes: maxBytes)
            XCTAssertEqual(chunks.flatMap(\.items), items, "items kept in order (\(maxItems), \(maxBytes))")
            XCTAssertEqual(chunks.flatMap(\.problems), problems, "problems kept in order")
            XCTAssertTrue(chunks.allSatisfy { $0.items.count <= maxItems && $0.problems.count <= maxItems })
            for (i, chunk) in chunks.enumerated() {
                let bytes = try requestLine(chunk)
                XCTAssertLessThanOrEqual(bytes, maxBytes, "chunk \(i) of plan (\(maxItems), \(maxBytes)) is \(bytes) bytes")
            }
            if maxItems >= problems.count {
                XCTAssertEqual(chunks[0].problems, problems, "all problems in the first chunk when they fit")
            }
        }
        // Not wasteful either: with a generous byte limit the item limit decides.
        XCTAssertEqual(LabelImportChunk.plan(items: items, problems: [], maxItems: 64, maxBytes: 1 << 20).map(\.items.count),
                       Array(repeating: 64, count: 7) + [52])
    }

    func testImportChunks_anItemTooBigAloneStillGoesAndProblemsWithoutItemsAreSent() {
        let huge = LabelItem(text: String(repeating: "x", count: 10_000), label: .index(0), line: 1)
        let small = LabelItem(text: "small", label: .index(1), line: 2)
        let chunks = LabelImportChunk.plan(items: [huge, small], problems: [], maxItems: 10, maxBytes: 1_000)
        XCTAssertEqual(chunks.map(\.items), [[huge], [small]])

        let onlyProblems = LabelImportChunk.plan(items: [], problems: [LabelProblem(line: 3, reason: "bad")], maxItems: 10, maxBytes: 1_000)
        XCTAssertEqual(onlyProblems, [LabelImportChunk(items: [], problems: [LabelProblem(line: 3, reason: "bad")])])
    }
}
