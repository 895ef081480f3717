import Foundation
import SentimentProtocol

/// The methods of the serving daemon: predict, status, models.*, rollback, reload, metrics.
public enum StandardMethods {
    public static func register(on router: Router, state: ServingState) {
        router.register(PredictMethod.self) { params, context, reply in
            predict(params, state: state, reply: reply)
        }
        router.register(StatusMethod.self) { _, _, reply in
            reply(.success(state.status()))
        }
        router.register(ModelsListMethod.self) { _, _, reply in
            reply(.success(state.catalog.list()))
        }
        router.registerAsync(ModelsActivateMethod.self) { params, context in
            let result = try await state.catalog.activate(version: params.version, byUID: context.peer.uid)
            context.logger.notice("model activated on request", metadata: [
                "model_version": "\(result.active)", "peer_uid": "\(context.peer.uid)",
            ])
            return result
        }
        router.registerAsync(RollbackMethod.self) { params, context in
            let result = try await state.catalog.rollback(to: params.to, byUID: context.peer.uid)
            context.logger.notice("rolled back on request", metadata: [
                "model_version": "\(result.active)", "rolled_back_from": "\(result.previous ?? "-")",
                "peer_uid": "\(context.peer.uid)",
            ])
            return result
        }
        router.registerAsync(ReloadMethod.self) { _, _ in
            guard let action = state.reloadAction else {
                throw RPCError.internalError("reload is not available in this daemon")
            }
            return try await action()
        }
        router.register(MetricsMethod.self) { _, _, reply in
            reply(.success(MetricsMethod.Result(text: state.metrics.render(queued: state.batcher.queuedTexts))))
        }
    }

    static func predict(_ params: PredictMethod.Params, state: ServingState,
                        reply: @escaping @Sendable (Result<PredictMethod.Result, RPCError>) -> Void) {
        let config = state.config
        guard !params.texts.isEmpty else {
            reply(.failure(.invalidParams("predict: texts is empty; give at least one text")))
            return
        }
        guard params.texts.count <= config.maxTexts else {
            reply(.failure(.tooManyTexts(count: params.texts.count, limit: config.maxTexts)))
            return
        }
        for (i, text) in params.texts.enumerated() {
            // Cheap bound first: a text has at least as many UTF-8 bytes as scalars.
            if text.utf8.count > config.maxTextChars {
                let scalars = text.unicodeScalars.count
                if scalars > config.maxTextChars {
                    reply(.failure(.textTooLong(index: i, characters: scalars, limit: config.maxTextChars)))
                    return
                }
            }
        }
        let serving: ServingModel
        if let version = params.model {
            guard let m = state.catalog.model(version: version) else {
                reply(.failure(.modelNotFound(version: version, reason: "it is not loaded (see `sentimentctl models`)")))
                return
            }
            serving = m
        } else {
            guard let m = state.catalog.active else {
                reply(.failure(.noModelLoaded))
                return
            }
            serving = m
        }
        let labels = serving.model.config.id2label
        do {
            try state.batcher.submit(texts: params.texts, model: serving) { result in
                switch result {
                case let .success(predictions):
                    let items = predictions.map { p in
                        PredictMethod.Prediction(
                            label: p.prediction.label, labelIndex: p.prediction.labelIndex,
                            probabilities: p.prediction.probabilities, tokens: p.tokens, truncated: p.reachedMaxLength)
                    }
                    reply(.success(PredictMethod.Result(model: serving.version, labels: labels, predictions: items)))
                case let .failure(error):
                    reply(.failure(map(error)))
                }
            }
        } catch let error as BatcherError {
            reply(.failure(map(error)))
        } catch {
            reply(.failure(.internalError("\(error)")))
        }
    }

    static func map(_ error: BatcherError) -> RPCError {
        switch error {
        case let .queueFull(queued, limit):
            return .overloaded("\(queued) texts are waiting for the model; the limit is \(limit) (max_queued_texts): retry later")
        case .stopped:
            return .shuttingDown
        case let .modelFailed(reason):
            return .internalError(reason)
        }
    }
}
