#if canImport(Glibc)
import Glibc
#endif
import Testing
import Synchronization
import CGWardenCore
import CGWardenEndpoint
import CGWardenPolicy
import CGWardenSystem
import CGWardenTestSupport
@testable import CGWardenService

/// Sockets this process holds (/proc/self/fd): what the endpoint and its
/// clients open. Other suites run beside this one and hold thousands of
/// files (the sampler's tests), never many sockets.
func openDescriptors() -> Int {
    guard let d = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(d) }
    var n = 0
    var target = [CChar](repeating: 0, count: 64)
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let length = readlink("/proc/self/fd/" + name, &target, target.count - 1)
        if length > 0, String(decoding: target[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self).hasPrefix("socket:") { n += 1 }
    }
    return n
}

/// Resident memory of this process, KiB (/proc/self/status VmRSS).
func residentKiB() -> Int {
    let status = readFile("/proc/self/status") ?? ""
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return -1 }
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
}

func monotonicNanos() -> UInt64 { SystemClock().now().monotonicNanos }

@Suite(.serialized) struct EndpointTests {
    /// An endpoint on 127.0.0.1, any free port, serving `board`.
    func start(_ board: MetricsBoard, tunables: EndpointTunables = EndpointTunables()) throws -> (HTTPEndpoint, UInt16) {
        let fd = try Sockets.listen(address: TestHTTP.loopback, port: 0, backlog: tunables.backlog)
        let port = try Sockets.localPort(fd)
        // The responder's clock stands still: a body with the time since the
        // last snapshot in it keeps its length between two requests of a test
        // (a loaded host took 31 s between them once, and a digit more).
        let clock = TestClock(1_000_000_000_000_000)
        return (try HTTPEndpoint(listener: fd, responder: MetricsResponder(board: board, clock: clock), tunables: tunables), port)
    }

