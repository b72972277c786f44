#if canImport(Glibc)
import Glibc
#endif
import CShims

/// A client of the metrics endpoint (and of Prometheus's API) on loopback:
/// blocking sockets with timeouts, so that a test never hangs on a server
/// that misbehaves.
public enum TestHTTP {
    public static let loopback: [UInt8] = [127, 0, 0, 1]

    public static func connect(port: UInt16, timeoutMillis: Int = 2000) -> Int32? {
        let fd = cgw_connect_inet(loopback, 4, port)
        guard fd >= 0 else { return nil }
        var tv = timeval(tv_sec: timeoutMillis / 1000, tv_usec: (timeoutMillis % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    public static func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Everything until the server closes (or the timeout).
    public static func readAll(_ fd: Int32, limit: Int = 64 << 20) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while out.count < limit {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    /// One request on a new connection: the status and the body.
    public static func request(port: UInt16, _ text: String, timeoutMillis: Int = 2000) -> (status: Int, body: String)? {
        guard let fd = connect(port: port, timeoutMillis: timeoutMillis) else { return nil }
        defer { close(fd) }
        guard send(fd, Array(text.utf8)) else { return nil }
        return parse(readAll(fd))
    }

    public static func get(port: UInt16, _ target: String, timeoutMillis: Int = 2000) -> (status: Int, body: String)? {
        request(port: port, "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", timeoutMillis: timeoutMillis)
    }

    /// Status and body of a response whose body is not chunked (ours, and
    /// Prometheus's API answers of a known length).
    public static func parse(_ response: [UInt8]) -> (status: Int, body: String)? {
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 "), let status = Int(text.dropFirst(9).prefix(3)) else { return nil }
        guard let end = text.firstRange(of: "\r\n\r\n") else { return nil }
        let head = text[..<end.lowerBound].lowercased()
        var body = String(text[end.upperBound...])
        if head.contains("transfer-encoding: chunked") { body = dechunk(body) }
        return (status, body)
    }

    static func dechunk(_ body: String) -> String {
        var rest = Substring(body)
        var out = ""
        while let lineEnd = rest.firstRange(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 {
            let start = lineEnd.upperBound
            let bytes = Array(rest[start...].utf8)
            out += String(decoding: bytes.prefix(size), as: UTF8.self)
            rest = Substring(String(decoding: bytes.dropFirst(size + 2), as: UTF8.self))
        }
        return out
    }

    /// `text` for a URL query (RFC 3986 unreserved kept).
    public static func percentEncoded(_ text: String) -> String {
        var out = ""
        for b in text.utf8 {
            switch b {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E: out.append(Character(Unicode.Scalar(b)))
            default: out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
            }
        }
        return out
    }
}

/// Runs `body` on a new thread; `join` waits for it.
public final class TestThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void

    public init(_ body: @escaping () -> Void) {
        self.body = body
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<TestThread>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, Unmanaged.passRetained(self).toOpaque())
        precondition(rc == 0)
    }

    public func join() { pthread_join(thread, nil) }
}

