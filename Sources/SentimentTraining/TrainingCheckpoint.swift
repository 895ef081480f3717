import Foundation
import SentimentCore
import SentimentCheckpoint
import SentimentEngine

/// safetensors files written straight from FloatBuffers (no copy of the model into arrays), and read
/// back into existing buffers. Same layout as `SafetensorsWriter` (F32, names sorted, header padded to 8).
enum StreamingSafetensors {
    static func write(_ entries: [NamedBuffer], metadata: [String: String], to url: URL) throws {
        let sorted = entries.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        var parts: [String] = []
        let pairs = metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            .map { StrictJSON.quoted($0.key) + ":" + StrictJSON.quoted($0.value) }
        if !pairs.isEmpty { parts.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}") }
        var offset = 0
        for e in sorted {
            precondition(e.shape.reduce(1, *) == e.buffer.count, "\(e.name): shape does not match the buffer")
            let end = offset + e.buffer.count * 4
            parts.append(StrictJSON.quoted(e.name) + ":{\"dtype\":\"F32\",\"shape\":[\(e.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Data(("{" + parts.joined(separator: ",") + "}").utf8)
        header.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8))
        try AtomicFile.write(to: url) { sink in
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try sink.write($0) }
            try sink.write(header)
            for e in sorted {
                #if _endian(big)
                try sink.write(e.buffer.array)
                #else
                try sink.write(UnsafeRawBufferPointer(start: e.buffer.pointer, count: e.buffer.count * 4))
                #endif
            }
        }
    }

    /// Copies tensor `prefix + name` of `file` into each entry's buffer; shapes and dtype must match.
    static func read(into entries: [NamedBuffer], prefix: String, from file: SafetensorsFile) throws {
        for e in entries {
            let name = prefix + e.name
            guard let info = file.info(name) else {
                throw TrainingError.badCheckpoint(path: file.path, reason: "tensor \"\(name)\" is missing")
            }
            guard info.dtype == .f32, info.shape == e.shape else {
                throw TrainingError.badCheckpoint(path: file.path,
                    reason: "tensor \"\(name)\" is \(info.dtype.rawValue) \(info.shape), expected F32 \(e.shape)")
            }
            try file.withRawBytes(name) { raw in
                #if _endian(big)
                for i in 0..<e.buffer.count { e.buffer.pointer[i] = Float(bitPattern: UInt32(littleEndian: raw.load(fromByteOffset: 4 * i, as: UInt32.self))) }
                #else
                UnsafeMutableRawPointer(e.buffer.pointer).copyMemory(from: raw.baseAddress!, byteCount: e.buffer.count * 4)
                #endif
            }
        }
    }
}

/// One epoch's record: training loss, validation metrics, time.
public struct EpochRecord: Sendable, Equatable, Codable {
    /// 1-based.
    public var epoch: Int
    /// Global optimizer step at the end of the epoch.
    public var step: Int
    /// Mean training loss over the epoch's examples.
    public var trainLoss: Double
    public var validation: ClassificationMetrics?
    /// Training time of the epoch (evaluation excluded), seconds, summed over resumed sessions.
    public var trainSeconds: Double
    public var evalSeconds: Double
    public var examplesPerSecond: Double
    /// Set when the run was stopped on request before the epoch's end.
    public var partial: Bool
}

/// Everything besides the tensors that a resumed run needs to continue exactly where the interrupted
/// one stopped. Randomness is a function of (seed, counters) — see `derivedSeed` — so the counters
/// are the random generators' state.
struct TrainerState: Codable, Equatable {
    var recipe: TrainingRecipe
    var labels: [String]
    var baseFolder: String
    var headCreated: Bool
    var trainFingerprint: String
    var trainCount: Int
    var validationFingerprint: String?
    /// Optimizer steps completed, and the run's total.
    var step: Int
    var totalSteps: Int
    var warmupSteps: Int
    /// 0-based epoch in progress (== recipe.epochs once training is over).
    var epoch: Int
    /// The current epoch's batches (example indices) and how many of them are done.
    var epochBatches: [[Int]]
    var batchCursor: Int
    /// forwardBackward calls so far: the index into the dropout stream.
    var microStep: UInt64
    var epochLossSum: Double
    var epochExamples: Int
    var epochTrainSeconds: Double
    var history: [EpochRecord]
    var bestEpoch: Int?
    var bestMacroF1: Double?
    var epochsWithoutImprovement: Int
    var trainSeconds: Double
    var evalSeconds: Double
    var examplesSeen: Int
    var sessions: Int
    var stoppedEarly: String?
}

