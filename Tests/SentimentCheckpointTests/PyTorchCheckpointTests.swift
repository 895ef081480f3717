import Foundation
import XCTest
@testable import SentimentCheckpoint

final class PyTorchCheckpointTests: XCTestCase {
    typealias F = CheckpointFixtures

    func testZipStateDictMatchesTorchBitForBit() throws {
        try assertMatchesExpected("state_zip.bin")
    }

    func testZip64ArchiveReadsTheSame() throws {
        try assertMatchesExpected("state_zip64.bin")
    }

    func testArchiveWithoutCRCsReadsTheSame() throws {
        try assertMatchesExpected("state_nocrc.bin")
    }

    private func assertMatchesExpected(_ fileName: String, line: UInt = #line) throws {
        let file = try PyTorchCheckpoint(url: F.url(fileName))
        let expected = try F.expected()
        XCTAssertEqual(file.tensorNames, expected.keys.sorted(), line: line)
        for (name, want) in expected {
            let info = try XCTUnwrap(file.info(name), name, line: line)
            XCTAssertEqual(info.dtype.rawValue, want.dtype, name, line: line)
            XCTAssertEqual(info.shape, want.shape, name, line: line)
            if want.refused == true {
                F.assertCheckpointError("unsupportedDType", file: fileName, detail: name, { try file.tensor(name) }, line: line)
                continue
            }
            let tensor = try file.tensor(name)
            XCTAssertEqual(tensor.shape, want.shape, name, line: line)
            XCTAssertEqual(F.bits(tensor.values), want.bits, name, line: line)
        }
    }

    func testViewsKeepTheirStoragesAndStrides() throws {
        let file = try PyTorchCheckpoint(url: F.url("state_zip.bin"))
        let base = try XCTUnwrap(file.layout("view.base"))
        let transposed = try XCTUnwrap(file.layout("view.transposed"))
        let row = try XCTUnwrap(file.layout("view.row"))
        XCTAssertEqual(transposed.storage, base.storage)
        XCTAssertEqual(row.storage, base.storage)
        XCTAssertEqual(transposed.strides, [1, 5])
        XCTAssertEqual(row.offset, 5)
        XCTAssertEqual(file.layout("view.strided")?.strides, [5, 2])
        XCTAssertEqual(file.layout("expanded")?.strides, [0, 1])
        // Shared storage: the transposed view is the base's transpose, element for element.
        let b = try file.tensor("view.base"), t = try file.tensor("view.transposed")
        for i in 0..<3 { for j in 0..<5 { XCTAssertEqual(t.values[j * 3 + i], b.values[i * 5 + j]) } }
    }

    func testEveryBadFileYieldsItsError() throws {
        let cases = try F.badFiles("bad_pytorch.json")
        XCTAssertGreaterThanOrEqual(cases.count, 10)
        for (name, expectation) in cases.sorted(by: { $0.key < $1.key }) {
            F.assertCheckpointError(expectation[0], file: name, detail: expectation[1]) { try PyTorchCheckpoint(url: F.url(name)) }
        }
    }

    func testMaliciousPicklesAreRefusedByTheGlobalTheyName() throws {
        F.assertCheckpointError("forbiddenGlobal", file: "evil_os_system.bin", detail: "'posix.system'") {
            try PyTorchCheckpoint(url: F.url("evil_os_system.bin"))
        }
        F.assertCheckpointError("forbiddenGlobal", file: "evil_eval.bin", detail: "'builtins.eval'") {
            try PyTorchCheckpoint(url: F.url("evil_eval.bin"))
        }
        F.assertCheckpointError("forbiddenGlobal", file: "evil_stack_global.bin", detail: "'subprocess.Popen'") {
            try PyTorchCheckpoint(url: F.url("evil_stack_global.bin"))
        }
    }

    func testLegacyFormatMessageSaysWhatToDo() throws {
        do {
            _ = try PyTorchCheckpoint(url: F.url("legacy.bin"))
            XCTFail("legacy file opened")
        } catch {
            XCTAssertTrue("\(error)".contains("legacy torch serialization is unsupported, re-save with torch>=1.6 (or convert to safetensors)"), "\(error)")
        }
    }

