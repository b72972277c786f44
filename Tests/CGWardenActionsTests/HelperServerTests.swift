#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
@testable import CGWardenActions

/// The helper's request handling on a fake cgroupfs: every decision and
/// every path of the kill, with no kernel.
@Suite struct HelperServerTests {
    func tree() -> FakeCgroupFS {
        let fs = FakeCgroupFS(clock: FakeClock())
        fs.add("/tenants.slice")
        fs.add("/tenants.slice/a.slice", procs: [101, 102], memory: 64 << 20)
        fs.add("/tenants.slice/a.slice/worker", procs: [103])
        fs.add("/tenants.slice/b.slice", procs: [201])
        fs.add("/system.slice")
        fs.add("/system.slice/cgwarden.service", procs: [300])
        fs.add("/kubepods.slice")
        fs.add("/kubepods.slice/pod1", procs: [401])
        fs.add("/kubepods.slice/pod1/critical-db.scope", procs: [402])
        return fs
    }

    func ask(_ s: HelperServer, _ r: HelperRequest) throws -> HelperReply {
        let (id, reply) = try HelperReply.decode(s.handle(r.encoded()).reply)
        #expect(id == r.requestID)
        return reply
    }

    @Test func killsThroughCgroupKill() throws {
        let fs = tree()
        let s = fakeServer(fs)
        let reply = try ask(s, .kill(fs.target("/tenants.slice/a.slice"), id: 1, timeoutMillis: 5000))
        guard case .killed(let r) = reply else { Issue.record("got \(reply)"); return }
        #expect(r.method == .cgroupKill && r.fallbackReason == nil && r.rounds == 1 && r.signalled == 0)
        #expect(r.memoryBefore == 64 << 20 && r.memoryAfter == 0)
        #expect(fs.node("/tenants.slice/a.slice").procs.isEmpty && fs.node("/tenants.slice/a.slice/worker").procs.isEmpty)
        #expect(fs.node("/tenants.slice/b.slice").procs == [201])
        #expect(fs.writes.map(\.file) == ["cgroup.kill"])
        #expect(fs.openDescriptors == 1)   // only the root stays open
    }

    @Test(arguments: [(false, false, FallbackReason.forced), (true, false, .noCgroupKill), (false, true, .notSupported)])
    func fallbackEmptiesTheSubtree(missing: Bool, unsupported: Bool, expected: FallbackReason) throws {
        let fs = tree()
        let a = fs.node("/tenants.slice/a.slice")
        a.hasKill = !missing
        a.killUnsupported = unsupported
        let s = fakeServer(fs)
        let reply = try ask(s, .kill(fs.target("/tenants.slice/a.slice"), id: 2, timeoutMillis: 5000,
                                     forceFallback: expected == .forced))
        guard case .killed(let r) = reply else { Issue.record("got \(reply)"); return }
        #expect(r.method == .freezeAndSignal && r.fallbackReason == expected)
        #expect(r.rounds == 1 && r.signalled == 3)
        #expect(Set(fs.signalled) == [101, 102, 103])
        #expect(!a.frozen, "thawed at the end")
        #expect(fs.writes.filter { $0.file == "cgroup.freeze" }.map(\.value) == ["1", "0", "0"])
        #expect(fs.openDescriptors == 1)
    }

    @Test func freezingStopsAForkLoopInOneRound() throws {
        let fs = tree()
        let a = fs.node("/tenants.slice/a.slice")
        a.forkBudget = 5
        let reply = try ask(fakeServer(fs), .kill(fs.target("/tenants.slice/a.slice"), id: 3, timeoutMillis: 5000, forceFallback: true))
        guard case .killed(let r) = reply else { Issue.record("got \(reply)"); return }
        #expect(r.rounds == 1)
    }

    @Test func withoutAFreezerAForkLoopTakesRoundsAndRoundsAreBounded() throws {
        let fs = tree()
        let a = fs.node("/tenants.slice/a.slice")
        a.hasFreeze = false
        a.forkBudget = 3
        let reply = try ask(fakeServer(fs), .kill(fs.target("/tenants.slice/a.slice"), id: 4, timeoutMillis: 60_000, forceFallback: true))
        guard case .killed(let r) = reply else { Issue.record("got \(reply)"); return }
        #expect(r.rounds == 4 && r.signalled == 6)

        let fs2 = tree()
        let b = fs2.node("/tenants.slice/a.slice")
        b.hasFreeze = false
        b.forkBudget = 1000
        var t = KillTunables()
        t.fallbackRounds = 5
        let reply2 = try ask(fakeServer(fs2, tunables: t), .kill(fs2.target("/tenants.slice/a.slice"), id: 5, timeoutMillis: 60_000, forceFallback: true))
        guard case .incomplete(let r2) = reply2 else { Issue.record("got \(reply2)"); return }
        #expect(r2.rounds == 5 && r2.remaining >= 1)
    }

