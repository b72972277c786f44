#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
import CGWardenTestSupport

/// `cgwarden events --json` as an operator runs it (root, reading the store
/// the daemon's user writes): its events, oldest first.
func storedEvents(_ stateDirectory: String, _ arguments: [String] = []) -> [JSON] {
    guard let r = try? run([cgwardenBinary, "events", "--json", "--state-dir", stateDirectory] + arguments),
          r.status == .exited(0) else { return [] }
    return r.stdout.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
}

func wallNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// The event history on the real kernel: the daemon records while it guards,
/// survives a `kill -9`, and keeps guarding when it cannot record.
@Suite(.serialized, .enabled(if: KernelEnvironment.shouldRun, Comment(rawValue: KernelEnvironment.skipReason)))
struct EventStoreKernelTests {

    @Test func aKillAppearsInTheEventHistoryWithItsGuardTriggerAndCandidates() throws {
        let g = try TestCgroup("store-kill")
        try g.child("big")
        try g.child("small")
        let small = try sleepers(g.dir + "/small", 2)
        let daemon = try DaemonRun("store-kill", config: """
            [[guard]]
            name = "jobs"
            match = "\(g.path)"
            candidates = "children"
            post_action_delay = "5s"
            [[guard.trigger]]
            usage_above = "40M"
            """)
        try daemon.started()
        let load = try allocate(g.dir + "/big", mib: 64)
        let kill = try #require(daemon.waitFor("kill", seconds: 90) { $0.cgroup == g.path + "/big" }, "no kill:\n\(daemon.log)")
        #expect(load.wait(seconds: 30) == .signaled(SIGKILL))
        // Committed at once: there within a few seconds, as the operator reads it.
        var stored: JSON?
        _ = waitUntil(seconds: 10) {
            stored = storedEvents(daemon.stateDirectory, ["--kind", "kill"]).last
            return stored != nil
        }
        let s = try #require(stored, "no kill in the store:\n\(daemon.log)")
        #expect(s["guard"]?.stringValue == "jobs" && s["cgroup"]?.stringValue == g.path + "/big")
        #expect(s["trigger"]?.stringValue == "usage >= 40.0M" && s["trigger"] == kill["trigger"], "\(s)")
        #expect(s["measured"] == kill["measured"] && s["measured"]?.stringValue?.isEmpty == false, "\(s)")
        #expect(s["method"]?.stringValue == "cgroup.kill" && s["time_ns"] == kill["time_ns"])
        let candidates = s["candidates"]?.arrayValue ?? []
        #expect(candidates.first?["path"]?.stringValue == g.path + "/big" && candidates.first?["rank"]?.int64Value == 1, "\(s)")
        #expect(candidates.contains { $0["path"]?.stringValue == g.path + "/small" }, "\(s)")
        // One event whole, and the table.
        let id = try #require(s["event_id"]?.int64Value)
        let show = try run([cgwardenBinary, "events", "show", String(id), "--state-dir", daemon.stateDirectory])
        #expect(show.status == .exited(0), "\(show.stderr)")
        for expected in ["guard:", "jobs", "trigger:", "usage >= 40.0M", "candidates (\(candidates.count), in rank order",
                         "1. \(g.path)/big (id "] {
            #expect(show.stdout.contains(expected), "missing '\(expected)':\n\(show.stdout)")
        }
        let table = try run([cgwardenBinary, "events", "--state-dir", daemon.stateDirectory])
        #expect(table.stdout.split(separator: "\n").contains { $0.contains(" kill ") && $0.hasSuffix("cgwarden") }, "\(table.stdout)")
        #expect(small.isRunning)
        #expect(daemon.stop().status == .exited(0), "\(daemon.log)")
        print("events e2e kill: \(candidates.count) candidates stored with the kill; show:\n\(show.stdout)")
    }

