#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
@testable import CGWardenCommands
import CGWardenPolicy
import CGWardenService
import CGWardenStore
import CGWardenSystem
import CGWardenTestSupport

func cli(_ args: [String]) -> (code: Int32, out: String, err: String) {
    let c = CapturedConsole()
    let code = CGWardenCLI.run(args, console: c.console)
    return (code, c.stdout, c.stderr)
}

/// A store with a day of events: a kill two hours ago, the kernel's OOM kill
/// and a `max` burst within the hour, a pod's kill, a hostile name.
func sampleStore(_ state: String) throws -> [Int64] {
    mkdir(StateDirectory.storeDirectory(state), 0o750)
    let store = try EventStore.openForWriting(directory: StateDirectory.storeDirectory(state))
    let now = SystemClock().now().wallNanos
    var hostile = Sample.max("/tenants.slice", at: Sample.time(30, now: now))
    hostile.cgroup = CgroupPath(names: [CgroupName("tenants.slice"), CgroupName(bytes: Array("\u{1b}[31mred".utf8))])
    var pod = Sample.kill("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b.slice",
                          at: Sample.time(20, now: now))
    pod.pod = PodLabels(uid: "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b", qos: .besteffort, name: PodName(namespace: "shop", name: "web-0"))
    return try store.append([
        GuardEvent(kind: .started, time: Sample.time(3 * 3600, now: now), reason: "2 guards, own cgroup /system.slice/cgwarden.service"),
        Sample.kill(at: Sample.time(2 * 3600, now: now)),
        Sample.oom(at: Sample.time(600, now: now)),
        hostile,
        pod,
    ])
}

