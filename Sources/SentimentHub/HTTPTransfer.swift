import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP GET on its own URLSession, blocking the calling thread until it ends, with the body streamed to a
/// callback. Redirects are followed (the hub sends LFS files to a CDN); the token goes only to the endpoint's
/// own origin and an https -> http redirect is refused.
///
/// Timeouts: swift-corelibs-foundation applies `timeoutIntervalForRequest` to the whole transfer, which would cut
/// a large download, so it is set far out and a watchdog instead cancels the transfer after `stallTimeout`
/// seconds without a byte (or without a response).
final class HTTPTransfer: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    struct Outcome {
        /// The final (non-redirect) response.
        var response: HTTPURLResponse
        /// Responses of the redirects followed, first hop first: the hub puts `X-Linked-Etag` etc. on its 302.
        var redirects: [HTTPURLResponse]
        /// Up to 64 KiB of a non-2xx body, for the error message.
        var errorBody: Data

        /// A header's value on the redirect hops or the final response, the first that has it.
        func header(_ name: String) -> String? {
            for response in redirects + [response] {
                if let value = response.value(forHTTPHeaderField: name), !value.isEmpty { return value }
            }
            return nil
        }
    }

    enum Failure: Error {
        /// The transport failed (URLError) or a redirect was refused; `reason` is for people.
        case network(reason: String)
        case stalled
        /// `onResponse` or `onData` threw (a full disk, a bad Content-Range, ...).
        case callback(Error)
    }

    private let endpoint: HubEndpoint
    private let stallTimeout: TimeInterval
    private let onResponse: (HTTPURLResponse) throws -> Void
    private let onData: (Data) throws -> Void

    private let lock = NSLock()
    private let finished = DispatchSemaphore(value: 0)
    private var redirects: [HTTPURLResponse] = []
    private var response: HTTPURLResponse?
    private var errorBody = Data()
    private var failure: Failure?
    private var lastActivity = DispatchTime.now()

    private init(endpoint: HubEndpoint, stallTimeout: TimeInterval, onResponse: @escaping (HTTPURLResponse) throws -> Void,
                 onData: @escaping (Data) throws -> Void) {
        self.endpoint = endpoint
        self.stallTimeout = stallTimeout
        self.onResponse = onResponse
        self.onData = onData
    }

    /// GETs `url`. `onResponse` sees the final response before its body; `onData` gets the body of a 2xx answer
    /// in order. Both run on the session's serial delegate queue. Throws `Failure`.
    static func get(_ url: URL, headers: [String: String], endpoint: HubEndpoint, stallTimeout: TimeInterval,
                    onResponse: @escaping (HTTPURLResponse) throws -> Void = { _ in },
                    onData: @escaping (Data) throws -> Void) throws -> Outcome {
        let transfer = HTTPTransfer(endpoint: endpoint, stallTimeout: stallTimeout, onResponse: onResponse, onData: onData)
        return try transfer.run(url, headers: headers)
    }

    private func run(_ url: URL, headers: [String: String]) throws -> Outcome {
        let farOut: TimeInterval = 7 * 24 * 3600
        let configuration = URLSessionConfiguration.ephemeral
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpShouldSetCookies = false
        configuration.timeoutIntervalForRequest = farOut
        configuration.timeoutIntervalForResource = farOut
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: configuration, delegate: self, delegateQueue: queue)
        defer { session.finishTasksAndInvalidate() }

        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: farOut)
        // Byte ranges and digests refer to the stored bytes: no transfer compression.
        request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let token = endpoint.token, endpoint.isSameOrigin(url) {
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        }
        let task = session.dataTask(with: request)

        let watchdog = DispatchSource.makeTimerSource(queue: DispatchQueue.global())
        let tick = max(0.01, min(1.0, stallTimeout / 4))
        watchdog.schedule(deadline: .now() + tick, repeating: tick)
        watchdog.setEventHandler { [weak self, weak task] in
            guard let self else { return }
            self.lock.lock()
            let idle = Double(DispatchTime.now().uptimeNanoseconds - self.lastActivity.uptimeNanoseconds) / 1e9
            let stalled = idle > self.stallTimeout && self.failure == nil
            if stalled { self.failure = .stalled }
            self.lock.unlock()
            if stalled { task?.cancel() }
        }
        watchdog.resume()
        defer { watchdog.cancel() }

        task.resume()
        finished.wait()

        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
        guard let response else { throw Failure.network(reason: "the server sent no response") }
        return Outcome(response: response, redirects: redirects, errorBody: errorBody)
    }

    private func record(_ failure: Failure, cancelling task: URLSessionTask) {
        lock.lock()
        if self.failure == nil { self.failure = failure }
        lock.unlock()
        task.cancel()
    }

    private var hasFailed: Bool {
        lock.lock()
        defer { lock.unlock() }
        return failure != nil
    }

    private func touch() {
        lock.lock()
        lastActivity = .now()
        lock.unlock()
    }

    // MARK: URLSession delegate (serial delegate queue)

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        touch()
        lock.lock()
        redirects.append(response)
        lock.unlock()
        var next = request
        if let from = response.url, let to = request.url,
           from.scheme?.lowercased() == "https", to.scheme?.lowercased() != "https" {
            lock.lock()
            if failure == nil {
                failure = .network(reason: "refused a redirect from https to \(to.absoluteString)")
            }
            lock.unlock()
            completionHandler(nil)
            return
        }
        if let to = request.url, !endpoint.isSameOrigin(to) {
            next.setValue(nil, forHTTPHeaderField: "Authorization")
        }
        completionHandler(next)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        touch()
        guard let http = response as? HTTPURLResponse else {
            record(.network(reason: "not an HTTP response"), cancelling: dataTask)
            completionHandler(.cancel)
            return
        }
        lock.lock()
        self.response = http
        lock.unlock()
        do {
            try onResponse(http)
            completionHandler(.allow)
        } catch {
            record(.callback(error), cancelling: dataTask)
            completionHandler(.cancel)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        touch()
        guard !hasFailed else { return }
        lock.lock()
        let status = response?.statusCode ?? 0
        lock.unlock()
        guard (200..<300).contains(status) else {
            lock.lock()
            if errorBody.count < 65536 { errorBody.append(data.prefix(65536 - errorBody.count)) }
            lock.unlock()
            return
        }
        do {
            try onData(data)
        } catch {
            record(.callback(error), cancelling: dataTask)
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        if let error {
            lock.lock()
            if failure == nil { failure = .network(reason: Self.describe(error)) }
            lock.unlock()
        }
        finished.signal()
    }

    /// A short, human reason for a transport error (Linux's URLError descriptions are only codes).
    static func describe(_ error: Error) -> String {
        guard let error = error as? URLError else { return "\(error)" }
        switch error.code {
        case .cannotConnectToHost: return "connection refused"
        case .cannotFindHost, .dnsLookupFailed: return "host not found"
        case .timedOut: return "timed out"
        case .networkConnectionLost: return "connection lost before the whole answer arrived"
        case .notConnectedToInternet: return "not connected to a network"
        case .secureConnectionFailed: return "TLS handshake failed"
        case .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateHasUnknownRoot,
             .serverCertificateNotYetValid:
            return "the server's TLS certificate is not trusted"
        case .badServerResponse: return "malformed answer"
        case .httpTooManyRedirects: return "too many redirects"
        case .cancelled: return "cancelled"
        default: return "URL error \(error.code.rawValue)"
        }
    }
}
