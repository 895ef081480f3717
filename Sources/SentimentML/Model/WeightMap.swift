import Foundation

public enum ModelLoadError: Error, Equatable, CustomStringConvertible {
    case missingFile(folder: String, file: String, hint: String)
    case missingTensor(file: String, name: String)
    case shapeMismatch(file: String, name: String, expected: [Int], found: [Int])
    case noClassifierHead(file: String, family: ModelFamily)
    case headLabelMismatch(file: String, tensorLabels: Int, configLabels: Int)
    case sequenceTooLong(length: Int, limit: Int)

    public var description: String {
        switch self {
        case let .missingFile(folder, file, hint): return "\(folder): \(file) is missing (\(hint))"
        case let .missingTensor(file, name): return "\(file): tensor \"\(name)\" is missing"
        case let .shapeMismatch(file, name, expected, found):
            return "\(file): tensor \"\(name)\" has shape \(found), config.json implies \(expected)"
        case let .noClassifierHead(file, family):
            let names = family == .roberta ? "classifier.dense.* and classifier.out_proj.*" : "classifier.*"
            return "\(file): no classification head (\(names)); this is a bare encoder — fine-tune it with `sentimentd finetune` to add one"
        case let .headLabelMismatch(file, t, c):
            return "\(file): the classifier has \(t) outputs but config.json's id2label names \(c) labels"
        case let .sequenceTooLong(length, limit):
            return "a sequence of \(length) tokens exceeds the model's \(limit) positions"
        }
    }
}

/// Hugging Face parameter names for each family, and the mapping between a state dict and EncoderWeights.
public enum WeightMap {
    /// "roberta." / "bert." for *ForSequenceClassification checkpoints, "" for a bare encoder
    /// (e.g. BertModel as saved by sentence-transformers).
    static func prefix(in archive: TensorArchive, family: ModelFamily) -> String {
        let p = family.rawValue + "."
        return archive.info(p + "embeddings.word_embeddings.weight") != nil ? p : ""
    }

    /// Reads every tensor the config implies, checking names and shapes. `requireHead` makes a missing
    /// classifier an error; otherwise a bare encoder loads with `head == nil`.
    public static func load(_ archive: TensorArchive, config: ModelConfig, requireHead: Bool) throws -> EncoderWeights {
        let c = config.hiddenSize, inter = config.intermediateSize
        let pre = prefix(in: archive, family: config.family)
        let file = archive.path

        func resolve(_ name: String) -> String? {
            if archive.info(name) != nil { return name }
            // Checkpoints from old BERT ports name LayerNorm parameters gamma/beta.
            if name.hasSuffix("LayerNorm.weight") {
                let alt = String(name.dropLast("weight".count)) + "gamma"
                if archive.info(alt) != nil { return alt }
            }
            if name.hasSuffix("LayerNorm.bias") {
                let alt = String(name.dropLast("bias".count)) + "beta"
                if archive.info(alt) != nil { return alt }
            }
            return nil
        }
        /// Reads the tensor straight from the file into `destination` (room for the shape's elements).
        func read(_ name: String, _ shape: [Int], into destination: UnsafeMutablePointer<Float>) throws {
            guard let actual = resolve(name), let info = archive.info(actual) else {
                throw ModelLoadError.missingTensor(file: file, name: name)
            }
            guard info.shape == shape else {
                throw ModelLoadError.shapeMismatch(file: file, name: name, expected: shape, found: info.shape)
            }
            try archive.read(actual, into: destination)
        }
        func tensor(_ name: String, _ shape: [Int]) throws -> FloatBuffer {
            let buffer = FloatBuffer(uninitialized: shape.reduce(1, *))
            try read(name, shape, into: buffer.pointer)
            return buffer
        }
        func linear(_ name: String, out: Int, inp: Int) throws -> Linear {
            Linear(weight: try tensor(name + ".weight", [out, inp]), bias: try tensor(name + ".bias", [out]),
                   inFeatures: inp, outFeatures: out)
        }
        func norm(_ name: String) throws -> LayerNormParams {
            LayerNormParams(weight: try tensor(name + ".weight", [c]), bias: try tensor(name + ".bias", [c]),
                            eps: config.layerNormEps)
        }

        let e = pre + "embeddings."
        let embeddings = EmbeddingParams(
            word: try tensor(e + "word_embeddings.weight", [config.vocabSize, c]),
            position: try tensor(e + "position_embeddings.weight", [config.maxPositionEmbeddings, c]),
            tokenType: try tensor(e + "token_type_embeddings.weight", [config.typeVocabSize, c]),
            norm: try norm(e + "LayerNorm"),
            width: c)

        var layers: [EncoderLayerParams] = []
        for i in 0..<config.numLayers {
            let l = pre + "encoder.layer.\(i)."
            // Query, key and value go straight into the fused QKV weight and bias.
            let qkvW = FloatBuffer(uninitialized: 3 * c * c), qkvB = FloatBuffer(uninitialized: 3 * c)
            for (j, part) in ["query", "key", "value"].enumerated() {
                let name = l + "attention.self." + part
                try read(name + ".weight", [c, c], into: qkvW.pointer + j * c * c)
                try read(name + ".bias", [c], into: qkvB.pointer + j * c)
            }
            layers.append(EncoderLayerParams(
                qkv: Linear(weight: qkvW, bias: qkvB, inFeatures: c, outFeatures: 3 * c),
                attnOut: try linear(l + "attention.output.dense", out: c, inp: c),
                attnNorm: try norm(l + "attention.output.LayerNorm"),
                ffnUp: try linear(l + "intermediate.dense", out: inter, inp: c),
                ffnDown: try linear(l + "output.dense", out: c, inp: inter),
                ffnNorm: try norm(l + "output.LayerNorm")))
        }

        var pooler: Linear?
        if archive.info(pre + "pooler.dense.weight") != nil {
            pooler = try linear(pre + "pooler.dense", out: c, inp: c)
        }

        var head: ClassifierHead?
        let labels = config.numLabels
        func checkLabels(_ name: String) throws {
            if let info = archive.info(name), info.shape.count == 2, info.shape[0] != labels {
                throw ModelLoadError.headLabelMismatch(file: file, tensorLabels: info.shape[0], configLabels: labels)
            }
        }
        switch config.family {
        case .roberta:
            if archive.info("classifier.out_proj.weight") != nil {
                try checkLabels("classifier.out_proj.weight")
                head = .roberta(dense: try linear("classifier.dense", out: c, inp: c),
                                outProj: try linear("classifier.out_proj", out: labels, inp: c))
            }
        case .bert:
            if archive.info("classifier.weight") != nil {
                try checkLabels("classifier.weight")
                guard pooler != nil else { throw ModelLoadError.missingTensor(file: file, name: pre + "pooler.dense.weight") }
                head = .bert(classifier: try linear("classifier", out: labels, inp: c))
            }
        }
        if requireHead && head == nil { throw ModelLoadError.noClassifierHead(file: file, family: config.family) }
        return EncoderWeights(config: config, embeddings: embeddings, layers: layers, pooler: pooler, head: head)
    }

