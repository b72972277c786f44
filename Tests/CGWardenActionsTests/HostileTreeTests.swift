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
        try HelperReply.decode(s.handle(r.encoded()).reply).reply
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

/// PSI triggers armed by the helper, and memory released early after a kill.
@Suite struct HelperTriggerTests {
    func tree() -> FakeCgroupFS {
        let fs = FakeCgroupFS(clock: FakeClock())
        fs.add("/t")
        fs.add("/t/a", procs: [11, 12], memory: 64 << 20)
        return fs
    }

    @Test func aTriggerIsArmedAndItsDescriptorTravelsWithTheReply() throws {
        let fs = tree()
        let s = fakeServer(fs, protected: ["/t/a"])   // read-only: protected groups too
        let spec = PressureTriggerSpec(full: false, stallMicros: 150_000, windowMicros: 1_000_000)
        let (bytes, fd) = s.handle(HelperRequest.armPressure(fs.target("/t/a"), spec, id: 4).encoded())
        #expect(try HelperReply.decode(bytes).reply == .armed)
        #expect(fd != nil && fs.armedTriggers.map(\.text) == ["some 150000 1000000"])
        // A stale id or a bad spec: nothing armed, no descriptor.
        let stale = s.handle(HelperRequest.armPressure(CgroupTarget(path: CgroupPath("/t/a")!, id: 1), spec, id: 5).encoded())
        #expect(stale.descriptor == nil)
        #expect(try HelperReply.decode(stale.reply).reply == .refused(.staleID(expected: 1, found: fs.node("/t/a").inode)))
        var bad = HelperRequest.armPressure(fs.target("/t/a"), spec, id: 6).encoded()
        bad[bad.count - 1] = 0xff   // a window of more than 10 s
        let refused = s.handle(bad)
        guard case .error(let e) = try HelperReply.decode(refused.reply).reply else { Issue.record("accepted"); return }
        #expect(e.kind == .malformed && refused.descriptor == nil)
    }

    @Test func armingIsBoundedPerMinute() throws {
        let fs = tree()
        var t = KillTunables()
        t.pressureArmsPerMinute = 3
        let s = fakeServer(fs, tunables: t)
        let spec = PressureTriggerSpec(full: true, stallMicros: 100_000, windowMicros: 1_000_000)
        let replies = try (0..<5).map { try HelperReply.decode(s.handle(HelperRequest.armPressure(fs.target("/t/a"), spec, id: UInt32($0 + 1)).encoded()).reply).reply }
        #expect(replies.prefix(3).allSatisfy { $0 == .armed })
        guard case .failed(let f) = replies[3] else { Issue.record("not bounded: \(replies[3])"); return }
        #expect(f.step == .armTrigger && f.errno == EAGAIN)
        fs.clock.advance(milliseconds: 60_000)
        #expect(try HelperReply.decode(s.handle(HelperRequest.armPressure(fs.target("/t/a"), spec, id: 9).encoded()).reply).reply == .armed)
    }

    @Test func aKillReleasesTheMemoryOfItsProcessesEarly() throws {
        let fs = tree()
        let s = fakeServer(fs)
        let r = try HelperReply.decode(s.handle(HelperRequest.kill(fs.target("/t/a"), id: 1, timeoutMillis: 1000).encoded()).reply).reply
        guard case .killed(let report) = r else { Issue.record("got \(r)"); return }
        #expect(report.released == 2 && Set(fs.releasedPIDs) == [11, 12])
        #expect(fs.handles.isEmpty)   // every pidfd closed
    }

    @Test func theWireCarriesTriggersAndReleases() throws {
        let spec = PressureTriggerSpec(full: true, stallMicros: 500_000, windowMicros: 2_000_000)
        let req = HelperRequest.armPressure(CgroupTarget(path: CgroupPath("/a")!, id: 7), spec, id: 3)
        #expect(try HelperRequest.decode(req.encoded()) == req)
        #expect(try HelperReply.decode(HelperReply.armed.encoded(requestID: 3)).reply == .armed)
        let k = KillReport(method: .cgroupKill, durationNanos: 5, memoryBefore: 9, memoryAfter: 0, released: 4)
        #expect(try HelperReply.decode(HelperReply.killed(k).encoded(requestID: 1)).reply == .killed(k))
        #expect(PressureTriggerSpec(full: false, stallMicros: 0, windowMicros: 1_000_000).problem != nil)
        #expect(PressureTriggerSpec(full: false, stallMicros: 2, windowMicros: 100).problem != nil)
        #expect(PressureTriggerSpec(full: false, stallMicros: 2_000_000, windowMicros: 1_000_000).problem != nil)
    }
}
