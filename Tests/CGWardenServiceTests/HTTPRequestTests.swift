import Testing
import CGWardenEndpoint

@Suite struct HTTPRequestTests {
    func parse(_ text: String) -> HTTPRequestHead.Parse { HTTPRequestHead.parse(Array(text.utf8)) }

    @Test func aScrapeIsRead() {
        let text = "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9464\r\nUser-Agent: Prometheus/2.42.0\r\n"
            + "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n"
            + "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n"
        #expect(parse(text) == .complete(HTTPRequestHead(method: "GET", path: "/metrics", minorVersion: 1), length: text.utf8.count))
        #expect(parse("HEAD /healthz HTTP/1.0\n\n") == .complete(HTTPRequestHead(method: "HEAD", path: "/healthz", minorVersion: 0), length: 24))
        #expect(parse("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
            == .complete(HTTPRequestHead(method: "GET", path: "/", minorVersion: 1), length: 37))
    }

    @Test func aPartialRequestWaits() {
        for text in ["", "G", "GET", "GET /metrics HTTP/1.1", "GET /metrics HTTP/1.1\r\n", "GET /metrics HTTP/1.1\r\nHost: x\r\n"] {
            #expect(parse(text) == .incomplete, "\(text)")
        }
    }

    @Test(arguments: [
        "\u{16}\u{03}\u{01}\u{02}\u{00}",  // a TLS ClientHello
        "get /metrics HTTP/1.1\r\n\r\n",
        "GETTTTTTTTTTTTTTTTTTTTT",
        "GET\u{0}",
        "GET /metrics HTTP/2.0\r\n\r\n",
        "GET metrics HTTP/1.1\r\n\r\n",
        "GET /me trics HTTP/1.1\r\n\r\n",
        "GET /metrics\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n folded: x\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n: empty\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n",
        "POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        "GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nX: a\u{7f}\r\n\r\n",
    ])
    func garbageIsBadAtOnce(text: String) {
        if case .bad = parse(text) {} else { Issue.record("\(text.debugDescription): \(parse(text))") }
    }

    @Test func responsesCloseAndCountTheBody() {
        let r = HTTPResponse(status: 405, text: "only GET and HEAD", headers: ["Allow: GET, HEAD"])
        #expect(String(decoding: r.head(), as: UTF8.self) == "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + "Content-Length: 18\r\nConnection: close\r\nCache-Control: no-store\r\nAllow: GET, HEAD\r\n\r\n")
    }
}
