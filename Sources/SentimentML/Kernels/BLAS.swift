import CBLAS

/// The one file that calls OpenBLAS. Everything is row-major fp32.
///
/// OpenBLAS runs single-threaded; large GEMMs are split into column (or row) blocks over the same
/// workers that run the element-wise kernels. One pool for everything: OpenBLAS's own threads
/// spin-wait after each call and would fight the element-wise kernels for the cores.
public enum BLAS {
    private static let singleThreaded: Void = { openblas_set_num_threads(1) }()

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
