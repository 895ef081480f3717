/// A model folder whose weights do not fit its config.json (or are missing), by file and tensor name.
public enum ModelLoadError: Error, Equatable, CustomStringConvertible {
    case missingFile(folder: String, file: String, hint: String)
    case missingTensor(file: String, name: String)
    case shapeMismatch(file: String, name: String, expected: [Int], found: [Int])
    case noClassifierHead(file: String, family: ModelFamily)
    case headLabelMismatch(file: String, tensorLabels: Int, configLabels: Int)
    case sequenceTooLong(length: Int, limit: Int)
    /// The tensors the config implies need more stored bytes than the weights file holds (views that repeat
    /// stored values, or one storage claimed by several tensors).
    case moreDataThanFile(file: String, needed: Int, fileBytes: Int)
    /// A weight holds NaN or an infinity (`tensor` is its Hugging Face name).
    case nonFiniteWeights(folder: String, tensor: String)

    public var description: String {
        switch self {
        case let .missingFile(folder, file, hint): return "\(folder): \(file) is missing (\(hint))"
        case let .missingTensor(file, name): return "\(file): tensor \"\(name)\" is missing"
        case let .shapeMismatch(file, name, expected, found):
            return "\(file): tensor \"\(name)\" has shape \(found), config.json implies \(expected)"
        case let .noClassifierHead(file, family):
            let names = ParameterNames(family: family).headModules.map { $0 + ".*" }.joined(separator: " and ")
            return "\(file): no classification head (\(names)); this is a bare encoder — fine-tune it with `sentimentd finetune` to add one"
        case let .headLabelMismatch(file, t, c):
            return "\(file): the classifier has \(t) outputs but config.json's id2label names \(c) labels"
        case let .sequenceTooLong(length, limit):
            return "a sequence of \(length) tokens exceeds the model's \(limit) positions"
        case let .moreDataThanFile(file, needed, fileBytes):
            return "\(file): the tensors config.json implies need \(needed) stored bytes, more than the file's \(fileBytes) (shared or repeated storage)"
        case let .nonFiniteWeights(folder, tensor):
            return "\(folder): weight tensor \"\(tensor)\" holds NaN or infinite values (corrupt or diverged checkpoint)"
        }
    }
}
