import Foundation
import XCTest
@testable import SentimentCheckpoint

final class SafetensorsFileTests: XCTestCase {
    typealias F = CheckpointFixtures

    func testEveryTensorReadsBackAsTorchConvertsIt() throws {
        let file = try SafetensorsFile(url: F.url("state.safetensors"))
        let expected = try F.expected()
        XCTAssertEqual(Set(file.tensorNames), Set(expected.keys))
        XCTAssertEqual(file.tensorNames, file.tensorNames.sorted())
        for (name, want) in expected {
            let info = try XCTUnwrap(file.info(name), name)
            XCTAssertEqual(info.dtype.rawValue, want.dtype, name)
            XCTAssertEqual(info.shape, want.shape, name)
            if want.refused == true {
                F.assertCheckpointError("unsupportedDType", file: "state.safetensors", detail: name) { try file.tensor(name) }
                continue
            }
            let tensor = try file.tensor(name)
            XCTAssertEqual(tensor.shape, want.shape, name)
            XCTAssertEqual(F.bits(tensor.values), want.bits, name)
        }
    }

    func testMetadataIsExposed() throws {
        let file = try SafetensorsFile(url: F.url("state.safetensors"))
        XCTAssertEqual(file.metadata, ["format": "pt", "source": "tools/fixtures_checkpoint.py"])
        XCTAssertEqual(try SafetensorsFile(url: F.url("st_valid.safetensors")).metadata, [:])
    }

    func testValidSurgeryBaseOpens() throws {
        let file = try SafetensorsFile(url: F.url("st_valid.safetensors"))
        XCTAssertEqual(file.tensorNames, ["a", "b"])
        XCTAssertEqual(try file.tensor("a").values, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(try file.tensor("b").values, [-1.5, -0.5, 0.5, 1.5])
        F.assertCheckpointError("noSuchTensor", file: "st_valid.safetensors", detail: "'c'") { try file.tensor("c") }
    }

    func testEveryBrokenFileIsRefusedWithItsError() throws {
        let cases = try F.badSafetensors()
        XCTAssertGreaterThan(cases.count, 15)
        for (name, expectedCase) in cases.sorted(by: { $0.key < $1.key }) {
            F.assertCheckpointError(expectedCase, file: name) { try SafetensorsFile(url: F.url(name)) }
        }
    }

    func testErrorMessagesNameTheTensorAndTheProblem() throws {
        func message(_ name: String) -> String {
            do { _ = try SafetensorsFile(url: F.url(name)); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message("st_overlap.safetensors").contains("'a' and 'b' overlap"))
        XCTAssertTrue(message("st_out_of_bounds.safetensors").contains("'b' data_offsets [24, 48]"))
        XCTAssertTrue(message("st_length_mismatch.safetensors").contains("shape [2, 2] of F32 but its data_offsets span 24 bytes"))
        XCTAssertTrue(message("st_bad_dtype.safetensors").contains("'F8_E9'"))
        XCTAssertTrue(message("st_negative_shape.safetensors").contains("found -1"))
        XCTAssertTrue(message("st_float_offsets.safetensors").contains("24.0"))
        XCTAssertTrue(message("st_duplicate_name.safetensors").contains("'a' appears more than once"))
        XCTAssertTrue(message("st_bad_metadata.safetensors").contains("'format'"))
        XCTAssertTrue(message("st_header_huge.safetensors").contains("18446744073709551615"))
    }

    func testEveryTruncationOfAValidFileIsRefusedNotCrashed() throws {
        try F.assertEveryTruncationIsRefused(self, fixture: "state.safetensors") { try SafetensorsFile(url: $0) }
    }

    func testRandomHeaderCorruptionNeverCrashes() throws {
        var data = try Data(contentsOf: F.url("state.safetensors"))
        let headerLength = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let dir = try F.temporaryDirectory(self)
        let scratch = CheckpointFixtures.ScratchFile(dir.appendingPathComponent("fuzz.safetensors"), length: data.count)
        let url = scratch.url
        var rng = CheckpointFixtures.SplitMix64(seed: 7)
        let original = data
        for _ in 0..<400 {
            data = original
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 8..<(8 + headerLength), using: &rng)
                data[i] = UInt8.random(in: 0x20...0x7E, using: &rng)
            }
            scratch.overwrite(data)
            // Either refused cleanly, or every tensor it claims is readable.
            guard let file = try? SafetensorsFile(url: url) else { continue }
            for name in file.tensorNames where ElementConversion.isFloatingPoint(file.info(name)!.dtype) {
                let t = try file.tensor(name)
                XCTAssertEqual(t.values.count, file.info(name)!.elementCount)
            }
        }
    }

