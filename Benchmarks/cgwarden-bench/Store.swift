#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenService
import CGWardenStore
import CGWardenSystem

/// `cgwarden-bench store [--dir DIR] [--events N]`: what the event store
/// sustains, on the file system of DIR (fsync costs what that disk costs;
/// no cgroups needed, so it runs on the host as well as in the VM).
enum StoreBenchmark {
    static func kernelEvent(_ i: Int, now: UInt64) -> GuardEvent {
        var e = GuardEvent(kind: .max, time: Timestamp(monotonicNanos: UInt64(i), wallNanos: now + UInt64(i) * 1000),
                           cgroup: CgroupPath(components: ["kubepods.slice", "kubepods-burstable.slice", "pod\(i % 500)"]),
                           cgroupID: UInt64(1000 + i % 500))
        e.counters = [GuardEvent.CounterDelta("max", UInt64(i % 97 + 1))]
        return e
    }

    static func killEvent(_ i: Int, now: UInt64) -> GuardEvent {
        var e = GuardEvent(kind: .kill, time: Timestamp(monotonicNanos: UInt64(i), wallNanos: now + UInt64(i) * 1000),
                           guardName: "tenants", cgroup: CgroupPath(components: ["tenants.slice", "t\(i % 50)"]),
                           cgroupID: UInt64(i), trigger: "usage >= 80% of memory.max", measured: "110.0M of 128.0M (86%)",
                           reason: "guard 'tenants' fired; ranked first by usage 110.0M", method: "cgroup.kill",
                           memoryBefore: 115_343_360, memoryAfter: 0, processes: 4, durationNanos: 12_000_000)
        e.candidates = (0..<50).map { c in
            GuardEvent.EventCandidate(path: CgroupPath(components: ["tenants.slice", "t\(c)"]), id: UInt64(c),
                                      rank: c + 1, score: "usage \(110 - c).0M", excluded: nil)
        }
        return e
    }

    static func run(dir base: String, events n: Int) throws {
        let now = SystemClock().now().wallNanos
        print("Event store, SQLite \(SQLiteDatabase.libraryVersion), WAL, synchronous=FULL; directory \(base)\n")
        var notes: [String] = []
        print("| what | events | seconds | events/s | store size |")
        print("|---|---:|---:|---:|---:|")
        func row(_ what: String, _ count: Int, _ us: Double, _ dir: String) {
            let size = (try? Paths.status(EventStore.path(in: dir)).size) ?? 0
            print("| \(what) | \(count) | \(fmt(us / 1e6, 2)) | \(fmt(Double(count) / (us / 1e6), 0)) | \(Units.size(size)) |")
        }
        func fresh(_ name: String) -> String {
            let dir = base + "/" + name
            for f in ["", "-wal", "-shm"] { unlink(EventStore.path(in: dir) + f) }
            mkdir(dir, 0o755)
            return dir
        }
        // 1. One transaction per event: a burst of kills, each committed at once.
        for (name, make, count) in [("kill (50 candidates), one commit each", killEvent, min(n / 10, 2000)),
                                    ("kernel max event, one commit each", kernelEvent, min(n / 10, 2000))] {
            let dir = fresh("single")
            let store = try EventStore.openForWriting(directory: dir)
            let events = (0..<count).map { make($0, now) }
            var failure: Error?
            let us = time { do { for e in events { try store.append([e]) } } catch { failure = error } }
            if let failure { throw failure }
            row(name, count, us, dir)
        }
        // 2. Batches, as the writer commits what queued in a second.
        for (name, make, count, batch, store) in [("kernel max events, batches of 1000", kernelEvent, n, 1000, "kernel"),
                                                  ("kill (50 candidates), batches of 100", killEvent, n / 10, 100, "kills")] {
            let dir = fresh(store)
            let store = try EventStore.openForWriting(directory: dir)
            let events = (0..<count).map { make($0, now) }
            var failure: Error?
            let us = time {
                do { for start in stride(from: 0, to: count, by: batch) { try store.append(Array(events[start..<min(count, start + batch)])) } }
                catch { failure = error }
            }
            if let failure { throw failure }
            row(name, count, us, dir)
        }
        // 3. The daemon's path: StoreSink.record on the caller's thread, the
        // writer behind it committing what queued meanwhile (kills each wake
        // it at once); chunks below the queue's bounds (4,096 events, 1 MiB),
        // each flushed, so that nothing is dropped and the figure is what
        // the writer sustains. Each twice, side by side: as the daemon runs
        // it, SQLite's pages dropped each time the writer goes idle
        // (`StoreSink.libraryPages`), and kept.
        let pages = try LibraryPages(containing: SQLiteDatabase.libraryAddress, locked: false)
        for (name, make, count, chunk, store, drop) in [
            ("kernel max events through StoreSink", kernelEvent, n, 2000, "sink", false),
            ("kernel max events through StoreSink, SQLite's pages dropped", kernelEvent, n, 2000, "sink-pages", true),
            ("kills (50 candidates) through StoreSink, each urgent", killEvent, n / 10, 50, "sink-kills", false),
            ("kills (50 candidates) through StoreSink, each urgent, SQLite's pages dropped", killEvent, n / 10, 50,
             "sink-kills-pages", true),
        ] {
            let dir = fresh(store)
            let sink = try StoreSink(directory: dir, retention: .seconds(86_400 * 30), maxSize: 1 << 40, report: { e in
                print("report: \(e.message)")
            })
            if drop { sink.libraryPages = pages }
            try sink.start()
            let events = (0..<count).map { make($0, now) }
            var recordMicros = 0.0
            let us = time {
                for start in stride(from: 0, to: count, by: chunk) {
                    recordMicros += time { for e in events[start..<min(count, start + chunk)] { sink.record(e) } }
                    _ = sink.flush(timeout: .seconds(60))
                }
            }
            let f = sink.figures
            sink.close()
            row(name, f.committed, us, dir)
            notes.append("\(name): StoreSink.record \(fmt(recordMicros * 1000 / Double(count), 0)) ns per event on the "
                         + "caller's thread; dropped \(f.dropped); SQLite's pages dropped after \(f.libraryDrops) passes")
        }
        print("")
        for note in notes { print(note) }
        // 4. Reading: status's summary and events' query over a large store.
        do {
            let kernel = try EventStore.openForReading(directory: base + "/kernel")
            var groups = 0
            let summary = time { groups = (try? kernel.summary(since: 0, kinds: EventHistory.oomKinds))?.count ?? 0 }
            let kills = try EventStore.openForReading(directory: base + "/kills")
            var listed = 0
            let list = time { listed = (try? kills.events(EventQuery(limit: 1000)))?.count ?? 0 }
            print("Reading: status's per-group summary over \(try kernel.count()) kernel events \(fmt(summary / 1000, 1)) ms "
                  + "(\(groups) groups); the newest \(listed) kills with their 50 candidates each \(fmt(list / 1000, 1)) ms")
        }
        do {
            let dir = base + "/single"
            let store = try EventStore.openForWriting(directory: dir)
            var pruned = PruneResult()
            let us = time { pruned = (try? store.prune(retention: nil, maxSize: 64 << 10, now: now)) ?? PruneResult() }
            print("Pruning \(pruned.bySize) events by size in \(pruned.transactions) transactions: \(fmt(us / 1000, 1)) ms")
        }
    }
}
