#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
import CGWardenStore
import CGWardenSystem
import CGWardenTestSupport

/// Events as the daemon makes them: a kill with candidates, the kernel's
/// OOM kill with its task, a `max` burst, a start.
enum Sample {
    static let base: UInt64 = 1_790_000_000_000_000_000

    static func time(_ secondsAgo: UInt64, now: UInt64 = SystemClock().now().wallNanos) -> Timestamp {
        Timestamp(monotonicNanos: 1_000_000_000, wallNanos: now - secondsAgo * 1_000_000_000)
    }

    static func kill(_ path: String = "/tenants.slice/a", at t: Timestamp, candidates: Int = 3) -> GuardEvent {
        var e = GuardEvent(kind: .kill, time: t, guardName: "tenants", cgroup: CgroupPath(path)!, cgroupID: 4242,
                           trigger: "usage >= 80% of memory.max", measured: "110.0M of 128.0M (86%)",
                           reason: "largest usage", method: "cgroup.kill", memoryBefore: 115_343_360, memoryAfter: 0,
                           processes: 4, durationNanos: 12_300_000)
        e.candidates = (0..<candidates).map { i in
            GuardEvent.EventCandidate(path: CgroupPath("/tenants.slice/c\(i)")!, id: UInt64(100 + i), rank: i == 2 ? nil : i + 1,
                                      score: "usage \(100 - i).0M", excluded: i == 2 ? "protected" : nil)
        }
        e.recording = "/var/lib/cgwarden/recordings/kill-1.json"
        return e
    }

    static func oom(_ path: String = "/tenants.slice/b", at t: Timestamp) -> GuardEvent {
        var e = GuardEvent(kind: .oom, time: t, cgroup: CgroupPath(path)!, cgroupID: 77)
        e.counters = [GuardEvent.CounterDelta("oom", 1), GuardEvent.CounterDelta("oom_kill", 1)]
        e.task = GuardEvent.KilledTask(command: "stress-ng", pid: 3131, uid: 1000, constraint: "CONSTRAINT_MEMCG",
                                       oomGroup: CgroupPath(path)!, taskGroup: CgroupPath(path + "/worker")!,
                                       anonRSS: 120 << 20, fileRSS: 4096, shmemRSS: 0)
        return e
    }

    static func max(_ path: String, at t: Timestamp, delta: UInt64 = 61) -> GuardEvent {
        var e = GuardEvent(kind: .max, time: t, cgroup: CgroupPath(path)!, cgroupID: 78)
        e.counters = [GuardEvent.CounterDelta("max", delta)]
        return e
    }

    static func observed(_ i: Int, at t: Timestamp) -> GuardEvent {
        var e = kill("/tenants.slice/x\(i)", at: t, candidates: 50)
        e.kind = .observed
        return e
    }
}

@Suite struct EventStoreSchemaTests {
    @Test func aNewStoreHasTheSchemaItsMigrationsAndWAL() throws {
        let dir = TempDir("cgwarden-store"); defer { dir.remove() }
        let store = try EventStore.openForWriting(directory: dir.path)
        #expect(store.version == EventStore.schemaVersion)
        #expect(try store.appliedMigrations().map(\.version) == [1, 2, 3])
        #expect(try store.database.integer("PRAGMA user_version") == Int64(EventStore.schemaVersion))
        let mode = try store.database.prepare("PRAGMA journal_mode")
        try mode.bind([])
        #expect(try mode.step() && mode.text(0) == "wal")
        // 2 = incremental: pruned pages go back to the file system.
        #expect(try store.database.integer("PRAGMA auto_vacuum") == 2)
    }

