import Foundation
import GRDB
import SentimentCore

/// Where a training run is. `queued` and `running` are unfinished; the other four are final and never
/// change again.
public enum RunStatus: String, Codable, Sendable, CaseIterable {
    case queued
    case running
    /// The candidate passed the gate and was published into models/.
    case published
    /// The candidate was trained and evaluated but did not pass the gate.
    case rejected
    /// The worker crashed, was killed, or the daemon restarted under it.
    case failed
    /// Stopped on request (`train.cancel`).
    case cancelled

    public var isFinished: Bool {
        switch self {
        case .queued, .running: return false
        case .published, .rejected, .failed, .cancelled: return true
        }
    }
}

/// What started a run.
public enum RunTrigger: String, Codable, Sendable {
    /// `every` passed and enough new labels arrived.
    case schedule
    /// `sentimentctl train`.
    case manual
}

/// The promotion gate's verdict.
public enum RunDecision: String, Codable, Sendable {
    case published
    case rejected
}

/// Errors of run bookkeeping, each naming the run.
public enum RunStoreError: Error, Equatable, CustomStringConvertible {
    /// Another run is queued or running; only one runs at a time.
    case runInProgress(id: Int64)
    /// No run has this id.
    case unknownRun(id: Int64)
    /// The run is finished (published, rejected, failed or cancelled) and cannot change any more.
    case runFinished(id: Int64, status: RunStatus)
    /// Progress, epochs and evaluations are recorded only while the run is running.
    case notRunning(id: Int64, status: RunStatus)
    /// `finish` needs one of the final statuses.
    case notAFinalStatus(RunStatus)

    public var description: String {
        switch self {
        case let .runInProgress(id):
            return "run \(id) is already queued or running; wait for it or cancel it (train --cancel)"
        case let .unknownRun(id):
            return "run \(id) does not exist"
        case let .runFinished(id, status):
            return "run \(id) is already finished (\(status.rawValue)) and cannot change"
        case let .notRunning(id, status):
            return "run \(id) is \(status.rawValue), not running"
        case let .notAFinalStatus(status):
            return "\(status.rawValue) is not a final run status (published, rejected, failed or cancelled)"
        }
    }
}

/// One row of training_run: a fine-tuning run from queueing to its gate decision.
public struct TrainingRunRecord: Codable, Sendable, Equatable, FetchableRecord {
    public var id: Int64
    public var status: RunStatus
    public var trigger: RunTrigger
    /// Who asked for it (the daemon's own uid for scheduled runs).
    public var uid: UInt32
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// The model version fine-tuned (the champion).
    public var baseVersion: String?
    /// The version directory the candidate was (or would have been) published as.
    public var candidateVersion: String?
    /// Which weights the run trains (SentimentCore's `TrainingMethod`, the recipe's).
    public var method: TrainingMethod
    /// The recipe (hyper-parameters) as JSON; opaque to the store.
    public var recipe: String
    /// The highest label seq the run's data accounts for: labels above it are new for the next run.
    public var labelSeqHigh: Int64?
    public var dataFingerprint: String?
    public var trainExamples: Int?
    public var newExamples: Int?
    public var replayExamples: Int?
    public var evalExamples: Int?
    public var step: Int?
    public var totalSteps: Int?
    public var epoch: Int?
    /// Training loss (nil when not finite).
    public var loss: Double?
    public var lr: Double?
    public var examplesPerSecond: Double?
    public var etaSeconds: Double?
    /// When the progress fields were last written.
    public var progressAt: Date?
    /// Metrics JSON of the champion on the eval split.
    public var championMetrics: String?
    /// Metrics JSON of the candidate on the eval split.
    public var candidateMetrics: String?
    public var championF1: Double?
    public var candidateF1: Double?
    public var decision: RunDecision?
    /// Why the gate decided as it did, or why the run stopped.
    public var reason: String?
    public var workerPid: Int32?
    public var error: String?
    /// How many of the run's training examples each uid labelled, as JSON `{"uid": count}`.
    public var labelUIDs: String?
    /// The gate's numbers as JSON; opaque to the store.
    public var gate: String?

    enum CodingKeys: String, CodingKey {
        case id, status, trigger, uid
        case createdAt = "created_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case baseVersion = "base_version"
        case candidateVersion = "candidate_version"
        case method, recipe
        case labelSeqHigh = "label_seq_high"
        case dataFingerprint = "data_fingerprint"
        case trainExamples = "train_examples"
        case newExamples = "new_examples"
        case replayExamples = "replay_examples"
        case evalExamples = "eval_examples"
        case step
        case totalSteps = "total_steps"
        case epoch, loss, lr
        case examplesPerSecond = "examples_per_second"
        case etaSeconds = "eta_seconds"
        case progressAt = "progress_at"
        case championMetrics = "champion_metrics"
        case candidateMetrics = "candidate_metrics"
        case championF1 = "champion_f1"
        case candidateF1 = "candidate_f1"
        case decision, reason
        case workerPid = "worker_pid"
        case error
        case labelUIDs = "label_uids"
        case gate
    }
}

/// The metrics of one finished epoch of a run.
public struct RunEpochRecord: Codable, Sendable, Equatable, FetchableRecord {
    public var runID: Int64
    public var epoch: Int
    /// Mean training loss of the epoch (nil when not finite).
    public var trainLoss: Double?
    /// Evaluation metrics as JSON; opaque to the store.
    public var metrics: String
    public var recordedAt: Date

    enum CodingKeys: String, CodingKey {
        case runID = "run_id"
        case epoch
        case trainLoss = "train_loss"
        case metrics
        case recordedAt = "recorded_at"
    }
}

/// One version's evaluation on one frozen eval split: what the gate compares candidates with.
public struct SplitEvaluation: Codable, Sendable, Equatable {
    /// Identity of the split (its texts and labels, in order).
    public var splitFingerprint: String
    public var version: String
    /// The run that evaluated it.
    public var runID: Int64?
    public var examples: Int
    public var macroF1: Double
    /// The predicted class of every eval text, in split order.
    public var predictions: [Int]
    public var recordedAt: Date

    enum CodingKeys: String, CodingKey {
        case splitFingerprint = "split_fingerprint"
        case version
        case runID = "run_id"
        case examples
        case macroF1 = "macro_f1"
        case predictions
        case recordedAt = "recorded_at"
    }

    public init(splitFingerprint: String, version: String, runID: Int64?, examples: Int, macroF1: Double,
                predictions: [Int], recordedAt: Date = Date()) {
        self.splitFingerprint = splitFingerprint
        self.version = version
        self.runID = runID
        self.examples = examples
        self.macroF1 = macroF1
        self.predictions = predictions
        self.recordedAt = recordedAt
    }
}