    func testEmptyFileAndDirectoryAreRefused() throws {
        let dir = try F.temporaryDirectory(self)
        let empty = dir.appendingPathComponent("empty.safetensors")
        XCTAssertTrue(FileManager.default.createFile(atPath: empty.path, contents: Data()))
        F.assertCheckpointError("fileTooShort", file: "empty.safetensors") { try SafetensorsFile(url: empty) }
        F.assertCheckpointError("notARegularFile", file: dir.lastPathComponent, detail: "is a directory, not a regular file") { try SafetensorsFile(url: dir) }
        F.assertCheckpointError("cannotOpen", file: "nope.safetensors") { try SafetensorsFile(url: dir.appendingPathComponent("nope.safetensors")) }
    }

    func testZeroLengthTensorsMayShareAnOffset() throws {
        let header = #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"c":{"dtype":"F16","shape":[2,0],"data_offsets":[4,4]}}"#
        let file = try open(header: header, data: [0, 0, 0x80, 0x3F])
        XCTAssertEqual(try file.tensor("b").values, [1])
        XCTAssertEqual(try file.tensor("a").values, [])
        XCTAssertEqual(try file.tensor("c").shape, [2, 0])
    }

    func testUnalignedDataAndScalarsRead() throws {
        // Offsets need not be aligned: F32 at byte 2 and F64 at byte 6.
        var data: [UInt8] = [0x00, 0x3C]                              // F16 1.0
        data += withUnsafeBytes(of: Float(-3.5).bitPattern.littleEndian, Array.init)
        data += withUnsafeBytes(of: Double(0.1).bitPattern.littleEndian, Array.init)
        let header = #"{"h":{"dtype":"F16","shape":[],"data_offsets":[0,2]},"f":{"dtype":"F32","shape":[1,1],"data_offsets":[2,6]},"d":{"dtype":"F64","shape":[1],"data_offsets":[6,14]}}"#
        let file = try open(header: header, data: data)
        XCTAssertEqual(try file.tensor("h"), Tensor(shape: [], values: [1]))
        XCTAssertEqual(try file.tensor("f"), Tensor(shape: [1, 1], values: [-3.5]))
        XCTAssertEqual(try file.tensor("d").values, [Float(0.1)])
    }

    func testHeaderEscapesAndUnicodeNames() throws {
        let header = #"{"w\u00e9\"\\\n\ud83d\ude00":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        let file = try open(header: header, data: [0, 0, 0, 0])
        XCTAssertEqual(file.tensorNames, ["wé\"\\\n😀"])
    }

    func testHeaderJSONEdgeCasesAreRefused() throws {
        for bad in [#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},}"#,   // trailing comma
                    #"{"a":{"dtype":"F32","shape":[01],"data_offsets":[0,4]}}"#,  // leading zero
                    #"{"a\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, // lone surrogate
                    "{\"a\u{01}\":{}}",                                              // raw control character
                    #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} x"#,  // trailing data
                    String(repeating: "[", count: 100) + String(repeating: "]", count: 100)] {
            XCTAssertThrowsError(try open(header: bad, data: [0, 0, 0, 0]), bad) { error in
                XCTAssertEqual(F.caseName(error), "headerNotJSON", "\(bad): \(error)")
            }
        }
    }