    @Test func everyFieldComesBackAsItWentIn() throws {
        let dir = TempDir("cgwarden-store"); defer { dir.remove() }
        let store = try EventStore.openForWriting(directory: dir.path)
        var kill = Sample.kill(at: Sample.time(10))
        // A name that is not UTF-8 and holds a newline, and counters at 2^64-1.
        kill.cgroup = CgroupPath(names: [CgroupName("t.slice"), CgroupName(bytes: [0x66, 0xff, 0x0a, 0x6f])])
        kill.memoryBefore = .max
        kill.cgroupID = .max
        let oom = Sample.oom(at: Sample.time(5))
        let started = GuardEvent(kind: .started, time: Sample.time(1), reason: "1 guard")
        // A pod named by its log directory (its name's bytes kept as they are), and one known by UID only.
        let uid = "8e6ed7a8-3b1d-4c36-a3d8-2f0b5a1c9e11"
        let podPath = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uid.replacingDashes).slice"
        var podKill = Sample.kill(podPath, at: Sample.time(3))
        podKill.pod = PodLabels(uid: uid, qos: .burstable, name: PodName(namespace: Array("shop".utf8), name: [0x77, 0x65, 0x62, 0xff]))
        var podOOM = Sample.oom(podPath, at: Sample.time(2))
        podOOM.pod = PodLabels(uid: uid, qos: .burstable, name: nil)
        let ids = try store.append([kill, oom, podKill, podOOM, started])
        #expect(ids.count == 5 && ids == ids.sorted())
        let back = try EventStore.openForReading(directory: dir.path).events(EventQuery())
        #expect(back.map(\.event) == [kill, oom, podKill, podOOM, started])
        #expect(back[2].event.json["pod_namespace"]?.stringValue == "shop" && back[2].event.json["pod_name"]?.stringValue == "web\\xff")
        #expect(back[3].event.json["pod_uid"]?.stringValue == uid && back[3].event.json["pod_name"] == .null)
        #expect(back.map(\.id) == ids)
        #expect(try store.event(id: ids[1])?.event.task?.command == "stress-ng")
        #expect(try store.event(id: ids[2])?.event.pod?.qualifiedName == "shop/web\\xff")
        #expect(try store.event(id: 999) == nil)
    }

    @Test func anOlderStoreIsMigratedAndKeepsItsEvents() throws {
        let dir = TempDir("cgwarden-store"); defer { dir.remove() }
        do {
            let old = try EventStore.openForWriting(directory: dir.path, upTo: 1)
            #expect(old.version == 1)
            // What a version-1 cgwarden wrote: no task columns, no counters table.
            try old.database.execute("""
                INSERT INTO events (time_ns, monotonic_ns, kind, guard, cgroup, cgroup_id, reason, processes)
                VALUES (1790000000000000000, 5, 'kill', 'tenants', CAST('tenants.slice/a' AS BLOB), 42, 'largest usage', 3);
                INSERT INTO candidates (event_id, position, path, cgroup_id, rank, score) VALUES (1, 0, CAST('tenants.slice/a' AS BLOB), 42, 1, 'usage 1.0M');
                """)
            // A reader of this version reads it as it is (no migration from a reader).
            let reader = try EventStore.openForReading(directory: dir.path)
            #expect(reader.version == 1)
            #expect(try reader.events(EventQuery()).first?.event.task == nil)
        }
        let store = try EventStore.openForWriting(directory: dir.path)
        #expect(store.version == EventStore.schemaVersion)
        #expect(try store.appliedMigrations().map(\.version) == [1, 2, 3])
        let old = try #require(try store.events(EventQuery()).first)
        #expect(old.event.kind == .kill && old.event.guardName == "tenants" && old.event.cgroup == CgroupPath("/tenants.slice/a"))
        #expect(old.event.candidates.map(\.score) == ["usage 1.0M"])
        try store.append([Sample.oom(at: Sample.time(1))])
        #expect(try store.events(EventQuery(kinds: [.oom])).first?.event.task?.pid == 3131)
    }

    @Test func aVersion2StoreGainsThePodColumnsAndItsEventsHaveNoPod() throws {
        let dir = TempDir("cgwarden-store"); defer { dir.remove() }
        do {
            let v2 = try EventStore.openForWriting(directory: dir.path, upTo: 2)
            // What a version-2 cgwarden wrote: the kernel's task, no pod columns.
            try v2.database.execute("""
                INSERT INTO events (time_ns, monotonic_ns, kind, cgroup, cgroup_id, task_command, task_pid)
                VALUES (1790000000000000000, 5, 'oom', CAST('tenants.slice/b' AS BLOB), 77, 'stress-ng', 3131);
                """)
            let reader = try EventStore.openForReading(directory: dir.path)
            #expect(reader.version == 2)
            #expect(try reader.events(EventQuery()).first?.event.pod == nil)
        }
        let store = try EventStore.openForWriting(directory: dir.path)
        #expect(store.version == 3)
        var kill = Sample.kill("/kubepods.slice/kubepods-podab12cd34_0000_4000_8000_000000000001.slice", at: Sample.time(1))
        kill.pod = PodLabels(uid: "ab12cd34-0000-4000-8000-000000000001", qos: KubernetesIdentity(path: kill.cgroup!)?.qos, name: PodName(namespace: "ns", name: "p"))
        try store.append([kill])
        let back = try store.events(EventQuery())
        #expect(back.map { $0.event.kind } == [.oom, .kill])
        #expect(back[0].event.pod == nil && back[0].event.task?.pid == 3131)
        #expect(back[1].event.pod == kill.pod)
    }

    @Test func aNewerStoreIsRefusedForWritingAndStillRead() throws {
        let dir = TempDir("cgwarden-store"); defer { dir.remove() }
        do {
            let store = try EventStore.openForWriting(directory: dir.path)
            try store.append([Sample.kill(at: Sample.time(1))])
            try store.database.execute("PRAGMA user_version = 7")
        }
        let newer = StoreError.newer(path: dir.path + "/events.db", found: 7, known: EventStore.schemaVersion)
        #expect(throws: newer) { try EventStore.openForWriting(directory: dir.path) }
        #expect("\(newer)".contains("schema version 7, this cgwarden knows versions up to 3: it was written by a newer cgwarden"))
        #expect(try EventStore.openForReading(directory: dir.path).events(EventQuery()).count == 1)
    }

    @Test func aMissingStoreIsSaidSo() {
        let dir = TempDir("cgwarden-store"); defer { dir.remove() }
        #expect(throws: StoreError.missing(path: dir.path + "/events.db")) { try EventStore.openForReading(directory: dir.path) }
    }

    @Test func queriesFilterByTimeKindIDAndLimit() throws {
        let dir = TempDir("cgwarden-store"); defer { dir.remove() }
        let store = try EventStore.openForWriting(directory: dir.path)
        let now = SystemClock().now().wallNanos
        try store.append([Sample.kill(at: Sample.time(7200, now: now)), Sample.oom(at: Sample.time(600, now: now)),
                          Sample.max("/tenants.slice/b", at: Sample.time(60, now: now)), Sample.kill(at: Sample.time(1, now: now))])
        #expect(try store.events(EventQuery(since: now - 3600 * 1_000_000_000)).count == 3)
        #expect(try store.events(EventQuery(until: now - 300 * 1_000_000_000)).map(\.event.kind) == [.kill, .oom])
        #expect(try store.events(EventQuery(kinds: [.kill])).count == 2)
        #expect(try store.events(EventQuery(kinds: [.oom, .max])).map(\.event.kind) == [.oom, .max])
        #expect(try store.events(EventQuery(afterID: 2)).map(\.id) == [3, 4])
        #expect(try store.events(EventQuery(limit: 2)).map(\.id) == [3, 4])
    }
}

