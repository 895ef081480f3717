import Foundation
import SentimentProtocol

/// The methods of the serving daemon: predict, status, models.*, rollback, reload, metrics.
package enum StandardMethods {
    static func register(on router: Router, state: ServingState) {
        router.register(PredictMethod.self) { params, context, reply in
            predict(params, context: context, state: state, reply: reply)
        }
        router.register(StatusMethod.self) { _, _, reply in
            reply(.success(state.status()))
        }
        // Off the event loop: the listing measures every folder's disk use.
        router.registerAsync(ModelsListMethod.self) { _, _ in state.listModels() }
        router.registerAsync(ModelsActivateMethod.self) { params, context in
            let result = try await state.catalog.activate(version: params.version, byUID: context.uid)
            context.logger.notice("model activated on request", metadata: [
                "model_version": "\(result.active)", "peer_uid": "\(context.uid)",
            ])
            return result
        }
        router.registerAsync(RollbackMethod.self) { params, context in
            let result = try await state.catalog.rollback(to: params.to, byUID: context.uid)
            context.logger.notice("rolled back on request", metadata: [
                "model_version": "\(result.active)", "rolled_back_from": "\(result.previous ?? "-")",
                "peer_uid": "\(context.uid)",
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
            state.metrics.registryStuck(state.catalog.registryStatus?.state == "stuck")
            reply(.success(MetricsMethod.Result(text: state.metrics.render(queued: state.batcher.queuedTexts))))
        }
    }

    /// `model` naming a version that is not in memory loads it (and keeps it, in place of the copy kept for
    /// comparisons): that costs memory and CPU time that serving shares, so it is an admin's call. Any caller may
    /// ask a version that is already loaded.
    package static func predict(_ params: PredictMethod.Params, context: CallContext, state: ServingState,
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
        if let version = params.model {
            if let m = state.catalog.loadedModel(version: version) {
                submit(params.texts, to: m, state: state, reply: reply)
            } else if !context.role.includes(.admin) {
                reply(.failure(.unauthorised(
                    action: "predict with model \"\(version)\", a version that is not in memory (loading it)",
                    needed: .admin, caller: context.caller.description, role: context.role,
                    holders: state.authorizer.holders(of: .admin))))
            } else {
                // Not in memory: load it off the event loop, then queue.
                Task {
                    do {
                        let m = try await state.catalog.loadModel(version: version)
                        submit(params.texts, to: m, state: state, reply: reply)
                    } catch let error as RPCError {
                        reply(.failure(error))
                    } catch {
                        reply(.failure(.modelNotFound(version: version, reason: "\(error)")))
                    }
                }
            }
            return
        }
        guard let m = state.catalog.active else {
            reply(.failure(.noModelLoaded))
            return
        }
        submit(params.texts, to: m, state: state, reply: reply)
    }

    static func submit(_ texts: [String], to serving: ServingModel, state: ServingState,
                       reply: @escaping @Sendable (Result<PredictMethod.Result, RPCError>) -> Void) {
        let labels = serving.model.config.id2label
        do {
            try state.batcher.submit(texts: texts, model: serving) { result in
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
        case let .nonFiniteOutput(version, index):
            return .nonFiniteOutput(version: version, index: index)
        }
    }
}