/// The resumable checkpoint of a run, in its work directory:
/// - `checkpoint.safetensors`: `weights/<name>` for every parameter (frozen ones too), `adamw/<name>.exp_avg`
///   and `.exp_avg_sq` for every trained one, and in `__metadata__` the format tag, version, AdamW step
///   count and the `TrainerState` as JSON. One file, so one rename makes it appear whole.
/// - `best-epoch-N.safetensors`: the weights of the best epoch so far (by validation macro-F1); the epoch is
///   in the name so that a crash between writing it and the next checkpoint never pairs a checkpoint with
///   another epoch's weights. Older ones are removed once a checkpoint that no longer needs them is written.
enum TrainingCheckpoint {
    static let fileName = "checkpoint.safetensors"
    static func bestFileName(epoch: Int) -> String { "best-epoch-\(epoch).safetensors" }
    static let format = "sentimentd-training-checkpoint"
    static let bestFormat = "sentimentd-best-weights"
    static let version = "1"

    /// `buffers`: the weights to save (every parameter of a full run, `trainedBuffers` of a LoRA run).
    static func save(directory: URL, state: TrainerState, buffers: [NamedBuffer], optimizer: AdamW,
                     parameters: [TrainableParameter]) throws {
        var entries = buffers.map { NamedBuffer(name: "weights/" + $0.name, shape: $0.shape, buffer: $0.buffer) }
        for p in parameters {
            guard let s = optimizer.state[p.name] else { continue }
            entries.append(NamedBuffer(name: "adamw/\(p.name).exp_avg", shape: p.shape, buffer: s.m))
            entries.append(NamedBuffer(name: "adamw/\(p.name).exp_avg_sq", shape: p.shape, buffer: s.v))
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let json = String(decoding: try enc.encode(state), as: UTF8.self)
        try StreamingSafetensors.write(entries, metadata: [
            "format": format, "version": version, "adamw_step": String(optimizer.stepCount), "state": json,
        ], to: directory.appendingPathComponent(fileName))
        // Best-epoch files this checkpoint does not point to are debris of earlier epochs.
        let keep = state.bestEpoch.map(bestFileName(epoch:))
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        where name.hasPrefix("best-epoch-") && name.hasSuffix(".safetensors") && name != keep {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
    }

    static func exists(in directory: URL) -> Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent(fileName).path)
    }

