import Foundation
import Logging
import SentimentEngine
import SentimentProtocol

/// The model a request is answered by. A request takes it when it is submitted, and the batch holds it while it
/// runs, so a swap in between never mixes versions within one answer and never frees a model in use.
package struct ServingModel: Sendable {
    package var version: String
    package var model: SentimentModel

    init(version: String, model: SentimentModel) {
        self.version = version
        self.model = model
    }
}

/// One text's answer.
struct TextPrediction: Sendable, Equatable {
    var prediction: Prediction
    /// Token ids the model saw, specials included.
    var tokens: Int
    /// The text filled the model's maximum length, so its end may have been cut.
    var reachedMaxLength: Bool
}

/// Batch limits; changeable at run time (`reload`).
struct BatchLimits: Sendable, Equatable {
    var maxBatch: Int
    var maxDelay: Duration
    var maxQueuedTexts: Int

    init(maxBatch: Int, maxDelay: Duration, maxQueuedTexts: Int) {
        self.maxBatch = maxBatch
        self.maxDelay = maxDelay
        self.maxQueuedTexts = maxQueuedTexts
    }
}

/// What the batcher reports, for metrics and the watchdog.
struct BatcherObserver: Sendable {
    /// A batch ran: its size, the longest sequence in tokens, total tokens, and the time the forward took.
    var batchCompleted: @Sendable (_ size: Int, _ maxTokens: Int, _ totalTokens: Int, _ seconds: Double) -> Void
    /// Seconds a text waited in the queue before its batch started.
    var queueWait: @Sendable (_ seconds: Double) -> Void
    /// Called by the worker on every turn of its loop (at least every `heartbeatInterval`): the serving loop is alive.
    var heartbeat: @Sendable () -> Void
    /// A text's probabilities were not all finite (its request was answered with an error): the model version.
    var nonFiniteOutput: @Sendable (_ version: String) -> Void

    init(batchCompleted: @escaping @Sendable (Int, Int, Int, Double) -> Void = { _, _, _, _ in },
                queueWait: @escaping @Sendable (Double) -> Void = { _ in },
                heartbeat: @escaping @Sendable () -> Void = {},
                nonFiniteOutput: @escaping @Sendable (String) -> Void = { _ in }) {
        self.batchCompleted = batchCompleted
        self.queueWait = queueWait
        self.heartbeat = heartbeat
        self.nonFiniteOutput = nonFiniteOutput
    }
}

enum BatcherError: Error, Equatable, Sendable {
    case queueFull(queued: Int, limit: Int)
    case stopped
    /// The model returned a different number of predictions than it was given texts (a bug, reported, not fatal).
    case modelFailed(String)
    /// The forward pass gave NaN or an infinity for the request's text at `index`: nothing of it is answered.
    case nonFiniteOutput(version: String, index: Int)
}

