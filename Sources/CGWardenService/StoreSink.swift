#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenStore
import CGWardenSystem
import CShims
import Synchronization

/// The bounds of the event store's writer, named, with the reason beside each.
public struct StoreTunables: Sendable {
    /// Events kept in memory while the store cannot take them (a full disk,
    /// a lock, a read-only directory). A busy node makes a few events a
    /// minute; 4,096 cover hours of that, and a burst of the kernel's
    /// `max`/`high` events for a minute or two. Past it the oldest go first.
    public var maximumQueuedEvents = 4096
    /// And at most this much memory (estimated): a kill or an observation
    /// carries up to 50 candidates (about 10 KiB), and the daemon's whole
    /// budget is 8 MiB of RSS.
    public var maximumQueuedBytes = 1 << 20
    /// The longest an event waits before it is committed: a `kill -9` of
    /// the daemon loses at most this much. Kills commit at once.
    public var commitInterval: Duration = .seconds(1)
    /// A store that failed is tried again this often (each try reopens it:
    /// a directory made writable or a lock released is seen then).
    public var retryInterval: Duration = .seconds(5)
    /// Retention and size are checked this often (and the size after each commit).
    public var pruneInterval: Duration = .seconds(60)
    /// At the stop: how long the last events may take to commit (the guard
    /// exits within a second of SIGTERM).
    public var closeTimeout: Duration = .milliseconds(800)
    /// A corrupt store is moved aside at most this often: a disk that
    /// corrupts every new file must not fill the directory with copies.
    public var corruptMoveInterval: Duration = .seconds(3600)

    public init() {}
}

/// Records every event in the event store (`events.db` under the state
/// directory) from a writer thread of its own: `record` only queues, so the
/// store never stands between the guard and a kill. Batches commit at
/// least once per `commitInterval`; kills, failed kills and the kernel's
/// OOM kills at once. A store that cannot be written is reported once
/// through `report` (the other sinks), its events wait in a bounded queue
/// and are written when it can be again; a corrupt one is moved aside.
public final class StoreSink: EventSink, @unchecked Sendable {
    /// Kinds committed as soon as they are queued: what an operator looks for
    /// after a node went down.
    public static let urgentKinds: Set<GuardEvent.Kind> = [.kill, .incomplete, .failed, .oom]

    public let directory: String
    public var path: String { EventStore.path(in: directory) }
    let tunables: StoreTunables
    let report: (GuardEvent) -> Void
    let clock = SystemClock()

    /// What the guard's thread and the writer share.
    struct Shared {
        var queue: [GuardEvent] = []
        var head = 0
        var bytes = 0
        var oldestQueuedAt: UInt64 = 0
        var urgent = false
        /// Events the writer took and has neither committed nor put back:
        /// still queued, for `flush` and the figures.
        var inHand = 0
        var stop = false
        var done = false
        var retention: Duration
        var maxSize: UInt64
        // Figures (tests, the report).
        var committed = 0
        var dropped = 0
        var droppedInEpisode = 0
        var failing = false
        var lastError: String?
        var corruptMoves = 0
        var libraryDrops = 0

        var count: Int { queue.count - head }
    }
    private let shared: Mutex<Shared>
    /// Wakes the writer: a byte per wake, read in its poll.
    private let wake: (read: Int32, write: Int32)
    private var thread: pthread_t?
    /// SQLite's code and constants, dropped after each pass of the writer
    /// that ran SQLite (set before `start`; nil: kept). The daemon locks its
    /// memory, so without this the library's pages (0.9 MiB) would stay
    /// resident and locked from the first prune on, for a commit a second at
    /// most: the writer pays a few hundred minor faults per pass instead,
    /// on its own thread (the kill path never runs SQLite).
    public var libraryPages: LibraryPages?

    public init(directory: String, retention: Duration, maxSize: UInt64, tunables: StoreTunables = StoreTunables(),
                report: @escaping (GuardEvent) -> Void) throws(SystemError) {
        self.directory = directory
        self.tunables = tunables
        self.report = report
        shared = Mutex(Shared(retention: retention, maxSize: maxSize))
        var fds: [Int32] = [0, 0]
        if cgw_pipe_cloexec(&fds) != 0 { throw SystemError(call: "pipe2", path: "", errno: errno) }
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        wake = (fds[0], fds[1])
    }

    deinit {
        Files.close(wake.read)
        Files.close(wake.write)
    }

    /// Starts the writer thread (after the privilege drop: the files it
    /// makes are the daemon user's).
    public func start() throws(SystemError) {
        thread = try Threads.start { [self] in write() }
    }

    // MARK: the guard's side

