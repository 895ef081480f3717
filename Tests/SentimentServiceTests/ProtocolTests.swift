import Foundation
import SentimentProtocol
import XCTest
@testable import SentimentService

final class ProtocolTests: XCTestCase {
    private func parse(_ line: String) -> Result<RPCRequest, RPCFailure> {
        RPCRequest.parse(line: Data(line.utf8))
    }

    private func failure(_ line: String, file: StaticString = #filePath, line l: UInt = #line) -> RPCFailure? {
        if case let .failure(f) = parse(line) { return f }
        XCTFail("expected a failure for \(line)", file: file, line: l)
        return nil
    }

    func testParse_acceptsIntegerStringAndNullIDs() throws {
        for (raw, id) in [("7", RPCID.int(7)), ("\"abc\"", .string("abc")), ("null", .null)] {
            let r = try parse(#"{"jsonrpc":"2.0","id":\#(raw),"method":"status"}"#).get()
            XCTAssertEqual(r.id, id)
            XCTAssertEqual(r.method, "status")
            XCTAssertFalse(r.isNotification)
        }
    }

    func testParse_withoutIDIsANotification() throws {
        let r = try parse(#"{"jsonrpc":"2.0","method":"status"}"#).get()
        XCTAssertNil(r.id)
        XCTAssertTrue(r.isNotification)
    }

    func testParse_notJSONIsParseError() {
        let f = failure("{not json")
        XCTAssertEqual(f?.error.code, .parseError)
        XCTAssertEqual(f?.id, .null)
    }

    func testParse_structuralProblemsAreInvalidRequestsWithTheIDWhenKnown() {
        XCTAssertEqual(failure(#"[1,2]"#)?.error.code, .invalidRequest)
        XCTAssertEqual(failure(#""hello""#)?.error.code, .invalidRequest)
        let wrongVersion = failure(#"{"jsonrpc":"1.0","id":3,"method":"status"}"#)
        XCTAssertEqual(wrongVersion?.error.code, .invalidRequest)
        XCTAssertEqual(wrongVersion?.id, .int(3))
        XCTAssertEqual(failure(#"{"jsonrpc":"2.0","id":4}"#)?.error.code, .invalidRequest)
        XCTAssertEqual(failure(#"{"jsonrpc":"2.0","id":4,"method":5}"#)?.error.code, .invalidRequest)
        XCTAssertEqual(failure(#"{"jsonrpc":"2.0","id":1.5,"method":"status"}"#)?.error.code, .invalidRequest)
        XCTAssertEqual(failure(#"{"jsonrpc":"2.0","id":1,"method":"status","params":3}"#)?.error.code, .invalidRequest)
        let extra = failure(#"{"jsonrpc":"2.0","id":1,"method":"status","extra":true}"#)
        XCTAssertEqual(extra?.error.code, .invalidRequest)
        XCTAssertTrue(extra?.error.message.contains("extra") ?? false)
    }

    func testDecodeParams_namesTheMemberThatIsWrong() throws {
        let r = try parse(#"{"jsonrpc":"2.0","id":1,"method":"predict","params":{"texts":["a",5]}}"#).get()
        XCTAssertThrowsError(try r.decodeParams(PredictMethod.Params.self)) { error in
            guard let e = error as? RPCError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.code, .invalidParams)
            XCTAssertTrue(e.message.contains("texts[1]"), e.message)
        }
        let missing = try parse(#"{"jsonrpc":"2.0","id":1,"method":"predict","params":{}}"#).get()
        XCTAssertThrowsError(try missing.decodeParams(PredictMethod.Params.self)) { error in
            XCTAssertTrue("\(error)".contains("texts"), "\(error)")
        }
    }

    func testNoParams_acceptsAbsentObjectAndArray() throws {
        for params in ["", #","params":{}"#, #","params":[]"#] {
            let r = try parse(#"{"jsonrpc":"2.0","id":1,"method":"status"\#(params)}"#).get()
            XCTAssertNoThrow(try r.decodeParams(NoParams.self))
        }
    }

    func testTypedRequest_roundTripsThroughALine() throws {
        let request = try RPCRequest(PredictMethod.self, id: .string("x"), params: .init(texts: ["é ✓", "b"], model: "v2"))
        let parsed = try RPCRequest.parse(line: request.encodedLine()).get()
        XCTAssertEqual(parsed, request)
        XCTAssertEqual(try parsed.decodeParams(PredictMethod.Params.self), .init(texts: ["é ✓", "b"], model: "v2"))
    }

    func testResponse_successAndErrorRoundTrip() throws {
        let result = PredictMethod.Result(model: "v1", labels: ["negative", "neutral", "positive"], predictions: [
            .init(label: "positive", labelIndex: 2, probabilities: [0.1, 0.2, 0.7], tokens: 5, truncated: false),
        ])
        let line = try RPCResponse.encodeSuccess(id: .int(9), result: result)
        guard case let .success(id, value) = try RPCResponse.parse(line: line) else { return XCTFail() }
        XCTAssertEqual(id, .int(9))
        XCTAssertEqual(try value.decode(PredictMethod.Result.self), result)

        let error = RPCError.tooManyTexts(count: 300, limit: 256)
        let errorLine = RPCResponse.encodeFailure(id: .string("q"), error: error.wireObject)
        guard case let .failure(eid, object) = try RPCResponse.parse(line: errorLine) else { return XCTFail() }
        XCTAssertEqual(eid, .string("q"))
        XCTAssertEqual(object.code, -32006)
        XCTAssertEqual(object.knownCode, .tooManyTexts)
        XCTAssertEqual(object.data?.kind, "too_many_texts")
        XCTAssertTrue(object.message.contains("300") && object.message.contains("256"), object.message)
    }

    func testFloatProbabilities_surviveTheWireExactly() throws {
        let probabilities: [Float] = [0.123456789, 1e-7, 0.87654321 - 1e-7]
        let p = PredictMethod.Prediction(label: "a", labelIndex: 0, probabilities: probabilities, tokens: 3, truncated: false)
        let line = try RPCResponse.encodeSuccess(id: .int(1), result: p)
        guard case let .success(_, value) = try RPCResponse.parse(line: line) else { return XCTFail() }
        XCTAssertEqual(try value.decode(PredictMethod.Prediction.self).probabilities, probabilities)
    }

    func testErrorCodes_areDistinctAndInTheirRanges() {
        let codes = RPCErrorCode.allCases.map(\.rawValue)
        XCTAssertEqual(Set(codes).count, codes.count)
        XCTAssertEqual(Set(RPCErrorCode.allCases.map(\.kind)).count, codes.count)
        for code in RPCErrorCode.allCases {
            XCTAssertTrue((-32700 ... -32600).contains(code.rawValue) || (-32099 ... -32000).contains(code.rawValue), "\(code)")
        }
    }

    func testUnauthorisedMessage_saysWhoHoldsTheRoleAndWhoAsked() {
        let rule = Authorizer(daemonUID: 998, labellerGroup: "sentimentd-label", adminGroup: "sentimentd-admin")
        let caller = Caller.peer(PeerCredentials(pid: 1, uid: 1000, gid: 1000))
        guard case let .failure(error) = rule.authorize(caller, needs: .admin, for: "rollback") else {
            return XCTFail("uid 1000 without groups was allowed to roll back")
        }
        XCTAssertTrue(error.message.contains("rollback needs the admin role"), error.message)
        XCTAssertTrue(error.message.contains("uid 1000"), error.message)
        XCTAssertTrue(error.message.contains("uid 998"), error.message)
        XCTAssertTrue(error.message.contains("\"sentimentd-admin\""), error.message)
        XCTAssertTrue(error.message.contains("holds the reader role"), error.message)
        XCTAssertEqual(error.wireObject.data?.neededRole, .admin)
        XCTAssertEqual(error.wireObject.data?.role, .reader)
        let labeller = rule.holders(of: .labeller)
        XCTAssertTrue(labeller.contains("sentimentd-label") && labeller.contains("sentimentd-admin"), labeller)
        XCTAssertEqual(Authorizer(daemonUID: 998).holders(of: .admin),
                       "uid 0 and uid 998 (the daemon's user) (server.admin_group is empty)")
        // Root and the daemon's own user are admins whatever the groups.
        XCTAssertEqual(rule.role(of: PeerCredentials(pid: 1, uid: 0, gid: 0)), .admin)
        XCTAssertEqual(rule.role(of: PeerCredentials(pid: 1, uid: 998, gid: 5)), .admin)
        // A reader group leaves everyone else without a role.
        var closed = rule
        closed.readerGroup = "a-group-that-does-not-exist-here"
        XCTAssertNil(closed.role(of: PeerCredentials(pid: 1, uid: 1000, gid: 1000)))
    }
}
