import SentimentCore

/// What can stop a run. Each case says what happened and what to do.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
    /// A setting out of its range or at odds with the model; the description names the setting by its key, each
    /// front end in its own words (`sentimentd finetune` by its flag).
    ///
    /// Every description here speaks of settings and actions (resume, a new head, another output folder), never
    /// of a command's flags: the trainer runs under `sentimentd finetune` and under the daemon's runs alike, and
    /// each front end adds how its user does it (`FinetuneCommand.hint(for:)`).
    case badSetting(TrainingSetting, reason: String)
    case noTrainingExamples
    case labelsDifferFromHead(folder: String, head: [String], requested: [String])
    case freezeTooMuch(layers: Int, requested: Int)
    case nonFiniteLoss(step: Int, epoch: Int, lastCheckpoint: String?)
    case nonFiniteGradient(step: Int, epoch: Int, lastCheckpoint: String?)
    case noCheckpoint(path: String)
    case checkpointExists(directory: String)
    case checkpointMismatch(path: String, reasons: [String])
    case badCheckpoint(path: String, reason: String)
    case outputExists(path: String)
    case badExampleLabel(set: String, index: Int, label: Int, classes: Int)
    case workDirectoryBusy(path: String)

    public var description: String {
        func resumeHint(_ checkpoint: String?) -> String {
            checkpoint.map { "; the last good checkpoint is kept at \($0) (resume from it, perhaps with a lower learning_rate)" }
                ?? "; no checkpoint was written yet (try a lower learning_rate)"
        }
        switch self {
        case let .badSetting(setting, reason): return "training setting \(setting.key) \(reason)"
        case .noTrainingExamples: return "there are no training examples"
        case let .labelsDifferFromHead(folder, head, requested):
            return "\(folder): the checkpoint's head is trained for labels \(head) but \(requested) were asked for; "
                + "ask for a new head (new_head) to train one for them"
        case let .freezeTooMuch(layers, requested):
            return "training setting freeze_layers is \(requested), but the model has \(layers) layers"
        case let .nonFiniteLoss(step, epoch, checkpoint):
            return "the training loss became NaN or infinite at step \(step) (epoch \(epoch)); training stopped" + resumeHint(checkpoint)
        case let .nonFiniteGradient(step, epoch, checkpoint):
            return "the gradient norm became NaN or infinite at step \(step) (epoch \(epoch)); training stopped" + resumeHint(checkpoint)
        case let .noCheckpoint(path): return "\(path): no checkpoint to resume from (start afresh instead of resuming)"
        case let .checkpointExists(directory):
            return "\(directory) holds the checkpoint of an earlier run: resume it, or remove the directory to start afresh"
        case let .checkpointMismatch(path, reasons):
            return "\(path) was written by a different run: " + reasons.joined(separator: "; ")
                + " (resume with the same settings and data, or remove the checkpoint to start afresh)"
        case let .badCheckpoint(path, reason): return "\(path): unusable checkpoint: \(reason)"
        case let .outputExists(path): return "\(path) already exists (choose another output folder, or allow replacing it)"
        case let .badExampleLabel(set, index, label, classes):
            return "\(set) example \(index): label index \(label) is outside 0..<\(classes)"
        case let .workDirectoryBusy(path):
            return "\(path) is in use by another training run (one run per work directory)"
        }
    }
}
