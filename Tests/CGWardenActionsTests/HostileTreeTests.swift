#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
@testable import CGWardenActions

/// The helper's decisions on trees a hostile tenant built: names as bytes,
/// any depth, mounts, an unknown own cgroup (families "names", "depth",
/// "mounts", "namespaces" in Docs/security.md). Nothing here may be killed
/// by mistake, and nothing may escape a kill by its shape.
@Suite struct HostileTreeTests {
    func ask(_ s: HelperServer, _ r: HelperRequest) throws -> HelperReply {
        try HelperReply.decode(s.handle(r.encoded())).reply
    }

    func kill(_ s: HelperServer, _ t: CgroupTarget) throws -> HelperReply {
        try ask(s, .kill(t, id: 1, timeoutMillis: 5000))
    }

    // MARK: names

    @Test func aProtectedGroupBelowANonUTF8NameRefusesTheKill() throws {
        let fs = FakeCgroupFS(clock: FakeClock())
        fs.add("/tenants.slice")
        let odd = CgroupPath("/tenants.slice/\\xff\\xfe")!
        fs.add(odd, procs: [10])
        fs.add(odd.appending("db"), procs: [11])
        let s = fakeServer(fs, protected: ["/tenants.slice/*/db"])
        let t = CgroupTarget(path: CgroupPath("/tenants.slice")!, id: fs.node("/tenants.slice").inode)
        #expect(try kill(s, t) == .refused(.protected(odd.appending("db"), pattern: "/tenants.slice/*/db")))
        #expect(fs.writes.isEmpty && fs.node(odd.description).procs == [10])
        // Named by its bytes, the group itself is killed, with what is below it.
        let s2 = fakeServer(fs)
        guard case .killed = try kill(s2, CgroupTarget(path: odd, id: fs.node(odd.description).inode)) else {
            Issue.record("not killed"); return
        }
        #expect(fs.node(odd.description).procs.isEmpty && fs.node(odd.appending("db").description).procs.isEmpty)
    }

    @Test func theFallbackSignalsProcessesBelowNonUTF8AndMarkedNames() throws {
        let fs = FakeCgroupFS(clock: FakeClock())
        fs.add("/t")
        fs.add(CgroupPath("/t/\\xc3")!, procs: [21])
        fs.add(CgroupPath("/t/\\xcc\\x81x")!, procs: [22])
        fs.add(CgroupPath("/t/\\xcc\\x81x/\\xe2\\x80\\x8d")!, procs: [23])
        let s = fakeServer(fs)
        let r = try ask(s, .kill(fs.target("/t"), id: 1, timeoutMillis: 5000, forceFallback: true))
        guard case .killed(let report) = r else { Issue.record("got \(r)"); return }
        #expect(Set(fs.signalled) == [21, 22, 23] && report.signalled == 3)
    }

