#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
import CGWardenTestSupport

/// The group-level OOM history on the real kernel: the kernel's own OOM
/// kills as events of the group where they happened, with the task from
/// /dev/kmsg; a kill by cgwarden with a flight recording that replays.
@Suite(.serialized, .enabled(if: KernelEnvironment.shouldRun, Comment(rawValue: KernelEnvironment.skipReason)))
struct OOMHistoryKernelTests {
    /// A state directory of the test's own (the recordings go there).
    static func stateDirectory(_ name: String) -> String { "/tmp/cgwarden-state-\(name)-\(getpid())" }

    /// A bounded allocator in a group with a 32M memory.max is OOM-killed by
    /// the kernel three times (started again each time); the group is
    /// removed at once after the third, as a service manager does.
    @Test func theKernelsOOMKillsAreEventsOfTheirGroupWithTheTask() throws {
        let g = try TestCgroup("run-oom")
        try g.child("a")
        try g.write("a/memory.max", "32M")
        try g.write("a/memory.swap.max", "0")
        try g.child("quiet")
        let state = OOMHistoryKernelTests.stateDirectory("oom")
        defer { removeTree(state) }
        // A guard that never fires: the kernel acts alone here.
        let daemon = try DaemonRun("oom", config: """
            [[guard]]
            name = "quiet"
            match = "\(g.path)/quiet"
            [[guard.trigger]]
            usage_above = "1G"
            """, arguments: ["--state-dir", state])
        try daemon.started()
        let path = g.path + "/a"
        var events: [JSON] = []
        var removedIn: Double?
        for round in 1...3 {
            let mark = daemon.eventCount
            let load = try allocate(g.dir + "/a", mib: 64, step: 4)
            #expect(load.wait(seconds: 60) == .signaled(SIGKILL), "round \(round): the kernel did not kill the allocator")
            if round == 3 {
                // Removed as soon as it is empty: its counters go with it.
                let t0 = monotonicSeconds()
                #expect(waitUntil(seconds: 10) { rmdir(g.dir + "/a") == 0 }, "rmdir: \(String(cString: strerror(errno)))")
                removedIn = monotonicSeconds() - t0
            }
            let e = try #require(daemon.waitFor("oom", seconds: 30, after: mark) { $0.cgroup == path },
                                 "round \(round): no oom event for \(path):\n\(daemon.log)")
            events.append(e)
        }
        // Nothing more comes for the group (each kill is one event).
        usleep(3_000_000)
        let all = daemon.events("oom").filter { $0.cgroup == path }
        #expect(all.count == 3, "\(all.map { $0["message"]?.stringValue ?? "" })")
        let id = events[0]["id"]?.uint64Value
        #expect(id != nil && events[1]["id"]?.uint64Value == id)
        for (i, e) in events.enumerated() {
            let task = try #require(e["task"], "event \(i + 1) has no task: \(e)")
            #expect(task["command"]?.stringValue == "cgwarden-testlo", "\(e)")
            #expect(task["task_memcg"]?.stringValue == path && task["oom_memcg"]?.stringValue == path)
            #expect(task["constraint"]?.stringValue == "CONSTRAINT_MEMCG")
            // It held most of the 32M when it died.
            let anon = task["anon_rss"]?.uint64Value ?? 0
            #expect(anon >= 16 << 20 && anon <= 33 << 20, "anon-rss \(anon)")
            #expect(task["pid"]?.int64Value ?? 0 > 0)
            #expect(e["actor"]?.stringValue == "kernel")
        }
        #expect(events[0]["counters"]?["oom_kill"]?.uint64Value == 1 && events[1]["counters"]?["oom_kill"]?.uint64Value == 1)
        #expect(daemon.events("kill").isEmpty, "cgwarden killed something")
        let pids = events.compactMap { $0["task"]?["pid"]?.int64Value }
        #expect(Set(pids).count == 3)
        // As the operator reads them, with the group gone: `cgwarden events`.
        var stored: [JSON] = []
        _ = waitUntil(seconds: 10) {
            stored = storedEvents(state, ["--kind", "oom", "--cgroup", path])
            return stored.count == 3
        }
        #expect(stored.count == 3, "\(stored.map { $0["message"]?.stringValue ?? "" })")
        #expect(stored.compactMap { $0["task"]?["pid"]?.int64Value } == pids)
        #expect(stored.allSatisfy { $0["task"]?["command"]?.stringValue == "cgwarden-testlo" && $0["actor"]?.stringValue == "kernel" })
        #expect(stored.map { $0["task"]?["anon_rss"] } == events.map { $0["task"]?["anon_rss"] })
        let third = events[2]
        print("run e2e oom history: 3 kernel OOM kills in \(path): "
              + events.map { "\($0["task"]?["command"]?.stringValue ?? "?") pid \($0["task"]?["pid"]?.int64Value ?? 0) "
                  + "\(mib(Int64($0["task"]?["anon_rss"]?.uint64Value ?? 0))) anon, counters \($0["counters"].map { $0.serialized() } ?? "-")" }
                .joined(separator: "; ")
              + "; the third removed \(Int((removedIn ?? 0) * 1000)) ms after the allocator died: "
              + (third["counters"]?["oom_kill"]?.uint64Value == 1 ? "its counters were read before the removal"
                 : "its counters were gone, told by the kernel log alone (id \(third["id"]?.uint64Value.map(String.init) ?? "none"))"))
        #expect(daemon.stop().status == .exited(0))
    }

    /// A kill by cgwarden writes the flight recorder's last minutes beside
    /// it; `explain --replay` on that file, with the same configuration,
    /// reaches the same victim.
    @Test func aKillsFlightRecordingReplaysToTheSameVictim() throws {
        let g = try TestCgroup("run-flight")
        try g.child("job")
        try g.child("other")
        let state = OOMHistoryKernelTests.stateDirectory("flight")
        defer { removeTree(state) }
        let other = try allocate(g.dir + "/other", mib: 8)
        let daemon = try DaemonRun("flight", config: """
            [events]
            flight_recorder = "2m"
            [[guard]]
            name = "jobs"
            match = "\(g.path)/*"
            post_action_delay = "5s"
            [[guard.trigger]]
            usage_above = "32M"
            for = "1s"
            """, arguments: ["--state-dir", state])
        try daemon.started()
        let load = try allocate(g.dir + "/job", mib: 48, step: 8, intervalMillis: 200)
        let kill = try #require(daemon.waitFor("kill", seconds: 90) { $0.cgroup == g.path + "/job" }, "no kill:\n\(daemon.log)")
        #expect(load.wait(seconds: 30) == .signaled(SIGKILL))
        let recording = try #require(kill["recording"]?.stringValue, "the kill has no recording: \(kill)")
        #expect(recording.hasPrefix(state + "/recordings/kill-") && recording.hasSuffix("-\(kill["id"]?.uint64Value ?? 0).jsonl"))
        // Written on a thread of its own, renamed when whole.
        #expect(waitUntil(seconds: 30) { access(recording, R_OK) == 0 }, "\(recording) was not written:\n\(daemon.log)")
        var st = stat()
        _ = stat(recording, &st)
        #expect(st.st_uid != 0, "the recording is the daemon's user's")
        // The store has the kill with the recording's path, as `events show` prints it.
        var stored: JSON?
        _ = waitUntil(seconds: 10) {
            stored = storedEvents(state, ["--kind", "kill"]).last
            return stored != nil
        }
        #expect(stored?["recording"]?.stringValue == recording, "\(stored.map { $0.serialized() } ?? "no kill in the store")")
        if let id = stored?["event_id"]?.int64Value {
            let shown = try cgwarden(["events", "show", String(id), "--state-dir", state])
            #expect(shown.stdout.contains("recording:") && shown.stdout.contains("cgwarden explain --replay " + recording), "\(shown.stdout)")
        }
        let replay = try cgwarden(["explain", "--replay", recording, "--config", daemon.configPath, "--json"])
        #expect(replay.status == .exited(0), "\(replay.stderr)")
        let doc = try JSON.parse(replay.stdout)
        let decisions = try #require(doc["decisions"]?.arrayValue)
        let last = try #require(decisions.last, "the replay makes no decision: \(replay.stdout.prefix(2000))")
        #expect(last["victim"]?["path"]?.stringValue == kill.cgroup)
        #expect(last["victim"]?["id"]?.uint64Value == kill["id"]?.uint64Value)
        #expect(decisions.count == 1, "\(decisions.count) kills in the replay")
        let snapshots = doc["snapshots"]?.int64Value ?? 0
        #expect(snapshots >= 2)
        print("run e2e flight recording: \(recording): \(snapshots) snapshots, \(st.st_size) bytes; the replay kills "
              + "\(last["victim"]?["path"]?.stringValue ?? "-") as the daemon did")
        #expect(other.isRunning)
        #expect(daemon.stop().status == .exited(0))
    }
}