    func testDeflatedArchiveIsRefusedAsCompressed() throws {
        F.assertCheckpointError("compressedEntry", file: "state_deflated.bin", detail: "compressed entries unsupported") {
            try PyTorchCheckpoint(url: F.url("state_deflated.bin"))
        }
    }

    func testEveryTruncationIsRefusedNotCrashed() throws {
        try F.assertEveryTruncationIsRefused(self, fixture: "state_zip.bin") { try PyTorchCheckpoint(url: $0) }
    }

    func testRandomCorruptionIsRefusedOrReadsNeverCrashes() throws {
        let original = try Data(contentsOf: F.url("state_zip.bin"))
        let directoryStart = try XCTUnwrap(original.firstRange(of: Data([0x50, 0x4B, 0x01, 0x02]))).lowerBound
        let dir = try F.temporaryDirectory(self)
        let scratch = CheckpointFixtures.ScratchFile(dir.appendingPathComponent("fuzz.bin"), length: original.count)
        let url = scratch.url
        var rng = CheckpointFixtures.SplitMix64(seed: 5)
        for round in 0..<1500 {
            var data = original
            // Half the rounds hit the central directory and end records, half anywhere.
            let low = round % 2 == 0 ? directoryStart : 0
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                data[Int.random(in: low..<data.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            scratch.overwrite(data)
            guard let file = try? PyTorchCheckpoint(url: url) else { continue }
            for name in file.tensorNames {
                if let t = try? file.tensor(name) { XCTAssertEqual(t.count, file.info(name)!.elementCount) }
            }
        }
    }

    func testCorruptedStorageFailsItsCRC() throws {
        var data = try Data(contentsOf: F.url("state_zip.bin"))
        // Find the first float of f32.matrix (storage 0): 0.0, -0.0, 1.0 ... flip a bit in 1.0.
        let one = TestZip.bytes(of: [0.0, -0.0, 1.0])
        let at = try XCTUnwrap(data.firstRange(of: Data(one))).lowerBound + 8
        data[at + 1] ^= 0x01
        let dir = try F.temporaryDirectory(self)
        let url = dir.appendingPathComponent("flipped.bin")
        try data.write(to: url)
        let flipped = try PyTorchCheckpoint(url: url)   // the index is intact
        F.assertCheckpointError("crcMismatch", file: "flipped.bin", detail: "data/0") { try flipped.tensor("f32.matrix") }
        XCTAssertNoThrow(try flipped.tensor("view.base"))
    }

    // MARK: - Hand-made archives

    private func open(_ pickle: [UInt8], storages: [String: [UInt8]]) throws -> PyTorchCheckpoint {
        let dir = try F.temporaryDirectory(self)
        let url = dir.appendingPathComponent("made.bin")
        try TestZip.checkpoint(pickle: pickle, storages: storages).write(to: url)
        return try PyTorchCheckpoint(url: url)
    }

    func testHandMadeArchiveReadsAndSharesStorage() throws {
        let pickle = PickleBuilder.stateDict([
            ("m", { $0.tensor(key: "s", numel: 6, offset: 0, size: [2, 3], stride: [3, 1]) }),
            ("col", { $0.tensor(key: "s", numel: 6, offset: 1, size: [2], stride: [3]) }),
        ])
        let file = try open(pickle, storages: ["s": TestZip.bytes(of: [1, 2, 3, 4, 5, 6])])
        XCTAssertEqual(try file.tensor("m"), Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]))
        XCTAssertEqual(try file.tensor("col"), Tensor(shape: [2], values: [2, 5]))
    }

