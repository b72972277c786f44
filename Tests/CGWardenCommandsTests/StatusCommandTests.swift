import Testing
import CGWardenCore
@testable import CGWardenCommands
import CGWardenTestSupport

func runCLI(_ args: [String]) -> (code: Int32, out: String, err: String) {
    let c = CapturedConsole()
    let code = CGWardenCLI.run(args, console: c.console)
    return (code, c.stdout, c.stderr)
}

/// A node with two tenants (one at its limit and OOM-killed) and a Kubernetes pod.
func sampleNode() -> FixtureTree {
    let t = FixtureTree(memTotalKB: 2_097_152, memAvailableKB: 1_048_576, oomKill: 2)
    var tenants = FixtureGroup()
    tenants.current = "201326592"
    tenants.events = FixtureGroup.events(max: 61, oom: 1, oomKill: 1)
    t.add("/tenants.slice", tenants)
    var a = FixtureGroup()
    a.current = "134217728"
    a.max = "268435456"
    a.procs = [4242]
    a.pressure = FixtureGroup.pressure(some: "0.50", full: "0.10")
    t.add("/tenants.slice/alpha.slice", a)
    var b = FixtureGroup()
    b.current = "67108864"
    b.max = "67108864"
    b.high = "50331648"
    b.swapCurrent = "1048576"
    b.events = FixtureGroup.events(high: 1204, max: 61, oom: 1, oomKill: 1)
    b.pressure = FixtureGroup.pressure(some: "42.17", full: "30.02")
    t.add("/tenants.slice/beta.slice", b)
    var k = FixtureGroup()
    k.current = "1048576"
    t.add("/kubepods.slice", k)
    t.add("/kubepods.slice/kubepods-besteffort.slice", k)
    t.add("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b.slice", k)
    t.addProcess(pid: 4242, command: "postgres", rssPages: 4096, oomScore: 512, oomScoreAdj: -500)
    return t
}