    func testIntegerTensorsAreListedButRefused() throws {
        let header = #"{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"mask":{"dtype":"BOOL","shape":[2],"data_offsets":[8,10]}}"#
        let file = try open(header: header, data: [UInt8](repeating: 1, count: 10))
        XCTAssertEqual(file.info("ids"), TensorInfo(dtype: .i64, shape: [1]))
        XCTAssertEqual(file.info("mask"), TensorInfo(dtype: .bool, shape: [2]))
        XCTAssertThrowsError(try file.tensor("ids")) { XCTAssertEqual(F.caseName($0), "unsupportedDType") }
        XCTAssertThrowsError(try file.tensor("mask")) { XCTAssertEqual(F.caseName($0), "unsupportedDType") }
    }

    private func open(header: String, data: [UInt8]) throws -> SafetensorsFile {
        var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian, Array.init)
        bytes += Array(header.utf8) + data
        let dir = try F.temporaryDirectory(self)
        let url = dir.appendingPathComponent("t.safetensors")
        try Data(bytes).write(to: url)
        return try SafetensorsFile(url: url)
    }
}

final class HalfConversionTests: XCTestCase {
    /// Every one of the 65,536 half values against the hardware/stdlib conversion.
    func testAllHalfValuesConvertExactly() {
        #if arch(x86_64) || arch(arm64)
        for raw in 0...UInt16.max {
            let ours = ElementConversion.halfToFloat(raw)
            let reference = Float(Float16(bitPattern: raw))
            if reference.isNaN {
                XCTAssertTrue(ours.isNaN, "0x\(String(raw, radix: 16))")
                XCTAssertEqual(ours.sign, reference.sign)
            } else {
                XCTAssertEqual(ours.bitPattern, reference.bitPattern, "0x\(String(raw, radix: 16))")
            }
        }
        #endif
    }

    func testKnownHalfAndBFloat16Values() {
        XCTAssertEqual(ElementConversion.halfToFloat(0x0001), 0x1p-24)         // smallest subnormal
        XCTAssertEqual(ElementConversion.halfToFloat(0x03FF), 1023 * 0x1p-24)  // largest subnormal
        XCTAssertEqual(ElementConversion.halfToFloat(0x0400), 0x1p-14)         // smallest normal
        XCTAssertEqual(ElementConversion.halfToFloat(0x7BFF), 65504)
        XCTAssertEqual(ElementConversion.halfToFloat(0xFC00), -.infinity)
        XCTAssertEqual(ElementConversion.halfToFloat(0x8000).bitPattern, (-0.0 as Float).bitPattern)
        XCTAssertTrue(ElementConversion.halfToFloat(0x7E00).isNaN)
        XCTAssertEqual(ElementConversion.bfloat16ToFloat(0x3F80), 1)
        XCTAssertEqual(ElementConversion.bfloat16ToFloat(0x0001), Float(bitPattern: 0x0001_0000))
    }

    func testStridedGatherMatchesIndexArithmetic() {
        // storage 0..<24 as F32; view offset 1, shape [2,3,2], strides [12,1,5] (a permuted view).
        let storage = (0..<24).map { Float($0) }
        let (shape, strides, offset) = ([2, 3, 2], [12, 1, 5], 1)
        var expected: [Float] = []
        for i in 0..<2 { for j in 0..<3 { for k in 0..<2 { expected.append(storage[offset + i * 12 + j * 1 + k * 5]) } } }
        let t = storage.withUnsafeBytes {
            ElementConversion.gather(storage: $0, dtype: .f32, offset: offset, shape: shape, strides: strides)
        }
        XCTAssertEqual(t.values, expected)
        XCTAssertEqual(t.shape, shape)
    }
}