    @Test func aProtectPatternMatchesANameThatStartsWithACombiningMark() throws {
        let fs = FakeCgroupFS(clock: FakeClock())
        fs.add("/t")
        let marked = CgroupPath("/t/\\xcc\\x81critical")!
        fs.add(marked, procs: [31])
        let s = fakeServer(fs, protected: ["/t/*critical"])
        #expect(try kill(s, fs.target("/t")) == .refused(.protected(marked, pattern: "/t/*critical")))
        #expect(try kill(s, CgroupTarget(path: marked, id: fs.node(marked.description).inode))
                == .refused(.protected(marked, pattern: "/t/*critical")))
    }

    // MARK: depth

    /// A chain deeper than any bound a walk used to have.
    func chain(_ fs: FakeCgroupFS, under top: String, depth: Int, bottom: [Int32]) -> FakeCgroupFS.Node {
        var n = fs.node(top)
        for i in 0..<depth {
            n = fs.add(CgroupName("d"), to: n, procs: i == depth - 1 ? bottom : [])
        }
        return n
    }

    @Test func aDeepSubtreeIsKilledWithFewDescriptors() throws {
        let fs = FakeCgroupFS(clock: FakeClock())
        fs.add("/tenants.slice")
        fs.add("/tenants.slice/deep", procs: [41])
        let bottom = chain(fs, under: "/tenants.slice/deep", depth: 20_000, bottom: [42])
        let s = fakeServer(fs)
        let r = try ask(s, .kill(fs.target("/tenants.slice/deep"), id: 1, timeoutMillis: 5000, forceFallback: true))
        guard case .killed(let report) = r else { Issue.record("got \(r)"); return }
        #expect(bottom.procs.isEmpty && report.signalled == 2)
        #expect(fs.mostOpen < 10, "\(fs.mostOpen) descriptors at once")
        #expect(fs.openDescriptors == 1)   // the root descriptor
        let check = try ask(s, .check(fs.target("/tenants.slice/deep"), id: 2))
        #expect(check == .checked(CheckReport(processes: 0, groups: 20_001, memoryCurrent: 0)))
    }

    @Test func aProtectedGroupAtTheBottomOfADeepChainStillRefuses() throws {
        let fs = FakeCgroupFS(clock: FakeClock())
        fs.add("/tenants.slice")
        fs.add("/tenants.slice/deep", procs: [51])
        let bottom = chain(fs, under: "/tenants.slice/deep", depth: 1_000, bottom: [52])
        fs.add(CgroupName("keep"), to: bottom, procs: [53])
        let s = fakeServer(fs, protected: ["/**/keep"])
        let r = try kill(s, fs.target("/tenants.slice/deep"))
        guard case .refused(.protected(let p, pattern: "/**/keep")) = r else { Issue.record("got \(r)"); return }
        #expect(p.depth == 1_003 && p.name == CgroupName("keep"))
        #expect(fs.writes.isEmpty && bottom.procs == [52])
    }

    @Test func aRefusalAboutAPathLongerThanPathMaxIsStillReadable() throws {
        let deep = CgroupPath(names: [CgroupName("tenants.slice")] + (0..<3000).map { _ in CgroupName("dd") })
        let encoded = HelperReply.refused(.protected(deep, pattern: "/**/x")).encoded(requestID: 3)
        let decoded = try HelperReply.decode(encoded).reply
        guard case .refused(.protected(let p, pattern: "/**/x")) = decoded else { Issue.record("got \(decoded)"); return }
        #expect(p.bytes.count <= HelperPath.maxLength && p.name == CgroupName("…"))
        #expect(p.parent.map { deep.isWithin($0) } == true)
    }

    // MARK: mounts

    @Test func aMountBelowTheTargetRefusesTheKill() throws {
        let fs = FakeCgroupFS(clock: FakeClock())
        fs.add("/tenants.slice")
        fs.add("/tenants.slice/a.slice", procs: [61])
        fs.add("/tenants.slice/a.slice/covered", .mountPoint)
        let s = fakeServer(fs, protected: ["/tenants.slice/a.slice/covered/db"])
        let r = try kill(s, fs.target("/tenants.slice/a.slice"))
        #expect(r == .refused(.unseenSubtree(CgroupPath("/tenants.slice/a.slice/covered")!, errno: EXDEV)))
        #expect(fs.writes.isEmpty && fs.node("/tenants.slice/a.slice").procs == [61])
        // Without anything protected, still refused: the walk cannot tell.
        #expect(try kill(fakeServer(fs), fs.target("/tenants.slice/a.slice"))
                == .refused(.unseenSubtree(CgroupPath("/tenants.slice/a.slice/covered")!, errno: EXDEV)))
    }

    // MARK: namespaces

    @Test func ownCgroupFoundByItsIDWhateverThePathSays() throws {
        let fs = FakeCgroupFS(clock: FakeClock())
        fs.add("/pods")
        fs.add("/pods/agent", procs: [4242])
        fs.add("/pods/other", procs: [71])
        let agent = fs.node("/pods/agent")
        // The helper knows its group by id; the path it was told could be another.
        let s = fakeServer(fs, ownState: .at(CgroupPath("/somewhere/else")!, id: agent.inode))
        #expect(try kill(s, fs.target("/pods")) == .refused(.ancestorOfOwn(own: CgroupPath("/somewhere/else")!)))
        guard case .killed = try kill(s, fs.target("/pods/other")) else { Issue.record("other not killed"); return }
        #expect(agent.procs == [4242])
    }

    @Test func anUnknownOwnCgroupIsSearchedForInEveryTarget() throws {
        let fs = FakeCgroupFS(clock: FakeClock())
        fs.add("/pods")
        fs.add("/pods/agent", procs: [1, 4242])   // the helper's pid is 4242 (fakeServer)
        fs.add("/pods/other", procs: [81])
        let s = fakeServer(fs, ownState: .unknown)
        #expect(try kill(s, fs.target("/pods")) == .refused(.ancestorOfOwn(own: CgroupPath("/pods/agent")!)))
        #expect(try kill(s, fs.target("/pods/agent")) == .refused(.ownCgroup(CgroupPath("/pods/agent")!)))
        guard case .killed = try kill(s, fs.target("/pods/other")) else { Issue.record("other not killed"); return }
        #expect(fs.node("/pods/agent").procs == [1, 4242])
    }

    @Test func theSearchForTheOwnCgroupIgnoresThePathOfANamespace() {
        let fs = FakeCgroupFS(clock: FakeClock())
        fs.add("/kubepods.slice")
        fs.add("/kubepods.slice/pod-a", procs: [5])
        fs.add("/kubepods.slice/pod-a/agent", procs: [777])
        let root = fs.rootDescriptor()
        // In a private cgroup namespace /proc/self/cgroup says "0::/".
        #expect(OwnCgroupSearch.locate(pid: 777, root: root, fs: fs, hint: .some(.root))
                == .at(CgroupPath("/kubepods.slice/pod-a/agent")!, id: fs.node("/kubepods.slice/pod-a/agent").inode))
        // Outside the root: a complete search that finds nothing.
        #expect(OwnCgroupSearch.locate(pid: 999, root: root, fs: fs, hint: .some(.root)) == .outside)
        // Part of the tree unseen: unknown, never "outside".
        fs.add("/kubepods.slice/covered", .mountPoint)
        #expect(OwnCgroupSearch.locate(pid: 999, root: root, fs: fs, hint: .some(.root)) == .unknown)
    }
}
