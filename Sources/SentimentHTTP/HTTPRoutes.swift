import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SentimentCore
import SentimentOpenInference
import SentimentProtocol
import SentimentService

/// The routes of the HTTP API and what each answers. The handlers are the JSON-RPC side's (`StandardMethods.predict`
/// with its limits and its rule for versions not in memory, the catalog, the metrics registry): HTTP is another
/// way in, not another implementation.
///
/// Model names: `sentiment` (`HTTPRoutes.alias`) is whatever version is active, so clients and probes keep one URL
/// across hot reloads and rollbacks; every servable version is also a model of its own name; `/versions/{version}`
/// under either picks a version by name, under the same rule as `predict` with `model` (a reader may ask a version
/// that is in memory, only an admin one that must be loaded first).
struct HTTPRoutes: Sendable {
    static let alias = "sentiment"
    static let inferenceHeaderContentLength = HTTPField.Name("Inference-Header-Content-Length")!

    let state: ServingState
    let access: HTTPAccess

    /// Method and path pattern of every route, for 405 answers (`Allow:`) and the OpenAPI check.
    static let routes: [(HTTPRequest.Method, String)] = [
        (.get, "/v2/health/live"), (.get, "/v2/health/ready"), (.get, "/v2"),
        (.get, "/v2/models/{model}"), (.get, "/v2/models/{model}/versions/{version}"),
        (.get, "/v2/models/{model}/ready"), (.get, "/v2/models/{model}/versions/{version}/ready"),
        (.post, "/v2/models/{model}/infer"), (.post, "/v2/models/{model}/versions/{version}/infer"),
        (.post, "/v1/models/{model}:predict"), (.post, "/v1/models/{model}/versions/{version}:predict"),
        (.get, "/metrics"), (.get, "/openapi.yaml"),
    ]