    public func record(_ event: GuardEvent) {
        let now = clock.now().monotonicNanos
        let signal = shared.withLock { s -> Bool in
            let wasEmpty = s.count == 0
            enqueue(event, into: &s, now: now)
            let urgent = StoreSink.urgentKinds.contains(event.kind)
            if urgent { s.urgent = true }
            return wasEmpty || urgent
        }
        if signal { poke() }
    }

    /// A reload: the new retention and size apply at the next pruning.
    public func update(retention: Duration, maxSize: UInt64) {
        shared.withLock { s in
            s.retention = retention
            s.maxSize = maxSize
        }
        poke()
    }

    /// Commits what is queued (waiting at most `closeTimeout`) and stops
    /// the writer; the number of events that could not be written.
    /// Tells the writer to commit what is queued and stop, without waiting
    /// (`close` waits): the daemon overlaps it with the helper's shutdown.
    public func beginClose() {
        shared.withLock { $0.stop = true }
        poke()
    }

    @discardableResult
    public func close() -> Int {
        beginClose()
        let deadline = clock.now().monotonicNanos.addingSaturated(tunables.closeTimeout.nanosecondsClamped)
        while !shared.withLock({ $0.done }) && clock.now().monotonicNanos < deadline { usleep(2000) }
        let (done, left) = shared.withLock { ($0.done, $0.count) }
        if done, let thread {
            pthread_join(thread, nil)
            self.thread = nil
        }
        return left
    }

    /// For tests and the benchmark: waits until the queue is empty (or `timeout`).
    public func flush(timeout: Duration) -> Bool {
        let deadline = clock.now().monotonicNanos.addingSaturated(timeout.nanosecondsClamped)
        shared.withLock { $0.urgent = true }
        poke()
        while clock.now().monotonicNanos < deadline {
            if shared.withLock({ $0.count == 0 && $0.inHand == 0 }) { return true }
            usleep(1000)
        }
        return false
    }

    public struct Figures: Equatable, Sendable {
        public var queued: Int
        public var committed: Int
        public var dropped: Int
        public var failing: Bool
        public var corruptMoves: Int
        /// Passes after which SQLite's pages were dropped (`libraryPages`).
        public var libraryDrops: Int
    }

    public var figures: Figures {
        shared.withLock { Figures(queued: $0.count + $0.inHand, committed: $0.committed, dropped: $0.dropped, failing: $0.failing,
                                  corruptMoves: $0.corruptMoves, libraryDrops: $0.libraryDrops) }
    }

    private func poke() {
        var byte: UInt8 = 1
        _ = Glibc.write(wake.write, &byte, 1)
    }

    /// Appends, dropping the oldest past either bound.
    private func enqueue(_ event: GuardEvent, into s: inout Shared, now: UInt64) {
        if s.count == 0 {
            s.queue.removeAll(keepingCapacity: s.queue.capacity <= 256)
            s.head = 0
            s.oldestQueuedAt = now
        }
        s.queue.append(event)
        s.bytes += StoreSink.footprint(event)
        while s.count > 1 && (s.count > tunables.maximumQueuedEvents || s.bytes > tunables.maximumQueuedBytes) {
            s.bytes -= StoreSink.footprint(s.queue[s.head])
            s.head += 1
            s.dropped += 1
            s.droppedInEpisode += 1
        }
        // The dropped prefix is given back now and then, not at every event.
        if s.head > 1024 && s.head * 2 > s.queue.count {
            s.queue.removeFirst(s.head)
            s.head = 0
        }
    }

    /// About what an event holds in memory: its strings, its path and its candidates.
    static func footprint(_ e: GuardEvent) -> Int {
        var n = 200
        for s in [e.guardName, e.trigger, e.measured, e.reason, e.method, e.recording] { n += s?.utf8.count ?? 0 }
        n += e.cgroup?.bytes.count ?? 0
        for c in e.candidates { n += 96 + c.path.bytes.count + c.score.utf8.count + (c.excluded?.utf8.count ?? 0) }
        n += e.counters.count * 48
        if let t = e.task { n += 120 + t.command.utf8.count }
        return n
    }

    // MARK: the writer thread

    private var store: EventStore?
    private var nextAttempt: UInt64 = 0
    private var nextPrune: UInt64 = 0
    private var lastCorruptMove: UInt64?
    private var reportedFailure = false
    private var reportedDrops = false
    private var reportedPageFailure = false

