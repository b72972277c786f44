#if canImport(Glibc)
import Glibc
#endif
import Testing
import Synchronization
import CGWardenCore
import CGWardenService
import CGWardenStore
import CGWardenSystem
import CGWardenTestSupport

/// What the store's writer said to the other sinks.
final class Reports: Sendable {
    let events = Mutex<[GuardEvent]>([])
    func record(_ e: GuardEvent) { events.withLock { $0.append(e) } }
    var reasons: [String] { events.withLock { $0.compactMap(\.reason) } }
}

/// Tunables short enough for a test.
func fastTunables() -> StoreTunables {
    var t = StoreTunables()
    t.commitInterval = .milliseconds(100)
    t.retryInterval = .milliseconds(200)
    t.closeTimeout = .seconds(5)
    return t
}

func storedEvents(_ dir: String) -> [StoredEvent] {
    (try? EventStore.openForReading(directory: dir).events(EventQuery())) ?? []
}

/// A state directory the writer cannot write: its thread runs with the file
/// ids of nobody (setfsuid is per thread, and a new thread inherits them),
/// over a directory that is root's and 0755. Tests run as root, whom no
/// permission stops.
func startAsNobody(_ sink: StoreSink) throws {
    try ProcessControl.setFileSystemIDs(uid: 65534, gid: 65534)
    defer { try? ProcessControl.setFileSystemIDs(uid: 0, gid: 0) }
    try sink.start()
}

func makeStateDirectory(_ tmp: TempDir) -> String {
    chmod(tmp.path, 0o755)
    let dir = tmp.path + "/state"
    mkdir(dir, 0o755)
    return dir
}

@Suite(.serialized) struct StoreSinkTests {
    @Test func killsCommitAtOnceAndTheRestWithinTheCommitInterval() throws {
        let tmp = TempDir("cgwarden-sink"); defer { tmp.remove() }
        var t = fastTunables()
        t.commitInterval = .milliseconds(1500)
        let reports = Reports()
        let sink = try StoreSink(directory: tmp.path, retention: .seconds(86_400), maxSize: 64 << 20, tunables: t,
                                 report: reports.record)
        try sink.start()
        sink.record(Sample.observed(1, at: Sample.time(2)))
        usleep(500_000)
        #expect(storedEvents(tmp.path).isEmpty, "an observation waited for the commit interval")
        #expect(waitUntil(seconds: 3) { storedEvents(tmp.path).count == 1 }, "committed within the interval")
        sink.record(Sample.observed(2, at: Sample.time(1)))
        sink.record(Sample.kill(at: Sample.time(0)))
        #expect(waitUntil(seconds: 0.7) { storedEvents(tmp.path).count == 3 }, "a kill commits at once, with what waited")
        sink.record(Sample.max("/g", at: Sample.time(0)))
        #expect(sink.close() == 0)
        #expect(storedEvents(tmp.path).map(\.event.kind) == [.observed, .observed, .kill, .max], "close commits the rest")
        #expect(reports.reasons.isEmpty)
    }

    /// The daemon's setting: SQLite's pages dropped each time the writer goes
    /// idle. Every event is still written, through passes that fault the
    /// library back in.
    @Test func sqlitesPagesAreDroppedAfterEachPassAndTheEventsStillLand() throws {
        let tmp = TempDir("cgwarden-sink-pages"); defer { tmp.remove() }
        let reports = Reports()
        let sink = try StoreSink(directory: tmp.path, retention: .seconds(86_400), maxSize: 64 << 20, tunables: fastTunables(),
                                 report: reports.record)
        sink.libraryPages = try LibraryPages(containing: SQLiteDatabase.libraryAddress, locked: false)
        try sink.start()
        #expect(sink.figures.libraryDrops == 0, "the store opens with the first event")
        for round in 0..<3 {
            let before = sink.figures.libraryDrops
            sink.record(Sample.kill(at: Sample.time(UInt64(round))))
            sink.record(Sample.observed(round, at: Sample.time(UInt64(round))))
            #expect(waitUntil(seconds: 5) { sink.figures.committed == 2 * (round + 1) && sink.figures.libraryDrops > before })
        }
        #expect(sink.close() == 0)
        #expect(storedEvents(tmp.path).count == 6)
        #expect(reports.reasons.isEmpty, "\(reports.reasons)")
    }