@Suite struct RetentionTests {
    @Test func eventsOlderThanTheRetentionArePrunedInSmallTransactions() throws {
        let dir = TempDir("cgwarden-store"); defer { dir.remove() }
        let store = try EventStore.openForWriting(directory: dir.path)
        let now = SystemClock().now().wallNanos
        let old = (0..<45).map { Sample.max("/g\($0)", at: Sample.time(3 * 86_400 + UInt64($0), now: now)) }
        let recent = (0..<5).map { Sample.max("/r\($0)", at: Sample.time(UInt64($0) * 60, now: now)) }
        try store.append(old)
        try store.append(recent)
        let r = try store.prune(retention: .seconds(2 * 86_400), maxSize: nil, now: now, batch: 10)
        #expect(r.byAge == 45 && r.bySize == 0)
        #expect(r.transactions == 5, "10 rows a transaction")
        #expect(try store.events(EventQuery()).map(\.event.cgroup) == recent.map(\.cgroup))
        #expect(try store.quickCheck() == "ok")
    }

    @Test func aStoreOverItsSizeLosesItsOldestAndShrinks() throws {
        let dir = TempDir("cgwarden-store"); defer { dir.remove() }
        let store = try EventStore.openForWriting(directory: dir.path)
        let now = SystemClock().now().wallNanos
        // ~1,200 observations with 50 candidates each: several MiB.
        for chunk in 0..<12 {
            try store.append((0..<100).map { Sample.observed(chunk * 100 + $0, at: Sample.time(UInt64(1200 - chunk * 100 - $0), now: now)) })
        }
        let before = try store.usedBytes()
        let newest = try store.lastID()
        #expect(before > 2 << 20)
        let r = try store.prune(retention: .seconds(30 * 86_400), maxSize: 1 << 20, now: now)
        let after = try store.usedBytes()
        #expect(r.bySize > 0 && r.byAge == 0)
        #expect(after <= 1 << 20, "\(after) bytes used after pruning")
        #expect(r.transactions >= 2)
        // The newest are kept, in one run up to the last.
        let left = try store.events(EventQuery())
        #expect(left.last?.id == newest)
        #expect(left.map(\.id) == Array((newest - Int64(left.count) + 1)...newest))
        #expect(left.last?.event.candidates.count == 50)
        #expect(try store.quickCheck() == "ok")
        // The freed pages went back to the file system.
        #expect(try Paths.status(dir.path + "/events.db").size <= (1 << 20) + (256 << 10))
        print("store: \(left.count) of 1200 events kept, \(before) -> \(after) bytes in \(r.transactions) transactions")
    }
}

extension String {
    /// A pod UID as systemd's cgroup driver writes it in a slice name.
    var replacingDashes: String { String(map { $0 == "-" ? "_" : $0 }) }
}