@Suite struct StatusCommandTests {
    @Test func humanTree() {
        let t = sampleNode()
        let r = runCLI(["status", "--root", t.root, "--proc", t.proc])
        #expect(r.code == 0)
        #expect(r.err == "")
        #expect(r.out == """
            node: memory 1.0G used of 2.0G (1.0G available), swap 0 of 0
                  pressure some 0.00% full 0.00% (avg10), OOM kills since boot 2

            CGROUP                           CURRENT   LIMIT  USE    HIGH   SWAP  SOME  FULL
            /                                      -       -    -       -      -  0.00  0.00
            ├─ kubepods.slice                   1.0M     max    -       -      0  0.00  0.00
            │  └─ kubepods-besteffort.slice     1.0M     max    -       -      0  0.00  0.00
            │     └─ pod 0f1e2d3c besteffort    1.0M     max    -       -      0  0.00  0.00
            └─ tenants.slice                  192.0M     max    -       -      0  0.00  0.00
               │  events: high 0  max 61  oom 1  oom_kill 1  oom_group_kill 0
               ├─ alpha.slice                 128.0M  256.0M  50%       -      0  0.50  0.10
               └─ beta.slice                   64.0M   64.0M 100%   48.0M   1.0M 42.17 30.02
                     events: high 1204  max 61  oom 1  oom_kill 1  oom_group_kill 0

            """)
        #expect(r.out.split(separator: "\n").allSatisfy { $0.count <= 80 })
    }

    @Test func subtreeDepthSortAndProcs() {
        let t = sampleNode()
        let r = runCLI(["status", "/tenants.slice", "--root", t.root, "--proc", t.proc, "--sort", "pressure", "--procs", "--depth", "1"])
        #expect(r.code == 0)
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines[3].hasPrefix("/tenants.slice "))
        #expect(lines[5].hasPrefix("├─ beta.slice"))   // highest pressure first
        #expect(lines[7].hasPrefix("└─ alpha.slice"))
        #expect(lines[8] == "      pid    4242  postgres        rss   16.0M  oom_score  512 adj -500")
    }

    @Test func depthZeroShowsOneGroup() {
        let t = sampleNode()
        let r = runCLI(["status", "/tenants.slice/beta.slice", "--root", t.root, "--proc", t.proc, "--depth", "0"])
        #expect(r.code == 0)
        #expect(r.out.split(separator: "\n").filter { $0.contains(".slice") }.count == 1)
    }

    @Test func jsonDocument() throws {
        let t = sampleNode()
        let r = runCLI(["status", "--json", "--root", t.root, "--proc", t.proc])
        #expect(r.code == 0)
        let doc = try JSON.parse(r.out)
        #expect(doc["root"]?.stringValue == t.root)
        #expect(doc["system"]?["mem_total"]?.uint64Value == 2_097_152 * 1024)
        #expect(doc["system"]?["oom_kill"]?.uint64Value == 2)
        let groups = try #require(doc["cgroups"]?.arrayValue)
        #expect(groups.map { $0["path"]?.stringValue ?? "" } == [
            "/", "/kubepods.slice", "/kubepods.slice/kubepods-besteffort.slice",
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b.slice",
            "/tenants.slice", "/tenants.slice/alpha.slice", "/tenants.slice/beta.slice"])
        #expect(groups[0]["memory"]?.isNull == true)
        let beta = groups[6]
        #expect(beta.objectValue?.map(\.0) == ["path", "id", "memory", "events", "events_local", "pressure",
                                               "populated", "nr_procs", "unit", "kubernetes", "container"])
        #expect(beta["memory"]?["max"]?.uint64Value == 67_108_864)
        #expect(beta["memory"]?["high"]?.uint64Value == 50_331_648)
        #expect(beta["memory"]?["swap_max"]?.isNull == true)
        #expect(beta["events"]?["high"]?.uint64Value == 1204)
        #expect(beta["pressure"]?["some"]?["avg10"]?.numberValue == 42.17)
        #expect(beta["unit"]?.stringValue == "beta.slice")
        #expect(beta["kubernetes"]?.isNull == true)
        let pod = groups[3]
        #expect(pod["kubernetes"]?["qos"]?.stringValue == "besteffort")
        #expect(pod["kubernetes"]?["pod_uid"]?.stringValue == "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b")
    }

    @Test func jsonWithProcesses() throws {
        let t = sampleNode()
        let r = runCLI(["status", "/tenants.slice/alpha.slice", "--json", "--procs", "--root", t.root, "--proc", t.proc])
        let doc = try JSON.parse(r.out)
        let p = try #require(doc["cgroups"]?[0]?["processes"]?[0])
        #expect(p["pid"]?.int64Value == 4242)
        #expect(p["command"]?.stringValue == "postgres")
        #expect(p["oom_score_adj"]?.int64Value == -500)
    }

    @Test func noCgroup2SaysSoAndStillShowsTheNode() throws {
        let t = sampleNode()
        let dir = TempDir()
        defer { dir.remove() }
        makeDirectories(dir.path + "/memory")
        makeDirectories(dir.path + "/unified")
        let r = runCLI(["status", "--root", dir.path, "--proc", t.proc])
        #expect(r.code == 2)
        #expect(r.err.split(separator: "\n").count == 1)
        #expect(r.err.hasPrefix("cgwarden: \(dir.path) is not a cgroup v2 hierarchy (hybrid mode"))
        #expect(r.out.hasPrefix("node: memory 1.0G used of 2.0G"))
        let j = runCLI(["status", "--json", "--root", dir.path, "--proc", t.proc])
        #expect(j.code == 2)
        let doc = try JSON.parse(j.out)
        #expect(doc["system"]?["mem_total"]?.uint64Value == 2_097_152 * 1024)
        #expect(doc["cgroups"]?.arrayValue?.isEmpty == true)
    }

    @Test(arguments: [
        (["status", "--bogus"], Int32(64), "cgwarden: Unknown option '--bogus' (see 'cgwarden status --help')"),
        (["status", "--sort", "size"], 64, "cgwarden: The value 'size' is invalid for '--sort <sort>'. Please provide one of 'name', 'current', 'percent', 'pressure' or 'oom'. (see 'cgwarden status --help')"),
        (["status", "--depth=-2"], 64, "cgwarden: --depth must be 0 or more, not -2 (see 'cgwarden status --help')"),
        (["status", "/a/../b"], 64, "cgwarden: '/a/../b' is not a cgroup path below the root: the path has a '..' component (see 'cgwarden status --help')"),
        (["frobnicate"], 64, "cgwarden: Unexpected argument 'frobnicate' (see 'cgwarden --help')"),
        (["status", "--root", "/nonexistent-cgw"], 2, "cgwarden: cannot open cgroup root /nonexistent-cgw: No such file or directory (openat)"),
    ])
    func operatorErrorsAreOneLine(args: [String], code: Int32, message: String) {
        let r = runCLI(args)
        #expect(r.code == code)
        #expect(r.err == message + "\n")
    }

    @Test func unknownCgroupFails() {
        let t = sampleNode()
        let r = runCLI(["status", "/nope.slice", "--root", t.root, "--proc", t.proc])
        #expect(r.code == 1)
        #expect(r.err.hasPrefix("cgwarden: no cgroup /nope.slice below \(t.root): "))
        #expect(r.err.split(separator: "\n").count == 1)
    }

    @Test func problemsAreWarnedAndTheStatusIsOne() {
        let t = sampleNode()
        writeFile(t.root + "/tenants.slice/alpha.slice/memory.max", "garbage\n")
        let r = runCLI(["status", "--root", t.root, "--proc", t.proc])
        #expect(r.code == 1)
        #expect(r.err == "cgwarden: warning: cgroup /tenants.slice/alpha.slice: memory.max line 1: value is not a number: \"garbage\"\n")
        #expect(r.out.contains("alpha.slice                 128.0M       -    -"))
    }

    @Test func helpListsTheOptions() {
        let r = runCLI(["status", "--help"])
        #expect(r.code == 0)
        for option in ["--root", "--proc", "--depth", "--sort", "--procs", "--json"] {
            #expect(r.out.contains(option))
        }
    }
}

@Suite struct StatusViewTests {
    @Test func deepTreesStayWithin80Columns() {
        var groups = [CgroupSnapshot(path: .root, id: 1)]
        var path = CgroupPath.root
        for i in 0..<30 {
            path = path.appending("level-\(i)-with-a-long-name.slice")
            groups.append(CgroupSnapshot(path: path, id: UInt64(i + 2), memory: MemoryState(current: UInt64.max, max: .bytes(1))))
        }
        let s = Snapshot(root: "/x", time: Timestamp(monotonicNanos: 0, wallNanos: 0),
                         system: SystemSnapshot(meminfo: MemInfo(memTotal: 1, memAvailable: 1, swapTotal: 0, swapFree: 0),
                                                pressure: nil, oomKill: nil),
                         cgroups: groups)
        let out = StatusView(snapshot: s).render()
        #expect(out.split(separator: "\n").allSatisfy { $0.count <= 80 })
        #expect(out.contains(">10x"))
    }

    @Test func controlCharactersInNamesDoNotBreakRows() {
        let s = Snapshot(root: "/x", time: Timestamp(monotonicNanos: 0, wallNanos: 0),
                         system: SystemSnapshot(meminfo: MemInfo(memTotal: 1, memAvailable: 1, swapTotal: 0, swapFree: 0),
                                                pressure: nil, oomKill: nil),
                         cgroups: [CgroupSnapshot(path: .root, id: 1),
                                   CgroupSnapshot(path: CgroupPath(components: ["evil\nname\u{1b}[31m"]), id: 2)])
        let out = StatusView(snapshot: s).render()
        #expect(out.split(separator: "\n").count == 5)
        #expect(out.contains("evil\\x0aname\\x1b[31m"))
    }
}

/// A tree copied from the test kernel (scripts/vm/capture-fixture.sh): real
/// kernel text for every file, including an OOM-killed tenant.
@Suite struct CapturedFixtureTests {
    let base = repositoryRoot() + "/Tests/Fixtures/node-6.1"

    @Test func statusMatchesTheGoldenOutput() throws {
        let r = runCLI(["status", "--root", base + "/cgroup", "--proc", base + "/proc", "--procs"])
        #expect(r.code == 0)
        #expect(r.err == "")
        let golden = try #require(readFile(base + "/status.txt"))
        #expect(r.out == golden)
    }

    @Test func jsonOfTheKilledTenant() throws {
        let r = runCLI(["status", "/tenants.slice/b.slice", "--json", "--root", base + "/cgroup", "--proc", base + "/proc"])
        let b = try #require(try JSON.parse(r.out)["cgroups"]?[0])
        #expect(b["memory"]?["max"]?.uint64Value == 32 << 20)
        #expect(b["memory"]?["high"]?.uint64Value == 24 << 20)
        #expect(b["memory"]?["swap_max"]?.uint64Value == 0)
        #expect(b["events"]?["oom_kill"]?.uint64Value == 1)
        #expect(b["events_local"]?["oom_kill"]?.uint64Value == 1)
        #expect((b["events"]?["high"]?.uint64Value ?? 0) > 0)
        #expect((b["pressure"]?["some"]?["avg10"]?.numberValue ?? 0) > 0)
    }
}
