import Foundation
import SentimentCheckpoint

/// Hugging Face parameter names for each family, and the mapping between a state dict and EncoderWeights.
public enum WeightMap {
    /// "roberta." / "bert." for *ForSequenceClassification checkpoints, "" for a bare encoder
    /// (e.g. BertModel as saved by sentence-transformers).
    static func names(in archive: TensorArchive, family: ModelFamily) -> ParameterNames {
        let classifier = ParameterNames(family: family)
        return archive.info(classifier.wordEmbeddings + ".weight") != nil ? classifier : ParameterNames(family: family, prefix: "")
    }

    /// Reads every tensor the config implies, checking names and shapes. `requireHead` makes a missing
    /// classifier an error; otherwise a bare encoder loads with `head == nil`. `eachLayer` takes each encoder layer
    /// as it is read and returns what to keep of it (an int8 load quantizes it there and keeps no fp32 matrix, so
    /// the whole fp32 encoder is never in memory at once).
    public static func load(_ archive: TensorArchive, config: ModelConfig, requireHead: Bool,
                            eachLayer: (EncoderLayerParams) -> EncoderLayerParams = { $0 }) throws -> EncoderWeights {
        let c = config.hiddenSize, inter = config.intermediateSize
        let names = names(in: archive, family: config.family)
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

        let embeddings = EmbeddingParams(
            word: try tensor(names.wordEmbeddings + ".weight", [config.vocabSize, c]),
            position: try tensor(names.positionEmbeddings + ".weight", [config.maxPositionEmbeddings, c]),
            tokenType: try tensor(names.tokenTypeEmbeddings + ".weight", [config.typeVocabSize, c]),
            norm: try norm(names.embeddingsNorm),
            width: c)

        var layers: [EncoderLayerParams] = []
        for i in 0..<config.numLayers {
            // Query, key and value go straight into the fused QKV weight and bias.
            let qkvW = FloatBuffer(uninitialized: 3 * c * c), qkvB = FloatBuffer(uninitialized: 3 * c)
            for (j, part) in ParameterNames.LayerModule.attentionProjections.enumerated() {
                let name = names.module(part, layer: i)
                try read(name + ".weight", [c, c], into: qkvW.pointer + j * c * c)
                try read(name + ".bias", [c], into: qkvB.pointer + j * c)
            }
            layers.append(eachLayer(EncoderLayerParams(
                qkv: Linear(weight: qkvW, bias: qkvB, inFeatures: c, outFeatures: 3 * c),
                attnOut: try linear(names.module(.attentionOutput, layer: i), out: c, inp: c),
                attnNorm: try norm(names.module(.attentionNorm, layer: i)),
                ffnUp: try linear(names.module(.intermediate, layer: i), out: inter, inp: c),
                ffnDown: try linear(names.module(.output, layer: i), out: c, inp: inter),
                ffnNorm: try norm(names.module(.outputNorm, layer: i)))))
        }

        var pooler: Linear?
        if archive.info(names.pooler + ".weight") != nil {
            pooler = try linear(names.pooler, out: c, inp: c)
        }

        var head: ClassifierHead?
        let labels = config.numLabels
        func checkLabels(_ name: String) throws {
            if let info = archive.info(name), info.shape.count == 2, info.shape[0] != labels {
                throw ModelLoadError.headLabelMismatch(file: file, tensorLabels: info.shape[0], configLabels: labels)
            }
        }
        if archive.info(names.headOutput + ".weight") != nil {
            try checkLabels(names.headOutput + ".weight")
            if let dense = names.headDense {
                head = .roberta(dense: try linear(dense, out: c, inp: c),
                                outProj: try linear(names.headOutput, out: labels, inp: c))
            } else {
                guard pooler != nil else { throw ModelLoadError.missingTensor(file: file, name: names.pooler + ".weight") }
                head = .bert(classifier: try linear(names.headOutput, out: labels, inp: c))
            }
        }
        if requireHead && head == nil { throw ModelLoadError.noClassifierHead(file: file, family: config.family) }
        return EncoderWeights(config: config, embeddings: embeddings, layers: layers, pooler: pooler, head: head)
    }

    /// The parameters under their Hugging Face names (q/k/v split again), as
    /// `AutoModelForSequenceClassification` expects them in model.safetensors.
    public static func stateDict(_ w: EncoderWeights) -> [(name: String, tensor: Tensor)] {
        stateDict(w.parts.named(ParameterNames(family: w.config.family)))
    }

    /// Tensors of named buffers, each fused attention projection split into query, key and value.
    static func stateDict(_ buffers: [NamedBuffer]) -> [(name: String, tensor: Tensor)] {
        var out: [(String, Tensor)] = []
        for b in buffers {
            let fused = "." + ParameterNames.fusedQKV + "."
            guard let range = b.name.range(of: fused) else {
                out.append((b.name, Tensor(shape: b.shape, values: b.buffer.array)))
                continue
            }
            // [3C, C] weight or [3C] bias: rows query | key | value.
            let part = b.buffer.count / 3
            let shape = [b.shape[0] / 3] + b.shape.dropFirst()
            for (j, module) in ParameterNames.LayerModule.attentionProjections.enumerated() {
                let name = b.name.replacingCharacters(in: range, with: "." + module.rawValue + ".")
                out.append((name, Tensor(shape: shape, values: Array(UnsafeBufferPointer(start: b.buffer.pointer + j * part, count: part)))))
            }
        }
        return out
    }
}