    /// Reads the state and opens the tensors (restore them with `restore`).
    static func load(directory: URL) throws -> (state: TrainerState, file: SafetensorsFile) {
        let url = directory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TrainingError.noCheckpoint(path: url.path)
        }
        let file: SafetensorsFile
        do { file = try SafetensorsFile(url: url) } catch {
            throw TrainingError.badCheckpoint(path: url.path, reason: "\(error)")
        }
        guard file.metadata["format"] == format else {
            throw TrainingError.badCheckpoint(path: url.path, reason: "not a sentimentd training checkpoint (metadata format is \(file.metadata["format"] ?? "missing"))")
        }
        guard file.metadata["version"] == version else {
            throw TrainingError.badCheckpoint(path: url.path, reason: "checkpoint version \(file.metadata["version"] ?? "?") is not \(version)")
        }
        guard let json = file.metadata["state"], let state = try? JSONDecoder().decode(TrainerState.self, from: Data(json.utf8)) else {
            throw TrainingError.badCheckpoint(path: url.path, reason: "the trainer state in the metadata is missing or unreadable")
        }
        return (state, file)
    }

    /// Puts the checkpoint's weights into `buffers` and its moments into `optimizer`.
    static func restore(from file: SafetensorsFile, buffers: [NamedBuffer], optimizer: inout AdamW,
                        parameters: [TrainableParameter]) throws {
        try StreamingSafetensors.read(into: buffers, prefix: "weights/", from: file)
        guard let stepText = file.metadata["adamw_step"], let steps = Int(stepText) else {
            throw TrainingError.badCheckpoint(path: file.path, reason: "adamw_step is missing from the metadata")
        }
        guard steps >= 0 else { throw TrainingError.badCheckpoint(path: file.path, reason: "adamw_step \(steps) is negative") }
        // The moments go straight from the file into buffers whose untouched pages stay unallocated, as
        // AdamW makes them (rows of the word embeddings that no batch reached are zero): a resumed run
        // holds no more memory than an uninterrupted one.
        var state: [String: AdamWMoments] = [:]
        if steps > 0 {
            for p in parameters {
                let moments = AdamWMoments(m: ZeroPages.buffer(count: p.count), v: ZeroPages.buffer(count: p.count))
                try copyNonzero(file, name: "adamw/\(p.name).exp_avg", shape: p.shape, into: moments.m)
                try copyNonzero(file, name: "adamw/\(p.name).exp_avg_sq", shape: p.shape, into: moments.v)
                state[p.name] = moments
            }
        }
        optimizer.state = state
        optimizer.stepCount = steps
    }

    /// Copies an F32 tensor into `buffer`, skipping the all-zero pages (left unwritten, so unallocated).
    static func copyNonzero(_ file: SafetensorsFile, name: String, shape: [Int], into buffer: FloatBuffer) throws {
        guard let info = file.info(name) else {
            throw TrainingError.badCheckpoint(path: file.path, reason: "optimizer tensor \"\(name)\" is missing")
        }
        guard info.dtype == .f32, info.shape == shape else {
            throw TrainingError.badCheckpoint(path: file.path,
                reason: "optimizer tensor \"\(name)\" is \(info.dtype.rawValue) \(info.shape), expected F32 \(shape)")
        }
        try file.withRawBytes(name) { raw in
            let n = buffer.count
            let chunk = ZeroPages.pageSize / 4
            var start = 0
            while start < n {
                let end = min(n, start + chunk)
                var nonzero = false
                for i in start..<end where raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self) != 0 { nonzero = true; break }
                if nonzero {
                    #if _endian(little)
                    UnsafeMutableRawPointer(buffer.pointer + start).copyMemory(from: raw.baseAddress! + 4 * start, byteCount: 4 * (end - start))
                    #else
                    for i in start..<end {
                        buffer.pointer[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    }
                    #endif
                }
                start = end
            }
        }
    }

    static func saveBest(directory: URL, buffers: [NamedBuffer], epoch: Int, macroF1: Double) throws {
        try StreamingSafetensors.write(buffers, metadata: [
            "format": bestFormat, "version": version, "epoch": String(epoch), "macro_f1": String(macroF1),
        ], to: directory.appendingPathComponent(bestFileName(epoch: epoch)))
    }

    static func loadBest(directory: URL, into buffers: [NamedBuffer], epoch: Int) throws {
        let url = directory.appendingPathComponent(bestFileName(epoch: epoch))
        let file: SafetensorsFile
        do { file = try SafetensorsFile(url: url) } catch {
            throw TrainingError.badCheckpoint(path: url.path, reason: "the best epoch's weights cannot be read: \(error)")
        }
        guard file.metadata["format"] == bestFormat, file.metadata["epoch"] == String(epoch) else {
            throw TrainingError.badCheckpoint(path: url.path, reason: "holds epoch \(file.metadata["epoch"] ?? "?"), the run's best is \(epoch)")
        }
        try StreamingSafetensors.read(into: buffers, prefix: "", from: file)
    }
}
