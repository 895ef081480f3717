import Foundation
import Metrics
import Prometheus
import SentimentProtocol

/// The daemon's metrics, recorded through swift-metrics into a Prometheus registry of its own (not the global
/// `MetricsSystem`, so several daemons in one test process do not mix), and served by the `metrics` method as
/// Prometheus text.
final class ServiceMetrics: @unchecked Sendable {
    let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let lock = NSLock()
    private var requestCounters: [String: Metrics.Counter] = [:]
    private var requestTimers: [String: Metrics.Timer] = [:]
    private var modelInfo: [String: Metrics.Gauge] = [:]
    private var currentVersion: String?
    private var nonFinite: [String: Metrics.Counter] = [:]
    private var fallbacks: [String: Metrics.Gauge] = [:]

    private let batchSize: Metrics.Recorder
    private let batchMaxTokens: Metrics.Recorder
    private let batchDuration: Metrics.Timer
    private let queueWait: Metrics.Timer
    private let textsPredicted: Metrics.Counter
    private let activations: Metrics.Counter
    private let connections: Metrics.Gauge
    private let connectionsRefused: Metrics.Counter
    private let connectionsTimedOut: Metrics.Counter
    private let queuedTexts: Metrics.Gauge
    private let startTime: Metrics.Gauge
    private let registryStuck: Metrics.Gauge

    init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        let latencyBuckets: [Duration] = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(20), .milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(500),
            .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30),
        ]
        factory.defaultDurationHistogramBuckets = latencyBuckets
        factory.valueHistogramBuckets = [
            "sentimentd_batch_size": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
            "sentimentd_batch_max_tokens": [8, 16, 32, 64, 128, 256, 512, 1024],
        ]
        self.factory = factory
        batchSize = Metrics.Recorder(label: "sentimentd_batch_size", dimensions: [], aggregate: true, factory: factory)
        batchMaxTokens = Metrics.Recorder(label: "sentimentd_batch_max_tokens", dimensions: [], aggregate: true, factory: factory)
        batchDuration = Metrics.Timer(label: "sentimentd_batch_duration_seconds", dimensions: [], factory: factory)
        queueWait = Metrics.Timer(label: "sentimentd_queue_wait_seconds", dimensions: [], factory: factory)
        textsPredicted = Metrics.Counter(label: "sentimentd_texts_predicted_total", dimensions: [], factory: factory)
        activations = Metrics.Counter(label: "sentimentd_model_activations_total", dimensions: [], factory: factory)
        connections = Metrics.Gauge(label: "sentimentd_connections", dimensions: [], factory: factory)
        connectionsRefused = Metrics.Counter(label: "sentimentd_connections_refused_total", dimensions: [], factory: factory)
        connectionsTimedOut = Metrics.Counter(label: "sentimentd_connections_timed_out_total", dimensions: [],
                                              factory: factory)
        queuedTexts = Metrics.Gauge(label: "sentimentd_queued_texts", dimensions: [], factory: factory)
        startTime = Metrics.Gauge(label: "sentimentd_start_time_seconds", dimensions: [], factory: factory)
        startTime.record(Date().timeIntervalSince1970)
        registryStuck = Metrics.Gauge(label: "sentimentd_registry_stuck", dimensions: [], factory: factory)
        registryStuck.record(0)
    }

    /// A forward pass of `version` gave a non-finite probability; the request was answered with an error.
    public func nonFiniteOutput(version: String) {
        lock.lock()
        let counter = nonFinite[version] ?? Metrics.Counter(label: "sentimentd_non_finite_outputs_total",
                                                            dimensions: [("version", version)], factory: factory)
        nonFinite[version] = counter
        lock.unlock()
        counter.increment()
    }

    /// `sentimentd_startup_fallback{from="v2",serving="v1"}` is 1 while the daemon serves another version than the one
    /// active before its start because that one could not be loaded; 0 once an activation ends the fallback.
    public func startupFallback(_ fallback: StartupFallbackStatus?) {
        lock.lock()
        defer { lock.unlock() }
        for (key, gauge) in fallbacks where key != fallback.map(Self.key) { gauge.record(0) }
        guard let fallback else { return }
        let key = Self.key(fallback)
        let gauge = fallbacks[key] ?? Metrics.Gauge(label: "sentimentd_startup_fallback", dimensions: [
            ("from", fallback.from), ("serving", fallback.serving ?? ""),
        ], factory: factory)
        fallbacks[key] = gauge
        gauge.record(1)
    }

    private static func key(_ f: StartupFallbackStatus) -> String { f.from + "\u{0}" + (f.serving ?? "") }

    /// 1 while the model registry's queue makes no progress (see `RegistryWatch`).
    public func registryStuck(_ stuck: Bool) { registryStuck.record(stuck ? 1 : 0) }

    /// One answered request: `outcome` is "ok" or the error kind (`RPCErrorCode.kind`).
    func requestFinished(method: String, outcome: String, seconds: Double) {
        let key = method + "\u{0}" + outcome
        lock.lock()
        let counter: Metrics.Counter
        if let c = requestCounters[key] {
            counter = c
        } else {
            counter = Metrics.Counter(label: "sentimentd_requests_total", dimensions: [("method", method), ("outcome", outcome)],
                              factory: factory)
            requestCounters[key] = counter
        }
        let timer: Metrics.Timer
        if let t = requestTimers[method] {
            timer = t
        } else {
            timer = Metrics.Timer(label: "sentimentd_request_duration_seconds", dimensions: [("method", method)],
                                  factory: factory)
            requestTimers[method] = timer
        }
        lock.unlock()
        counter.increment()
        timer.recordNanoseconds(Int64(seconds * 1e9))
    }

    func batchCompleted(size: Int, maxTokens: Int, seconds: Double) {
        batchSize.record(size)
        batchMaxTokens.record(maxTokens)
        batchDuration.recordNanoseconds(Int64(seconds * 1e9))
        textsPredicted.increment(by: size)
    }

    func queueWaited(seconds: Double) {
        queueWait.recordNanoseconds(Int64(seconds * 1e9))
    }

    func connectionsChanged(to count: Int) {
        connections.record(count)
    }

    /// A connection beyond a limit (`ConnectionLedger`) was told "overloaded" and closed.
    func connectionRefused() { connectionsRefused.increment() }

    /// A connection was closed for making no progress (`idle_timeout_seconds`).
    func connectionTimedOut() { connectionsTimedOut.increment() }

    /// `sentimentd_model_info{version="v"}` is 1 for the active version and 0 for versions served before.
    func activeModelChanged(to version: String?) {
        lock.lock()
        defer { lock.unlock() }
        guard version != currentVersion else { return }
        currentVersion = version
        for (v, gauge) in modelInfo where v != version { gauge.record(0) }
        if let version {
            let gauge = modelInfo[version] ?? Metrics.Gauge(label: "sentimentd_model_info", dimensions: [("version", version)],
                                                    factory: factory)
            modelInfo[version] = gauge
            gauge.record(1)
            activations.increment()
        }
    }

    /// The Prometheus text exposition of every metric. `queued` is sampled now.
    func render(queued: Int) -> String {
        queuedTexts.record(queued)
        return registry.emitToString()
    }
}
