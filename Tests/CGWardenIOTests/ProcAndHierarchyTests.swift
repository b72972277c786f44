import Testing
import CGWardenCore
@testable import CGWardenIO
import CGWardenTestSupport

@Suite struct ProcReaderTests {
    @Test func systemFigures() throws {
        let t = FixtureTree(memTotalKB: 1000, memAvailableKB: 250, oomKill: 7)
        let s = try ProcReader(proc: t.proc).system()
        #expect(s.meminfo.memTotal == 1000 * 1024)
        #expect(s.meminfo.memAvailable == 250 * 1024)
        #expect(s.oomKill == 7)
        #expect(s.pressure?.some.avg10 == 0)
    }

    @Test func withoutPSIOrVmstat() throws {
        let t = FixtureTree()
        removeTree(t.proc + "/pressure")
        removeTree(t.proc + "/vmstat")
        let s = try ProcReader(proc: t.proc).system()
        #expect(s.pressure == nil)
        #expect(s.oomKill == nil)
    }

    @Test func brokenMeminfoNamesTheFile() {
        let t = FixtureTree()
        writeFile(t.proc + "/meminfo", "MemTotal: 12 kB\n")
        #expect(throws: ProcError(message: "\(t.proc)/meminfo: missing key 'MemAvailable' (truncated file?)")) {
            try ProcReader(proc: t.proc).system()
        }
        removeTree(t.proc + "/meminfo")
        #expect(throws: ProcError(message: "cannot read \(t.proc)/meminfo: No such file or directory (openat)")) {
            try ProcReader(proc: t.proc).system()
        }
    }

    @Test func processes() {
        let t = FixtureTree()
        t.addProcess(pid: 42, command: "python3", rssPages: 256, oomScore: 667, oomScoreAdj: -100)
        let p = ProcReader(proc: t.proc)
        #expect(p.process(42) == ProcessInfo(pid: 42, command: "python3", rss: 256 * ProcReader.pageSize,
                                             oomScore: 667, oomScoreAdj: -100))
        #expect(p.process(43) == nil)  // exited
    }
}

@Suite struct HierarchyCheckTests {
    @Test func fixtureWithMemory() {
        let t = FixtureTree()
        #expect(HierarchyCheck.examine(t.root) == .fixture)
    }

    @Test func cgroup2WithoutMemory() {
        let t = FixtureTree()
        writeFile(t.root + "/cgroup.controllers", "cpu io pids\n")
        #expect(HierarchyCheck.examine(t.root) == .unavailable(
            "\(t.root) is cgroup v2 but the memory controller is not available there (controllers: cpu io pids)"))
    }

    @Test func hybridLayout() {
        let dir = TempDir()
        defer { dir.remove() }
        makeDirectories(dir.path + "/memory")
        makeDirectories(dir.path + "/unified")
        guard case .unavailable(let why) = HierarchyCheck.examine(dir.path) else {
            Issue.record("a hybrid layout was accepted")
            return
        }
        #expect(why.contains("hybrid mode"))
        #expect(why.contains("memory controller is on cgroup v1 at \(dir.path)/memory"))
    }

    @Test func missingRoot() {
        #expect(HierarchyCheck.examine("/nonexistent-cgwarden") == .unavailable(
            "cannot open cgroup root /nonexistent-cgwarden: No such file or directory (openat)"))
    }
}
