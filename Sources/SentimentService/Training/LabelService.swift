import Dispatch
import Foundation
import Logging
import SentimentProtocol
import SentimentStore
import SentimentCore

/// labels.add, labels.import.*, labels.stats, labels.eval.draw: checks every item against the configured label set
/// and the text limits, then writes through `LabelStore` (one transaction per request or per committed import).
///
/// Policy for bad items (documented in the README): by default one bad item rejects the whole request or import
/// and nothing is applied, with every problem listed by line; with `skip_invalid` the valid items are applied and
/// the others reported. An import is staged in the database chunk by chunk and applied only by its commit, so a
/// client that disconnects or a daemon that dies mid-import leaves no labels behind (open imports are abandoned
/// at the next start).
///
/// The evaluation split is an admin matter (`splitPolicy`): a labeller's new texts go to the training split and a
/// labeller's item whose text is in the evaluation split is refused like any other bad item, unless the
/// configuration trusts labellers. Imports are bounded per uid (open imports), per import (items, bytes) and in
/// time (an import that receives nothing for `labels.import_idle_timeout_seconds` is abandoned).
final class LabelService: @unchecked Sendable {
    /// Items per labels.import.chunk call.
    static let maxChunkItems = 5000
    /// Problems kept per import for the report (all are counted).
    static let keptProblems = 100

    let labels: LabelStore
    let runs: RunStore
    let config: @Sendable () -> DaemonConfig
    let logger: Logger

    private struct ImportSession {
        var skipInvalid: Bool
        var split: LabelSplitChoice
        var staged = 0
        /// UTF-8 bytes of the staged texts and labels.
        var stagedBytes = 0
        var problems: [LabelProblem] = []
        var problemCount = 0
        var uid: UInt32
        /// When the import last received a call (ProcessInfo.systemUptime).
        var lastActivity: TimeInterval
    }
    private let sessions = LockedBox<[Int64: ImportSession]>([:])
    /// The training run in progress, if any (a draw into the evaluation split waits for it).
    let runInProgress: @Sendable () -> Int64?
    private var sweeper: DispatchSourceTimer?

    init(labels: LabelStore, runs: RunStore, config: @escaping @Sendable () -> DaemonConfig,
         runInProgress: @escaping @Sendable () -> Int64? = { nil }, logger: Logger) {
        self.labels = labels
        self.runs = runs
        self.config = config
        self.runInProgress = runInProgress
        self.logger = logger
    }

    /// Where a caller's labels may go: see `SplitPolicy`. `eval` needs the admin role; an untrusted labeller's
    /// new texts go to the training split and it may not write evaluation texts.
    func splitPolicy(_ choice: LabelSplitChoice, config: DaemonConfig, action: String,
                     context: CallContext) throws -> SplitPolicy {
        let trusted = context.role.includes(.admin) || config.trustLabellers
        switch choice {
        case .eval:
            guard context.role.includes(.admin) else {
                throw RPCError.unauthorised(
                    action: "\(action) with split \"eval\" (writing the frozen evaluation split)", needed: .admin,
                    caller: context.caller.description, role: context.role,
                    holders: Authorizer(config: config).holders(of: .admin))
            }
            return SplitPolicy(newTexts: .eval, mayWriteEval: true)
        case .train:
            return SplitPolicy(newTexts: .train, mayWriteEval: trusted)
        case .auto:
            return trusted ? .byHash(evalFraction: config.evalFraction) : .trainOnly
        }
    }

    /// Problems for the lines a write could not apply because their text is in the evaluation split.
    static func protectedProblems(_ lines: [Int]) -> [LabelProblem] {
        lines.map { LabelProblem(line: $0, reason: SplitPolicy.protectedReason) }
    }

    /// Resolves a label to its configured name, or says what is wrong with it.
    enum Resolved: Equatable {
        case name(String)
        case problem(String)
    }

