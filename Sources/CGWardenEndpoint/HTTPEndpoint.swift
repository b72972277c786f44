#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSystem
import Synchronization

/// Answers a request on the endpoint's thread: the body of `/metrics`, the
/// state of `/healthz`. nil: 404. Called only for GET and HEAD, with what
/// the endpoint did so far (its own metrics).
public protocol EndpointResponder: Sendable {
    func respond(to request: HTTPRequestHead, endpoint: EndpointStatistics) -> HTTPResponse?
}

/// Every bound of the endpoint, with the reason beside it. Whatever a client
/// does, the endpoint holds at most `maximumConnections` descriptors and
/// `maximumConnections × maximumRequestBytes` of requests, and never holds a
/// connection past its deadlines.
public struct EndpointTunables: Sendable {
    /// Connections open at once. Prometheus scrapes with one connection per
    /// server (an HA pair is two), a kubelet probe is one more: 32 leaves room
    /// for a few humans with curl. Past it the oldest connection is closed (it
    /// has had the most time; a scrape being served finishes in milliseconds).
    public var maximumConnections = 32
    /// A request head larger than this is refused (431) and closed: a
    /// Prometheus scrape's head is about 300 bytes.
    public var maximumRequestBytes = 8192
    /// From accept to a complete request head; then closed without an answer
    /// (slowloris: a client that sends a byte a second holds nothing long).
    public var requestDeadline: Duration = .seconds(5)
    /// From a complete request to the last byte written (a client that does not
    /// read): Prometheus's default scrape_timeout.
    public var responseDeadline: Duration = .seconds(10)
    /// Unsent response bytes, all connections together: past it, a new request
    /// is answered 503 (a small body) instead of being given a copy of the
    /// metrics. Bodies are shared, so this counts a shared body once per connection.
    public var maximumPendingResponseBytes = 64 << 20
    /// listen(2)'s backlog: connections the kernel queues before the thread accepts them.
    public var backlog: Int32 = 64
    /// After accept fails for lack of descriptors or memory (EMFILE, ENFILE,
    /// ENOBUFS), the listening socket is left alone this long (else poll would
    /// report it readable at once, again and again).
    public var acceptPause: Duration = .milliseconds(100)

    public init() {}
}

/// What the endpoint did, for tests and for its own metrics.
public struct EndpointStatistics: Sendable, Equatable {
    public var accepted: UInt64 = 0
    public var served: UInt64 = 0
    public var badRequests: UInt64 = 0
    /// Closed to make room for a newer connection.
    public var evicted: UInt64 = 0
    /// Closed at a deadline.
    public var timedOut: UInt64 = 0
    /// Answered 503 for the pending-bytes bound.
    public var busy: UInt64 = 0
    public var open = 0
    public var mostOpen = 0
    public init() {}
}

/// A small HTTP/1.1 responder on its own thread: one `poll` over the
/// listening socket, a wake pipe and its connections, all non-blocking. It
/// never touches the guard's state: it calls the responder, which reads what
/// the guard last published. One request per connection, then close.
public final class HTTPEndpoint: @unchecked Sendable {
    let listener: Int32
    let responder: EndpointResponder
    public let tunables: EndpointTunables
    let clock: Clock
    private let wake: (read: Int32, write: Int32)
    private var thread: pthread_t?
    private let stats = Mutex(EndpointStatistics())
    private let stopping = Atomic<Bool>(false)

    struct Connection {
        var fd: Int32
        var deadline: UInt64
        var input: [UInt8] = []
        var head: [UInt8] = []
        var body: [UInt8] = []
        var sent = 0
        var writing = false

        var remaining: Int { head.count + body.count - sent }
    }

    /// Serves `listener` (a listening socket; the endpoint closes it at `stop`) on a new thread.
    public init(listener: Int32, responder: EndpointResponder, tunables: EndpointTunables = EndpointTunables(),
                clock: Clock = SystemClock()) throws(SystemError) {
        self.listener = listener
        self.responder = responder
        self.tunables = tunables
        self.clock = clock
        let pipe = try Files.pipe(nonBlockingWrite: true)
        wake = pipe
        do {
            thread = try Threads.start { [self] in serve() }
        } catch {
            Files.close(pipe.read)
            Files.close(pipe.write)
            throw error
        }
    }

    public var statistics: EndpointStatistics { stats.withLock { $0 } }