@Suite struct EventsCommandTests {
    @Test func theTableShowsEachEventInEightyColumnsNewestLast() throws {
        let tmp = TempDir("cgwarden-events"); defer { tmp.remove() }
        let ids = try sampleStore(tmp.path)
        let r = cli(["events", "--state-dir", tmp.path])
        #expect(r.code == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.count == 6)
        #expect(lines[0] == "    ID TIME           KIND       GROUP              DIED         MEMORY BY")
        for l in lines { #expect(l.count <= 80, "\(l.count) columns: \(l)") }
        #expect(lines[1].hasPrefix("     \(ids[0]) ") && lines[1].contains("started    guarding: 2 guards"))
        #expect(lines[2].contains(" kill       /tenants.slice/a   4 procs      110.0M cgwarden"), "\(lines[2])")
        #expect(lines[3].contains(" oom        /tenants.slice/b   stres…3131]  120.0M kernel"), "\(lines[3])")
        // An escape sequence in a name is shown escaped, never sent to the terminal.
        #expect(lines[4].contains("/tenants…1b[31mred") && !r.out.contains("\u{1b}"), "\(lines[4])")
        #expect(lines[4].contains("max +61"))
        #expect(lines[5].contains(" pod shop/web-0     4 procs"), "\(lines[5])")
    }

    @Test func filtersByTimeKindAndGroup() throws {
        let tmp = TempDir("cgwarden-events"); defer { tmp.remove() }
        _ = try sampleStore(tmp.path)
        func kinds(_ args: [String]) -> [String] {
            let r = cli(["events", "--state-dir", tmp.path, "--json"] + args)
            #expect(r.code == 0, "\(r.err)")
            return r.out.split(separator: "\n").compactMap { try? JSON.parse(String($0))["kind"]?.stringValue }
        }
        #expect(kinds([]) == ["started", "kill", "oom", "max", "kill"])
        #expect(kinds(["--since", "1h"]) == ["oom", "max", "kill"])
        #expect(kinds(["--until", "1h"]) == ["started", "kill"])
        #expect(kinds(["--kind", "kill"]) == ["kill", "kill"])
        #expect(kinds(["--kind", "oom,max"]) == ["oom", "max"])
        #expect(kinds(["--kind", "oom", "--kind", "started"]) == ["started", "oom"])
        #expect(kinds(["--cgroup", "/tenants.slice/*"]) == ["kill", "oom", "max"])
        #expect(kinds(["--cgroup", "/kubepods.slice/**", "--kind", "kill"]) == ["kill"])
        #expect(kinds(["--since", "2000-01-01T00:00Z", "--until", "2000-01-02"]) == [])
        let bad = cli(["events", "--state-dir", tmp.path, "--kind", "explosion"])
        #expect(bad.code == ExitStatus.usage && bad.err.contains("'explosion' is not one of"), "\(bad.err)")
        let badTime = cli(["events", "--state-dir", tmp.path, "--since", "yesterday"])
        #expect(badTime.code == ExitStatus.usage && badTime.err.contains("neither a duration"), "\(badTime.err)")
    }

    @Test func jsonLinesCarryTheEventIDAndEveryField() throws {
        let tmp = TempDir("cgwarden-events"); defer { tmp.remove() }
        let ids = try sampleStore(tmp.path)
        let r = cli(["events", "--state-dir", tmp.path, "--json", "--kind", "oom"])
        let j = try JSON.parse(String(r.out.split(separator: "\n")[0]))
        #expect(j["event_id"]?.int64Value == ids[2])
        #expect(j["actor"]?.stringValue == "kernel" && j["cgroup"]?.stringValue == "/tenants.slice/b")
        #expect(j["task"]?["command"]?.stringValue == "stress-ng" && j["task"]?["pid"]?.int64Value == 3131)
        #expect(j["counters"]?["oom_kill"]?.uint64Value == 1)
        #expect(j["message"]?.stringValue?.hasPrefix("the kernel: oom +1, oom_kill +1 in /tenants.slice/b") == true)
        #expect(j["pod_uid"] == .null && j["pod_name"] == .null)
        let pod = try JSON.parse(String(cli(["events", "--state-dir", tmp.path, "--json", "--cgroup", "/kubepods.slice/**"]).out
            .split(separator: "\n")[0]))
        #expect(pod["pod_uid"]?.stringValue == "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b")
        #expect(pod["pod_namespace"]?.stringValue == "shop" && pod["pod_name"]?.stringValue == "web-0")
        #expect(pod["message"]?.stringValue?.contains("(pod shop/web-0)") == true, "\(pod)")
        let shown = cli(["events", "show", String(ids[4]), "--state-dir", tmp.path]).out
        #expect(shown.contains("pod:           shop/web-0, uid 0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b (besteffort)"), "\(shown)")
    }

    @Test func showPrintsOneEventWholeWithItsCandidatesAndRecording() throws {
        let tmp = TempDir("cgwarden-events"); defer { tmp.remove() }
        let ids = try sampleStore(tmp.path)
        let r = cli(["events", "show", String(ids[1]), "--state-dir", tmp.path])
        #expect(r.code == 0, "\(r.err)")
        for expected in ["kind:          kill", "guard:         tenants", "cgroup:        /tenants.slice/a (id 4242)",
                         "trigger:       usage >= 80% of memory.max", "measured:      110.0M of 128.0M (86%)",
                         "method:        cgroup.kill", "processes:     4",
                         "recording:     /var/lib/cgwarden/recordings/kill-1.json",
                         "candidates (3, in rank order; excluded ones with why):",
                         "    1. /tenants.slice/c0 (id 100)  usage 100.0M",
                         "     - /tenants.slice/c2 (id 102)  usage 98.0M  excluded: protected"] {
            #expect(r.out.contains(expected), "missing '\(expected)' in:\n\(r.out)")
        }
        let none = cli(["events", "show", "999", "--state-dir", tmp.path])
        #expect(none.code == ExitStatus.failure && none.err.contains("no event 999"))
    }

    @Test func noStoreIsSaidPlainly() {
        let tmp = TempDir("cgwarden-events"); defer { tmp.remove() }
        let r = cli(["events", "--state-dir", tmp.path])
        #expect(r.code == ExitStatus.failure)
        #expect(r.err == "cgwarden: no event store at \(tmp.path)/events/events.db (cgwarden run records its events there; see --state-dir)\n")
    }

    /// `cgwarden events --follow` in a process of its own sees what this
    /// process commits, as it would see the daemon's commits.
    @Test func followSeesAnEventCommittedByAnotherWriter() throws {
        let tmp = TempDir("cgwarden-events"); defer { tmp.remove() }
        _ = try sampleStore(tmp.path)
        let out = tmp.path + "/follow.out"
        let follower = try Child(["/bin/sh", "-c", "exec '\(cgwardenBinary)' events --follow --json --follow-for 4 --kind kill,oom "
                                  + "--state-dir '\(tmp.path)' > '\(out)'"])
        // Its first lines: what was there.
        #expect(waitUntil(seconds: 10) { (readFile(out) ?? "").split(separator: "\n").count == 3 })
        let writer = try EventStore.openForWriting(directory: StateDirectory.storeDirectory(tmp.path))
        try writer.append([Sample.max("/skipped", at: Sample.time(0))])
        let id = try writer.append([Sample.oom("/tenants.slice/late", at: Sample.time(0))])[0]
        #expect(follower.wait(seconds: 20) == .exited(0))
        let lines = (readFile(out) ?? "").split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
        #expect(lines.count == 4, "\(readFile(out) ?? "")")
        #expect(lines.last?["event_id"]?.int64Value == id && lines.last?["cgroup"]?.stringValue == "/tenants.slice/late")
    }

    @Test func statusShowsEachGroupsOOMEventsOfTheLastDay() throws {
        let t = FixtureTree()
        var g = FixtureGroup()
        g.current = "1048576"
        t.add("/tenants.slice", g)
        t.add("/tenants.slice/a", g)
        t.add("/tenants.slice/b", g)
        let state = TempDir("cgwarden-status"); defer { state.remove() }
        let plain = cli(["status", "--root", t.root, "--proc", t.proc, "--state-dir", state.path])
        #expect(plain.code == 0 && plain.err.isEmpty && !plain.out.contains("last 24h"), "no store: nothing")
        // An earlier version's store, at the top of the state directory, is read too.
        let store = try EventStore.openForWriting(directory: state.path)
        try store.append([Sample.kill("/tenants.slice/a", at: Sample.time(2 * 86_400)), Sample.kill("/tenants.slice/a", at: Sample.time(3600)),
                          Sample.oom("/tenants.slice/a", at: Sample.time(60)), Sample.oom("/tenants.slice/a", at: Sample.time(30)),
                          Sample.observed(1, at: Sample.time(10))])
        let r = cli(["status", "--root", t.root, "--proc", t.proc, "--state-dir", state.path])
        #expect(r.code == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n").map(String.init)
        let a = try #require(lines.firstIndex { $0.contains("─ a ") })
        #expect(lines[a + 1].hasSuffix("last 24h: 2 oom, 1 kill (last \(EventsView.time(Sample.time(30).wallNanos)))"), "\(r.out)")
        #expect(lines.filter { $0.contains("last 24h") }.count == 1, "only a has OOM events:\n\(r.out)")
    }

    @Test func timesAreDurationsBackOrCalendarTimes() {
        let now: UInt64 = 1_790_000_000_000_000_000
        #expect(TimeSpec.parse("2h", now: now) == now - 7_200_000_000_000)
        #expect(TimeSpec.parse("7d", now: now) == now - 7 * 86_400_000_000_000)
        #expect(TimeSpec.parse("2026-12-01T10:00Z", now: now) == 1_796_119_200_000_000_000)
        #expect(TimeSpec.parse("2026-12-01 10:00:30Z", now: now) == 1_796_119_230_000_000_000)
        #expect(TimeSpec.parse("2026-12-01Z", now: now) == 1_796_083_200_000_000_000)
        for bad in ["", "2026-02-30", "2026-12-01T25:00", "2026-1-01", "10:00", "2026-12-01T10", "soon", "-2h", "1969-12-31"] {
            #expect(TimeSpec.parse(bad, now: now) == nil, "\(bad)")
        }
    }
}

@Suite struct EventsConfigTests {
    func load(_ text: String) throws(ConfigErrors) -> Config { try ConfigLoader.load([(name: "c.toml", text: text)]) }

