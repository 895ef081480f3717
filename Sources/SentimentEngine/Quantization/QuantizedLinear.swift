import CInt8Kernels

/// A dense layer in int8: the input's rows are quantized (one scale and zero point per row, i.e. per token),
/// multiplied with the int8 weights in exact int32 sums, and dequantized with the bias (and GELU) as the
/// kernel stores them.
///
/// Threading: the rows are quantized in parallel chunks, then the product is cut into blocks of rows (whose
/// bytes stay in L2 while the panels stream past them) × chunks of 4-panel groups (the VNNI tile's width),
/// claimed one at a time by `Parallel`'s workers. A few rows (one sequence) give one row block and as many panel
/// chunks as there are workers times four, so each worker streams its own share of the weights once.
public enum QuantizedLinear {
    /// Bytes of quantized activations a row block may hold (about a fifth of a 1 MiB L2).
    static let rowBlockBytes = 192 * 1024

    /// out is (m, ldc), inp is (m, lda) with k = weights.columns: out[:, 0..<n] = inp · Wᵀ (+ bias) (GELU).
    public static func forward(m: Int, a: UnsafePointer<Float>, lda: Int, weights w: QuantizedWeights,
                               bias: UnsafePointer<Float>?, gelu: Bool = false, c: UnsafeMutablePointer<Float>, ldc: Int,
                               path: Int8KernelPath = .active) {
        if m == 0 || w.rows == 0 { return }
        precondition(path != .avx2 || w.scheme.isExactOnAVX2, "the AVX2 int8 path cannot sum \(w.scheme) exactly")
        let k = w.columns, n = w.rows
        let ldq = 4 * Int8Kernels.groups(k)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: m * ldq + 8 * m, alignment: 64)
        defer { raw.deallocate() }
        let aScales = raw.bindMemory(to: Float.self, capacity: m)
        let aZeros = (raw + 4 * m).bindMemory(to: Int32.self, capacity: m)
        let q = (raw + 8 * m).bindMemory(to: UInt8.self, capacity: m * ldq)
        let levels = w.scheme.activationLevels

        Parallel.forRanges(m, grain: max(1, 32_768 / max(k, 1))) { rows in
            Int8Kernels.quantizeRows(path: path, a + rows.lowerBound * lda, ldx: lda, rows: rows.count, k: k, levels: levels,
                                     into: q + rows.lowerBound * ldq, ldq: ldq,
                                     scales: aScales + rows.lowerBound, zeros: aZeros + rows.lowerBound)
        }

        let args = arguments(m: m, q: q, ldq: ldq, scales: aScales, zeros: aZeros, weights: w, bias: bias, gelu: gelu, c: c, ldc: ldc)
        let panels = w.panelCount
        let groups = (panels + 3) / 4
        let blockRows = max(6, rowBlockBytes / ldq / 6 * 6)
        let rowBlocks = (m + blockRows - 1) / blockRows
        let workers = Parallel.workers
        let wanted = workers <= 1 || 2 * m * n * k < 2_000_000 ? 1 : 4 * workers
        let chunks = min(groups, max(1, (wanted + rowBlocks - 1) / rowBlocks))
        let groupsPerChunk = (groups + chunks - 1) / chunks
        let chunkCount = (groups + groupsPerChunk - 1) / groupsPerChunk
        Parallel.forEach(rowBlocks * chunkCount) { item in
            let block = item / chunkCount, chunk = item % chunkCount
            let rows = (block * blockRows)..<min(m, (block + 1) * blockRows)
            let p0 = chunk * groupsPerChunk * 4
            Int8Kernels.gemm(path: path, args, rows: rows, panels: p0..<min(panels, p0 + groupsPerChunk * 4))
        }
    }

    /// The product alone over already-quantized activations `q` (m rows of stride `ldq` bytes, zero bytes from k
    /// to a multiple of 4), on the calling thread (tests: any byte values, any path).
    static func product(m: Int, q: UnsafePointer<UInt8>, ldq: Int, scales: UnsafePointer<Float>, zeros: UnsafePointer<Int32>,
                        weights w: QuantizedWeights, bias: UnsafePointer<Float>?, gelu: Bool,
                        c: UnsafeMutablePointer<Float>, ldc: Int, path: Int8KernelPath) {
        let args = arguments(m: m, q: q, ldq: ldq, scales: scales, zeros: zeros, weights: w, bias: bias, gelu: gelu, c: c, ldc: ldc)
        Int8Kernels.gemm(path: path, args, rows: 0..<m, panels: 0..<w.panelCount)
    }

    private static func arguments(m: Int, q: UnsafePointer<UInt8>, ldq: Int, scales: UnsafePointer<Float>,
                                  zeros: UnsafePointer<Int32>, weights w: QuantizedWeights, bias: UnsafePointer<Float>?,
                                  gelu: Bool, c: UnsafeMutablePointer<Float>, ldc: Int) -> si8_gemm_args {
        si8_gemm_args(m: Int32(m), n: Int32(w.rows), k: Int32(w.columns), a: q, lda: ldq, a_scales: scales, a_zeros: zeros,
                      panels: w.panels, w_scales: w.scales, w_sums: w.sums, bias: bias, gelu: gelu ? 1 : 0, c: c, ldc: ldc)
    }
}
