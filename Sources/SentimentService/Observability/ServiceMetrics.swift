import Foundation
import Metrics
import Prometheus
import SentimentCore
import SentimentProtocol

/// The daemon's metrics, recorded through swift-metrics into a Prometheus registry of its own (not the global
/// `MetricsSystem`, so several daemons in one test process do not mix), and served by the `metrics` method as
/// Prometheus text.
package final class ServiceMetrics: @unchecked Sendable {
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
    private let startedAt = Date()
    private var httpCounters: [String: Prometheus.Counter] = [:]
    private var httpTimers: [String: Prometheus.DurationHistogram] = [:]
    private var runOutcomes: [String: Prometheus.Counter] = [:]
    private var rejections: [String: Prometheus.Counter] = [:]
    private let modelLoad: Prometheus.DurationHistogram
    private let process: (resident: Prometheus.Gauge, virtual: Prometheus.Gauge, cpu: Prometheus.Counter,
                          openFDs: Prometheus.Gauge, maxFDs: Prometheus.Gauge, start: Prometheus.Gauge)
    private var cpuReported = 0.0
    private static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(20), .milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(500),
        .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30),
    ]
    private let registryStuck: Metrics.Gauge

    init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.latencyBuckets
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
        registry.makeGauge(descriptor: Self.name("sentimentd_build_info", "Always 1; the version label is the daemon's."),
                           labels: [("version", SentimentVersion.current)]).set(1.0)
        modelLoad = registry.makeDurationHistogram(
            descriptor: Self.name("sentimentd_model_load_duration_seconds",
                                  "Time to read a model version's files into a servable model (validation, on demand)."),
            buckets: [.milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5),
                      .seconds(10), .seconds(20), .seconds(60), .seconds(120)])
        // Named and explained as Prometheus' client libraries name them, so dashboards made for those work.
        process = (
            registry.makeGauge(descriptor: Self.name("process_resident_memory_bytes", "Resident memory size in bytes.")),
            registry.makeGauge(descriptor: Self.name("process_virtual_memory_bytes", "Virtual memory size in bytes.")),
            registry.makeCounter(descriptor: Self.name("process_cpu_seconds_total",
                                                       "Total user and system CPU time spent in seconds.")),
            registry.makeGauge(descriptor: Self.name("process_open_fds", "Number of open file descriptors.")),
            registry.makeGauge(descriptor: Self.name("process_max_fds", "Maximum number of open file descriptors.")),
            registry.makeGauge(descriptor: Self.name("process_start_time_seconds",
                                                     "Start time of the process since unix epoch in seconds."))
        )
    }

    /// A metric's full name (units already in it) and its help line.
    private static func name(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// The counter `name{labels}`, made on first use and kept in `cache` under `key`. Call with `lock` held.
    private func counter(_ cache: ReferenceWritableKeyPath<ServiceMetrics, [String: Prometheus.Counter]>, key: String,
                         _ name: String, _ help: String, labels: [(String, String)]) -> Prometheus.Counter {
        if let counter = self[keyPath: cache][key] { return counter }
        let counter = registry.makeCounter(descriptor: Self.name(name, help), labels: labels)
        self[keyPath: cache][key] = counter
        return counter
    }

    /// One answer of the HTTP API: `route` is the route's pattern (`/v2/models/{model}/infer`), never the raw path.
    package func httpRequestFinished(route: String, status: Int, seconds: Double) {
        let (counter, timer) = lock.withLock { () -> (Prometheus.Counter, Prometheus.DurationHistogram) in
            let requests = self.counter(\.httpCounters, key: route + "\u{0}" + String(status), "sentimentd_http_requests_total",
                                  "HTTP requests answered, by route pattern and status code.",
                                  labels: [("route", route), ("code", String(status))])
            let timer = httpTimers[route] ?? registry.makeDurationHistogram(
                descriptor: Self.name("sentimentd_http_request_duration_seconds",
                                      "Time from an HTTP request's arrival to its answer, by route pattern."),
                labels: [("route", route)], buckets: Self.latencyBuckets)
            httpTimers[route] = timer
            return (requests, timer)
        }
        counter.increment()
        timer.recordNanoseconds(Int64(seconds * 1e9))
    }

    /// A training run ended: `outcome` is its final status (`published`, `rejected`, `failed`, `cancelled`).
    package func trainingRunEnded(outcome: String) {
        lock.withLock {
            self.counter(\.runOutcomes, key: outcome, "sentimentd_training_runs_total", "Training runs that ended, by outcome.",
                    labels: [("outcome", outcome)])
        }.increment()
    }

    /// A model version was rejected; `reason` is the kind of reason (`CheckpointRejection.kind`).
    package func versionRejected(reason: String) {
        lock.withLock {
            self.counter(\.rejections, key: reason, "sentimentd_model_versions_rejected_total",
                    "Model versions rejected by validation, by kind of reason.", labels: [("reason", reason)])
        }.increment()
    }

    /// A model version's files were read into a servable model in `seconds`.
    package func modelLoaded(seconds: Double) {
        modelLoad.recordNanoseconds(Int64(seconds * 1e9))
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

    package func connectionsChanged(to count: Int) {
        connections.record(count)
    }

    /// A connection beyond a limit (`ConnectionLedger`) was told "overloaded" and closed.
    package func connectionRefused() { connectionsRefused.increment() }

    /// A connection was closed for making no progress (`idle_timeout_seconds`).
    package func connectionTimedOut() { connectionsTimedOut.increment() }

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
    package func render(queued: Int) -> String {
        queuedTexts.record(queued)
        let sample = ProcessSample.read()
        lock.withLock {
            if let v = sample.residentBytes { process.resident.set(v) }
            if let v = sample.virtualBytes { process.virtual.set(v) }
            if let v = sample.cpuSeconds, v > cpuReported {
                process.cpu.increment(by: v - cpuReported)
                cpuReported = v
            }
            if let v = sample.openFDs { process.openFDs.set(v) }
            if let v = sample.maxFDs { process.maxFDs.set(v) }
            process.start.set(sample.startTimeSeconds ?? startedAt.timeIntervalSince1970)
        }
        return registry.emitToString()
    }
}
