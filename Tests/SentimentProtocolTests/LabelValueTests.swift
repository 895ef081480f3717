import Foundation
import SentimentProtocol
import XCTest
import SentimentCore

final class LabelValueTests: XCTestCase {
    func testLabelDecodesAsNameOrIndex() throws {
        let json = #"[{"text":"a","label":"positive"},{"text":"b","label":2,"line":7}]"#
        let items = try RPCCoding.decoder().decode([LabelItem].self, from: Data(json.utf8))
        XCTAssertEqual(items, [LabelItem(text: "a", label: .name("positive")),
                               LabelItem(text: "b", label: .index(2), line: 7)])
        XCTAssertThrowsError(try RPCCoding.decoder().decode([LabelItem].self, from: Data(#"[{"text":"a","label":true}]"#.utf8)))
        XCTAssertThrowsError(try RPCCoding.decoder().decode([LabelItem].self, from: Data(#"[{"label":"x"}]"#.utf8)))
    }

    func testLabelsRejectedCarriesProblemsOnTheWire() throws {
        let problems = [LabelProblem(line: 3, reason: "unknown label \"postive\"")]
        let error = RPCError.labelsRejected(problems: problems, count: 1)
        let wire = error.wireObject
        XCTAssertEqual(wire.data?.kind, "labels_rejected")
        XCTAssertEqual(wire.data?.problems, problems)
        XCTAssertTrue(wire.message.contains("line 3"), wire.message)
        let round = try RPCCoding.decoder().decode(RPCErrorObject.self, from: RPCCoding.encoder().encode(wire))
        XCTAssertEqual(round, wire)
    }
}
