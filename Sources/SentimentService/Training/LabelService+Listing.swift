import Foundation
import Logging
import SentimentCore
import SentimentProtocol
import SentimentStore

/// labels.list and labels.remove: labels come back out.
///
/// Policy: reading labels needs the labeller role (those who may write the training split may read it); the
/// evaluation split is an admin matter for reading too, so a labeller's listing covers the training split only and a
/// labeller asking for the eval split is refused (an export of it is an admin's). Removal is an admin's, refused
/// while a run is in progress (it may be training on the very labels), and every removed label is recorded.
extension LabelService {
    func list(_ params: LabelsListMethod.Params, context: CallContext) throws -> LabelsListMethod.Result {
        let config = self.config()
        let admin = context.role.includes(.admin)
        if params.split == .eval && !admin {
            throw RPCError.unauthorised(
                action: "labels.list of the eval split (reading the frozen evaluation split, e.g. to export it)",
                needed: .admin, caller: context.caller.description, role: context.role,
                holders: Authorizer(config: config).holders(of: .admin))
        }
        let limit = params.limit ?? LabelsListMethod.maxLimit
        guard (1...LabelsListMethod.maxLimit).contains(limit) else {
            throw RPCError.invalidParams("labels.list: limit \(limit) is out of range 1...\(LabelsListMethod.maxLimit)")
        }
        let splits: [LabelSplit] = params.split.map { [$0] } ?? (admin ? [.train, .eval] : [.train])
        var filter = LabelFilter()
        filter.splits = Set(splits)
        if let value = params.label {
            switch Self.resolve(value, names: config.labelNames) {
            case let .name(name): filter.label = name
            case let .problem(reason): throw RPCError.invalidParams("labels.list: label: \(reason)")
            }
        }
        filter.source = params.source
        filter.importBatch = params.importID
        filter.uid = params.uid
        filter.updatedSince = params.since
        filter.contains = params.contains
        let rows: [StoredLabelRow]
        do {
            // One more than asked: whether another page follows.
            rows = try labels.list(filter, afterID: params.afterID ?? 0, limit: limit + 1)
        } catch {
            throw storeError(error)
        }
        let page = rows.prefix(limit)
        return .init(labels: page.map(Self.stored), nextAfterID: rows.count > limit ? page.last?.id : nil,
                     splits: splits, labelNames: config.labelNames)
    }

    func remove(_ params: LabelsRemoveMethod.Params, context: CallContext) throws -> LabelsRemoveMethod.Result {
        let selection = LabelRemovalSelection(ids: params.ids ?? [], texts: params.texts ?? [],
                                              importBatch: params.importID)
        guard !selection.isEmpty else {
            throw RPCError.invalidParams("labels.remove: name the labels to remove: ids, texts or import_id")
        }
        let dryRun = params.dryRun == true
        if !dryRun, let run = runInProgress() { throw RPCError.trainingBusy(runID: run) }
        let summary: LabelRemovalSummary
        do {
            summary = try labels.remove(selection, uid: context.uid, dryRun: dryRun)
        } catch {
            throw storeError(error)
        }
        let eval = summary.removed.filter { $0.split == .eval }.count
        if !dryRun && !summary.removed.isEmpty {
            context.logger.notice("labels removed", metadata: [
                "removed": "\(summary.removed.count)", "eval": "\(eval)", "peer_uid": "\(context.uid)",
            ])
        }
        return .init(removed: summary.removed.count, train: summary.removed.count - eval, eval: eval,
                     labels: summary.removed.prefix(Self.keptProblems).map(Self.stored),
                     notFoundIDs: summary.notFoundIDs, notFoundTexts: summary.notFoundTexts, dryRun: dryRun)
    }

    static func stored(_ row: StoredLabelRow) -> StoredLabel {
        StoredLabel(id: row.id, text: row.text, label: row.label, split: row.split, source: row.source,
                    importID: row.importBatch, uid: row.uid,
                    createdAt: row.createdAt, updatedAt: row.updatedAt)
    }
}