    func responder() -> RouterResponder<HTTPRequestContext> {
        let router = Router(context: HTTPRequestContext.self, options: [.autoGenerateHeadEndpoints])
        router.add(middleware: HTTPErrorMiddleware(metrics: state.metrics, routes: Self.routes))
        router.get("/v2/health/live") { _, _ in json(HealthAnswer(live: true)) }
        router.get("/v2/health/ready") { _, _ in
            if state.phase == .draining {
                return json(ReadyAnswer(ready: false, error: "the daemon is shutting down"), status: .serviceUnavailable)
            }
            guard state.catalog.active != nil else {
                return json(ReadyAnswer(ready: false, error: RPCError.noModelLoaded.message), status: .serviceUnavailable)
            }
            return json(HealthAnswer(ready: true))
        }
        router.get("/v2") { request, context in
            _ = try access.require(StatusMethod.requiredRole, for: "server metadata", request: request, context: context)
            return json(ServerMetadata(name: "sentimentd", version: SentimentVersion.current,
                                       extensions: ["binary_tensor_data", "classification"]))
        }
        for prefix in ["/v2/models/{model}", "/v2/models/{model}/versions/{version}"] {
            router.get(RouterPath(prefix)) { request, context in try metadata(request, context) }
            router.get(RouterPath(prefix + "/ready")) { request, context in try ready(request, context) }
            router.post(RouterPath(prefix + "/infer")) { request, context in try await infer(request, context) }
        }
        router.post("/v1/models/{model}:predict") { request, context in try await predictV1(request, context) }
        router.post("/v1/models/{model}/versions/{version}:predict") { request, context in
            try await predictV1(request, context)
        }
        router.get("/metrics") { request, context in
            _ = try access.require(MetricsMethod.requiredRole, for: "metrics", request: request, context: context)
            let text = state.metrics.render(queued: state.batcher.queuedTexts)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/openapi.yaml") { request, context in
            _ = try access.require(.reader, for: "the OpenAPI document", request: request, context: context)
            return Response(status: .ok, headers: [.contentType: "application/yaml"],
                            body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.yaml)))
        }
        return router.buildResponder()
    }

    // MARK: models

    /// A model name (and version) of a path, resolved against the catalog: the version to ask (nil: the active
    /// one), or 404.
    struct ModelTarget {
        var name: String
        var version: String?
    }

    func target(_ context: HTTPRequestContext) throws -> ModelTarget {
        let name = context.parameters.get("model") ?? ""
        let version = context.parameters.get("version")
        let servable = state.catalog.list().models.filter { ["active", "available", "rolled_back"].contains($0.state) }
            .map(\.version)
        if let version, !servable.contains(version) {
            throw HTTPAPIError(.notFound, "model \"\(name)\" has no version \"\(version)\" (versions: "
                + "\(servable.isEmpty ? "none" : servable.joined(separator: ", ")))")
        }
        if name == Self.alias { return ModelTarget(name: name, version: version) }
        guard servable.contains(name) else {
            throw HTTPAPIError(.notFound, "no model \"\(name)\": the served model is \"\(Self.alias)\" (the active "
                + "version), and each version is a model of its own name (\(servable.isEmpty ? "none yet" : servable.joined(separator: ", ")))")
        }
        if let version, version != name {
            throw HTTPAPIError(.notFound, "model \"\(name)\" is one version, \"\(name)\"; ask \"\(Self.alias)/versions/\(version)\"")
        }
        return ModelTarget(name: name, version: name)
    }

    func metadata(_ request: Request, _ context: HTTPRequestContext) throws -> Response {
        _ = try access.require(ModelsListMethod.requiredRole, for: "model metadata", request: request, context: context)
        let target = try target(context)
        let list = state.catalog.list().models
        let servable = list.filter { ["active", "available", "rolled_back"].contains($0.state) }
        let labelCount: Int
        if let version = target.version {
            labelCount = state.catalog.loadedModel(version: version)?.model.config.id2label.count
                ?? list.first { $0.version == version }?.labels?.count ?? state.config.labelNames.count
        } else {
            guard let active = state.catalog.active else { throw HTTPAPIError(.serviceUnavailable, RPCError.noModelLoaded.message) }
            labelCount = active.model.config.id2label.count
        }
        let versions = target.name == Self.alias ? servable.map(\.version) : [target.name]
        return json(ModelMetadata(name: target.name, versions: versions, labelCount: labelCount))
    }

    /// Ready = a request for it would be answered now: the active version for the alias, a version in memory for a
    /// version (one on disk is not ready until an admin's request or an activation loads it).
    func ready(_ request: Request, _ context: HTTPRequestContext) throws -> Response {
        _ = try access.require(ModelsListMethod.requiredRole, for: "model readiness", request: request, context: context)
        let target = try target(context)
        let ready = state.phase == .serving
            && (target.version.map { state.catalog.loadedModel(version: $0) != nil } ?? (state.catalog.active != nil))
        return json(ModelReadiness(name: target.name, ready: ready), status: ready ? .ok : .serviceUnavailable)
    }

    // MARK: inference

    func infer(_ request: Request, _ context: HTTPRequestContext) async throws -> Response {
        let (caller, role) = try access.require(PredictMethod.requiredRole, for: "inference", request: request, context: context)
        let target = try target(context)
        let body = try await readBody(request)
        let decoded: InferenceRequest
        do {
            decoded = try InferenceRequestDecoder.decode(body: body,
                                                         inferenceHeaderLength: request.headers[Self.inferenceHeaderContentLength])
        } catch {
            throw HTTPAPIError(error)
        }
        let result = try await predict(decoded.texts, target: target, caller: caller, role: role, context: context)
        let encoded = InferenceResponseEncoder.encode(modelName: target.name, modelVersion: result.model,
                                                      request: decoded, result: Self.classified(result))
        var headers: HTTPFields = [:]
        if let jsonLength = encoded.jsonLength {
            headers[.contentType] = "application/octet-stream"
            headers[Self.inferenceHeaderContentLength] = String(jsonLength)
        } else {
            headers[.contentType] = "application/json"
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: encoded.body)))
    }

    func predictV1(_ request: Request, _ context: HTTPRequestContext) async throws -> Response {
        let (caller, role) = try access.require(PredictMethod.requiredRole, for: "predict", request: request, context: context)
        let target = try target(context)
        let body = try await readBody(request)
        let texts: [String]
        do {
            texts = try PredictV1.decode(body: body)
        } catch {
            throw HTTPAPIError(error)
        }
        let result = try await predict(texts, target: target, caller: caller, role: role, context: context)
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: PredictV1.encode(modelVersion: result.model,
                                                                                   result: Self.classified(result)))))
    }

    /// The JSON-RPC `predict` handler, awaited.
    func predict(_ texts: [String], target: ModelTarget, caller: Caller, role: Role,
                 context: HTTPRequestContext) async throws -> PredictMethod.Result {
        let call = CallContext(caller: caller, role: role, uid: caller.recordedUID(daemonUID: state.daemonUID),
                               logger: context.logger)
        let state = self.state
        let reply: Result<PredictMethod.Result, RPCError> = await withCheckedContinuation { continuation in
            StandardMethods.predict(.init(texts: texts, model: target.version), context: call, state: state) {
                continuation.resume(returning: $0)
            }
        }
        switch reply {
        case let .success(result):
            state.requestAnswered(texts: texts.count)
            return result
        case let .failure(error):
            throw HTTPAPIError(error)
        }
    }

    static func classified(_ result: PredictMethod.Result) -> ClassifiedTexts {
        ClassifiedTexts(labels: result.labels, probabilities: result.predictions.map(\.probabilities),
                        labelIndexes: result.predictions.map(\.labelIndex))
    }

    /// The request body, at most `request_line_bytes` (the socket's request limit); 413 beyond it.
    func readBody(_ request: Request) async throws -> [UInt8] {
        let limit = state.config.requestLineBytes
        let tooLarge = HTTPAPIError(.contentTooLarge, "the request body is larger than \(limit) bytes "
            + "(server.request_line_bytes): split the texts over several requests")
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit { throw tooLarge }
        var bytes: [UInt8] = []
        for try await chunk in request.body {
            guard bytes.count + chunk.readableBytes <= limit else { throw tooLarge }
            bytes.append(contentsOf: chunk.readableBytesView)
        }
        return bytes
    }
}

/// `/v2/health/ready` when not ready: the readiness answer and the protocol's error message.
struct ReadyAnswer: Codable {
    var ready: Bool
    var error: String
}

func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    return Response(status: status, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
