import SentimentCore

/// A dense layer's weight (n, k) — nn.Linear's (out, in) — re-laid for the few-row AVX2 kernel
/// (`gemmPanels16AVX2`): panels of 16 output columns, each k-major,
///
///     pointer[p · k · 16 + kk · 16 + jj] = W[16p + jj, kk]      (zero where 16p + jj ≥ n)
///
/// so the kernel streams it from memory once per product in the order it reads it. A copy: the model keeps
/// its weight in the checkpoint layout for everything else (OpenBLAS on big batches, training, writing).
public final class PackedWeights: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    public let panelCount: Int
    private let storage: FloatBuffer

    public var pointer: UnsafePointer<Float> { UnsafePointer(storage.pointer) }
    /// Floats held (the padding of the last panel included).
    public var count: Int { storage.count }

    /// Packs `w` (rows × columns, row stride `columns`).
    public init(_ w: UnsafePointer<Float>, rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
        panelCount = (rows + 15) / 16
        storage = FloatBuffer(uninitialized: panelCount * 16 * columns)
        let out = storage.pointer, k = columns
        for p in 0..<panelCount {
            let panel = out + p * k * 16
            let filled = min(16, rows - p * 16)
            if filled < 16 { panel.update(repeating: 0, count: k * 16) }   // the padding columns are 0
            for jj in 0..<filled {
                let row = w + (p * 16 + jj) * k
                for kk in 0..<k { panel[kk &* 16 &+ jj] = row[kk] }
            }
        }
    }

    public convenience init(_ layer: Linear) {
        self.init(layer.weight.pointer, rows: layer.outFeatures, columns: layer.inFeatures)
    }
}

/// The packed dense weights of one encoder layer.
public struct PackedEncoderLayer: @unchecked Sendable {
    public let qkv: PackedWeights
    public let attnOut: PackedWeights
    public let ffnUp: PackedWeights
    public let ffnDown: PackedWeights

    public init(_ layer: EncoderLayerParams) {
        qkv = PackedWeights(layer.qkv)
        Pacing.point()
        attnOut = PackedWeights(layer.attnOut)
        Pacing.point()
        ffnUp = PackedWeights(layer.ffnUp)
        Pacing.point()
        ffnDown = PackedWeights(layer.ffnDown)
        Pacing.point()
    }

    /// Packs every layer (in parallel over layers unless inside `Parallel.serially`). nil when the AVX2
    /// kernels do not run on this machine: the copies would never be read.
    public static func packAll(_ layers: [EncoderLayerParams]) -> [PackedEncoderLayer]? {
        guard BLAS.avx2Kernels else { return nil }
        var out = [PackedEncoderLayer?](repeating: nil, count: layers.count)
        out.withUnsafeMutableBufferPointer { slots in
            let slots = slots   // a value copy of the buffer pointer for the concurrent closure
            Parallel.forEach(layers.count) { i in slots[i] = PackedEncoderLayer(layers[i]) }
        }
        return out.map { $0! }
    }
}
