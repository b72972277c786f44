#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
import CGWardenSystem
@testable import CGWardenIO
import CGWardenTestSupport

/// A control file replaced by something that is no control file (a forged
/// fixture tree): reading it must neither hang nor eat memory.
@Suite struct HostileFileTests {
    func makeFIFO(_ path: String) {
        unlink(path)
        precondition(mkfifo(path, 0o644) == 0, "mkfifo \(path): \(errno)")
    }

    /// A sparse file of `size` bytes (reads as zeros, takes no disk).
    func makeSparse(_ path: String, size: Int) {
        unlink(path)
        writeFile(path, "")
        precondition(truncate(path, off_t(size)) == 0)
    }

    @Test func aFIFOInPlaceOfAControlFileIsAProblemNotAHang() throws {
        let t = FixtureTree()
        t.add("/a.slice")
        makeFIFO(t.root + "/a.slice/memory.current")
        makeFIFO(t.root + "/a.slice/cgroup.procs")
        let r = try failingIfStuck("a walk over a FIFO") { try Walker(root: t.root).walk(fields: .all) }
        let a = try #require(r.cgroups.first { $0.path.description == "/a.slice" })
        #expect(a.memory?.current == nil)
        #expect(a.procs == nil)
        #expect(a.memory?.max == .max)
        #expect(r.problems.map(\.description).sorted() == [
            "cgroup /a.slice: cgroup.procs: Illegal seek (read)",
            "cgroup /a.slice: memory.current: Illegal seek (read)",
        ])
    }

    @Test func theSamplerKeepsAFIFOOpenWithoutBlocking() throws {
        let t = FixtureTree()
        t.add("/a.slice")
        makeFIFO(t.root + "/a.slice/memory.events")
        let s = Sampler(root: t.root)
        for _ in 0..<2 {
            let r = try failingIfStuck("a sample over a FIFO") { try s.sample(fields: .status) }
            #expect(r.problems.map(\.description) == ["cgroup /a.slice: memory.events: Illegal seek (read)"])
        }
    }

    @Test func aFileOverTheBoundIsRefusedNamingIt() throws {
        let t = FixtureTree()
        t.add("/a.slice")
        makeSparse(t.root + "/a.slice/memory.stat", size: ControlFileSize.maximum)
        makeSparse(t.root + "/a.slice/memory.max", size: 1 << 40)
        let r = try failingIfStuck("a walk over huge files") { try Walker(root: t.root).walk(fields: .all) }
        let a = try #require(r.cgroups.first { $0.path.description == "/a.slice" })
        #expect(a.memory?.stat == nil)
        #expect(a.memory?.max == nil)
        #expect(a.memory?.current == 0)
        #expect(r.problems.map(\.description).sorted() == [
            "cgroup /a.slice: memory.max: File too large (read, 32 MiB or more)",
            "cgroup /a.slice: memory.stat: File too large (read, 32 MiB or more)",
        ])
    }

    /// The largest legitimate file, cgroup.procs with every pid of a 2^22
    /// pid space, stays below the bound and is read.
    @Test func theLargestLegitimateFileIsRead() throws {
        let t = FixtureTree()
        t.add("/a.slice")
        var list = ""
        list.reserveCapacity(32_443_320)
        for pid in 1..<4_194_304 { list += String(pid); list += "\n" }
        #expect(list.utf8.count == 32_443_320)
        #expect(list.utf8.count < ControlFileSize.maximum)
        writeFile(t.root + "/a.slice/cgroup.procs", list)
        let r = try Walker(root: t.root).walk(subtree: CgroupPath("/a.slice")!, fields: .procCount)
        #expect(r.problems.isEmpty)
        #expect(r.cgroups.first?.nrProcs == 4_194_303)
    }

    @Test func bufferGrowthStopsAtTheBound() {
        #expect(ControlFileSize.grown(from: 16 * 1024) == 32 * 1024)
        #expect(ControlFileSize.grown(from: 24 << 20) == 32 << 20)
        #expect(ControlFileSize.grown(from: 32 << 20) == nil)
    }

    /// /dev/zero itself (a character device fills every read): refused at the bound.
    @Test func aDeviceThatNeverEnds() throws {
        let t = FixtureTree()
        t.add("/a.slice")
        unlink(t.root + "/a.slice/memory.current")
        guard mknod(t.root + "/a.slice/memory.current", S_IFCHR | 0o444, dev_t(1 << 8 | 5)) == 0 else {
            // Not root, or /tmp mounted nodev: the sparse-file test covers the bound.
            return
        }
        let r = try failingIfStuck("a walk over /dev/zero") { try Walker(root: t.root).walk(fields: .usage) }
        #expect(r.cgroups.first { $0.path.description == "/a.slice" }?.memory?.current == nil)
        #expect(r.problems.map(\.description) == ["cgroup /a.slice: memory.current: File too large (read, 32 MiB or more)"])
    }

    @Test func procFilesThatAreFIFOsOrHuge() throws {
        let t = FixtureTree()
        makeFIFO(t.proc + "/meminfo")
        #expect(throws: ProcError(message: "cannot read \(t.proc)/meminfo: Illegal seek (read)")) {
            try failingIfStuck("reading a FIFO meminfo") { try ProcReader(proc: t.proc).system() }
        }
        makeSparse(t.proc + "/meminfo", size: 64 << 20)
        #expect(throws: ProcError(message: "cannot read \(t.proc)/meminfo: File too large (read, 32 MiB or more)")) {
            try ProcReader(proc: t.proc).system()
        }
    }

    /// statm of 2^64-1 resident pages: the RSS saturates (pages × page size does not fit).
    @Test func residentPagesBeyond64BitsOfBytes() {
        let t = FixtureTree()
        t.addProcess(pid: 42, command: "forged", rssPages: .max, oomScore: 0, oomScoreAdj: 0)
        t.addProcess(pid: 43, command: "half", rssPages: 1 << 63, oomScore: 0, oomScoreAdj: 0)
        t.addProcess(pid: 44, command: "none", rssPages: 0, oomScore: 0, oomScoreAdj: 0)
        let p = ProcReader(proc: t.proc)
        #expect(p.process(42)?.rss == .max)
        #expect(p.process(43)?.rss == .max)
        #expect(p.process(44)?.rss == 0)
    }
}