/// Dynamic batching: texts from every connection wait in one queue; a dedicated thread takes the oldest text and
/// the up to `maxBatch - 1` others for the same model whose token lengths are closest to it, and runs them as one
/// forward pass. A batch starts when as many texts are queued as the previous batch had (so a lone client never
/// waits, and many clients fill their batches without waiting the whole delay), when its oldest text has waited
/// `maxDelay` (counted from when the worker became free, if that is later), or at once when draining. Tokenization happens on the worker too, with the model the request was pinned to, so the event loops
/// only parse JSON.
///
/// Thread model: `submit` from any thread; completion handlers run on the worker thread and must not block.
package final class Batcher: @unchecked Sendable {
    /// Longest the worker sleeps without a heartbeat.
    let heartbeatInterval: Duration

    private let condition = NSCondition()
    // Everything below is guarded by `condition`.
    private var queue: [QueuedText] = []
    private var limits: BatchLimits
    private var state = State.running
    /// How many texts the last batch had: the company worth waiting for. A lone client (batches of 1) never waits;
    /// with many clients the batch starts as soon as as many texts as last time are queued, or at `maxDelay`.
    /// Starts at `maxBatch`, so the very first batch waits for company at most once.
    private var expectedBatch: Int
    private var sequence: UInt64 = 0

    private let observer: BatcherObserver
    private let logger: Logger
    private var thread: Thread?
    private let stoppedSignal = DispatchSemaphore(value: 0)

    private enum State {
        case running
        /// No new submissions; queued texts still run, without waiting for company.
        case draining
        case stopped
    }

    /// A request's texts and where the answers go. Only the worker thread touches `results` and `remaining`.
    final class PendingRequest {
        let model: ServingModel
        var results: [TextPrediction?]
        var remaining: Int
        let completion: (Result<[TextPrediction], BatcherError>) -> Void

        init(model: ServingModel, count: Int, completion: @escaping (Result<[TextPrediction], BatcherError>) -> Void) {
            self.model = model
            self.results = Array(repeating: nil, count: count)
            self.remaining = count
            self.completion = completion
        }
    }

    final class QueuedText {
        let text: String
        let index: Int
        let request: PendingRequest
        let enqueuedAt: ContinuousClock.Instant
        let sequence: UInt64
        var encoded: [Int32]?

        init(text: String, index: Int, request: PendingRequest, enqueuedAt: ContinuousClock.Instant, sequence: UInt64) {
            self.text = text
            self.index = index
            self.request = request
            self.enqueuedAt = enqueuedAt
            self.sequence = sequence
        }

        var modelID: ObjectIdentifier { ObjectIdentifier(request.model.model) }
    }

    init(limits: BatchLimits, heartbeatInterval: Duration = .seconds(1), observer: BatcherObserver = .init(),
         logger: Logger) {
        self.limits = limits
        self.expectedBatch = limits.maxBatch
        self.heartbeatInterval = heartbeatInterval
        self.observer = observer
        self.logger = logger
    }

    func start() {
        condition.lock()
        defer { condition.unlock() }
        guard thread == nil else { return }
        let t = Thread { [self] in self.workerLoop() }
        t.name = "sentimentd-batcher"
        t.stackSize = 16 << 20
        thread = t
        t.start()
    }

    func updateLimits(_ newLimits: BatchLimits) {
        condition.lock()
        limits = newLimits
        condition.broadcast()
        condition.unlock()
    }

    package var queuedTexts: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
    }

    /// Queues the texts of one request; `completion` gets every text's answer, in order, from `model`.
    func submit(texts: [String], model: ServingModel,
                completion: @escaping (Result<[TextPrediction], BatcherError>) -> Void) throws {
        let request = PendingRequest(model: model, count: texts.count, completion: completion)
        if texts.isEmpty {
            completion(.success([]))
            return
        }
        let now = ContinuousClock.now
        condition.lock()
        defer { condition.unlock() }
        guard case .running = state else { throw BatcherError.stopped }
        guard queue.count + texts.count <= limits.maxQueuedTexts else {
            throw BatcherError.queueFull(queued: queue.count, limit: limits.maxQueuedTexts)
        }
        for (i, text) in texts.enumerated() {
            sequence += 1
            queue.append(QueuedText(text: text, index: i, request: request, enqueuedAt: now, sequence: sequence))
        }
        condition.signal()
    }

    /// Stops taking submissions, runs everything queued, then stops the worker. Returns when the last batch is done.
    func drain() {
        condition.lock()
        let hadThread = thread != nil
        if case .running = state { state = .draining }
        condition.broadcast()
        condition.unlock()
        if hadThread { stoppedSignal.wait() }
    }

    // MARK: - Worker

    private func workerLoop() {
        while true {
            observer.heartbeat()
            guard let batch = nextBatch() else { break }
            run(batch)
        }
        stoppedSignal.signal()
    }

    /// Waits for the next batch; nil when drained.
    ///
    /// The delay counts from when the text was queued or from when the worker became free, whichever is later:
    /// texts that arrived while the previous batch ran are overdue by then, and starting at once with those few
    /// would make closed-loop clients alternate between a tiny batch and a full one (each client's next request
    /// arrives just after its answer). They wait up to `maxDelay` more for the company of the last batch.
    private func nextBatch() -> [QueuedText]? {
        let freeSince = ContinuousClock.now
        condition.lock()
        defer { condition.unlock() }
        while true {
            if queue.isEmpty {
                if case .draining = state {
                    state = .stopped
                    return nil
                }
                _ = condition.wait(until: Date().addingTimeInterval(heartbeatInterval.seconds))
                if queue.isEmpty { return [] } // a heartbeat turn
                continue
            }
            let oldest = queue[0]
            let due = max(oldest.enqueuedAt, freeSince).advanced(by: limits.maxDelay)
            let now = ContinuousClock.now
            let draining: Bool
            if case .draining = state { draining = true } else { draining = false }
            if draining || queue.count >= min(limits.maxBatch, expectedBatch) || now >= due {
                return takeBatch()
            }
            let wait = min((due - now).seconds, heartbeatInterval.seconds)
            _ = condition.wait(until: Date().addingTimeInterval(wait))
        }
    }

    /// Picks the oldest text and the texts of the same model closest to it in token length. Caller holds the lock.
    private func takeBatch() -> [QueuedText] {
        let oldest = queue[0]
        let model = oldest.request.model.model
        let modelID = oldest.modelID
        let maxBatch = limits.maxBatch
        // Look at a bounded window in age order: enough to group by length, bounded so a deep queue costs little.
        let window = maxBatch * 4
        var candidates: [Int] = []
        candidates.reserveCapacity(min(queue.count, window))
        for (i, item) in queue.enumerated() where item.modelID == modelID {
            candidates.append(i)
            if candidates.count == window { break }
        }
        for i in candidates where queue[i].encoded == nil {
            queue[i].encoded = model.encode(queue[i].text)
        }
        var chosen: [Int]
        if candidates.count <= maxBatch {
            chosen = candidates
        } else {
            let target = oldest.encoded!.count
            let others = candidates.dropFirst().sorted { a, b in
                let da = abs(queue[a].encoded!.count - target), db = abs(queue[b].encoded!.count - target)
                return da != db ? da < db : queue[a].sequence < queue[b].sequence
            }
            chosen = [candidates[0]] + others.prefix(maxBatch - 1)
            chosen.sort()
        }
        let batch = chosen.map { queue[$0] }
        for i in chosen.reversed() { queue.remove(at: i) }
        expectedBatch = batch.count
        return batch
    }

    private func run(_ batch: [QueuedText]) {
        guard let first = batch.first else { return }
        let started = ContinuousClock.now
        for item in batch { observer.queueWait((started - item.enqueuedAt).seconds) }
        let serving = first.request.model
        let encoded = batch.map { $0.encoded! }
        let predictions = serving.model.predict(encoded: encoded)
        guard predictions.count == batch.count else {
            logger.error("model returned a wrong number of predictions", metadata: [
                "expected": "\(batch.count)", "got": "\(predictions.count)", "model_version": "\(serving.version)",
            ])
            var failed = Set<ObjectIdentifier>()
            for item in batch where failed.insert(ObjectIdentifier(item.request)).inserted {
                item.request.remaining = -1
                item.request.completion(.failure(.modelFailed(
                    "model \(serving.version) returned \(predictions.count) predictions for \(batch.count) texts")))
            }
            return
        }
        let elapsed = (ContinuousClock.now - started).seconds
        let maxTokens = encoded.map(\.count).max() ?? 0
        observer.batchCompleted(batch.count, maxTokens, encoded.reduce(0) { $0 + $1.count }, elapsed)
        logger.trace("batch done", metadata: [
            "batch_size": "\(batch.count)", "max_tokens": "\(maxTokens)", "model_version": "\(serving.version)",
        ])
        for (item, prediction) in zip(batch, predictions) {
            // Non-finite answers never leave the process: the request is answered with an error, once.
            guard prediction.probabilities.allSatisfy(\.isFinite) else {
                guard item.request.remaining > 0 else { continue }
                item.request.remaining = -1
                logger.error("the model gave a non-finite probability; the request is answered with an error", metadata: [
                    "model_version": "\(serving.version)", "text_index": "\(item.index)", "tokens": "\(item.encoded!.count)",
                    "probabilities": "\(prediction.probabilities)",
                ])
                observer.nonFiniteOutput(serving.version)
                item.request.completion(.failure(.nonFiniteOutput(version: serving.version, index: item.index)))
                continue
            }
            let tokens = item.encoded!.count
            item.request.results[item.index] = TextPrediction(
                prediction: prediction, tokens: tokens, reachedMaxLength: tokens >= serving.model.maxLength)
            guard item.request.remaining > 0 else { continue } // already failed
            item.request.remaining -= 1
            if item.request.remaining == 0 {
                item.request.completion(.success(item.request.results.map { $0! }))
            }
        }
    }
}

extension Duration {
    package var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}
