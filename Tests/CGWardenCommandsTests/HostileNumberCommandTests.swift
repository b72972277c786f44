import Testing
import CGWardenCore
@testable import CGWardenCommands
import CGWardenTestSupport

// Fixture trees whose every counter is 2^64-1, 2^63 or 0, read by the real
// walker and shown by the real commands: exit 0, never a trap.

private let max64 = "18446744073709551615"
private let twoTo63 = "9223372036854775808"

/// A node where MemTotal is near 2^64 and one tenant's every figure is `v`.
private func extremeNode(_ v: String) -> FixtureTree {
    let t = FixtureTree()
    // 2^54-1 kB: the largest MemTotal that fits in 64 bits of bytes.
    writeFile(t.proc + "/meminfo", """
        MemTotal:       18014398509481983 kB
        MemAvailable:   \(v == "0" ? "0" : "18014398509481983") kB
        SwapTotal:      18014398509481983 kB
        SwapFree:       0 kB

        """)
    writeFile(t.proc + "/vmstat", "nr_free_pages 0\noom_kill \(v)\n")
    writeFile(t.proc + "/pressure/memory", "some avg10=100.00 avg60=100.00 avg300=100.00 total=\(v)\nfull avg10=100.00 avg60=100.00 avg300=100.00 total=\(v)\n")
    t.add("/t.slice")
    var g = FixtureGroup()
    g.current = v
    g.max = v
    g.high = v
    g.low = v
    g.min = v
    g.peak = v
    g.swapCurrent = v
    g.swapMax = v
    g.events = "low \(v)\nhigh \(v)\nmax \(v)\noom \(v)\noom_kill \(v)\noom_group_kill \(v)\n"
    g.eventsLocal = g.events
    g.pressure = "some avg10=100.00 avg60=100.00 avg300=100.00 total=\(v)\nfull avg10=100.00 avg60=100.00 avg300=100.00 total=\(v)\n"
    g.procs = [4242]
    let d = t.add("/t.slice/a.slice", g)
    writeFile(d + "/memory.stat", "anon \(v)\nfile \(v)\nshmem \(v)\nkernel \(v)\n")
    var b = FixtureGroup()
    b.current = "1048576"
    b.swapCurrent = v
    b.procs = [4243]
    t.add("/t.slice/b.slice", b)
    t.addProcess(pid: 4242, command: "forged", rssPages: UInt64(v)!, oomScore: 1000, oomScoreAdj: 1000)
    return t
}

/// Every trigger of the configuration language, one guard per rank key.
private func everythingConfig(_ dir: TempDir) -> String {
    var text = ""
    for rank in ["usage", "usage_above_protection", "growth", "pressure", "swap"] {
        text += """
            [[guard]]
            name = "\(rank)"
            match = "/t.slice/*"
            rank = "\(rank)"
            [[guard.trigger]]
            usage_of_limit = "1%"
            count = "unreclaimable"
            [[guard.trigger]]
            usage_of_limit = "1%"
            limit = "high"
            [[guard.trigger]]
            usage_above = "1M"
            [[guard.trigger]]
            pressure_above = "1%"
            [[guard.trigger]]
            node_available_below = "100%"
            [[guard.trigger]]
            node_swap_free_below = "3%"
            [[guard.trigger]]
            node_pressure_above = "1%"
            [[guard.trigger]]
            events_per_second_above = 1.0
            [[guard.trigger]]
            oom_kill = true

            """
    }
    writeFile(dir.path + "/everything.toml", text)
    return dir.path + "/everything.toml"
}

@Suite struct HostileNumberCommandTests {
    static let values = [max64, twoTo63, "0"]

    @Test(arguments: values)
    func statusInEveryForm(v: String) throws {
        let t = extremeNode(v)
        for extra in [[], ["--json"], ["--procs"], ["--procs", "--json"], ["--sort", "current"], ["--sort", "percent"],
                      ["--sort", "oom"], ["--sort", "pressure"]] {
            let r = runCLI(["status", "--root", t.root, "--proc", t.proc] + extra)
            #expect(r.code == 0, "status \(extra)")
            #expect(r.err == "", "status \(extra)")
            if extra.contains("--json") { _ = try JSON.parse(r.out) }
        }
    }

