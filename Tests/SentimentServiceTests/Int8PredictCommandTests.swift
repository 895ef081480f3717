import Foundation
import SentimentCore
import XCTest

/// `sentimentd predict --precision int8`, the real binary: the same labels as fp32 within the int8 rounding, the
/// same bits on every kernel path (forced with SENTIMENTD_INT8_KERNELS), and a bad value named.
final class Int8PredictCommandTests: XCTestCase {
    private let folder = TestPaths.tinyRoberta.path
    private let texts = ["good day", "what a terrible film", "the meeting is at noon", "I love it", "so boring"]

    private func predict(_ extra: [String], environment: [String: String] = [:]) throws -> [[String: JSONValue]] {
        let r = try runExecutable("sentimentd", ["predict", "--json", "--model", folder, "--normalize", "off"] + extra + texts,
                                  environment: environment)
        XCTAssertEqual(r.status, 0, r.err)
        return try r.out.split(separator: "\n").map { line in
            guard case let .object(o) = try JSONValue.parse(Data(line.utf8)) else { throw CocoaError(.coderInvalidValue) }
            return o
        }
    }

    private func scores(_ row: [String: JSONValue]) -> [Double] {
        guard case let .object(s)? = row["scores"] else { return [] }
        return s.keys.sorted().compactMap { key -> Double? in
            switch s[key] {
            case let .double(v)?: return v
            case let .int(v)?: return Double(v)
            default: return nil
            }
        }
    }

    func testPredict_int8_agreesWithFP32_andIsTheSameOnEveryKernelPath() throws {
        let fp32 = try predict([])
        let int8 = try predict(["--precision", "int8"])
        XCTAssertEqual(fp32.count, texts.count)
        XCTAssertEqual(int8.count, texts.count)
        var differs = false
        for (a, b) in zip(fp32, int8) {
            XCTAssertEqual(a["label"], b["label"])
            for (p, q) in zip(scores(a), scores(b)) {
                XCTAssertEqual(p, q, accuracy: 0.03)   // within Int8ForwardTests' bounds (other texts than its own)
                differs = differs || p != q
            }
        }
        XCTAssertTrue(differs, "--precision int8 printed fp32's probabilities")
        for path in ["portable", "avx2", "avx512vnni"] {
            let forced = try predict(["--precision", "int8"], environment: ["SENTIMENTD_INT8_KERNELS": path])
            XCTAssertEqual(forced.map { scores($0) }, int8.map { scores($0) }, "SENTIMENTD_INT8_KERNELS=\(path)")
        }
    }

    func testPredict_badPrecision_isNamed() throws {
        let r = try runExecutable("sentimentd", ["predict", "--model", folder, "--precision", "int4", "x"])
        XCTAssertEqual(r.status, 64, r.err)
        XCTAssertTrue(r.err.contains("int4") && r.err.contains("--precision"), r.err)
    }
}