    @Test func theEventsTableSetsRetentionAndSize() throws {
        let c = try load("[events]\nretention = \"7d\"\nmax_size = \"16M\"\n")
        #expect(c.events.retention == .seconds(7 * 86_400) && c.events.maxSize == 16 << 20)
        let d = try load("")
        #expect(d.events.retention == .seconds(30 * 86_400) && d.events.maxSize == 64 << 20)
    }

    @Test func itsErrorsNameFileLineAndColumn() {
        #expect(throws: ConfigErrors.self) { try load("[events]\nretention = \"30\"\n") }
        do {
            _ = try load("[events]\nretention = \"10m\"\nmax_size = \"100K\"\nmax_sise = 1\n")
            Issue.record("accepted")
        } catch {
            #expect(error.errors.map(\.description) == [
                "c.toml:2:13: events.retention: must be at least 1h (the store is a history; max_size bounds its size)",
                "c.toml:3:12: events.max_size: must be at least 1M (a kill with its candidates is about 10 KiB, and SQLite needs pages of its own)",
                "c.toml:4:1: events: max_sise: unknown key (did you mean 'max_size'?)",
            ])
        }
        do {
            _ = try load("events = 3\n")
            Issue.record("accepted")
        } catch {
            #expect(error.errors.map(\.description) == ["c.toml:1:10: events: must be a table, not an integer"])
        }
    }
}