    /// A label as the client gave it, by the one rule `sentimentd finetune` reads data files with (`LabelSet`).
    static func resolve(_ value: LabelValue, names: [String]) -> Resolved {
        let set = LabelSet(names)
        guard let i = set.index(of: value) else { return .problem(set.problem(value)) }
        return .name(names[i])
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
            conflicts: summary.conflicts,
            rejected: Array(problems.prefix(keptProblems)), rejectedCount: problemCount, evalSplit: summary.evalSplit)
    }

    func storeError(_ error: Error) -> RPCError {
        if let e = error as? RPCError { return e }
        return .storeFailed("\(error)")
    }

    // MARK: methods

    func add(_ params: LabelsAddMethod.Params, context: CallContext) throws -> LabelWriteResult {
        let config = self.config()
        let policy = try splitPolicy(params.split ?? .auto, config: config, action: "labels.add", context: context)
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
            let summary = try labels.add(valid, source: .add, policy: policy, skipProtected: params.skipInvalid == true,
                                         uid: context.uid)
            let all = (problems + Self.protectedProblems(summary.protectedLines)).sorted { $0.line < $1.line }
            return Self.result(summary, problems: all, problemCount: all.count)
        } catch let LabelStoreError.evalSplitProtected(lines) {
            let all = (problems + Self.protectedProblems(lines)).sorted { $0.line < $1.line }
            throw RPCError.labelsRejected(problems: Array(all.prefix(Self.keptProblems)), count: all.count)
        } catch {
            throw storeError(error)
        }
    }

    func beginImport(_ params: LabelsImportBeginMethod.Params, context: CallContext) throws -> LabelsImportBeginMethod.Result {
        let config = self.config()
        let split = params.split ?? .auto
        _ = try splitPolicy(split, config: config, action: "labels.import.begin", context: context)
        sweepIdleImports()
        let uid = context.uid
        let open = sessions.withLock { $0.values.filter { $0.uid == uid }.count }
        guard open < config.maxOpenImportsPerUID else {
            throw RPCError.overloaded("uid \(uid) has \(open) imports open; the limit is \(config.maxOpenImportsPerUID) "
                + "(labels.max_open_imports_per_uid): commit or abort one first")
        }
        let source = String(params.source.prefix(1024))
        let id: Int64
        do {
            id = try labels.beginImport(source: source, format: params.format.rawValue, uid: uid)
        } catch {
            throw storeError(error)
        }
        sessions.withLock {
            $0[id] = ImportSession(skipInvalid: params.skipInvalid == true, split: split, uid: uid,
                                   lastActivity: ProcessInfo.processInfo.systemUptime)
        }
        logger.info("label import started", metadata: ["import_id": "\(id)", "source": "\(source)", "peer_uid": "\(uid)"])
        return .init(importID: id, maxChunkItems: Self.maxChunkItems, maxRequestBytes: config.requestLineBytes)
    }

    private func session(_ id: Int64, context: CallContext) throws -> ImportSession {
        sweepIdleImports()
        guard let s = sessions.value[id] else {
            throw RPCError.notFound("import \(id) is not open (it was committed, aborted, abandoned after "
                + "labels.import_idle_timeout_seconds without a chunk, or the daemon restarted; start the import again)")
        }
        guard s.uid == context.uid || context.role.includes(.admin) else {
            throw RPCError.notFound("import \(id) belongs to another user")
        }
        return s
    }

    /// Abandons every import that has received nothing for `labels.import_idle_timeout_seconds`.
    func sweepIdleImports() {
        let limit = config().importIdleTimeoutSeconds
        let now = ProcessInfo.processInfo.systemUptime
        let idle = sessions.withLock { open -> [Int64] in
            let ids = open.filter { now - $0.value.lastActivity > limit }.map(\.key)
            for id in ids { open[id] = nil }
            return ids
        }
        for id in idle.sorted() {
            try? labels.abandonImport(batch: id)
            logger.notice("label import abandoned: idle too long", metadata: [
                "import_id": "\(id)", "idle_timeout_seconds": "\(limit)",
            ])
        }
    }

    /// Sweeps idle imports every few seconds (a quarter of the timeout, at most 30 s).
    func start() {
        let t = DispatchSource.makeTimerSource(queue: .global())
        let every = max(0.5, min(30, config().importIdleTimeoutSeconds / 4))
        t.schedule(deadline: .now() + every, repeating: every)
        t.setEventHandler { [weak self] in self?.sweepIdleImports() }
        t.resume()
        sweeper = t
    }

    func stop() {
        sweeper?.cancel()
        sweeper = nil
    }

    func chunk(_ params: LabelsImportChunkMethod.Params, context: CallContext) throws -> LabelsImportChunkMethod.Result {
        let config = self.config()
        var s = try session(params.importID, context: context)
        guard params.items.count <= Self.maxChunkItems else {
            throw RPCError.invalidParams("labels.import.chunk: \(params.items.count) items; at most \(Self.maxChunkItems) per chunk")
        }
        guard s.staged + params.items.count <= config.maxImportItems else {
            throw RPCError.invalidParams("import \(params.importID): more than \(config.maxImportItems) items (labels.max_import_items)")
        }
        let base = s.staged + s.problemCount
        var (valid, problems) = Self.validate(params.items, config: config) { i, item in item.line ?? base + i + 1 }
        problems += params.problems ?? []
        let bytes = valid.reduce(0) { $0 + $1.text.utf8.count + $1.label.utf8.count }
        guard s.stagedBytes + bytes <= config.maxImportBytes else {
            throw RPCError.invalidParams("import \(params.importID): more than \(config.maxImportBytes) bytes of text "
                + "(labels.max_import_bytes); this chunk was not staged: split the file into several imports")
        }
        if !valid.isEmpty {
            do {
                try labels.stageImport(batch: params.importID, rows: valid, maxRows: config.maxImportItems)
            } catch {
                throw storeError(error)
            }
        }
        s.staged += valid.count
        s.stagedBytes += bytes
        s.lastActivity = ProcessInfo.processInfo.systemUptime
        s.problemCount += problems.count
        s.problems += problems.prefix(max(0, Self.keptProblems - s.problems.count))
        let updated = s
        sessions.withLock { $0[params.importID] = updated }
        return .init(staged: s.staged, problems: s.problemCount)
    }

    func commit(_ params: LabelsImportCommitMethod.Params, context: CallContext) throws -> LabelsImportCommitMethod.Result {
        let config = self.config()
        var s = try session(params.importID, context: context)
        // The committer's role now decides (a role taken away since the import began counts).
        let policy = try splitPolicy(s.split, config: config, action: "labels.import.commit", context: context)
        if s.problemCount > 0 && !s.skipInvalid {
            try? labels.abandonImport(batch: params.importID)
            sessions.withLock { $0[params.importID] = nil }
            logger.notice("label import rejected", metadata: ["import_id": "\(params.importID)", "problems": "\(s.problemCount)"])
            throw RPCError.labelsRejected(problems: s.problems.sorted { $0.line < $1.line }, count: s.problemCount)
        }
        let summary: LabelWriteSummary
        TestHooks.pause("importing \(params.importID)")
        do {
            summary = try labels.commitImport(batch: params.importID, policy: policy, skipProtected: s.skipInvalid)
        } catch let LabelStoreError.evalSplitProtected(lines) {
            try? labels.abandonImport(batch: params.importID)
            sessions.withLock { $0[params.importID] = nil }
            let all = (s.problems + Self.protectedProblems(lines)).sorted { $0.line < $1.line }
            logger.notice("label import rejected: it writes the evaluation split", metadata: [
                "import_id": "\(params.importID)", "lines": "\(lines.count)", "peer_uid": "\(context.uid)",
            ])
            throw RPCError.labelsRejected(problems: Array(all.prefix(Self.keptProblems)),
                                          count: s.problemCount + lines.count)
        } catch {
            // The import stays open in the database until abandoned: nothing was applied.
            try? labels.abandonImport(batch: params.importID)
            sessions.withLock { $0[params.importID] = nil }
            throw storeError(error)
        }
        if !summary.protectedLines.isEmpty {
            s.problemCount += summary.protectedLines.count
            s.problems = Array((s.problems + Self.protectedProblems(summary.protectedLines))
                .sorted { $0.line < $1.line }.prefix(Self.keptProblems))
        }
        sessions.withLock { $0[params.importID] = nil }
        logger.notice("label import committed", metadata: [
            "import_id": "\(params.importID)", "added": "\(summary.added)", "updated": "\(summary.updated)",
            "unchanged": "\(summary.unchanged)", "rejected": "\(s.problemCount)",
        ])
        return .init(importID: params.importID,
                     summary: Self.result(summary, problems: s.problems.sorted { $0.line < $1.line }, problemCount: s.problemCount))
    }

    func abort(_ params: LabelsImportAbortMethod.Params, context: CallContext) throws -> LabelsImportAbortMethod.Result {
        _ = try session(params.importID, context: context)
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

    /// labels.eval.draw: see `LabelStore.drawEval`. Refused while a run is in progress (it may be training on the
    /// very labels a draw would move).
    func drawEval(_ params: LabelsDrawEvalMethod.Params, context: CallContext) throws -> LabelsDrawEvalMethod.Result {
        guard params.count >= 1 else { throw RPCError.invalidParams("labels.eval.draw: count must be at least 1") }
        if let run = runInProgress() { throw RPCError.trainingBusy(runID: run) }
        do {
            let usedUpTo = try runs.highestPublishedLabelSeq()
            let (drawn, available) = try labels.drawEval(count: params.count, seed: params.seed ?? 0x5EED_E7A1,
                                                         usedUpTo: usedUpTo, fromUIDs: params.fromUIDs,
                                                         uid: context.uid)
            let total = try labels.stats(sinceSeq: nil).total.eval
            context.logger.notice("texts drawn into the evaluation split", metadata: [
                "drawn": "\(drawn)", "available": "\(available)", "eval_total": "\(total)", "peer_uid": "\(context.uid)",
            ])
            return .init(drawn: drawn, available: available, evalTotal: total)
        } catch {
            throw storeError(error)
        }
    }

    func register(on router: Router) {
        router.registerAsync(LabelsAddMethod.self) { [self] params, context in try add(params, context: context) }
        router.registerAsync(LabelsImportBeginMethod.self) { [self] params, context in
            try beginImport(params, context: context)
        }
        router.registerAsync(LabelsImportChunkMethod.self) { [self] params, context in try chunk(params, context: context) }
        router.registerAsync(LabelsImportCommitMethod.self) { [self] params, context in
            try commit(params, context: context)
        }
        router.registerAsync(LabelsImportAbortMethod.self) { [self] params, context in try abort(params, context: context) }
        router.registerAsync(LabelsStatsMethod.self) { [self] _, _ in try stats() }
        router.registerAsync(LabelsDrawEvalMethod.self) { [self] params, context in try drawEval(params, context: context) }
        router.registerAsync(LabelsListMethod.self) { [self] params, context in try list(params, context: context) }
        router.registerAsync(LabelsRemoveMethod.self) { [self] params, context in try remove(params, context: context) }
    }
}
