import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Failures of the client's connection, as distinct from errors the daemon answers with.
public enum ClientConnectionError: Error, Sendable, Equatable, CustomStringConvertible {
    case pathTooLong(path: String)
    case cannotConnect(path: String, reason: String)
    case sendFailed(reason: String)
    case receiveFailed(reason: String)
    case closedByDaemon
    case timedOut(seconds: Double)
    case responseTooLong(limit: Int)

    public var description: String {
        switch self {
        case let .pathTooLong(path): return "socket path \(path) is longer than a Unix socket address allows"
        case let .cannotConnect(path, reason): return "cannot connect to \(path): \(reason)"
        case let .sendFailed(reason): return "cannot send the request: \(reason)"
        case let .receiveFailed(reason): return "cannot read the response: \(reason)"
        case .closedByDaemon: return "the daemon closed the connection before answering"
        case let .timedOut(seconds): return "no answer from the daemon within \(seconds) s"
        case let .responseTooLong(limit): return "the daemon's answer is longer than \(limit) bytes"
        }
    }
}

/// A blocking JSON-RPC client over a Unix stream socket: one request line out, one response line in.
/// The one place a client socket is opened (Unix path or loopback TCP), with send and receive timeouts: the JSON-RPC
/// client and the HTTP connection of the benchmark and the tests share it.
enum ClientSocket {
    static func open(unixPath path: String, timeoutSeconds: Double?) throws -> Int32 {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw ClientConnectionError.pathTooLong(path: path) }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return try open(family: AF_UNIX, address: &addr, name: path, timeoutSeconds: timeoutSeconds)
    }

    /// 127.0.0.1:`port`.
    static func open(loopbackPort port: Int, timeoutSeconds: Double?) throws -> Int32 {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return try open(family: AF_INET, address: &addr, name: "127.0.0.1:\(port)", timeoutSeconds: timeoutSeconds)
    }

    private static func open<Address>(family: Int32, address: inout Address, name: String,
                                         timeoutSeconds: Double?) throws -> Int32 {
        #if os(Linux)
        let s = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let s = socket(family, SOCK_STREAM, 0)
        #endif
        guard s >= 0 else { throw ClientConnectionError.cannotConnect(path: name, reason: UnixSocketClient.errnoText()) }
        if let timeoutSeconds {
            var tv = timeval(tv_sec: Int(timeoutSeconds), tv_usec: .init((timeoutSeconds - Double(Int(timeoutSeconds))) * 1e6))
            _ = setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            _ = setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(s, $0, socklen_t(MemoryLayout<Address>.size))
            }
        }
        guard rc == 0 else {
            let reason = UnixSocketClient.errnoText()
            _ = closeFD(s)
            throw ClientConnectionError.cannotConnect(path: name, reason: reason)
        }
        return s
    }
}

/// Used by sentimentctl and by the tests; not thread-safe (one connection per thread).
public final class UnixSocketClient {
    public let path: String
    private var fd: Int32
    private var buffer = [UInt8]()
    private var nextID: Int64 = 1
    public var maxResponseBytes = 256 << 20
    private let timeoutSeconds: Double?

    public init(path: String, timeoutSeconds: Double? = nil) throws {
        self.path = path
        self.timeoutSeconds = timeoutSeconds
        self.fd = try ClientSocket.open(unixPath: path, timeoutSeconds: timeoutSeconds)
    }

    deinit { close() }

    public func close() {
        if fd >= 0 {
            _ = closeFD(fd)
            fd = -1
        }
    }

    /// Sends raw bytes (a line without its newline is sent as is: tests use this for malformed input).
    public func send(raw: [UInt8]) throws {
        var offset = 0
        while offset < raw.count {
            let n = raw[offset...].withUnsafeBytes { p in
                sendBytes(fd, p.baseAddress!, p.count)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw ClientConnectionError.sendFailed(reason: Self.errnoText())
            }
            offset += n
        }
    }

    public func send(line: Data) throws {
        var bytes = [UInt8](line)
        bytes.append(RPCFraming.newline)
        try send(raw: bytes)
    }

    /// Reads one line (without the newline).
    public func receiveLine() throws -> Data {
        var scanned = 0
        while true {
            if let nl = buffer[scanned...].firstIndex(of: RPCFraming.newline) {
                let line = Data(buffer[..<nl])
                buffer.removeSubrange(...nl)
                return line
            }
            scanned = buffer.count
            guard buffer.count <= maxResponseBytes else { throw ClientConnectionError.responseTooLong(limit: maxResponseBytes) }
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n == 0 { throw ClientConnectionError.closedByDaemon }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw ClientConnectionError.timedOut(seconds: timeoutSeconds ?? 0) }
                throw ClientConnectionError.receiveFailed(reason: Self.errnoText())
            }
            buffer.append(contentsOf: chunk[..<n])
        }
    }

    /// Sends a request and waits for its response (untyped). When the daemon closed the connection before the
    /// request went out (it refused the connection: too many open), the line it said why with is the answer.
    public func call(_ request: RPCRequest) throws -> RPCResponse {
        do {
            try send(line: request.encodedLine())
        } catch let error as ClientConnectionError {
            if let line = try? receiveLine(), let refusal = try? RPCResponse.parse(line: line),
               case .failure = refusal {
                return refusal
            }
            throw error
        }
        return try RPCResponse.parse(line: receiveLine())
    }

    /// Calls a typed method. A JSON-RPC error answer is thrown as `RPCErrorObject`.
    public func call<M: RPCMethod>(_ method: M.Type, _ params: M.Params) throws -> M.Result {
        let id = RPCID.int(nextID)
        nextID += 1
        let response = try call(RPCRequest(method, id: id, params: params))
        switch response {
        case let .failure(_, error):
            throw error
        case let .success(responseID, result):
            guard responseID == id else {
                throw RPCClientError.malformedResponse("the response answers id \(responseID), not \(id)")
            }
            do {
                return try result.decode(M.Result.self)
            } catch {
                throw RPCClientError.unexpectedResult(method: M.name, reason: describeDecodingError(error))
            }
        }
    }

    static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}

// Free functions so the names do not collide with the methods above inside the class.
private func closeFD(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    return Glibc.close(fd)
    #elseif canImport(Musl)
    return Musl.close(fd)
    #else
    return Darwin.close(fd)
    #endif
}

private func sendBytes(_ fd: Int32, _ p: UnsafeRawPointer, _ count: Int) -> Int {
    #if os(Linux)
    return Glibc.send(fd, p, count, Int32(MSG_NOSIGNAL))
    #else
    return Darwin.send(fd, p, count, 0)
    #endif
}
