import Foundation
import Logging
import SentimentProtocol
import SentimentStore
import SentimentCore

/// labels.add, labels.import.*, labels.stats: checks every item against the configured label set and the text
/// limits, then writes through `LabelStore` (one transaction per request or per committed import).
///
/// Policy for bad items (documented in the README): by default one bad item rejects the whole request or import
/// and nothing is applied, with every problem listed by line; with `skip_invalid` the valid items are applied and
/// the others reported. An import is staged in the database chunk by chunk and applied only by its commit, so a
/// client that disconnects or a daemon that dies mid-import leaves no labels behind (open imports are abandoned
/// at the next start).
final class LabelService: @unchecked Sendable {
    /// Items per labels.import.chunk call.
    static let maxChunkItems = 5000
    /// Problems kept per import for the report (all are counted).
    static let keptProblems = 100

    let labels: LabelStore
    let runs: RunStore
    private let config: @Sendable () -> DaemonConfig
    private let logger: Logger

    private struct ImportSession {
        var skipInvalid: Bool
        var staged = 0
        var problems: [LabelProblem] = []
        var problemCount = 0
        var uid: UInt32
    }
    private let sessions = LockedBox<[Int64: ImportSession]>([:])

    init(labels: LabelStore, runs: RunStore, config: @escaping @Sendable () -> DaemonConfig, logger: Logger) {
        self.labels = labels
        self.runs = runs
        self.config = config
        self.logger = logger
    }

    /// Resolves a label to its configured name, or says what is wrong with it.
    enum Resolved: Equatable {
        case name(String)
        case problem(String)
    }

    static func resolve(_ value: LabelValue, names: [String]) -> Resolved {
        switch value {
        case let .index(i):
            guard names.indices.contains(i) else {
                return .problem("label index \(i) is out of range 0...\(names.count - 1) (\(names.joined(separator: ", ")))")
            }
            return .name(names[i])
        case let .name(raw):
            let s = raw.trimmingCharacters(in: .whitespaces)
            if let hit = names.first(where: { $0.lowercased() == s.lowercased() }) { return .name(hit) }
            if let i = Int(s), names.indices.contains(i) { return .name(names[i]) }
            return .problem("unknown label \"\(raw)\" (known: \(names.joined(separator: ", ")), or their indexes 0...\(names.count - 1))")
        }
    }