    @Test func aGroupRemovedAsSoonAsItEmptiesIsKilledNotIncomplete() throws {
        let fs = tree()
        fs.node("/tenants.slice/a.slice").removedWhenEmpty = true
        let clock = fs.clock
        let start = clock.now().monotonicNanos
        let reply = try ask(fakeServer(fs), .kill(fs.target("/tenants.slice/a.slice"), id: 5, timeoutMillis: 3000))
        guard case .killed(let r) = reply else { Issue.record("got \(reply)"); return }
        #expect(r.method == .cgroupKill)
        #expect(clock.now().monotonicNanos - start < 1_000_000_000, "waited for a removed group's cgroup.events")
    }

    @Test func aGroupThatDoesNotEmptyIsIncompleteAfterTheTimeout() throws {
        let fs = tree()
        fs.node("/tenants.slice/a.slice/worker").ignoresKill = true
        let clock = fs.clock
        let start = clock.now().monotonicNanos
        let reply = try ask(fakeServer(fs), .kill(fs.target("/tenants.slice/a.slice"), id: 6, timeoutMillis: 3000))
        guard case .incomplete(let r) = reply else { Issue.record("got \(reply)"); return }
        #expect(r.method == .cgroupKill && r.remaining == 1)
        #expect(r.durationNanos >= 3_000_000_000 && r.durationNanos < 4_200_000_000)
        #expect(clock.now().monotonicNanos - start < 5_000_000_000)
        // The fallback gives up too, and leaves nothing frozen.
        let fs2 = tree()
        fs2.node("/tenants.slice/a.slice/worker").ignoresKill = true
        let reply2 = try ask(fakeServer(fs2), .kill(fs2.target("/tenants.slice/a.slice"), id: 7, timeoutMillis: 3000, forceFallback: true))
        guard case .incomplete(let r2) = reply2 else { Issue.record("got \(reply2)"); return }
        #expect(r2.remaining == 1 && !fs2.node("/tenants.slice/a.slice").frozen && !fs2.node("/tenants.slice/a.slice/worker").frozen)
    }

