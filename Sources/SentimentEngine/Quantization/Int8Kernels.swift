import CInt8Kernels
import Foundation

/// The instruction-set path of the int8 kernels (CInt8Kernels), chosen once per process from the CPU.
///
/// Every path computes the same int32 sums and the same floats from them, bit for bit (CInt8Kernels.h says
/// how), so a version's int8 accuracy check means the same on every machine, and a test on one path covers the
/// arithmetic of the others. What differs is speed: AVX-512 VNNI (`vpdpbusd`, 64 byte products per instruction)
/// about doubles AVX2 (`vpmaddubsw` + `vpmaddwd`), which is several times the portable C.
///
/// `SENTIMENTD_INT8_KERNELS=portable|avx2|avx512vnni` picks a lower path (to compare them, or to work around a
/// kernel problem); a path this CPU lacks is never taken: the best one it has is used instead, and `note` says so.
public enum Int8KernelPath: String, CaseIterable, Sendable, Comparable {
    case portable
    case avx2
    case avx512vnni

    var code: Int32 {
        switch self {
        case .portable: return Int32(SI8_PORTABLE)
        case .avx2: return Int32(SI8_AVX2)
        case .avx512vnni: return Int32(SI8_AVX512VNNI)
        }
    }

    public static func < (a: Int8KernelPath, b: Int8KernelPath) -> Bool { a.code < b.code }

    /// The paths this CPU and its OS run (cpuid + xgetbv), portable first.
    public static let supported: [Int8KernelPath] = {
        let bits = si8_supported_paths()
        return allCases.filter { bits & (1 << $0.code) != 0 }
    }()

    public var isSupported: Bool { Self.supported.contains(self) }

    /// The path the quantized layers run on in this process, and why when it is not what was asked for.
    public static let selection: (path: Int8KernelPath, note: String?) =
        select(requested: ProcessInfo.processInfo.environment["SENTIMENTD_INT8_KERNELS"], supported: supported)

    public static var active: Int8KernelPath { selection.path }

    /// The requested path when it is supported, else the best supported one (with a note); nil or "" or "auto":
    /// the best supported one.
    static func select(requested: String?, supported: [Int8KernelPath]) -> (path: Int8KernelPath, note: String?) {
        let best = supported.max() ?? .portable
        guard let requested, !requested.isEmpty, requested != "auto" else { return (best, nil) }
        guard let path = Int8KernelPath(rawValue: requested) else {
            let names = (["auto"] + allCases.map(\.rawValue)).joined(separator: ", ")
            return (best, "SENTIMENTD_INT8_KERNELS=\(requested) is not one of \(names); using \(best.rawValue)")
        }
        guard supported.contains(path) else {
            return (best, "SENTIMENTD_INT8_KERNELS=\(requested): this CPU has no \(requested) (it runs "
                    + supported.map(\.rawValue).joined(separator: ", ") + "); using \(best.rawValue)")
        }
        return (path, nil)
    }
}

/// The one file that calls CInt8Kernels: weight packing and quantization, activation quantization, the GEMM.
public enum Int8Kernels {
    static let panelColumns = Int(SI8_PANEL_COLUMNS)

    static func panels(_ n: Int) -> Int { Int(si8_panels(Int32(n))) }
    static func groups(_ k: Int) -> Int { Int(si8_groups(Int32(k))) }

    /// Whether the AVX2 path sums products of activations up to `maxActivation` and weights up to
    /// `maxAbsWeight` in magnitude exactly (no int16 saturation in vpmaddubsw).
    static func avx2Exact(maxActivation: Int, maxAbsWeight: Int) -> Bool {
        si8_avx2_exact(Int32(maxActivation), Int32(maxAbsWeight)) != 0
    }

    static func packInt8(_ q: UnsafePointer<Int8>, ldq: Int, n: Int, k: Int,
                         panels: UnsafeMutablePointer<Int8>, sums: UnsafeMutablePointer<Int32>) {
        si8_pack_int8(q, ldq, Int32(n), Int32(k), panels, sums)
    }

    static func quantizeWeights(_ w: UnsafePointer<Float>, ldw: Int, n: Int, k: Int, weightMax: Int,
                                panels: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>,
                                sums: UnsafeMutablePointer<Int32>) {
        si8_quantize_weights(w, ldw, Int32(n), Int32(k), Int32(weightMax), panels, scales, sums)
    }

    static func quantizeRows(path: Int8KernelPath, _ x: UnsafePointer<Float>, ldx: Int, rows: Int, k: Int, levels: Int,
                             into q: UnsafeMutablePointer<UInt8>, ldq: Int,
                             scales: UnsafeMutablePointer<Float>, zeros: UnsafeMutablePointer<Int32>) {
        precondition(path.isSupported, "the \(path.rawValue) int8 kernels do not run on this CPU")
        si8_quantize_rows(path.code, x, ldx, Int32(rows), Int32(k), Int32(levels), q, ldq, scales, zeros)
    }

    static func gemm(path: Int8KernelPath, _ args: si8_gemm_args, rows: Range<Int>, panels: Range<Int>) {
        precondition(path.isSupported, "the \(path.rawValue) int8 kernels do not run on this CPU")
        var args = args
        si8_gemm(path.code, &args, Int32(rows.lowerBound), Int32(rows.upperBound),
                 Int32(panels.lowerBound), Int32(panels.upperBound))
    }

    /// `iterations` rounds of the path's multiply-add instructions on registers only; the byte multiply-adds
    /// they did. nil for the portable path (it has no single instruction to measure).
    public static func peakProbe(path: Int8KernelPath, iterations: Int) -> Int? {
        precondition(path.isSupported, "the \(path.rawValue) int8 kernels do not run on this CPU")
        switch path {
        case .avx512vnni:
            _ = si8_vnni_peak_probe(iterations)
            return iterations * 24 * 64
        case .avx2:
            _ = si8_avx2_peak_probe(iterations)
            return iterations * 12 * 32
        case .portable:
            return nil
        }
    }

    /// Cycles spent by `iterations` rounds of eight dependent one-cycle adds (8 · iterations): timed, they
    /// give the core's clock.
    public static func clockProbe(iterations: Int) -> Int {
        _ = si8_clock_probe(iterations)
        return 8 * iterations
    }
}