    /// Splits items into valid store inputs and problems. `numbering(i)` is the line an item is reported at.
    static func validate(_ items: [LabelItem], config: DaemonConfig, numbering: (Int, LabelItem) -> Int)
        -> (valid: [LabelInput], problems: [LabelProblem]) {
        var valid: [LabelInput] = []
        var problems: [LabelProblem] = []
        valid.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            let line = numbering(i, item)
            let normalised = LabelText.normalise(item.text)
            if normalised.isEmpty {
                problems.append(LabelProblem(line: line, reason: "empty text (nothing but whitespace)"))
                continue
            }
            let scalars = normalised.unicodeScalars.count
            if scalars > config.maxTextChars {
                problems.append(LabelProblem(line: line, reason: "text has \(scalars) characters; the limit is \(config.maxTextChars) (server.max_text_chars)"))
                continue
            }
            switch resolve(item.label, names: config.labelNames) {
            case let .problem(reason): problems.append(LabelProblem(line: line, reason: reason))
            case let .name(name): valid.append(LabelInput(text: item.text, label: name, line: line))
            }
        }
        return (valid, problems)
    }

    static func result(_ summary: LabelWriteSummary, problems: [LabelProblem], problemCount: Int) -> LabelWriteResult {
        LabelWriteResult(
            added: summary.added, updated: summary.updated, unchanged: summary.unchanged,
            conflicts: summary.conflicts.map { LabelConflictInfo(text: $0.text, lines: $0.lines, labels: $0.labels) },
            rejected: Array(problems.prefix(keptProblems)), rejectedCount: problemCount, evalSplit: summary.evalSplit)
    }

    func storeError(_ error: Error) -> RPCError {
        if let e = error as? RPCError { return e }
        return .storeFailed("\(error)")
    }

    // MARK: methods

    func add(_ params: LabelsAddMethod.Params, uid: UInt32) throws -> LabelWriteResult {
        let config = self.config()
        guard !params.items.isEmpty else { throw RPCError.invalidParams("labels.add: items is empty") }
        guard params.items.count <= config.maxImportItems else {
            throw RPCError.invalidParams("labels.add: \(params.items.count) items; the limit is \(config.maxImportItems) (labels.max_import_items)")
        }
        let (valid, problems) = Self.validate(params.items, config: config) { i, item in item.line ?? i + 1 }
        if !problems.isEmpty && params.skipInvalid != true {
            throw RPCError.labelsRejected(problems: Array(problems.prefix(Self.keptProblems)), count: problems.count)
        }
        guard !valid.isEmpty else {
            return LabelWriteResult(added: 0, updated: 0, unchanged: 0, conflicts: [], rejected: Array(problems.prefix(Self.keptProblems)),
                                    rejectedCount: problems.count, evalSplit: 0)
        }
        do {
            let summary = try labels.add(valid, source: .add, evalFraction: config.evalFraction, uid: uid)
            return Self.result(summary, problems: problems, problemCount: problems.count)
        } catch {
            throw storeError(error)
        }
    }

    func beginImport(_ params: LabelsImportBeginMethod.Params, uid: UInt32) throws -> LabelsImportBeginMethod.Result {
        let source = String(params.source.prefix(1024))
        let id: Int64
        do {
            id = try labels.beginImport(source: source, format: params.format.rawValue, uid: uid)
        } catch {
            throw storeError(error)
        }
        sessions.withLock { $0[id] = ImportSession(skipInvalid: params.skipInvalid == true, uid: uid) }
        logger.info("label import started", metadata: ["import_id": "\(id)", "source": "\(source)", "peer_uid": "\(uid)"])
        return .init(importID: id, maxChunkItems: Self.maxChunkItems, maxRequestBytes: self.config().requestLineBytes)
    }

    private func session(_ id: Int64, uid: UInt32) throws -> ImportSession {
        guard let s = sessions.value[id] else {
            throw RPCError.notFound("import \(id) is not open (it was committed, aborted, or the daemon restarted; start the import again)")
        }
        guard s.uid == uid || uid == 0 else {
            throw RPCError.notFound("import \(id) belongs to another user")
        }
        return s
    }

    func chunk(_ params: LabelsImportChunkMethod.Params, uid: UInt32) throws -> LabelsImportChunkMethod.Result {
        let config = self.config()
        var s = try session(params.importID, uid: uid)
        guard params.items.count <= Self.maxChunkItems else {
            throw RPCError.invalidParams("labels.import.chunk: \(params.items.count) items; at most \(Self.maxChunkItems) per chunk")
        }
        guard s.staged + params.items.count <= config.maxImportItems else {
            throw RPCError.invalidParams("import \(params.importID): more than \(config.maxImportItems) items (labels.max_import_items)")
        }
        let base = s.staged + s.problemCount
        var (valid, problems) = Self.validate(params.items, config: config) { i, item in item.line ?? base + i + 1 }
        problems += params.problems ?? []
        if !valid.isEmpty {
            do {
                try labels.stageImport(batch: params.importID, rows: valid, maxRows: config.maxImportItems)
            } catch {
                throw storeError(error)
            }
        }
        s.staged += valid.count
        s.problemCount += problems.count
        s.problems += problems.prefix(max(0, Self.keptProblems - s.problems.count))
        let updated = s
        sessions.withLock { $0[params.importID] = updated }
        return .init(staged: s.staged, problems: s.problemCount)
    }

    func commit(_ params: LabelsImportCommitMethod.Params, uid: UInt32) throws -> LabelsImportCommitMethod.Result {
        let config = self.config()
        let s = try session(params.importID, uid: uid)
        if s.problemCount > 0 && !s.skipInvalid {
            try? labels.abandonImport(batch: params.importID)
            sessions.withLock { $0[params.importID] = nil }
            logger.notice("label import rejected", metadata: ["import_id": "\(params.importID)", "problems": "\(s.problemCount)"])
            throw RPCError.labelsRejected(problems: s.problems.sorted { $0.line < $1.line }, count: s.problemCount)
        }
        let summary: LabelWriteSummary
        do {
            summary = try labels.commitImport(batch: params.importID, evalFraction: config.evalFraction)
        } catch {
            // The import stays open in the database until abandoned: nothing was applied.
            try? labels.abandonImport(batch: params.importID)
            sessions.withLock { $0[params.importID] = nil }
            throw storeError(error)
        }
        sessions.withLock { $0[params.importID] = nil }
        logger.notice("label import committed", metadata: [
            "import_id": "\(params.importID)", "added": "\(summary.added)", "updated": "\(summary.updated)",
            "unchanged": "\(summary.unchanged)", "rejected": "\(s.problemCount)",
        ])
        return .init(importID: params.importID,
                     summary: Self.result(summary, problems: s.problems.sorted { $0.line < $1.line }, problemCount: s.problemCount))
    }

    func abort(_ params: LabelsImportAbortMethod.Params, uid: UInt32) throws -> LabelsImportAbortMethod.Result {
        _ = try session(params.importID, uid: uid)
        sessions.withLock { $0[params.importID] = nil }
        do {
            try labels.abandonImport(batch: params.importID)
        } catch {
            throw storeError(error)
        }
        return .init(importID: params.importID, aborted: true)
    }

    func stats() throws -> LabelsStatsMethod.Result {
        let config = self.config()
        do {
            let last = try runs.lastCompletedRun()
            let stats = try labels.stats(sinceSeq: last?.labelSeqHigh)
            var names = config.labelNames
            for extra in stats.perLabel.keys.sorted() where !names.contains(extra) { names.append(extra) }
            let rows = names.map { name in
                LabelsStatsMethod.PerLabel(
                    label: name, train: stats.perLabel[name]?.train ?? 0, eval: stats.perLabel[name]?.eval ?? 0,
                    newTrain: stats.newPerLabel[name]?.train ?? 0, newEval: stats.newPerLabel[name]?.eval ?? 0)
            }
            return .init(labels: rows, total: rows.reduce(0) { $0 + $1.train + $1.eval },
                         train: rows.reduce(0) { $0 + $1.train }, eval: rows.reduce(0) { $0 + $1.eval },
                         newTrain: rows.reduce(0) { $0 + $1.newTrain }, sinceRun: last?.id,
                         minNewLabels: config.training.minNewLabels, evalFraction: config.evalFraction)
        } catch {
            throw storeError(error)
        }
    }

    func register(on router: Router) {
        router.registerAsync(LabelsAddMethod.self) { [self] params, context in
            try add(params, uid: context.peer.uid)
        }
        router.registerAsync(LabelsImportBeginMethod.self) { [self] params, context in
            try beginImport(params, uid: context.peer.uid)
        }
        router.registerAsync(LabelsImportChunkMethod.self) { [self] params, context in
            try chunk(params, uid: context.peer.uid)
        }
        router.registerAsync(LabelsImportCommitMethod.self) { [self] params, context in
            try commit(params, uid: context.peer.uid)
        }
        router.registerAsync(LabelsImportAbortMethod.self) { [self] params, context in
            try abort(params, uid: context.peer.uid)
        }
        router.registerAsync(LabelsStatsMethod.self) { [self] _, _ in try stats() }
    }
}
