/// transformers.get_linear_schedule_with_warmup: the learning rate rises linearly from 0 to `peak`
/// over `warmupSteps`, then falls linearly to 0 at `totalSteps`.
public struct LinearWarmupSchedule: Sendable, Equatable {
    public let peak: Float
    public let warmupSteps: Int
    public let totalSteps: Int

    public init(peak: Float, warmupSteps: Int, totalSteps: Int) {
        precondition(warmupSteps >= 0 && totalSteps >= 0, "step counts must be >= 0")
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// The rate for the optimizer step that follows `atStep` completed steps (0 for the first step, whose
    /// rate is 0 when there is a warm-up — as the HF Trainer, which steps the scheduler after the optimizer).
    public func learningRate(atStep step: Int) -> Float {
        let factor: Double
        if step < warmupSteps {
            factor = Double(step) / Double(max(1, warmupSteps))
        } else {
            factor = max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmupSteps)))
        }
        return Float(Double(peak) * factor)
    }
}
