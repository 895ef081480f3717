import Foundation
import GRDB
import SentimentCore

extension RunStore {
    /// The most points a run keeps: a point every totalSteps / `curvePoints` steps (see `curveStride`).
    public static let curvePoints = 200

    /// Steps between two curve points of a run of `totalSteps`.
    public static func curveStride(totalSteps: Int) -> Int { max(1, totalSteps / curvePoints) }

    /// Records (or, for a resumed run, replaces) a curve point. Only while the run is running.
    public func recordCurvePoint(id: Int64, _ point: TrainingCurvePoint, at date: Date = Date()) throws {
        try database.storeWrite { db in
            try Self.requireRunning(id, db)
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO run_curve (run_id, step, epoch, loss, lr, grad_norm, recorded_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [id, point.step, point.epoch, Self.finite(point.loss), Self.finite(point.learningRate),
                            Self.finite(point.gradNorm), date])
        }
    }

    /// A run's curve, by step.
    public func curve(run id: Int64) throws -> [TrainingCurvePoint] {
        try database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT step, epoch, loss, lr, grad_norm FROM run_curve WHERE run_id = ? ORDER BY step",
                arguments: [id]
            ).map { row in
                TrainingCurvePoint(step: row["step"], epoch: row["epoch"], loss: row["loss"], learningRate: row["lr"],
                                   gradNorm: row["grad_norm"])
            }
        }
    }
}