    @Test func aReadOnlyDirectoryIsReportedOnceAndItsEventsFlushedLater() throws {
        let tmp = TempDir("cgwarden-sink"); defer { tmp.remove() }
        let dir = makeStateDirectory(tmp)
        var t = fastTunables()
        t.maximumQueuedEvents = 10
        let reports = Reports()
        let sink = try StoreSink(directory: dir, retention: .seconds(86_400), maxSize: 64 << 20, tunables: t, report: reports.record)
        try startAsNobody(sink)
        for i in 0..<25 {
            sink.record(Sample.max("/g\(i)", at: Sample.time(UInt64(30 - i))))
            usleep(40_000)
        }
        usleep(600_000)
        let f = sink.figures
        #expect(f.failing && f.committed == 0)
        #expect(f.queued == 10 && f.dropped == 15, "\(f)")
        let said = reports.reasons
        #expect(said.filter { $0.contains("cannot record events: open") }.count == 1, "\(said)")
        #expect(said.filter { $0.contains("the oldest are dropped") }.count == 1, "\(said)")
        #expect(said.count == 2, "said once, not at every retry: \(said)")
        // Made writable: the queue is flushed, the gap recorded.
        chmod(dir, 0o777)
        #expect(waitUntil(seconds: 5) { sink.figures.queued == 0 && !sink.figures.failing })
        #expect(sink.close() == 0)
        let stored = storedEvents(dir)
        #expect(stored.filter { $0.event.kind == .max }.map(\.event.cgroup) == (15..<25).map { CgroupPath("/g\($0)") })
        #expect(stored.contains { $0.event.kind == .problem && $0.event.reason?.contains("15 events were dropped") == true },
                "\(stored.map(\.event.message))")
        #expect(reports.reasons.last?.contains("records events again; 15 events were dropped") == true, "\(reports.reasons)")
    }

    @Test func aLockedStoreHoldsTheEventsUntilTheLockGoes() throws {
        let tmp = TempDir("cgwarden-sink"); defer { tmp.remove() }
        let reports = Reports()
        let sink = try StoreSink(directory: tmp.path, retention: .seconds(86_400), maxSize: 64 << 20, tunables: fastTunables(),
                                 report: reports.record)
        try sink.start()
        sink.record(Sample.kill(at: Sample.time(3)))
        #expect(waitUntil(seconds: 3) { storedEvents(tmp.path).count == 1 })
        // Another writer takes the write lock and keeps it.
        let other = try SQLiteDatabase(path: tmp.path + "/events.db", readOnly: false)
        try other.execute("BEGIN EXCLUSIVE")
        sink.record(Sample.kill(at: Sample.time(2)))
        sink.record(Sample.oom(at: Sample.time(1)))
        #expect(waitUntil(seconds: 5) { sink.figures.failing })
        usleep(1_500_000)
        #expect(reports.reasons.count == 1 && reports.reasons[0].contains("database is locked"), "\(reports.reasons)")
        #expect(sink.figures.queued == 2)
        try other.execute("COMMIT")
        #expect(waitUntil(seconds: 5) { storedEvents(tmp.path).count == 3 })
        #expect(sink.close() == 0)
        #expect(reports.reasons.count == 2 && reports.reasons[1].contains("records events again"), "\(reports.reasons)")
    }

    @Test(arguments: ["header", "page"])
    func aCorruptStoreIsMovedAsideOnceAndANewOneStarted(_ damage: String) throws {
        let tmp = TempDir("cgwarden-sink"); defer { tmp.remove() }
        let file = tmp.path + "/events.db"
        if damage == "header" {
            writeFile(file, String(repeating: "not a database ", count: 400))
        } else {
            // A store with events whose pages are overwritten past the header.
            do {
                let store = try EventStore.openForWriting(directory: tmp.path)
                for i in 0..<10 { try store.append((0..<20).map { Sample.observed(i * 20 + $0, at: Sample.time(100)) }) }
                try store.database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            }
            let fd = open(file, O_WRONLY)
            let junk = [UInt8](repeating: 0xA5, count: 4096 * 8)
            _ = junk.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 4096 * 3) }
            close(fd)
        }
        let reports = Reports()
        let sink = try StoreSink(directory: tmp.path, retention: .seconds(86_400), maxSize: 64 << 20, tunables: fastTunables(),
                                 report: reports.record)
        try sink.start()
        sink.record(Sample.kill(at: Sample.time(0)))
        #expect(waitUntil(seconds: 5) { storedEvents(tmp.path).contains { $0.event.kind == .kill } })
        #expect(sink.close() == 0)
        let said = reports.reasons
        #expect(said.count == 1 && said[0].contains("was corrupt") && said[0].contains("moved aside to \(file).corrupt-"), "\(said)")
        let names = try Directories.names(tmp.path)
        let aside = names.filter { $0.hasPrefix("events.db.corrupt-") && !$0.hasSuffix("-wal") }
        #expect(aside.count == 1, "\(names)")
        // The new store holds the event, and says what happened to the old one.
        let stored = storedEvents(tmp.path)
        #expect(stored.map(\.event.kind) == [.problem, .kill] || stored.map(\.event.kind) == [.kill, .problem], "\(stored)")
        #expect(try EventStore.openForReading(directory: tmp.path).quickCheck() == "ok")
    }

    @Test func theQueueKeepsItsBoundInBytesToo() throws {
        let tmp = TempDir("cgwarden-sink"); defer { tmp.remove() }
        let dir = makeStateDirectory(tmp)
        var t = fastTunables()
        t.maximumQueuedBytes = 64 << 10
        let sink = try StoreSink(directory: dir, retention: .seconds(86_400), maxSize: 64 << 20, tunables: t, report: { _ in })
        try startAsNobody(sink)
        // Observations with 50 candidates: about 7 KiB each.
        for i in 0..<40 { sink.record(Sample.observed(i, at: Sample.time(UInt64(40 - i)))) }
        let f = sink.figures
        #expect(f.queued >= 5 && f.queued <= 12 && f.dropped == 40 - f.queued, "\(f)")
        sink.close()
    }
}