    func testViewReachingPastItsStorageIsRefused() throws {
        // Last element index 0 + 1*3 + 2*1 = 5 exists; stride 4 would reach 6.
        let pickle = PickleBuilder.stateDict([("w", { $0.tensor(key: "s", numel: 6, offset: 0, size: [2, 3], stride: [4, 1]) })])
        XCTAssertThrowsError(try open(pickle, storages: ["s": TestZip.bytes(of: [Float](repeating: 0, count: 6))])) {
            XCTAssertEqual(F.caseName($0), "viewOutOfBounds", "\($0)")
            XCTAssertTrue("\($0)".contains("reach element 6"), "\($0)")
        }
    }

    func testHugeSizesAndNegativeStridesAreRefused() throws {
        let storage = ["s": TestZip.bytes(of: [0, 0, 0, 0])]
        let overflow = PickleBuilder.stateDict([("w", { $0.tensor(key: "s", numel: 4, offset: 0, size: [Int32.max, Int32.max, Int32.max], stride: [1, 1, 1]) })])
        XCTAssertThrowsError(try open(overflow, storages: storage)) { XCTAssertEqual(F.caseName($0), "viewOutOfBounds", "\($0)") }
        let negative = PickleBuilder.stateDict([("w", { $0.tensor(key: "s", numel: 4, offset: 3, size: [4], stride: [-1]) })])
        XCTAssertThrowsError(try open(negative, storages: storage)) { XCTAssertEqual(F.caseName($0), "notAStateDict", "\($0)") }
        let bigNumel = PickleBuilder.stateDict([("w", { $0.tensor(key: "s", numel: Int32.max, offset: 0, size: [4], stride: [1]) })])
        XCTAssertThrowsError(try open(bigNumel, storages: storage)) { XCTAssertEqual(F.caseName($0), "storageTooShort", "\($0)") }
    }

    func testConflictingStorageDeclarationsAreRefused() throws {
        let pickle = PickleBuilder.stateDict([
            ("a", { $0.tensor(key: "s", numel: 4, offset: 0, size: [4], stride: [1]) }),
            ("b", { $0.tensor(storageType: "HalfStorage", key: "s", numel: 8, offset: 0, size: [8], stride: [1]) }),
        ])
        XCTAssertThrowsError(try open(pickle, storages: ["s": [UInt8](repeating: 0, count: 16)])) {
            XCTAssertEqual(F.caseName($0), "notAStateDict", "\($0)")
        }
    }

    func testDuplicateKeysAndNonTensorValuesAreRefused() throws {
        let storage = ["s": TestZip.bytes(of: [0])]
        let dup = PickleBuilder.stateDict([
            ("w", { $0.tensor(key: "s", numel: 1, offset: 0, size: [1], stride: [1]) }),
            ("w", { $0.tensor(key: "s", numel: 1, offset: 0, size: [1], stride: [1]) }),
        ])
        XCTAssertThrowsError(try open(dup, storages: storage)) { XCTAssertTrue("\($0)".contains("'w' appears twice"), "\($0)") }
        let notTensor = PickleBuilder.stateDict([("epoch", { $0.int(3) })])
        XCTAssertThrowsError(try open(notTensor, storages: [:])) {
            XCTAssertEqual(F.caseName($0), "notAStateDict")
            XCTAssertTrue("\($0)".contains("'epoch' is an int"), "\($0)")
        }
        var list = PickleBuilder()
        list.op(UInt8(ascii: "]")); list.stop()
        XCTAssertThrowsError(try open(list.bytes, storages: [:])) { XCTAssertTrue("\($0)".contains("holds a list"), "\($0)") }
    }

    func testUnknownStorageTypeIsRefusedByName() throws {
        let pickle = PickleBuilder.stateDict([("w", { $0.tensor(storageType: "ComplexFloatStorage", key: "s", numel: 1, offset: 0, size: [1], stride: [1]) })])
        XCTAssertThrowsError(try open(pickle, storages: ["s": [UInt8](repeating: 0, count: 8)])) {
            XCTAssertEqual(F.caseName($0), "forbiddenGlobal")
            XCTAssertTrue("\($0)".contains("torch.ComplexFloatStorage"), "\($0)")
        }
    }

