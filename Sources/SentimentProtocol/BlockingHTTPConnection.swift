import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A blocking HTTP/1.1 connection over a Unix socket or loopback TCP, byte for byte as given: what the serving
/// benchmark's HTTP clients and the tests use. The tests need requests no well-behaved client sends (bad framing,
/// trickled headers) and to see exactly what the daemon answers, so this is a socket and a small parser (responses
/// with `Content-Length`, as the daemon always sends), not a client library.
public final class RawHTTPConnection {
    public struct Response {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
        public var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] }
        public func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    public enum Failure: Error, CustomStringConvertible {
        case closed(received: Int)
        case malformed(String)
        public var description: String {
            switch self {
            case let .closed(n): return "the server closed the connection after \(n) bytes of the answer"
            case let .malformed(m): return "malformed answer: \(m)"
            }
        }
    }

    public let fd: Int32
    private var buffer: [UInt8] = []

    /// Connects to a Unix socket.
    public init(unixPath: String, timeout: Double = 120) throws {
        fd = try ClientSocket.open(unixPath: unixPath, timeoutSeconds: timeout)
    }

    /// Connects to 127.0.0.1:`port`.
    public init(port: Int, timeout: Double = 120) throws {
        fd = try ClientSocket.open(loopbackPort: port, timeoutSeconds: timeout)
    }

    deinit { close(fd) }

    public func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure.closed(received: 0) }
            sent += n
        }
    }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Sends a request with `Content-Length` set from the body.
    public func request(_ method: String, _ path: String, headers: [String: String] = [:], body: [UInt8] = []) throws -> Response {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        do {
            try send(Array((head + "\r\n").utf8) + body)
        } catch {
            // The server may answer before the body is all sent (413) and close: its answer is still to be read.
        }
        return try readResponse()
    }

    /// Reads one response (skipping 1xx answers): status line, headers, a body of `Content-Length` bytes.
    public func readResponse() throws -> Response {
        while true {
            let response = try readOne()
            if response.status >= 200 { return response }
        }
    }

    /// True once the server has closed its end (read returns 0 within `timeout`).
    public func waitForClose(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var chunk = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 200) >= 0 else { return true }
            if poller.revents != 0 {
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return true }
            }
        }
        return false
    }

    private func readOne() throws -> Response {
        let separator: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        while headEnd == nil {
            if let range = find(separator, in: buffer) { headEnd = range; break }
            try fill()
        }
        let head = String(decoding: buffer[..<headEnd!], as: UTF8.self)
        buffer.removeFirst(headEnd! + 4)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw Failure.malformed(head) }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        if status < 200 { return Response(status: status, headers: headers, body: []) }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        while buffer.count < length { try fill() }
        let body = Array(buffer[..<length])
        buffer.removeFirst(length)
        return Response(status: status, headers: headers, body: body)
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { throw Failure.closed(received: buffer.count) }
        buffer.append(contentsOf: chunk[..<n])
    }

    private func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; the daemon binds it right after).
public func freeTCPPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
