import Foundation
import GRDB

/// One point of a run's training curve.
public struct RunCurvePoint: Codable, Sendable, Equatable, FetchableRecord {
    /// Optimizer steps completed.
    public var step: Int
    public var epoch: Int
    /// Mean training loss of the steps since the previous point (nil when not finite).
    public var loss: Double?
    /// The learning rate at this step.
    public var lr: Double?
    /// Gradient norm before clipping, at this step.
    public var gradNorm: Double?

    enum CodingKeys: String, CodingKey {
        case step, epoch, loss, lr
        case gradNorm = "grad_norm"
    }

    public init(step: Int, epoch: Int, loss: Double?, lr: Double?, gradNorm: Double?) {
        self.step = step
        self.epoch = epoch
        self.loss = loss
        self.lr = lr
        self.gradNorm = gradNorm
    }
}

extension RunStore {
    /// The most points a run keeps: a point every totalSteps / `curvePoints` steps (see `curveStride`).
    public static let curvePoints = 200

    /// Steps between two curve points of a run of `totalSteps`.
    public static func curveStride(totalSteps: Int) -> Int { max(1, totalSteps / curvePoints) }

    /// Records (or, for a resumed run, replaces) a curve point. Only while the run is running.
    public func recordCurvePoint(id: Int64, _ point: RunCurvePoint, at date: Date = Date()) throws {
        try database.storeWrite { db in
            try Self.requireRunning(id, db)
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO run_curve (run_id, step, epoch, loss, lr, grad_norm, recorded_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [id, point.step, point.epoch, Self.finite(point.loss), Self.finite(point.lr),
                            Self.finite(point.gradNorm), date])
        }
    }

    /// A run's curve, by step.
    public func curve(run id: Int64) throws -> [RunCurvePoint] {
        try database.read { db in
            try RunCurvePoint.fetchAll(
                db, sql: "SELECT step, epoch, loss, lr, grad_norm FROM run_curve WHERE run_id = ? ORDER BY step",
                arguments: [id])
        }
    }
}