    func testRebuildParameterUnwrapsItsTensor() throws {
        let pickle = PickleBuilder.stateDict([("p", { p in
            p.global("torch._utils", "_rebuild_parameter")
            p.mark()
            p.tensor(key: "s", numel: 2, offset: 0, size: [2], stride: [1])
            p.op(0x88)   // requires_grad True
            p.global("collections", "OrderedDict"); p.op(UInt8(ascii: ")")); p.reduce()
            p.tuple()
            p.reduce()
        })])
        let file = try open(pickle, storages: ["s": TestZip.bytes(of: [7, 8])])
        XCTAssertEqual(try file.tensor("p").values, [7, 8])
    }

    func testMissingDataPklIsNamed() throws {
        let dir = try F.temporaryDirectory(self)
        let url = dir.appendingPathComponent("nopkl.bin")
        try TestZip.archive([("archive/version", Array("3\n".utf8))]).write(to: url)
        F.assertCheckpointError("missingEntry", file: "nopkl.bin", detail: "data.pkl") { try PyTorchCheckpoint(url: url) }
    }
}

final class RestrictedUnpicklerTests: XCTestCase {
    private func load(_ bytes: [UInt8]) throws -> (RestrictedUnpickler, Int) {
        var u = RestrictedUnpickler(path: "test.pkl")
        let root = try bytes.withUnsafeBytes { try u.load($0) }
        return (u, root)
    }

    private func assertRefused(_ bytes: [UInt8], _ expectedCase: String, _ detail: String = "", line: UInt = #line) {
        XCTAssertThrowsError(try load(bytes), line: line) { error in
            XCTAssertEqual(CheckpointFixtures.caseName(error), expectedCase, "\(error)", line: line)
            if !detail.isEmpty { XCTAssertTrue("\(error)".contains(detail), "\(error)", line: line) }
            XCTAssertTrue("\(error)".contains("test.pkl"), "\(error)", line: line)
        }
    }

    func testObjectBuildingOpcodesAreRefused() {
        // INST 'os\nsystem\n', OBJ, NEWOBJ, NEWOBJ_EX, EXT1, PERSID (text form)
        assertRefused([0x80, 2] + Array("ios\nsystem\n".utf8), "unsupportedOpcode", "0x69 at byte 2")
        assertRefused([0x80, 2, UInt8(ascii: "("), UInt8(ascii: "o")], "unsupportedOpcode")
        assertRefused([0x80, 2, 0x81], "unsupportedOpcode")
        assertRefused([0x80, 4, 0x92], "unsupportedOpcode")
        assertRefused([0x80, 2, 0x82, 1], "unsupportedOpcode")
        assertRefused([0x80, 2, UInt8(ascii: "P")] + Array("x\n".utf8), "unsupportedOpcode")
    }

    func testForbiddenGlobalIsRefusedBeforeAnyCall() {
        var p = PickleBuilder()
        p.global("builtins", "exec")
        assertRefused(p.bytes, "forbiddenGlobal", "'builtins.exec'")
        var q = PickleBuilder()
        q.global("torch", "load")   // a torch name, but not one a state dict needs
        assertRefused(q.bytes, "forbiddenGlobal", "'torch.load'")
        var r = PickleBuilder()
        r.global("collections", "OrderedDict\nos")   // newline smuggling ends the name at the first newline
        assertRefused(r.bytes, "unsupportedOpcode")
    }

    func testCallingAnAllowedNonFunctionIsRefused() {
        var p = PickleBuilder()
        p.global("torch", "FloatStorage"); p.op(UInt8(ascii: ")")); p.reduce(); p.stop()
        assertRefused(p.bytes, "malformedPickle", "not callable")
    }