    @Test func statusRowsOfTheTop() {
        let t = extremeNode(max64)
        let r = runCLI(["status", "/t.slice", "--root", t.root, "--proc", t.proc, "--procs"])
        #expect(r.code == 0)
        let lines = r.out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "node: memory 0 used of 16.0E (16.0E available), swap 16.0E of 16.0E")
        #expect(lines[1] == "      pressure some 100.00% full 100.00% (avg10), OOM kills since boot \(max64)")
        #expect(lines.contains("├─ a.slice                         16.0E   16.0E 100%   16.0E  16.0E 100.0 100.0"))
        #expect(lines.contains("└─ b.slice                          1.0M     max    -       -  16.0E  0.00  0.00"))
        // The rows keep their 80 columns (the node summary and the events lines grow with the counters).
        #expect(lines.dropFirst(3).allSatisfy { $0.count <= 80 || $0.contains("events: ") })
        #expect(lines.contains("│     pid    4242  forged          rss   16.0E  oom_score 1000 adj 1000"))
    }

    /// The shipped default configuration trapped on a memory.stat whose
    /// anon + shmem + kernel passes 2^64; so did `rank = "swap"` on swap at
    /// 2^64-1 and a percentage of a MemTotal near 2^64.
    @Test(arguments: values)
    func explainWithTheShippedDefaultAndEveryTrigger(v: String) throws {
        let t = extremeNode(v), dir = TempDir()
        defer { dir.remove() }
        let shipped = repositoryRoot() + "/Configs/cgwarden.toml"
        for cfg in [shipped, everythingConfig(dir)] {
            for extra in [[], ["--json"], ["--verbose"], ["--samples", "2", "--every", "10ms"]] {
                let r = runCLI(["explain", "--config", cfg, "--root", t.root, "--proc", t.proc] + extra)
                #expect(r.code == 0, "explain \(cfg) \(extra)")
                #expect(r.err == "", "explain \(cfg) \(extra)")
                if extra.contains("--json") { _ = try JSON.parse(r.out) }
            }
        }
    }

    @Test func explainRanksSwapAtTheTop() {
        let t = extremeNode(max64), dir = TempDir()
        defer { dir.remove() }
        writeFile(dir.path + "/swap.toml", """
            [[guard]]
            name = "swap"
            match = "/t.slice/*"
            rank = "swap"
            [[guard.trigger]]
            usage_above = "1"
            """)
        let r = runCLI(["explain", "--config", dir.path + "/swap.toml", "--root", t.root, "--proc", t.proc])
        #expect(r.code == 0)
        #expect(r.out.contains("    1. /t.slice/a.slice  swap 16.0E"))
        #expect(r.out.contains("    2. /t.slice/b.slice  swap 16.0E"))
    }

    /// A recording whose counters go backwards (a group recreated at the same
    /// path, a forged file), and jump a whole 64-bit range in a nanosecond.
    @Test func replayOfCountersGoingBackwards() throws {
        let dir = TempDir()
        defer { dir.remove() }
        func line(_ t: UInt64, id: UInt64, _ v: String) -> String {
            """
            {"time": {"monotonic_ns": \(t), "wall_ns": \(t)}, "root": "/sys/fs/cgroup",
             "system": {"mem_total": \(max64), "mem_available": \(v), "swap_total": 0, "swap_free": 0, "oom_kill": \(v)},
             "cgroups": [{"path": "/", "id": 1, "memory": null},
               {"path": "/t", "id": \(id), "nr_procs": 1, "populated": true,
               "memory": {"current": \(v), "max": \(v == "0" ? "1" : v), "high": null, "low": 0, "min": 0, "peak": \(v),
                          "swap_current": \(v), "swap_max": null},
               "events": {"low": 0, "high": \(v), "max": \(v), "oom": \(v), "oom_kill": \(v)},
               "stat": {"anon": \(v), "file": 0, "shmem": \(v), "kernel": \(v)},
               "pressure": {"some": {"avg10": 100, "avg60": 0, "avg300": 0, "total": \(v)}, "full": null}}]}
            """.split(separator: "\n").joined()
        }
        let lines = ["{\"cgwarden_recording\": 1, \"root\": \"/sys/fs/cgroup\", \"interval_ns\": 1}",
                     line(0, id: 2, max64), line(1, id: 2, "0"), line(2, id: 2, max64), line(3, id: 3, "0"),
                     line(UInt64.max - 1, id: 3, max64), line(UInt64.max, id: 3, twoTo63)]
        writeFile(dir.path + "/r.jsonl", lines.joined(separator: "\n") + "\n")
        writeFile(dir.path + "/g.toml", """
            [[guard]]
            name = "growth"
            match = "/t"
            candidates = "self"
            rank = "growth"
            post_action_delay = "1s"
            [[guard.trigger]]
            events_per_second_above = 1.0
            """)
        let r = runCLI(["explain", "--replay", dir.path + "/r.jsonl", "--config", dir.path + "/g.toml"])
        #expect(r.code == 0)
        #expect(r.err == "")
        let out = r.out.split(separator: "\n").map(String.init)
        #expect(out[0].hasSuffix(": 6 snapshots, 1970-01-01T00:00:00.000Z to 2554-07-21T23:34:33.709Z (18446744073.7s), configuration \(dir.path)/g.toml"))
        // At 2 ns, max rose 0 -> 2^64-1 in 1 ns: the guard fires, but id 2 has been seen for 2 ns,
        // its growth is not known, and the guard waits (it is gone at 3 ns). The group recreated at
        // /t (id 3): its own counters, rates over 2^64-4 ns; at the end of time it is already killed.
        #expect(out[1] == "2554-07-21T23:34:33.709Z (+18446744073.7s): kill /t (id 3), guard 'growth'")
        #expect(out[2] == "  why: guard 'growth' fired on /t: memory.events max rising >= 1/s (max +1000000000/s); ranked first by growth +953.7M/s")
        #expect(out.count == 3)
        let j = runCLI(["explain", "--replay", dir.path + "/r.jsonl", "--config", dir.path + "/g.toml", "--json"])
        #expect(j.code == 0)
        _ = try JSON.parse(j.out)
    }
}
