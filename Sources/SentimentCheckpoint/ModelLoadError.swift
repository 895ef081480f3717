/// A model folder whose weights do not fit its config.json (or are missing), by file and tensor name.
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
            let names = ParameterNames(family: family).headModules.map { $0 + ".*" }.joined(separator: " and ")
            return "\(file): no classification head (\(names)); this is a bare encoder — fine-tune it with `sentimentd finetune` to add one"
        case let .headLabelMismatch(file, t, c):
            return "\(file): the classifier has \(t) outputs but config.json's id2label names \(c) labels"
        case let .sequenceTooLong(length, limit):
            return "a sequence of \(length) tokens exceeds the model's \(limit) positions"
        }
    }
}