    func testMalformedStreamsAreRefused() {
        assertRefused([0x80, 2], "malformedPickle", "unexpected end")
        assertRefused([0x80, 2, UInt8(ascii: "X"), 0xFF, 0xFF, 0xFF, 0x7F], "malformedPickle", "unexpected end")
        assertRefused([0x80, 2, UInt8(ascii: "h"), 9, UInt8(ascii: ".")], "malformedPickle", "memo key 9")
        assertRefused([0x80, 2, UInt8(ascii: "N"), UInt8(ascii: "N"), UInt8(ascii: ".")], "malformedPickle", "STOP")
        assertRefused([0x80, 2, UInt8(ascii: "t")], "malformedPickle", "MARK")
        assertRefused([0x80, 2, UInt8(ascii: "("), 0x85], "malformedPickle", "underflow")   // TUPLE1 may not pop past a MARK
        assertRefused([0x80, 2, UInt8(ascii: "N"), UInt8(ascii: "N"), UInt8(ascii: "a")], "malformedPickle", "APPEND to None")
        assertRefused([0x80, 9], "malformedPickle", "protocol 9")
        assertRefused([0x80, 2, UInt8(ascii: "X"), 2, 0, 0, 0, 0xC3, 0x28, UInt8(ascii: ".")], "malformedPickle", "UTF-8")
        assertRefused([0x80, 2, 0x8A, 9] + [UInt8](repeating: 1, count: 9) + [UInt8(ascii: ".")], "malformedPickle", "too large")
    }

    func testLong1DecodesSignedValues() throws {
        for (operand, value) in [([UInt8](), 0), ([0xFF], -1), ([0x80], -128), ([0xFF, 0x00], 255),
                                 ([0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80], Int.min)] {
            let (u, root) = try load([0x80, 2, 0x8A, UInt8(operand.count)] + operand + [UInt8(ascii: ".")])
            guard case let .int(v) = u.nodes[root] else { return XCTFail("not an int") }
            XCTAssertEqual(v, value)
        }
    }

    func testDeepNestingAndSelfReferenceDoNotCrash() throws {
        // 200,000 nested one-element tuples, then a list that contains itself.
        let depth = 200_000
        var bytes: [UInt8] = [0x80, 2, UInt8(ascii: "N")]
        bytes += [UInt8](repeating: 0x85, count: depth)   // TUPLE1 around the previous value
        bytes += [UInt8(ascii: "0"), UInt8(ascii: "]"), UInt8(ascii: "q"), 0, UInt8(ascii: "h"), 0, UInt8(ascii: "a"), UInt8(ascii: ".")]
        let (u, root) = try load(bytes)
        guard case let .list(items) = u.nodes[root] else { return XCTFail("not a list") }
        XCTAssertEqual(items, [root])
    }

    func testProtocol4FramesAndMemoize() throws {
        // PROTO 4, FRAME, EMPTY_DICT, MEMOIZE, SHORT_BINUNICODE 'k', MEMOIZE, BININT1 5, SETITEM, STOP
        let bytes: [UInt8] = [0x80, 4, 0x95, 9, 0, 0, 0, 0, 0, 0, 0, UInt8(ascii: "}"), 0x94, 0x8C, 1, UInt8(ascii: "k"), 0x94,
                              UInt8(ascii: "K"), 5, UInt8(ascii: "s"), UInt8(ascii: ".")]
        let (u, root) = try load(bytes)
        guard case let .dict(pairs) = u.nodes[root], pairs.count == 1,
              case .string("k") = u.nodes[pairs[0].key], case .int(5) = u.nodes[pairs[0].value] else {
            return XCTFail("unexpected \(u.nodes[root])")
        }
    }

    func testRandomMutationsOfARealPickleNeverCrash() throws {
        let zip = try ZipArchive(file: ModelFolderReader(CheckpointFixtures.folder).open("state_zip.bin"))
        let entry = try XCTUnwrap(zip.entries.first { $0.name.hasSuffix("/data.pkl") })
        let original = try zip.contents(of: entry, limit: 1 << 20)
        var rng = CheckpointFixtures.SplitMix64(seed: 11)
        for _ in 0..<2000 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            var u = RestrictedUnpickler(path: "fuzz")
            _ = try? bytes.withUnsafeBytes { try u.load($0) }
        }
    }
}
