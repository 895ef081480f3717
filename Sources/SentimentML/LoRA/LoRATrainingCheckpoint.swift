import Foundation

/// The resumable checkpoint of a LoRA run: the same file and format as TrainingCheckpoint, but
/// `weights/<name>` holds only the trained tensors (the adapter's A and B and the head), never the
/// frozen base (hundreds of MB that did not change, and that a restore must not write over:
/// its buffers may be shared).
extension TrainingCheckpoint {
    /// What a LoRA run saves and restores: its trainable tensors' values.
    static func trainedBuffers(_ parameters: [TrainableParameter]) -> [NamedBuffer] {
        parameters.map { NamedBuffer(name: $0.name, shape: $0.shape, buffer: $0.value) }
    }

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
        let keep = state.bestEpoch.map(bestFileName(epoch:))
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        where name.hasPrefix("best-epoch-") && name.hasSuffix(".safetensors") && name != keep {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
    }

    static func restore(from file: SafetensorsFile, buffers: [NamedBuffer], optimizer: inout AdamW,
                        parameters: [TrainableParameter]) throws {
        try StreamingSafetensors.read(into: buffers, prefix: "weights/", from: file)
        guard let stepText = file.metadata["adamw_step"], let steps = Int(stepText), steps >= 0 else {
            throw TrainingError.badCheckpoint(path: file.path, reason: "adamw_step is missing from the metadata or negative")
        }
        var state: [String: AdamWMoments] = [:]
        if steps > 0 {
            for p in parameters {
                let moments = AdamWMoments(m: FloatBuffer(count: p.count), v: FloatBuffer(count: p.count))
                try copyNonzero(file, name: "adamw/\(p.name).exp_avg", shape: p.shape, into: moments.m)
                try copyNonzero(file, name: "adamw/\(p.name).exp_avg_sq", shape: p.shape, into: moments.v)
                state[p.name] = moments
            }
        }
        optimizer.state = state
        optimizer.stepCount = steps
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
