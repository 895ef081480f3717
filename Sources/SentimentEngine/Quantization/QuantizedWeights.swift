import CInt8Kernels

/// How the quantized dense layers turn floats into bytes.
///
/// Weights: symmetric, one scale per output channel (a row of nn.Linear's weight), integers in
/// [-weightMax, weightMax]. Activations: quantized per row (per token) at run time, asymmetric over
/// [min(0, min x), max(0, max x)] with a zero point, integers in [0, activationLevels]. Sums are exact int32.
public struct Int8Scheme: Sendable, Equatable, CustomStringConvertible {
    public var weightMax: Int
    public var activationLevels: Int

    public init(weightMax: Int, activationLevels: Int) {
        precondition((1...127).contains(weightMax) && (1...255).contains(activationLevels), "int8 scheme out of range")
        self.weightMax = weightMax
        self.activationLevels = activationLevels
    }

    /// 7-bit weights, 8-bit activations: the widest scheme whose every product pair fits the int16 of AVX2's
    /// vpmaddubsw (2 · 255 · 63 = 32,130 ≤ 32,767), so all three kernel paths give the same result.
    public static let standard = Int8Scheme(weightMax: 63, activationLevels: 255)

    /// Whether the AVX2 path computes this scheme exactly.
    public var isExactOnAVX2: Bool { Int8Kernels.avx2Exact(maxActivation: activationLevels, maxAbsWeight: weightMax) }

    public var description: String { "weights ±\(weightMax), activations 0...\(activationLevels)" }
}

/// A dense layer's weight (n, k) — nn.Linear's (out, in) — as int8 with one scale per output column, laid out in
/// the kernels' panels (CInt8Kernels.h): 16 output columns by groups of 4 depth bytes, 64-byte aligned. Made once
/// when a version is loaded; read-only afterwards.
public final class QuantizedWeights: @unchecked Sendable {
    /// n (output features) and k (input features).
    public let rows: Int
    public let columns: Int
    public let scheme: Int8Scheme
    let panelCount: Int
    let panels: UnsafeMutablePointer<Int8>
    /// Per output column (panelCount · 16, 0 past n): the scale, and Σ_k of its int8 weights (for the
    /// activations' zero point).
    let scales: UnsafeMutablePointer<Float>
    let sums: UnsafeMutablePointer<Int32>

    private static func allocate<T>(_ type: T.Type, _ count: Int) -> UnsafeMutablePointer<T> {
        UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<T>.stride, alignment: 64)
            .bindMemory(to: T.self, capacity: max(count, 1))
    }

    private init(rows: Int, columns: Int, scheme: Int8Scheme) {
        self.rows = rows
        self.columns = columns
        self.scheme = scheme
        panelCount = Int8Kernels.panels(rows)
        panels = Self.allocate(Int8.self, panelCount * Int8Kernels.groups(columns) * 64)
        scales = Self.allocate(Float.self, panelCount * Int8Kernels.panelColumns)
        sums = Self.allocate(Int32.self, panelCount * Int8Kernels.panelColumns)
    }

    /// Quantizes `w` (rows × columns, row stride `columns`): per row, scale = max |w| / weightMax.
    public convenience init(_ w: UnsafePointer<Float>, rows: Int, columns: Int, scheme: Int8Scheme = .standard) {
        self.init(rows: rows, columns: columns, scheme: scheme)
        Int8Kernels.quantizeWeights(w, ldw: columns, n: rows, k: columns, weightMax: scheme.weightMax,
                                    panels: panels, scales: scales, sums: sums)
    }

    public convenience init(_ layer: Linear, scheme: Int8Scheme = .standard) {
        self.init(layer.weight.pointer, rows: layer.outFeatures, columns: layer.inFeatures, scheme: scheme)
    }

    /// Already-quantized weights (tests: any int8 value, -128 included) with their column scales.
    convenience init(int8 q: [Int8], rows: Int, columns: Int, scales columnScales: [Float], scheme: Int8Scheme) {
        precondition(q.count == rows * columns && columnScales.count == rows)
        self.init(rows: rows, columns: columns, scheme: scheme)
        q.withUnsafeBufferPointer { Int8Kernels.packInt8($0.baseAddress!, ldq: columns, n: rows, k: columns, panels: panels, sums: sums) }
        for j in 0..<(panelCount * Int8Kernels.panelColumns) { scales[j] = j < rows ? columnScales[j] : 0 }
    }

    deinit {
        UnsafeMutableRawPointer(panels).deallocate()
        UnsafeMutableRawPointer(scales).deallocate()
        UnsafeMutableRawPointer(sums).deallocate()
    }

    /// Bytes held: the int8 panels (padding included), scales and sums.
    public var byteCount: Int {
        panelCount * Int8Kernels.groups(columns) * 64 + 2 * 4 * panelCount * Int8Kernels.panelColumns
    }

    /// The int8 value of W[j, kk] (tests).
    func value(_ j: Int, _ kk: Int) -> Int8 {
        let p = j / Int8Kernels.panelColumns, jj = j % Int8Kernels.panelColumns
        return panels[(p * Int8Kernels.groups(columns) + kk / 4) * 64 + jj * 4 + kk % 4]
    }

    func scale(_ j: Int) -> Float { scales[j] }
    func sum(_ j: Int) -> Int32 { sums[j] }
}