    @Test func pathsMethodsAndGarbage() throws {
        let (recorder, _) = MetricsFixture.recorder()
        let (endpoint, port) = try start(recorder.board)
        defer { endpoint.stop() }
        let metrics = try #require(TestHTTP.get(port: port, "/metrics"))
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("cgwarden_snapshots_total 3\n"))
        #expect(metrics.body.hasSuffix("\n"))
        #expect(TestHTTP.get(port: port, "/healthz")?.status == 503)  // the fixture's snapshots are old
        #expect(TestHTTP.get(port: port, "/")?.status == 404)
        #expect(TestHTTP.request(port: port, "DELETE /metrics HTTP/1.1\r\n\r\n")?.status == 405)
        #expect(TestHTTP.request(port: port, "\u{16}\u{03}\u{01}garbage\r\n\r\n")?.status == 400)
        let big = "GET /metrics HTTP/1.1\r\nX: " + String(repeating: "a", count: 9000) + "\r\n\r\n"
        #expect(TestHTTP.request(port: port, big)?.status == 431)
        // HEAD: the headers of a GET, no body.
        let fd = try #require(TestHTTP.connect(port: port))
        defer { close(fd) }
        #expect(TestHTTP.send(fd, Array("HEAD /metrics HTTP/1.0\r\n\r\n".utf8)))
        let head = String(decoding: TestHTTP.readAll(fd), as: UTF8.self)
        #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(head.contains("Content-Length: \(metrics.body.utf8.count)\r\n"))
        #expect(head.hasSuffix("\r\n\r\n"))
    }

    @Test func aUnixSocketServesAndAStaleOneIsReplaced() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let path = dir.path + "/metrics.sock"
        let (recorder, _) = MetricsFixture.recorder()
        for _ in 0..<2 {
            // The second round finds the first one's socket file: replaced.
            let fd = try MetricsListener.bind(.unix(path))
            let endpoint = try HTTPEndpoint(listener: fd, responder: MetricsResponder(board: recorder.board))
            let client = try Sockets.connect(unixPath: path)
            #expect(TestHTTP.send(client, Array("GET /metrics HTTP/1.1\r\n\r\n".utf8)))
            #expect(TestHTTP.parse(TestHTTP.readAll(client))?.status == 200)
            close(client)
            endpoint.stop()
        }
        var st = stat()
        #expect(lstat(path, &st) == 0 && st.st_mode & 0o777 == 0o666)
        // Anything but a socket is never removed.
        let file = dir.path + "/not-a-socket"
        writeFile(file, "keep")
        #expect(throws: SystemError.self) { try MetricsListener.bind(.unix(file)) }
        #expect(readFile(file) == "keep")
    }

    /// Thousands of connections, requests that never end, garbage and
    /// oversized heads, while another thread publishes a frame every
    /// millisecond: the endpoint's descriptors and memory stay bounded, every
    /// slow client is closed at its deadline, publishing stays fast, and a
    /// scrape after the flood is served.
    @Test func aFloodNeverStallsThePublisherAndStaysBounded() throws {
        let extra = (0..<400).map { MetricsFixture.group(path("/tenants.slice/t\($0).slice"), id: 1000 + UInt64($0), current: UInt64($0) << 12) }
        let (recorder, _) = MetricsFixture.recorder(steps: 1, extra: extra)
        let frame = try #require(recorder.board.latest)
        var tunables = EndpointTunables()
        tunables.requestDeadline = .milliseconds(300)
        tunables.responseDeadline = .seconds(2)
        let descriptorsBefore = openDescriptors()
        let rssBefore = residentKiB()
        let (endpoint, port) = try start(recorder.board, tunables: tunables)

        let done = Atomic<Bool>(false)
        let latencies = Mutex<[UInt64]>([])
        let publisher = TestThread {
            var f = frame
            var local: [UInt64] = []
            while !done.load(ordering: .acquiring) {
                f.generation &+= 1
                let t0 = monotonicNanos()
                recorder.board.publish(f)
                local.append(monotonicNanos() - t0)
                usleep(1000)
            }
            latencies.withLock { $0 = local }
        }
        let mostDescriptors = Atomic<Int>(0)
        let watcher = TestThread {
            while !done.load(ordering: .acquiring) {
                let n = openDescriptors()
                if n > mostDescriptors.load(ordering: .relaxed) { mostDescriptors.store(n, ordering: .relaxed) }
                usleep(5000)
            }
        }
        // Clients: bounded in count and time, loopback only. A client's
        // descriptor is counted before it is opened and uncounted after it
        // is closed, so `mostClientsOpen` is never below what the clients
        // held at any moment the watcher looked.
        let clientsOpen = Atomic<Int>(0)
        let mostClientsOpen = Atomic<Int>(0)
        func connect(timeoutMillis: Int) -> Int32? {
            let n = clientsOpen.add(1, ordering: .relaxed).newValue
            while true {
                let most = mostClientsOpen.load(ordering: .relaxed)
                if n <= most || mostClientsOpen.compareExchange(expected: most, desired: n, ordering: .relaxed).exchanged { break }
            }
            guard let fd = TestHTTP.connect(port: port, timeoutMillis: timeoutMillis) else {
                clientsOpen.subtract(1, ordering: .relaxed)
                return nil
            }
            return fd
        }
        func hangUp(_ fd: Int32) {
            close(fd)
            clientsOpen.subtract(1, ordering: .relaxed)
        }
        let badAnswers = Atomic<Int>(0)
        let floods = [
            // Connect and leave at once, 3,000 times.
            TestThread {
                for _ in 0..<3000 { if let fd = connect(timeoutMillis: 500) { hangUp(fd) } }
            },
            // 150 requests that never end: a byte every 50 ms (slowloris).
            TestThread {
                var fds: [Int32] = []
                for _ in 0..<150 {
                    if let fd = connect(timeoutMillis: 200) {
                        _ = TestHTTP.send(fd, Array("GET /metrics HTTP/1.1\r\nX-Slow: ".utf8))
                        fds.append(fd)
                    }
                }
                for _ in 0..<20 {
                    for fd in fds { _ = TestHTTP.send(fd, [0x61]) }
                    usleep(50_000)
                }
                for fd in fds { hangUp(fd) }
            },
            // 500 garbage requests, each answered 400 (or closed, when evicted).
            TestThread {
                var rng = SystemRandomNumberGenerator()
                for _ in 0..<500 {
                    guard let fd = connect(timeoutMillis: 1000) else { continue }
                    let junk = (0..<64).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    _ = TestHTTP.send(fd, [0x00] + junk)
                    if let r = TestHTTP.parse(TestHTTP.readAll(fd)), r.status != 400 { _ = badAnswers.add(1, ordering: .relaxed) }
                    hangUp(fd)
                }
            },
            // 100 heads past the size bound.
            TestThread {
                let big = Array(("GET /metrics HTTP/1.1\r\nX: " + String(repeating: "a", count: 20_000)).utf8)
                for _ in 0..<100 {
                    guard let fd = connect(timeoutMillis: 1000) else { continue }
                    _ = TestHTTP.send(fd, big)
                    if let r = TestHTTP.parse(TestHTTP.readAll(fd)), r.status != 431 { _ = badAnswers.add(1, ordering: .relaxed) }
                    hangUp(fd)
                }
            },
            // Scrapes that never read their answer (the response deadline ends them).
            TestThread {
                var fds: [Int32] = []
                for _ in 0..<40 {
                    if let fd = connect(timeoutMillis: 500) {
                        _ = TestHTTP.send(fd, Array("GET /metrics HTTP/1.1\r\n\r\n".utf8))
                        fds.append(fd)
                    }
                }
                usleep(1_000_000)
                for fd in fds { hangUp(fd) }
            },
        ]
        for f in floods { f.join() }
        done.store(true, ordering: .releasing)
        publisher.join()
        watcher.join()

        // Deadlines: every slow connection is gone soon after.
        let settle = monotonicNanos() + 3_000_000_000
        while endpoint.statistics.open > 0 && monotonicNanos() < settle { usleep(20_000) }
        let stats = endpoint.statistics
        #expect(stats.open == 0)
        #expect(stats.mostOpen <= tunables.maximumConnections)
        #expect(stats.accepted > 3000)
        #expect(stats.evicted + stats.timedOut > 0)
        #expect(badAnswers.load(ordering: .relaxed) == 0)
        // Descriptors: the endpoint's (its cap, the listener, a pipe) and the clients' own, no more.
        let most = mostDescriptors.load(ordering: .relaxed)
        let bound = descriptorsBefore + tunables.maximumConnections + 3 + mostClientsOpen.load(ordering: .relaxed) + 32
        #expect(most <= bound, "at most \(most) descriptors, bound \(bound)")
        // Memory: bounded by the connections' buffers and one or two bodies, far below this.
        let grown = residentKiB() - rssBefore
        #expect(grown < 64 * 1024, "RSS grew by \(grown) KiB")
        // Publishing: a reference swapped under a lock, whatever the endpoint does.
        let l = latencies.withLock { $0 }.sorted()
        #expect(l.count > 100)
        let p50 = l[l.count / 2], p99 = l[l.count * 99 / 100], worst = l.last ?? 0
        print("flood: \(stats.accepted) accepted, \(stats.evicted) evicted, \(stats.timedOut) timed out, \(stats.badRequests) bad, "
              + "\(stats.served) served, most open \(stats.mostOpen); descriptors at most \(most) (before \(descriptorsBefore)); "
              + "RSS +\(grown) KiB; publish p50 \(p50) ns, p99 \(p99) ns, max \(worst) ns over \(l.count)")
        #expect(p50 < 100_000)
        #expect(p99 < 2_000_000)
        // And a scrape after the flood is served.
        let after = TestHTTP.get(port: port, "/metrics")
        #expect(after?.status == 200)
        #expect(after?.body.contains("cgwarden_endpoint_closed_total") == true)
        endpoint.stop()
        #expect(openDescriptors() <= descriptorsBefore + 2)
    }
}
