/// Reductions over rows that the backward passes share: bias gradients (column sums) and
/// per-thread partial sums merged once at the end, so no two threads write the same float.
enum RowChunks {
    /// How `run` splits `count` rows: at most `Parallel.workers` chunks of at least `grain` rows.
    static func count(_ count: Int, grain: Int) -> Int {
        max(1, min(Parallel.workers, count / max(grain, 1)))
    }

    /// Calls `body(chunk, rows)` for each of `count(_:grain:)` contiguous chunks, in parallel.
    static func run(_ count: Int, grain: Int, _ body: (Int, Range<Int>) -> Void) {
        let w = Self.count(count, grain: grain)
        let size = (count + w - 1) / max(w, 1)
        Parallel.forEach(w) { i in
            let lo = i * size, hi = min(count, lo + size)
            if lo < hi { body(i, lo..<hi) }
        }
    }
}

/// dst[j] += Σ_r src[r * ld + j] for j < cols: the bias gradient of a Linear whose output gradient is
/// src (N, cols) with row stride ld.
package func addColumnSums(into dst: UnsafeMutablePointer<Float>, src: UnsafePointer<Float>, rows n: Int, cols: Int, ld: Int) {
    if n == 0 || cols == 0 { return }
    let grain = max(8, 65_536 / max(cols, 1))
    let chunks = RowChunks.count(n, grain: grain)
    let partial = UnsafeMutablePointer<Float>.allocate(capacity: chunks * cols)
    defer { partial.deallocate() }
    partial.initialize(repeating: 0, count: chunks * cols)
    RowChunks.run(n, grain: grain) { chunk, rows in
        let acc = partial + chunk * cols
        for r in rows { addRow(acc, src + r * ld, cols) }
    }
    for k in 0..<chunks { addRow(dst, partial + k * cols, cols) }
}

/// a[0..<n] += b[0..<n], SIMD.
@inlinable @inline(__always)
package func addRow(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) {
    var j = 0
    while j + 8 <= n {
        let s = UnsafeRawPointer(a + j).loadUnaligned(as: V8.self) + UnsafeRawPointer(b + j).loadUnaligned(as: V8.self)
        UnsafeMutableRawPointer(a + j).storeBytes(of: s, as: V8.self)
        j += 8
    }
    while j < n { a[j] += b[j]; j += 1 }
}