    private func write() {
        while true {
            guard let (batch, stopping) = nextBatch() else { break }
            let now = clock.now().monotonicNanos
            var openError: (any Error)?
            var ranSQLite = false
            if store == nil && (now >= nextAttempt || stopping) {
                openError = openStore()
                ranSQLite = true
            }
            if let store, !batch.isEmpty {
                ranSQLite = true
                do {
                    try store.append(batch)
                    shared.withLock { s in
                        s.committed += batch.count
                        s.inHand = 0
                    }
                    recovered()
                    if try store.usedBytes() > shared.withLock({ $0.maxSize }) { prune() }
                } catch {
                    requeue(batch)
                    failed(error)
                }
            } else if !batch.isEmpty {
                requeue(batch)
            }
            if let openError { failed(openError) }
            shared.withLock { $0.inHand = 0 }
            if store != nil, clock.now().monotonicNanos >= nextPrune {
                prune()
                ranSQLite = true
            }
            // Dropped when the writer goes idle: a burst of events (each kill
            // commits at once) pays the faults once, after its last pass.
            if ranSQLite && !stopping && shared.withLock({ $0.count == 0 }) { dropLibraryPages() }
            if stopping { break }
        }
        store = nil
        shared.withLock { $0.done = true }
    }

    /// Waits for work; the events to write now (empty when only pruning is
    /// due or the store is not open), and whether the sink is stopping.
    /// nil: stop, nothing left to do.
    private func nextBatch() -> (batch: [GuardEvent], stopping: Bool)? {
        while true {
            let now = clock.now().monotonicNanos
            let decision = shared.withLock { s -> (take: Bool, stopping: Bool, wake: UInt64) in
                if s.stop { return (true, true, 0) }
                var wake = store != nil ? nextPrune : UInt64.max
                if s.count > 0 {
                    let due = s.urgent ? now : s.oldestQueuedAt.addingSaturated(tunables.commitInterval.nanosecondsClamped)
                    let at = max(due, store == nil ? nextAttempt : 0)
                    if at <= now { return (true, false, 0) }
                    wake = min(wake, at)
                }
                if store != nil && now >= nextPrune { return (true, false, 0) }
                return (false, false, wake)
            }
            if decision.take {
                return shared.withLock { s -> (batch: [GuardEvent], stopping: Bool)? in
                    let batch = Array(s.queue[s.head...])
                    s.queue.removeAll(keepingCapacity: false)
                    s.head = 0
                    s.bytes = 0
                    s.urgent = false
                    s.inHand = batch.count
                    return (batch, decision.stopping)
                }
            }
            let millis = decision.wake == .max ? -1
                : Int32(clamping: (decision.wake.subtractingSaturated(now)).addingSaturated(999_999) / 1_000_000)
            _ = try? Poller.wait([Poller.Interest(fd: wake.read, events: Int16(POLLIN))], milliseconds: millis)
            var drain = [UInt8](repeating: 0, count: 64)
            while drain.withUnsafeMutableBytes({ Glibc.read(wake.read, $0.baseAddress, $0.count) }) > 0 {}
        }
    }

    /// Puts a batch that could not be written back in front of what came
    /// since, within the bounds (the oldest dropped).
    private func requeue(_ batch: [GuardEvent]) {
        let now = clock.now().monotonicNanos
        shared.withLock { s in
            let newer = Array(s.queue[s.head...])
            s.queue = []
            s.head = 0
            s.bytes = 0
            for e in batch + newer { enqueue(e, into: &s, now: now) }
            s.oldestQueuedAt = now
            s.inHand = 0
        }
    }

    /// Opens the store (moving a corrupt one aside); the error when it could not.
    private func openStore() -> (any Error)? {
        let now = clock.now()
        nextAttempt = now.monotonicNanos.addingSaturated(tunables.retryInterval.nanosecondsClamped)
        do {
            // Made when missing (an unprivileged daemon; root made it before the drop).
            _ = try? Paths.makeDirectory(directory, mode: 0o750)
            let opened = try EventStore.openForWriting(directory: directory)
            let check = try opened.quickCheck()
            if check != "ok" {
                throw StoreError.sqlite(SQLiteError(operation: "quick_check \(path)", extendedCode: 11, message: check))
            }
            store = opened
            nextPrune = 0
            return nil
        } catch let error as StoreError {
            store = nil
            if error.sqliteKind == .corrupt, moveAside(error, at: now) {
                if let fresh = try? EventStore.openForWriting(directory: directory) {
                    store = fresh
                    nextPrune = 0
                    return nil
                }
            }
            return error
        } catch {
            store = nil
            return error
        }
    }

