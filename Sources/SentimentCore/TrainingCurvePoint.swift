import Foundation

/// One point of a run's training curve (`runs.show`'s `curve`): the worker records one every few steps, so a run
/// has at most a couple of hundred. One type for the store's rows (run_curve, `lr` read as `learningRate`) and the
/// wire, both of which import this module.
public struct TrainingCurvePoint: Codable, Sendable, Equatable {
    /// Optimizer steps completed.
    public var step: Int
    public var epoch: Int
    /// Mean training loss of the steps since the previous point (nil when not finite).
    public var loss: Double?
    /// The learning rate at this step.
    public var learningRate: Double?
    /// Gradient norm before clipping, at this step.
    public var gradNorm: Double?

    enum CodingKeys: String, CodingKey {
        case step, epoch, loss
        case learningRate = "learning_rate"
        case gradNorm = "grad_norm"
    }

    public init(step: Int, epoch: Int, loss: Double?, learningRate: Double?, gradNorm: Double?) {
        self.step = step
        self.epoch = epoch
        self.loss = loss
        self.learningRate = learningRate
        self.gradNorm = gradNorm
    }
}