    @Test func refusals() throws {
        let fs = tree()
        let own = CgroupPath("/system.slice/cgwarden.service")!
        let s = fakeServer(fs, own: own, protected: ["/kubepods.slice/**/critical-*.scope", "/tenants.slice/b.slice"])
        func raw(_ text: String, id: UInt64 = 5) throws -> HelperRefusal? {
            let r = HelperRequest(requestID: 9, action: .kill, path: Array(text.utf8), cgroupID: id, timeoutMillis: 1000)
            guard case .refused(let why) = try ask(s, r) else { return nil }
            return why
        }
        func refusal(_ path: String, id: UInt64? = nil) throws -> HelperRefusal? {
            try raw(String(decoding: CgroupPath(path)!.bytes, as: UTF8.self), id: id ?? fs.node(path).inode)
        }
        #expect(try refusal("/") == .root)
        #expect(try refusal("/system.slice/cgwarden.service") == .ownCgroup(own))
        #expect(try refusal("/system.slice") == .ancestorOfOwn(own: own))
        #expect(try refusal("/tenants.slice/b.slice") == .protected(CgroupPath("/tenants.slice/b.slice")!, pattern: "/tenants.slice/b.slice"))
        // A protected group below the target refuses the target: cgroup.kill takes the subtree.
        #expect(try refusal("/kubepods.slice") == .protected(CgroupPath("/kubepods.slice/pod1/critical-db.scope")!,
                                                              pattern: "/kubepods.slice/**/critical-*.scope"))
        #expect(try refusal("/tenants.slice") == .protected(CgroupPath("/tenants.slice/b.slice")!, pattern: "/tenants.slice/b.slice"))
        #expect(try refusal("/tenants.slice/a.slice", id: 999) == .staleID(expected: 999, found: fs.node("/tenants.slice/a.slice").inode))
        #expect(try raw("../etc") == .invalidPath(.dotDot))
        #expect(try raw("tenants.slice/../system.slice") == .invalidPath(.dotDot))
        #expect(try raw("/etc/passwd") == .invalidPath(.absolute))
        fs.add("/tenants.slice/link", .symlink)
        fs.add("/tenants.slice/mnt", .mountPoint)
        fs.add("/tenants.slice/a.slice/memory.current", .file)
        #expect(try raw("tenants.slice/link") == .symlink)
        #expect(try raw("tenants.slice/link/x") == .symlink)
        #expect(try raw("tenants.slice/mnt/x") == .crossesMount)
        #expect(try raw("tenants.slice/nope") == .notFound)
        #expect(try raw("tenants.slice/a.slice/memory.current/x") == .notADirectory)
        #expect(try raw("tenants.slice/a.slice/memory.current") == .notADirectory)
        // Nothing was killed or frozen by any of them.
        #expect(fs.writes.isEmpty && fs.signalled.isEmpty)
        #expect(fs.node("/tenants.slice/a.slice").procs == [101, 102] && fs.node("/system.slice/cgwarden.service").procs == [300])
        #expect(fs.openDescriptors == 1)
    }

    @Test func killNeedsACgroup2RootButCheckDoesNot() throws {
        let fs = tree()
        let s = fakeServer(fs, rootIsCgroup2: false)
        #expect(try ask(s, .kill(fs.target("/tenants.slice/a.slice"), id: 1, timeoutMillis: 10)) == .refused(.notCgroup2))
        #expect(try ask(s, .check(fs.target("/tenants.slice/a.slice"), id: 2))
                == .checked(CheckReport(processes: 3, groups: 2, memoryCurrent: 64 << 20)))
        #expect(fs.writes.isEmpty)
    }

    @Test func dryRunTakesTheSamePathAndStopsBeforeTheWrite() throws {
        let fs = tree()
        let s = fakeServer(fs, own: CgroupPath("/system.slice/cgwarden.service"), protected: ["/tenants.slice/b.slice"])
        #expect(try ask(s, .check(fs.target("/tenants.slice/a.slice"), id: 1))
                == .checked(CheckReport(processes: 3, groups: 2, memoryCurrent: 64 << 20)))
        #expect(try ask(s, .check(fs.target("/system.slice"), id: 2)) == .refused(.ancestorOfOwn(own: CgroupPath("/system.slice/cgwarden.service")!)))
        #expect(try ask(s, .check(fs.target("/tenants.slice"), id: 3)) == .refused(.protected(CgroupPath("/tenants.slice/b.slice")!, pattern: "/tenants.slice/b.slice")))
        #expect(fs.writes.isEmpty && fs.signalled.isEmpty)
    }

    @Test func attributesOfAnyGroupIncludingProtectedAndOwn() throws {
        let fs = tree()
        let own = fs.node("/system.slice/cgwarden.service")
        own.uid = 0
        let a = fs.node("/tenants.slice/a.slice")
        a.uid = 1000
        a.xattrs = ["user.oomd_avoid": Array("1".utf8), "trusted.oomd_prefer": Array("1".utf8),
                    "user.other": Array("x".utf8), "user.oomd_omit": [UInt8](repeating: 65, count: 300)]
        let s = fakeServer(fs, own: CgroupPath("/system.slice/cgwarden.service"), protected: ["/tenants.slice/**"])
        #expect(try ask(s, .attributes(fs.target("/tenants.slice/a.slice"), id: 1))
                == .attributes(CgroupAttributes(ownerUID: 1000, values: ["user.oomd_avoid": "1", "trusted.oomd_prefer": "1"])))
        #expect(try ask(s, .attributes(fs.target("/system.slice/cgwarden.service"), id: 2))
                == .attributes(CgroupAttributes(ownerUID: 0, values: [:])))
        #expect(try ask(s, .attributes(CgroupTarget(path: .root, id: 1), id: 3)) == .attributes(CgroupAttributes(ownerUID: 0, values: [:])))
        #expect(try ask(s, .attributes(CgroupTarget(path: CgroupPath("/tenants.slice/a.slice")!, id: 3), id: 4))
                == .refused(.staleID(expected: 3, found: a.inode)))
    }

    @Test func malformedRequestsGetErrorRepliesAndTheNextIsServed() throws {
        let fs = tree()
        let s = fakeServer(fs)
        for junk: [UInt8] in [[], [0], [1], [1, 2, 0], Array(repeating: 0xff, count: 100), Array("kill /".utf8)] {
            let (id, reply) = try HelperReply.decode(s.handle(junk).reply)
            #expect(id == 0)
            guard case .error = reply else { Issue.record("\(junk): \(reply)"); continue }
        }
        var unknown = HelperRequest(requestID: 77, action: .ping).encoded()
        unknown[1] = 42
        let (id, reply) = try HelperReply.decode(s.handle(unknown).reply)
        #expect(id == 77)
        #expect(reply == .error(WireError(.unknownAction, "action 42", requestID: 77)))
        #expect(try ask(s, HelperRequest(requestID: 78, action: .ping)) == .pong(s.info))
    }

    @Test func theTestHookIsOffUnlessTheHelperWasSpawnedWithIt() throws {
        var called = 0
        let off = fakeServer(tree(), forbidden: { called += 1 })
        guard case .error(let e) = try ask(off, HelperRequest(requestID: 1, action: .testForbiddenSyscall)) else {
            Issue.record("no error reply"); return
        }
        #expect(e.kind == .disabled && called == 0)
        let on = fakeServer(tree(), testHooks: true, forbidden: { called += 1 })
        _ = try ask(on, HelperRequest(requestID: 2, action: .testForbiddenSyscall))
        #expect(called == 1)
    }

}