    /// A corrupt store: moved aside whole (`events.db.corrupt-<UTC time>`,
    /// with its WAL), said once; false when one was moved too recently.
    private func moveAside(_ error: StoreError, at now: Timestamp) -> Bool {
        if let last = lastCorruptMove, now.monotonicNanos - last < tunables.corruptMoveInterval.nanosecondsClamped { return false }
        lastCorruptMove = now.monotonicNanos
        store = nil
        let aside = path + ".corrupt-" + CalendarTime.compactUTC(now.wallNanos)
        do {
            try Paths.rename(path, to: aside)
        } catch {
            report(GuardEvent(kind: .problem, time: now, reason: "the event store \(path) is corrupt (\(error)), "
                              + "and could not be moved aside: \(error)"))
            reportedFailure = true
            return false
        }
        try? Paths.rename(path + "-wal", to: aside + "-wal")
        try? Paths.remove(path + "-shm")
        shared.withLock { $0.corruptMoves += 1 }
        let e = GuardEvent(kind: .problem, time: now, reason: "the event store \(path) was corrupt (\(error)): moved aside to "
                           + "\(aside), a new store started")
        report(e)
        record(e)
        return true
    }

    /// Once per episode: the store could not be written.
    private func failed(_ error: any Error) {
        let now = clock.now()
        if case .sqlite(let e)? = error as? StoreError, e.kind == .corrupt, moveAside(.sqlite(e), at: now) {
            if let fresh = try? EventStore.openForWriting(directory: directory) { store = fresh; return }
        }
        if let e = error as? SQLiteError, e.kind == .corrupt, moveAside(.sqlite(e), at: now) {
            if let fresh = try? EventStore.openForWriting(directory: directory) { store = fresh; return }
        }
        // A connection that failed is closed: the next try reopens the file
        // (a directory made writable, a file replaced, a lock released).
        store = nil
        nextAttempt = now.monotonicNanos.addingSaturated(tunables.retryInterval.nanosecondsClamped)
        let (queued, drops) = shared.withLock { s -> (Int, Int) in
            s.failing = true
            s.lastError = "\(error)"
            return (s.count, s.droppedInEpisode)
        }
        if !reportedFailure {
            reportedFailure = true
            report(GuardEvent(kind: .problem, time: now, reason: "the event store \(path) cannot record events: \(error); "
                              + "\(queued) wait in memory (at most \(tunables.maximumQueuedEvents), the oldest dropped past "
                              + "that), tried again every \(tunables.retryInterval.text)"))
        }
        if drops > 0 && !reportedDrops {
            reportedDrops = true
            report(GuardEvent(kind: .problem, time: now, reason: "the event store \(path) still cannot record events: the "
                              + "oldest are dropped (more than \(tunables.maximumQueuedEvents) events or "
                              + "\(Units.size(UInt64(tunables.maximumQueuedBytes))) wait)"))
        }
    }

    /// After a failure: said once, with what was dropped meanwhile (also
    /// recorded in the store, where the gap is).
    private func recovered() {
        let (wasFailing, dropped) = shared.withLock { s -> (Bool, Int) in
            let figures = (s.failing, s.droppedInEpisode)
            s.failing = false
            s.droppedInEpisode = 0
            return figures
        }
        guard wasFailing else { return }
        let now = clock.now()
        if reportedFailure || dropped > 0 {
            let e = GuardEvent(kind: .problem, time: now, reason: "the event store \(path) records events again"
                               + (dropped > 0 ? "; \(dropped) event\(dropped == 1 ? " was" : "s were") dropped meanwhile (the oldest)" : ""))
            report(e)
            if dropped > 0 { record(e) }
        }
        reportedFailure = false
        reportedDrops = false
    }

    private func dropLibraryPages() {
        guard let libraryPages else { return }
        let outcome = libraryPages.drop()
        shared.withLock { $0.libraryDrops += 1 }
        if let failure = outcome.failure, !reportedPageFailure {
            reportedPageFailure = true
            report(GuardEvent(kind: .problem, time: clock.now(),
                              reason: "dropping SQLite's pages after a write (\(libraryPages.object)): \(failure)"))
        }
    }

    private func prune() {
        guard let store else { return }
        let (retention, maxSize) = shared.withLock { ($0.retention, $0.maxSize) }
        nextPrune = clock.now().monotonicNanos.addingSaturated(tunables.pruneInterval.nanosecondsClamped)
        do {
            _ = try store.prune(retention: retention, maxSize: maxSize, now: clock.now().wallNanos)
        } catch {
            failed(error)
        }
    }
}

/// Events to several sinks, one event at a time (the store's writer
/// reports from its own thread).
public final class EventFanOut: EventSink, @unchecked Sendable {
    let sinks: [EventSink]
    private let lock = Mutex<Void>(())
    public init(_ sinks: [EventSink]) { self.sinks = sinks }
    public func record(_ event: GuardEvent) {
        lock.withLock { _ in for s in sinks { s.record(event) } }
    }
}
