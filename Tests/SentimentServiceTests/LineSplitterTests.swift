import NIOCore
@testable import SentimentService
import XCTest

final class LineSplitterTests: XCTestCase {
    private func frames(_ chunks: [String], max: Int, atEOF: Bool = false) -> [String] {
        var splitter = LineSplitter(maxLineBytes: max)
        var buffer = ByteBuffer()
        var out: [String] = []
        func describe(_ f: LineFrame) -> String {
            switch f {
            case let .line(b): return String(buffer: b)
            case .tooLong: return "<too long>"
            }
        }
        for chunk in chunks {
            buffer.writeString(chunk)
            while let f = splitter.next(&buffer) { out.append(describe(f)) }
        }
        if atEOF, let f = splitter.finish(&buffer) { out.append(describe(f)) }
        return out
    }

    func testSplitsAtNewlinesAcrossChunksAndDropsCR() {
        XCTAssertEqual(frames(["ab", "c\nde", "f\r\ng", "hi\n"], max: 10), ["abc", "def", "ghi"])
    }

    func testLineOfExactlyTheLimitPasses_oneMoreByteDoesNot() {
        XCTAssertEqual(frames(["12345\n", "12345\r\n", "123456\n", "ok\n"], max: 5), ["12345", "12345", "<too long>", "ok"])
    }

    func testOverlongLineWithoutNewlineIsReportedOnceThenSkippedUntilItsEnd() {
        let chunks = [String(repeating: "x", count: 8), String(repeating: "y", count: 50), "zz\nnext\n"]
        XCTAssertEqual(frames(chunks, max: 5), ["<too long>", "next"])
    }

    func testLastLineWithoutNewlineIsDeliveredAtEOF() {
        XCTAssertEqual(frames(["a\nlast"], max: 10, atEOF: true), ["a", "last"])
        XCTAssertEqual(frames(["a\nlast"], max: 10, atEOF: false), ["a"])
    }

    func testEmptyLinesAreFramesToo() {
        XCTAssertEqual(frames(["\n\r\nx\n"], max: 4), ["", "", "x"])
    }
}
