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
    ///
    /// Order, and why: every tensor the config implies is looked up first and its shape compared with the
    /// file's (and `checkReadable`), and the bytes they need are compared with the bytes the file holds, before
    /// a single buffer is allocated: a config that says `vocab_size: 8e15`, or a view that repeats a few stored
    /// bytes to a huge shape, is refused by name instead of allocating to it. Then the embeddings, pooler and head
    /// are read, then each encoder layer (its buffers allocated just before it is read, handed to `eachLayer`),
    /// each group in file order (`TensorArchive.read`), and the rest of the file is read for its digest (`finish`).
    public static func load(_ archive: TensorArchive, config: ModelConfig, requireHead: Bool,
                            eachLayer: (EncoderLayerParams) -> EncoderLayerParams = { $0 }) throws -> EncoderWeights {
        let c = config.hiddenSize, inter = config.intermediateSize
        let names = names(in: archive, family: config.family)
        let file = archive.path
        var plan = LoadPlan(archive: archive)

        let word = try plan.tensor(names.wordEmbeddings + ".weight", [config.vocabSize, c])
        let position = try plan.tensor(names.positionEmbeddings + ".weight", [config.maxPositionEmbeddings, c])
        let tokenType = try plan.tensor(names.tokenTypeEmbeddings + ".weight", [config.typeVocabSize, c])
        let embeddingNorm = try plan.norm(names.embeddingsNorm, c)

        struct Layer { var qkvW, qkvB: Int; var attnOut: LoadPlan.Dense; var attnNorm: LoadPlan.Norm
                       var up, down: LoadPlan.Dense; var ffnNorm: LoadPlan.Norm; var buffers: Range<Int> }
        var layers: [Layer] = []
        for i in 0..<config.numLayers {
            let first = plan.bufferSizes.count
            // Query, key and value go straight into the fused QKV weight and bias.
            let qkvW = plan.buffer(3 * c * c), qkvB = plan.buffer(3 * c)
            for (j, part) in ParameterNames.LayerModule.attentionProjections.enumerated() {
                let name = names.module(part, layer: i)
                try plan.read(name + ".weight", [c, c], into: qkvW, at: j * c * c)
                try plan.read(name + ".bias", [c], into: qkvB, at: j * c)
            }
            layers.append(Layer(
                qkvW: qkvW, qkvB: qkvB,
                attnOut: try plan.dense(names.module(.attentionOutput, layer: i), out: c, inp: c),
                attnNorm: try plan.norm(names.module(.attentionNorm, layer: i), c),
                up: try plan.dense(names.module(.intermediate, layer: i), out: inter, inp: c),
                down: try plan.dense(names.module(.output, layer: i), out: c, inp: inter),
                ffnNorm: try plan.norm(names.module(.outputNorm, layer: i), c),
                buffers: first..<plan.bufferSizes.count))
        }

        var pooler: LoadPlan.Dense?
        if archive.info(names.pooler + ".weight") != nil {
            pooler = try plan.dense(names.pooler, out: c, inp: c)
        }

        enum Head { case roberta(LoadPlan.Dense, LoadPlan.Dense), bert(LoadPlan.Dense) }
        var head: Head?
        let labels = config.numLabels
        func checkLabels(_ name: String) throws {
            if let info = archive.info(name), info.shape.count == 2, info.shape[0] != labels {
                throw ModelLoadError.headLabelMismatch(file: file, tensorLabels: info.shape[0], configLabels: labels)
            }
        }
        if archive.info(names.headOutput + ".weight") != nil {
            try checkLabels(names.headOutput + ".weight")
            if let dense = names.headDense {
                head = .roberta(try plan.dense(dense, out: c, inp: c), try plan.dense(names.headOutput, out: labels, inp: c))
            } else {
                guard pooler != nil else { throw ModelLoadError.missingTensor(file: file, name: names.pooler + ".weight") }
                head = .bert(try plan.dense(names.headOutput, out: labels, inp: c))
            }
        }
        if requireHead && head == nil { throw ModelLoadError.noClassifierHead(file: file, family: config.family) }

        // Everything but the layers, then one layer at a time: a layer's buffers live only until `eachLayer` is done.
        let layerBuffers = Set(layers.flatMap { Array($0.buffers) })
        var buffers = try plan.execute(Set(plan.bufferSizes.indices).subtracting(layerBuffers))
        func linear(_ d: LoadPlan.Dense) -> Linear {
            Linear(weight: buffers[d.weight]!, bias: buffers[d.bias]!, inFeatures: d.inp, outFeatures: d.out)
        }
        func norm(_ n: LoadPlan.Norm) -> LayerNormParams {
            LayerNormParams(weight: buffers[n.weight]!, bias: buffers[n.bias]!, eps: config.layerNormEps)
        }
        let embeddings = EmbeddingParams(word: buffers[word]!, position: buffers[position]!, tokenType: buffers[tokenType]!,
                                         norm: norm(embeddingNorm), width: c)
        var built: [EncoderLayerParams] = []
        for l in layers {
            buffers.merge(try plan.execute(Set(l.buffers))) { a, _ in a }
            built.append(eachLayer(EncoderLayerParams(
                qkv: Linear(weight: buffers[l.qkvW]!, bias: buffers[l.qkvB]!, inFeatures: c, outFeatures: 3 * c),
                attnOut: linear(l.attnOut), attnNorm: norm(l.attnNorm), ffnUp: linear(l.up), ffnDown: linear(l.down),
                ffnNorm: norm(l.ffnNorm))))
            for b in l.buffers { buffers[b] = nil }
        }
        try plan.finish()
        let builtHead: ClassifierHead?
        switch head {
        case let .roberta(dense, outProj)?: builtHead = .roberta(dense: linear(dense), outProj: linear(outProj))
        case let .bert(classifier)?: builtHead = .bert(classifier: linear(classifier))
        case nil: builtHead = nil
        }
        return EncoderWeights(config: config, embeddings: embeddings, layers: built, pooler: pooler.map(linear),
                              head: builtHead)
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

/// The tensors a load will read, checked against the archive before anything is allocated (see `WeightMap.load`).
/// Buffers are named by index until `execute()` allocates them.
struct LoadPlan {
    struct Dense { var weight, bias, out, inp: Int }
    struct Norm { var weight, bias: Int }

    let archive: TensorArchive
    private(set) var bufferSizes: [Int] = []
    private var reads: [(name: String, buffer: Int, offset: Int)] = []
    /// Stored bytes of the tensors planned so far (each tensor counted once per read).
    private var storedBytes = 0

    init(archive: TensorArchive) { self.archive = archive }

    /// Room for `count` floats, filled by `read`s.
    mutating func buffer(_ count: Int) -> Int {
        bufferSizes.append(count)
        return bufferSizes.count - 1
    }

    /// Plans reading tensor `name`, which must have `shape`, into `buffer` from element `offset`.
    mutating func read(_ name: String, _ shape: [Int], into buffer: Int, at offset: Int) throws {
        guard let actual = resolve(name), let info = archive.info(actual) else {
            throw ModelLoadError.missingTensor(file: archive.path, name: name)
        }
        guard info.shape == shape else {
            throw ModelLoadError.shapeMismatch(file: archive.path, name: name, expected: shape, found: info.shape)
        }
        try archive.checkReadable(actual)
        // As if every tensor were stored densely: views that repeat stored values (stride 0) or storages shared
        // by several tensors cannot make a small file claim a large model.
        guard let bytes = CheckedSize.multiply(info.elementCount, info.dtype.byteSize),
              let total = CheckedSize.add(storedBytes, bytes), total <= archive.storedBytes else {
            let needed = CheckedSize.multiply(info.elementCount, info.dtype.byteSize).flatMap { CheckedSize.add(storedBytes, $0) }
            throw ModelLoadError.moreDataThanFile(file: archive.path, needed: needed ?? Int.max, fileBytes: archive.storedBytes)
        }
        storedBytes = total
        reads.append((actual, buffer, offset))
    }

    /// A buffer of its own for tensor `name`, sized once the file has confirmed `shape`.
    mutating func tensor(_ name: String, _ shape: [Int]) throws -> Int {
        let b = bufferSizes.count
        try read(name, shape, into: b, at: 0)
        return buffer(archive.info(reads[reads.count - 1].name)!.elementCount)
    }

    mutating func dense(_ name: String, out: Int, inp: Int) throws -> Dense {
        Dense(weight: try tensor(name + ".weight", [out, inp]), bias: try tensor(name + ".bias", [out]), out: out, inp: inp)
    }

    mutating func norm(_ name: String, _ width: Int) throws -> Norm {
        Norm(weight: try tensor(name + ".weight", [width]), bias: try tensor(name + ".bias", [width]))
    }

    /// Checkpoints from old BERT ports name LayerNorm parameters gamma/beta.
    func resolve(_ name: String) -> String? {
        if archive.info(name) != nil { return name }
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

    /// Allocates the buffers `wanted` and reads every tensor planned into them, in file order.
    func execute(_ wanted: Set<Int>) throws -> [Int: FloatBuffer] {
        var buffers: [Int: FloatBuffer] = [:]
        for b in wanted { buffers[b] = FloatBuffer(uninitialized: bufferSizes[b]) }
        try archive.read(reads.filter { wanted.contains($0.buffer) }.map {
            TensorRead(name: $0.name, destination: buffers[$0.buffer]!.pointer + $0.offset)
        })
        return buffers
    }

    /// Reads the rest of the file for its digest, once every buffer is read.
    func finish() throws { try archive.finish() }
}