    /// `kill -9` in the middle of a burst of events (ten observing guards
    /// reporting ten times a second), then a restart on the same store.
    @Test func aKillNineInABurstLosesNothingCommittedAndTheGuardResumes() throws {
        let g = try TestCgroup("store-burst")
        try g.child("load")
        let load = try allocate(g.dir + "/load", mib: 8)
        defer { _ = load }
        guard waitUntil(seconds: 60, { (g.number("load/memory.current") ?? 0) >= 8 << 20 }) else {
            throw KernelTestError("the load did not grow")
        }
        let guards = (0..<10).map { i in
            """
            [[guard]]
            name = "watch\(i)"
            match = "\(g.path)/*"
            mode = "observe"
            post_action_delay = "0s"
            [[guard.trigger]]
            usage_above = "4M"
            """
        }
        let config = "[daemon]\ninterval = \"100ms\"\n\n" + guards.joined(separator: "\n\n")
        let state = "/tmp/cgwarden-state-burst-\(getpid())"
        removeTree(state)
        defer { removeTree(state) }
        let first = try DaemonRun("burst1", config: config, arguments: ["--state-dir", state])
        try first.started()
        #expect(waitUntil(seconds: 60) { first.events("observed").count >= 300 }, "\(first.events("observed").count) observations")
        // What is committed now, then kill -9 while it keeps reporting.
        let before = storedEvents(state)
        let killedAt = wallNanos()
        first.signal(SIGKILL)
        #expect(waitUntil(seconds: 10) { first.exited })
        usleep(500_000)
        let printed = first.events("observed")

        let second = try DaemonRun("burst2", config: config, arguments: ["--state-dir", state])
        try second.started()
        let resumed = second.eventCount
        #expect(second.waitFor("observed", seconds: 30, after: resumed) != nil)
        var after: [JSON] = []
        #expect(waitUntil(seconds: 20) {
            after = storedEvents(state)
            return after.contains { $0.kind == "observed" && ($0["time_ns"]?.uint64Value ?? 0) > killedAt }
        }, "the second daemon's events are not in the store")

        // Nothing that was committed is lost: the same ids, the same events.
        let byID = Dictionary(after.compactMap { e in e["event_id"]?.int64Value.map { ($0, e) } }, uniquingKeysWith: { a, _ in a })
        let lost = before.filter { e in byID[e["event_id"]?.int64Value ?? -1] != e }
        #expect(!before.isEmpty && lost.isEmpty, "\(lost.count) of \(before.count) committed events changed or lost")
        // At most the last second: every event printed more than 2 s before
        // the kill (1 s, and a margin for the emulated VM) is in the store.
        func key(_ e: JSON) -> String {
            "\(e.kind ?? "") \(e["time_ns"]?.uint64Value ?? 0) \(e["guard"]?.stringValue ?? "")"
        }
        let stored = Set(after.map(key))
        let old = printed.filter { ($0["time_ns"]?.uint64Value ?? 0) + 2_000_000_000 < killedAt }
        let missing = old.filter { !stored.contains(key($0)) }
        #expect(!old.isEmpty && missing.isEmpty, "\(missing.count) of \(old.count) events older than 2 s lost")
        let unrecorded = printed.filter { !stored.contains(key($0)) }
        let newestLost = unrecorded.compactMap { $0["time_ns"]?.uint64Value }.min().map { Double(killedAt - min(killedAt, $0)) / 1e9 }
        // The store opened as it was (no problem with it), and the guard goes on.
        let storeProblems = (first.events("problem") + second.events("problem")).filter {
            $0["reason"]?.stringValue?.contains("event store") == true
        }
        #expect(storeProblems.isEmpty, "\(storeProblems)")
        #expect(after.filter { $0.kind == "started" }.count == 2)
        let ids = after.compactMap { $0["event_id"]?.int64Value }
        #expect(ids == ids.sorted() && Set(ids).count == ids.count)
        print("events e2e kill -9: \(printed.count) observations printed, \(before.count) events committed when read before "
              + "the kill, all kept; \(unrecorded.count) printed but not committed (the oldest \(newestLost.map { String($0) } ?? "-") s "
              + "before the kill); \(after.count) events after the restart")
        #expect(second.stop().status == .exited(0), "\(second.log)")
    }

    /// A state directory on a read-only file system, or on a full one (a
    /// small tmpfs): the guard kills what it must and says once that it
    /// cannot record.
    @Test(arguments: ["read-only", "full"])
    func aStateDirectoryThatCannotBeWrittenIsSaidOnceAndTheGuardStillKills(_ how: String) throws {
        let mountPoint = "/tmp/cgwarden-state-\(how)-\(getpid())"
        mkdir(mountPoint, 0o755)
        let flags = how == "read-only" ? UInt(MS_RDONLY) : 0
        guard mount("tmpfs", mountPoint, "tmpfs", flags, "size=1m,mode=0777") == 0 else {
            throw KernelTestError("mount tmpfs on \(mountPoint): \(String(cString: strerror(errno)))")
        }
        defer {
            umount2(mountPoint, Int32(MNT_DETACH))
            rmdir(mountPoint)
        }
        if how == "full" {
            let fd = open(mountPoint + "/filler", O_WRONLY | O_CREAT, 0o644)
            let chunk = [UInt8](repeating: 0x5a, count: 4096)
            while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
            close(fd)
        }
        let g = try TestCgroup("store-\(how)")
        try g.child("job")
        let daemon = try DaemonRun("store-\(how)", config: """
            [[guard]]
            name = "jobs"
            match = "\(g.path)/*"
            post_action_delay = "2s"
            [[guard.trigger]]
            usage_above = "32M"
            """, arguments: ["--state-dir", mountPoint])
        try daemon.started()
        let load = try allocate(g.dir + "/job", mib: 48)
        let kill = try #require(daemon.waitFor("kill", seconds: 90) { $0.cgroup == g.path + "/job" }, "no kill:\n\(daemon.log)")
        #expect(load.wait(seconds: 30) == .signaled(SIGKILL))
        // Two more retries of the store (every 5 s) pass: still said once.
        sleep(11)
        let problems = daemon.events("problem").filter { $0["reason"]?.stringValue?.contains("event store") == true }
        #expect(problems.count == 1, "\(problems)")
        #expect(problems.first?["reason"]?.stringValue?.contains("cannot record events") == true, "\(problems)")
        let stop = daemon.stop()
        #expect(stop.status == .exited(0), "\(daemon.log)")
        #expect(stop.seconds < 2, "SIGTERM took \(stop.seconds) s")
        print("events e2e \(how): killed in \(millis(kill["duration_ns"]?.uint64Value ?? 0)); said once: "
              + "\(problems.first?["reason"]?.stringValue ?? "-")")
    }
}
