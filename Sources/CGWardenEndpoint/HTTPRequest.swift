/// The head of an HTTP/1.x request, as far as two GET paths need it: the
/// method, the path (the query is dropped), the version. Pure: bytes in.
public struct HTTPRequestHead: Equatable, Sendable {
    public var method: String
    /// The target's path, without its query (`/metrics?x=1` is `/metrics`).
    public var path: String
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minorVersion: Int

    public init(method: String, path: String, minorVersion: Int) {
        self.method = method
        self.path = path
        self.minorVersion = minorVersion
    }

    public enum Parse: Equatable, Sendable {
        /// More bytes may complete it.
        case incomplete
        /// The head, and the bytes it took.
        case complete(HTTPRequestHead, length: Int)
        /// Never a request: answered 400 and closed at once (no waiting for a deadline).
        case bad(String)
    }

    /// The longest method: the longest standard one is 7 (`OPTIONS`, `CONNECT`).
    static let maximumMethodLength = 16

    /// Reads a request head: `METHOD SP /target SP HTTP/1.x`, header lines,
    /// an empty line (CRLF or a bare LF). A request with a body
    /// (`Content-Length` other than 0, `Transfer-Encoding`) is bad: these paths take none.
    public static func parse<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes) -> Parse where Bytes.Index == Int {
        // Garbage is refused as soon as it shows, not after the deadline.
        let start = bytes.startIndex
        var i = start
        while i < bytes.endIndex, bytes[i] != 0x20 {
            let b = bytes[i]
            guard b >= 0x41 && b <= 0x5A, i - start < maximumMethodLength else { return .bad("not an HTTP request") }
            i += 1
        }
        for b in bytes where b < 0x20 && b != 0x0D && b != 0x0A && b != 0x09 || b == 0x7F {
            return .bad("a control character in the request head")
        }
        guard let end = headEnd(bytes) else { return .incomplete }
        // Lines, without their CR.
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = start
        var k = start
        while k < end {
            if bytes[k] == 0x0A {
                var line = Array(bytes[lineStart..<k])[...]
                if line.last == 0x0D { line = line.dropLast() }
                lines.append(line)
                lineStart = k + 1
            }
            k += 1
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let first = lines.first else { return .bad("an empty request") }
        let parts = first.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty else { return .bad("the request line is not METHOD TARGET VERSION") }
        let target = parts[1]
        guard target.first == 0x2F, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .bad("the target is not a path")
        }
        let version = Array(parts[2])
        guard version.count == 8, version.starts(with: Array("HTTP/1.".utf8)), version[7] == 0x30 || version[7] == 0x31 else {
            return .bad("not HTTP/1.0 or HTTP/1.1")
        }
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: 0x3A), colon > line.startIndex else {
                return .bad("a header line without a name")
            }
            let name = line[line.startIndex..<colon]
            guard name.allSatisfy(isTokenByte) else {
                // Includes obsolete line folding (a line starting with a space).
                return .bad("a header name that is not a token")
            }
            let lower = String(decoding: name.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
            let value = line[(colon + 1)...].drop { $0 == 0x20 || $0 == 0x09 }
            if lower == "transfer-encoding" { return .bad("a request body (Transfer-Encoding)") }
            if lower == "content-length", !(value.allSatisfy { $0 == 0x30 || $0 == 0x20 || $0 == 0x09 } && value.contains(0x30)) {
                return .bad("a request body (Content-Length)")
            }
        }
        let path = target.prefix { $0 != 0x3F }
        return .complete(HTTPRequestHead(method: String(decoding: parts[0], as: UTF8.self),
                                         path: String(decoding: path, as: UTF8.self),
                                         minorVersion: Int(version[7] - 0x30)),
                         length: end - start)
    }

    /// Where the head ends (after its empty line), if it has.
    static func headEnd<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes) -> Int? where Bytes.Index == Int {
        var i = bytes.startIndex
        var lineLength = 0
        while i < bytes.endIndex {
            let b = bytes[i]
            if b == 0x0A {
                if lineLength == 0 { return i + 1 }
                lineLength = 0
            } else if b != 0x0D {
                lineLength += 1
            }
            i += 1
        }
        return nil
    }

    /// RFC 9110 tchar.
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        default: return Array("!#$%&'*+-.^_`|~".utf8).contains(b)
        }
    }
}

/// What the endpoint sends back: a status, a content type, a body (shared,
/// never copied per connection: every scraper of the same snapshot gets the
/// same buffer).
public struct HTTPResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    /// Extra header lines (`Allow: GET, HEAD`), without CRLF.
    public var headers: [String]

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: [UInt8], headers: [String] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    public init(status: Int, text: String, headers: [String] = []) {
        self.init(status: status, body: Array((text.hasSuffix("\n") ? text : text + "\n").utf8), headers: headers)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }

    /// The status line and headers. Every response closes the connection:
    /// one request per connection, nothing to keep per client between scrapes.
    public func head(contentLength: Int? = nil) -> [UInt8] {
        var text = "HTTP/1.1 \(status) \(HTTPResponse.reason(status))\r\nContent-Type: \(contentType)\r\n"
            + "Content-Length: \(contentLength ?? body.count)\r\nConnection: close\r\nCache-Control: no-store\r\n"
        for h in headers { text += h + "\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }
}