    /// Ends the thread, closes every connection and the listening socket.
    public func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        _ = try? Files.write(wake.write, [1])
        if let thread { pthread_join(thread, nil) }
        thread = nil
        Files.close(wake.read)
        Files.close(wake.write)
    }

    // MARK: the thread

    private func serve() {
        var connections: [Connection] = []
        var acceptPausedUntil: UInt64 = 0
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer {
            scratch.deallocate()
            for c in connections { Files.close(c.fd) }
            Files.close(listener)
        }
        while !stopping.load(ordering: .acquiring) {
            var now = clock.now().monotonicNanos
            let listening = now >= acceptPausedUntil
            var interests = [Poller.Interest(fd: wake.read, events: Int16(POLLIN)),
                             Poller.Interest(fd: listening ? listener : -1, events: Int16(POLLIN))]
            for c in connections {
                interests.append(Poller.Interest(fd: c.fd, events: Int16(c.writing ? POLLOUT : POLLIN)))
            }
            var wait = connections.map(\.deadline).min().map { $0 > now ? $0 - now : 0 }
            if !listening { wait = min(wait ?? .max, acceptPausedUntil - now) }
            let millis = wait.map { Int32(clamping: ($0 + 999_999) / 1_000_000) } ?? -1
            let ready: [(index: Int, revents: Int16)]
            do {
                ready = try Poller.wait(interests, milliseconds: millis)
            } catch {
                // ENOMEM and the like: never spin on a failing poll.
                clock.sleep(until: now.addingSaturated(10_000_000))
                continue
            }
            now = clock.now().monotonicNanos
            var closed = Set<Int32>()
            for (index, revents) in ready where index >= 2 {
                let i = index - 2
                guard i < connections.count else { continue }
                if connections[i].writing {
                    if !write(&connections[i]) { closed.insert(connections[i].fd) }
                } else if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                    if !read(&connections[i], scratch: scratch, now: now, pending: pendingBytes(connections)) {
                        closed.insert(connections[i].fd)
                    }
                }
            }
            // Deadlines: a slow client is closed, never waited for.
            for c in connections where !closed.contains(c.fd) && c.deadline <= now {
                closed.insert(c.fd)
                stats.withLock { $0.timedOut += 1 }
            }
            if !closed.isEmpty {
                for c in connections where closed.contains(c.fd) { Files.close(c.fd) }
                connections.removeAll { closed.contains($0.fd) }
            }
            if ready.contains(where: { $0.index == 1 }) {
                acceptPausedUntil = accept(into: &connections, now: now)
            }
            let open = connections.count
            stats.withLock {
                $0.open = open
                $0.mostOpen = max($0.mostOpen, open)
            }
        }
    }

    /// Accepts what is pending (at most one round of the cap); past the cap
    /// the oldest connection is closed. When the kernel has no descriptor or
    /// memory to give, accepting pauses; the time until which it does.
    private func accept(into connections: inout [Connection], now: UInt64) -> UInt64 {
        for _ in 0..<max(1, tunables.maximumConnections) {
            let fd: Int32
            do {
                guard let accepted = try Sockets.accept(listener) else { return 0 }
                fd = accepted
            } catch where error.errno == ECONNABORTED || error.errno == EPROTO {
                continue
            } catch {
                return now.addingSaturated(tunables.acceptPause.nanosecondsClamped)
            }
            if connections.count >= tunables.maximumConnections {
                Files.close(connections.removeFirst().fd)
                stats.withLock { $0.evicted += 1 }
            }
            connections.append(Connection(fd: fd, deadline: now.addingSaturated(tunables.requestDeadline.nanosecondsClamped)))
            stats.withLock { $0.accepted += 1 }
        }
        return 0
    }

    private func pendingBytes(_ connections: [Connection]) -> Int {
        connections.reduce(0) { $0 + ($1.writing ? $1.remaining : 0) }
    }

    /// Reads what arrived; answers once the head is complete. False: close it.
    private func read(_ c: inout Connection, scratch: UnsafeMutableRawBufferPointer, now: UInt64, pending: Int) -> Bool {
        let room = tunables.maximumRequestBytes + 1 - c.input.count
        let n: Int
        do {
            guard let got = try Sockets.receiveStream(c.fd, into: UnsafeMutableRawBufferPointer(rebasing: scratch[..<min(room, scratch.count)])) else {
                return true
            }
            n = got
        } catch {
            return false
        }
        // The client closed before a complete request: nothing to answer.
        if n == 0 { return false }
        c.input += scratch[..<n]
        let response: HTTPResponse
        var head = true
        switch HTTPRequestHead.parse(c.input) {
        case .incomplete:
            guard c.input.count > tunables.maximumRequestBytes else { return true }
            response = HTTPResponse(status: 431, text: "request head larger than \(tunables.maximumRequestBytes) bytes")
            stats.withLock { $0.badRequests += 1 }
        case .bad(let why):
            response = HTTPResponse(status: 400, text: why)
            stats.withLock { $0.badRequests += 1 }
        case .complete(let request, _):
            head = request.method != "HEAD"
            if request.method != "GET" && request.method != "HEAD" {
                response = HTTPResponse(status: 405, text: "only GET and HEAD", headers: ["Allow: GET, HEAD"])
            } else if pending > tunables.maximumPendingResponseBytes {
                response = HTTPResponse(status: 503, text: "busy: too many responses in flight")
                stats.withLock { $0.busy += 1 }
            } else {
                response = responder.respond(to: request, endpoint: statistics) ?? HTTPResponse(status: 404, text: "not found: /metrics and /healthz are served")
            }
            stats.withLock { $0.served += 1 }
        }
        c.input = []
        c.head = response.head()
        c.body = head ? response.body : []
        c.writing = true
        c.deadline = now.addingSaturated(tunables.responseDeadline.nanosecondsClamped)
        return write(&c)
    }

    /// Writes what the socket takes now. False: done or failed (close it).
    private func write(_ c: inout Connection) -> Bool {
        while c.remaining > 0 {
            let n: Int
            do {
                if c.sent < c.head.count {
                    n = try c.head.withUnsafeBytes { try Sockets.sendStream(c.fd, UnsafeRawBufferPointer(rebasing: $0[c.sent...])) }
                } else {
                    let offset = c.sent - c.head.count
                    n = try c.body.withUnsafeBytes { try Sockets.sendStream(c.fd, UnsafeRawBufferPointer(rebasing: $0[offset...])) }
                }
            } catch {
                return false
            }
            if n == 0 { return true }
            c.sent += n
        }
        return false
    }
}
