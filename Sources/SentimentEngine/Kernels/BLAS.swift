import CBLAS
import Foundation
import SentimentEngineAVX2

/// The one file that calls OpenBLAS. Everything is row-major fp32.
///
/// OpenBLAS runs single-threaded; large GEMMs are split into column (or row) blocks over the same
/// workers that run the element-wise kernels. One pool for everything: OpenBLAS's own threads
/// spin-wait after each call and would fight the element-wise kernels for the cores.
///
/// Dense layers with few rows (one sequence, a few short ones) run on the AVX2 kernel of SentimentEngineAVX2
/// over weights packed once at load (`PackedWeights`) when the CPU has AVX2: OpenBLAS re-packs the weight on
/// every call, and at 32 rows that costs about as much as the arithmetic.
public enum BLAS {
    private static let singleThreaded: Void = { openblas_set_num_threads(1) }()

    /// Up to this many rows, `linear` over packed weights uses the AVX2 kernel; above it OpenBLAS's cache
    /// blocking wins (measured with `sentimentd bench --gemm`, which prints both).
    public static let packedRowsLimit = 128

    /// Whether the AVX2 kernels run on this machine: the CPU has every instruction set that SentimentEngineAVX2 is
    /// compiled for (Haswell: AVX2, FMA, BMI1/2, F16C, MOVBE, LZCNT, POPCNT), and `SENTIMENTD_KERNELS` is not
    /// `openblas` (the switch that compares the two paths, or works around a kernel problem; it also saves the
    /// packed weights' memory).
    public static let avx2Kernels: Bool = {
        if ProcessInfo.processInfo.environment["SENTIMENTD_KERNELS"] == "openblas" { return false }
        #if arch(x86_64) && os(Linux)
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return false }
        return cpuHasAVX2Kernels(cpuinfo: info)
        #else
        return false
        #endif
    }()

    /// True when the first `flags` line of a /proc/cpuinfo text names every feature SentimentEngineAVX2 may use.
    /// (Linux lists AVX2 only when the kernel also saves the YMM registers, so the flag is enough.)
    static func cpuHasAVX2Kernels(cpuinfo: String) -> Bool {
        guard let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return false }
        let flags = Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        return ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm", "popcnt"].allSatisfy(flags.contains)
    }

    /// C[m, n] = A[m, k] · W[n, k]ᵀ + bias (broadcast over rows; nil: none): a dense layer, W in nn.Linear's
    /// layout. With `packed` (W's panels) and at most `packedRowsLimit` rows, on the AVX2 kernel; else
    /// OpenBLAS, then the bias. Split over `Parallel.workers` by blocks of columns.
    public static func linear(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                              w: UnsafePointer<Float>, packed: PackedWeights? = nil, bias: UnsafePointer<Float>?,
                              gelu: Bool = false, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        precondition(!gelu || ldc == n, "a GELU output is contiguous")
        if let packed, m <= packedRowsLimit, avx2Kernels {
            precondition(packed.rows == n && packed.columns == k, "packed weights of another shape")
            let panels = packed.panelCount
            let workers = Parallel.workers
            let blocks = min(panels, workers <= 1 || 2 * m * n * k < 2_000_000 ? 1 : workers)
            let per = (panels + blocks - 1) / blocks
            Parallel.forEach(blocks) { i in
                let lo = min(panels, i * per), hi = min(panels, lo + per)
                gemmPanels16AVX2(m: m, n: n, k: k, a: a, lda: lda, panels: packed.pointer, panelRange: lo..<hi,
                                 bias: bias, gelu: gelu, c: c, ldc: ldc)
            }
            return
        }
        gemm(transB: true, m: m, n: n, k: k, a: a, lda: lda, b: w, ldb: k, c: c, ldc: ldc)
        if gelu {
            biasGELUForward(c, bias: bias, rows: m, cols: n)
        } else if let bias {
            Parallel.forRanges(m, grain: max(1, 32_768 / n)) { rows in
                for r in rows { addRow(c + r * ldc, bias, n) }
            }
        }
    }

    /// C[m,n] = alpha * op(A) * op(B) + beta * C, with op = transpose when the flag is set.
    /// `lda`, `ldb`, `ldc` are row strides in elements. Runs on the calling thread.
    @inline(__always)
    public static func gemmSerial(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                  b: UnsafePointer<Float>, ldb: Int,
                                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = singleThreaded
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The same product, split over `Parallel.workers` when it is big enough to pay for it:
    /// by blocks of columns of C when n is wide, else by blocks of rows.
    public static func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let workers = Parallel.workers
        let flops = 2 * m * n * k
        if workers <= 1 || flops < 2_000_000 {
            gemmSerial(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                       b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        if n >= 64 * workers {
            // Column blocks, multiples of 16 wide.
            let block = ((n + workers - 1) / workers + 15) / 16 * 16
            Parallel.forEach(workers) { w in
                let n0 = w * block
                let nb = min(n, n0 + block) - n0
                if nb <= 0 { return }
                let bp = transB ? b + n0 * ldb : b + n0
                gemmSerial(transA: transA, transB: transB, m: m, n: nb, k: k, alpha: alpha, a: a, lda: lda,
                           b: bp, ldb: ldb, beta: beta, c: c + n0, ldc: ldc)
            }
        } else {
            let block = (m + workers - 1) / workers
            Parallel.forEach(workers) { w in
                let m0 = w * block
                let mb = min(m, m0 + block) - m0
                if mb <= 0 { return }
                let ap = transA ? a + m0 : a + m0 * lda
                gemmSerial(transA: transA, transB: transB, m: mb, n: n, k: k, alpha: alpha, a: ap, lda: lda,
                           b: b, ldb: ldb, beta: beta, c: c + m0 * ldc, ldc: ldc)
            }
        }
    }

    /// Threads OpenBLAS itself uses per call (1: we parallelise around it).
    public static var threads: Int {
        _ = singleThreaded
        return Int(openblas_get_num_threads())
    }
}