    /// The parameters under their Hugging Face names (q/k/v split again), as
    /// `AutoModelForSequenceClassification` expects them in model.safetensors.
    public static func stateDict(_ w: EncoderWeights) -> [(name: String, tensor: Tensor)] {
        let c = w.config.hiddenSize
        let pre = w.config.family.rawValue + "."
        var out: [(String, Tensor)] = []
        func add(_ name: String, _ buf: FloatBuffer, _ shape: [Int]) { out.append((name, Tensor(shape: shape, values: buf.array))) }
        func add(_ name: String, _ l: Linear) {
            add(name + ".weight", l.weight, [l.outFeatures, l.inFeatures])
            add(name + ".bias", l.bias, [l.outFeatures])
        }
        func add(_ name: String, _ n: LayerNormParams) {
            add(name + ".weight", n.weight, [c])
            add(name + ".bias", n.bias, [c])
        }
        let e = pre + "embeddings."
        add(e + "word_embeddings.weight", w.embeddings.word, [w.config.vocabSize, c])
        add(e + "position_embeddings.weight", w.embeddings.position, [w.config.maxPositionEmbeddings, c])
        add(e + "token_type_embeddings.weight", w.embeddings.tokenType, [w.config.typeVocabSize, c])
        add(e + "LayerNorm", w.embeddings.norm)
        for (i, layer) in w.layers.enumerated() {
            let l = pre + "encoder.layer.\(i)."
            for (j, part) in ["query", "key", "value"].enumerated() {
                out.append((l + "attention.self.\(part).weight",
                            Tensor(shape: [c, c], values: Array(UnsafeBufferPointer(start: layer.qkv.weight.pointer + j * c * c, count: c * c)))))
                out.append((l + "attention.self.\(part).bias",
                            Tensor(shape: [c], values: Array(UnsafeBufferPointer(start: layer.qkv.bias.pointer + j * c, count: c)))))
            }
            add(l + "attention.output.dense", layer.attnOut)
            add(l + "attention.output.LayerNorm", layer.attnNorm)
            add(l + "intermediate.dense", layer.ffnUp)
            add(l + "output.dense", layer.ffnDown)
            add(l + "output.LayerNorm", layer.ffnNorm)
        }
        if let p = w.pooler { add(pre + "pooler.dense", p) }
        switch w.head {
        case let .roberta(dense, outProj)?:
            add("classifier.dense", dense)
            add("classifier.out_proj", outProj)
        case let .bert(classifier)?:
            add("classifier", classifier)
        case nil: break
        }
        return out
    }
}
