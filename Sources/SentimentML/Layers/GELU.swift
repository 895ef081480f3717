/// x is (N, C) in place; bias (C) is added first when given: x = gelu(x + bias), exact-erf GELU.
func biasGELUForward(_ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, rows n: Int, cols c: Int,
                     preActivation: UnsafeMutablePointer<Float>? = nil) {
    Parallel.forRanges(n, grain: max(1, 8_192 / max(c, 1))) { rows in
        for r in rows {
            let row = x + r * c
            let pre = preActivation.map { $0 + r * c }
            var j = 0
            while j + 8 <= c {
                var v = UnsafeRawPointer(row + j).loadUnaligned(as: V8.self)
                if let bias { v += UnsafeRawPointer(bias + j).loadUnaligned(as: V8.self) }
                if let pre { UnsafeMutableRawPointer(pre + j).storeBytes(of: v, as: V8.self) }
                UnsafeMutableRawPointer(row + j).storeBytes(of: simdGELU(v), as: V8.self)
                j += 8
            }
            while j < c {
                var v = row[j]
                if let bias { v += bias[j] }
                pre?[j] = v
                row[j] = simdGELU(V8(repeating: v))[0]
                j += 1
            }
        }
    }
}
