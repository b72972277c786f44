import Testing
import CGWardenCore
@testable import CGWardenPolicy

/// A guard that always fires on /t and picks among its children.
func childGuard(_ extra: String = "", top: String = "") throws -> Config {
    try config("""
        \(top)
        [[guard]]
        name = "t"
        match = "/t"
        candidates = "children"
        \(extra)
        [[guard.trigger]]
        usage_above = "0"
        """)
}

func order(_ d: Decision) -> [String] {
    d.guards[0].candidates.filter { $0.excluded == nil }.map { $0.path.name?.description ?? "/" }
}

func exclusion(_ d: Decision, _ name: String) -> String? {
    d.guards[0].candidates.first { $0.path.name == CgroupName(name) }?.excluded
}

@Suite struct RankingTests {
    @Test func byUsageThenDeterministicTies() throws {
        let s = snapshot(at: 1, [group("/t", id: 2, current: 300 * MiB),
                                 group("/t/b", id: 4, current: 50 * MiB), group("/t/a", id: 3, current: 50 * MiB),
                                 group("/t/c", id: 5, current: 200 * MiB)])
        let d = run(try childGuard(), [s])[0]
        #expect(order(d) == ["c", "a", "b"])
        #expect(d.victim?.path.description == "/t/c")
        #expect(d.guards[0].candidates[0].scoreText == "usage 200.0M")
        #expect(d.guards[0].candidates.map(\.rank) == [1, 2, 3])
    }

    @Test func usageAboveProtection() throws {
        // b uses more but 150M of it is protected by memory.low.
        let s = snapshot(at: 1, [group("/t", id: 2, current: 400 * MiB, low: .max),
                                 group("/t/a", id: 3, current: 120 * MiB),
                                 group("/t/b", id: 4, current: 200 * MiB, low: .bytes(150 * MiB))])
        let d = run(try childGuard("rank = \"usage_above_protection\""), [s])[0]
        #expect(order(d) == ["a", "b"])
        #expect(d.guards[0].candidates[1].scoreText == "usage above protection 50.0M (200.0M - 150.0M)")
    }

    @Test func protectionIsSharedAmongSiblingsAsTheKernelDoes() throws {
        // The parent is protected for 100M; its children claim 150M + 50M:
        // each gets its share of the parent's 100M (75M and 25M).
        let s = snapshot(at: 1, [group("/t", id: 2, current: 400 * MiB, low: .bytes(100 * MiB)),
                                 group("/t/a", id: 3, current: 200 * MiB, low: .bytes(150 * MiB)),
                                 group("/t/b", id: 4, current: 100 * MiB, low: .bytes(50 * MiB))])
        let p = SnapshotTable(s).effectiveProtection()   // by index: the root is 0
        #expect(p[1] == 100 * MiB)
        #expect(p[2] == 75 * MiB)
        #expect(p[3] == 25 * MiB)
    }

    @Test func fastestGrowth() throws {
        let cfg = try childGuard("rank = \"growth\"")
        func at(_ t: Double, _ a: UInt64, _ b: UInt64) -> Snapshot {
            snapshot(at: t, [group("/t", id: 2), group("/t/a", id: 3, current: a * MiB), group("/t/b", id: 4, current: b * MiB)])
        }
        // a is bigger, b grows 10 MiB/s.
        let d = run(cfg, [at(0, 500, 100), at(1, 500, 110), at(2, 501, 120), at(3, 501, 130)])
        #expect(order(d[3]) == ["b", "a"])
        #expect(d[3].guards[0].candidates[0].score > 5 * Double(MiB))
        // No history yet: not ranked by usage instead; the guard waits for growth to be known.
        #expect(order(d[0]).isEmpty && d[0].victim == nil)
        #expect(d[0].noVictimReason == "guard 't' fired but waits for the growth of 2 new groups to be known (at most 5s more)")
        #expect(exclusion(d[0], "a") == "rank not known yet (seen for 0s, needs 1s)")
        #expect(order(d[1]) == ["b", "a"] && d[1].victim?.path == CgroupPath("/t/b"))
    }

    @Test func highestPressureAndLargestSwap() throws {
        let s = snapshot(at: 1, [group("/t", id: 2),
                                 group("/t/a", id: 3, current: 500 * MiB, swap: 10 * MiB, some: 5),
                                 group("/t/b", id: 4, current: 100 * MiB, swap: 90 * MiB, some: 50)])
        #expect(order(run(try childGuard("rank = \"pressure\""), [s])[0]) == ["b", "a"])
        #expect(order(run(try childGuard("rank = \"swap\""), [s])[0]) == ["b", "a"])
    }

    @Test func scopes() throws {
        let s = snapshot(at: 1, [group("/t", id: 2), group("/t/a", id: 3), group("/t/a/x", id: 5, current: 30 * MiB),
                                 group("/t/a/y", id: 6, current: 40 * MiB), group("/t/b", id: 4, current: 20 * MiB)])
        var cfg = try childGuard()
        cfg.guards[0].candidates = .leaves
        #expect(order(run(cfg, [s])[0]) == ["y", "x", "b"])
        cfg.guards[0].candidates = .self
        #expect(order(run(cfg, [s])[0]) == ["t"])
    }

    @Test func podsScope() throws {
        let base = "/kubepods.slice/kubepods-burstable.slice"
        let pod = base + "/kubepods-burstable-pod0f1e2d3c_4b5a.slice"
        let s = snapshot(at: 1, [group("/kubepods.slice", id: 2), group(base, id: 3), group(pod, id: 4),
                                 group(pod + "/cri-containerd-abc.scope", id: 5)])
        let cfg = try config("""
            [[guard]]
            name = "k"
            match = "/kubepods.slice"
            candidates = "pods"
            [[guard.trigger]]
            usage_above = "0"
            """)
        #expect(run(cfg, [s])[0].guards[0].candidates.map(\.path.description) == [pod])
    }
}

@Suite struct ExclusionTests {
    @Test func rootOwnAncestorsProtectedEmptySmallAndUnaccounted() throws {
        let cfg = try childGuard("min_kill_size = \"16M\"", top: "protect = [\"/t/p*\"]")
        let s = snapshot(at: 1, [group("/t", id: 2),
                                 group("/t/ok", id: 3, current: 100 * MiB),
                                 group("/t/pinned", id: 4, current: 900 * MiB),
                                 group("/t/self", id: 5, current: 900 * MiB),
                                 group("/t/empty", id: 6, current: 900 * MiB, populated: false),
                                 group("/t/tiny", id: 7, current: 15 * MiB),
                                 group("/t/nomem", id: 8, memory: false)])
        let d = run(cfg, own: CgroupPath("/t/self/cgwarden.service"), [s])[0]
        #expect(order(d) == ["ok"])
        #expect(exclusion(d, "pinned") == "protected by '/t/p*'")
        #expect(exclusion(d, "self") == "an ancestor of cgwarden's own cgroup (/t/self/cgwarden.service)")
        #expect(exclusion(d, "empty") == "no processes")
        #expect(exclusion(d, "tiny") == "uses 15.0M, below min_kill_size 16.0M")
        #expect(exclusion(d, "nomem") == "no memory accounting (controller off)")
        #expect(d.victim?.path.description == "/t/ok")
    }

    @Test func aGroupHoldingAProtectedGroupIsExcludedAsTheHelperRefusesIt() throws {
        let cfg = try childGuard(top: "protect = [\"/t/acme/db\", \"/**/critical-*.scope\"]")
        let s = snapshot(at: 1, [group("/t", id: 2),
                                 group("/t/acme", id: 3, current: 900 * MiB),
                                 group("/t/acme/db", id: 4, current: 600 * MiB),
                                 group("/t/acme/web", id: 5, current: 300 * MiB),
                                 group("/t/pods", id: 6, current: 800 * MiB),
                                 group("/t/pods/a", id: 7, current: 100 * MiB),
                                 group("/t/pods/a/critical-x.scope", id: 8, current: 100 * MiB),
                                 group("/t/beta", id: 9, current: 100 * MiB)])
        let d = run(cfg, [s])[0]
        #expect(order(d) == ["beta"])
        #expect(exclusion(d, "acme") == "holds /t/acme/db, protected by '/t/acme/db'")
        #expect(exclusion(d, "pods") == "holds /t/pods/a/critical-x.scope, protected by '/**/critical-*.scope'")
        #expect(d.victim?.path.description == "/t/beta")
        // Below, the protected group's siblings stay candidates.
        let leaves = try config("""
            protect = ["/t/acme/db"]
            [[guard]]
            name = "t"
            match = "/t/acme"
            candidates = "leaves"
            [[guard.trigger]]
            usage_above = "0"
            """)
        let l = run(leaves, [s])[0]
        #expect(l.victim?.path.description == "/t/acme/web")
        #expect(l.guards[0].candidates.first { $0.path.description == "/t/acme/db" }?.excluded == "protected by '/t/acme/db'")
    }

    @Test func neverTheRootNorOwnGroup() throws {
        let cfg = try config("""
            [[guard]]
            name = "node"
            match = "/"
            candidates = "self"
            [[guard.trigger]]
            node_available_below = "100%"
            [[guard]]
            name = "own"
            match = "/system.slice/cgwarden.service"
            [[guard.trigger]]
            usage_above = "0"
            """)
        let s = snapshot(at: 1, [group("/system.slice", id: 2), group("/system.slice/cgwarden.service", id: 3)])
        let d = run(cfg, own: CgroupPath("/system.slice/cgwarden.service"), [s])[0]
        #expect(d.victim == nil)
        #expect(d.guards[0].candidates.first?.excluded == "the root cgroup")
        #expect(d.guards[1].candidates.first?.excluded == "cgwarden's own cgroup")
        #expect(d.noVictimReason == "guard 'node' fired but has no eligible candidate; guard 'own' fired but has no eligible candidate")
    }

    @Test func noGuardFired() throws {
        let d = run(try childGuard().withTrigger("usage_above = \"1T\""), [snapshot(at: 1, [group("/t", id: 2)])])[0]
        #expect(d.victim == nil)
        #expect(d.noVictimReason == "no guard fired")
    }
}

extension Config {
    func withTrigger(_ text: String) throws -> Config {
        var c = self
        let t = try config("[[guard]]\nname = \"x\"\nmatch = \"/\"\n[[guard.trigger]]\n\(text)\n")
        c.guards[0].triggers = t.guards[0].triggers
        return c
    }
}

@Suite struct PreferenceTests {
    func kids(_ a: [String: String] = [:], ownerA: UInt32 = 0, b: [String: String] = [:]) -> Snapshot {
        snapshot(at: 1, [group("/t", id: 2, owner: 1000),
                         group("/t/a", id: 3, current: 900 * MiB, owner: ownerA, xattrs: a),
                         group("/t/b", id: 4, current: 100 * MiB, xattrs: b)])
    }

    @Test func configPreferAndAvoid() throws {
        #expect(order(run(try childGuard("avoid = [\"/t/a\"]"), [kids()])[0]) == ["b", "a"])
        #expect(order(run(try childGuard("prefer = [\"/t/b\"]"), [kids()])[0]) == ["b", "a"])
        let d = run(try childGuard("prefer = [\"/t/b\"]"), [kids()])[0]
        #expect(d.guards[0].candidates[0].preference == .prefer)
        #expect(d.guards[0].candidates[0].preferenceReason == "prefer '/t/b'")
        #expect(d.victim?.reason.hasSuffix(", preferred (prefer '/t/b')") == true)
    }

    @Test func userAvoidFromRootOrTheWatchedOwner() throws {
        let avoid = ["user.oomd_avoid": "1"]
        #expect(order(run(try childGuard(), [kids(avoid, ownerA: 0)])[0]) == ["b", "a"])      // root-owned
        #expect(order(run(try childGuard(), [kids(avoid, ownerA: 1000)])[0]) == ["b", "a"])   // owner of /t
        #expect(order(run(try childGuard(), [kids(avoid, ownerA: 2000)])[0]) == ["a", "b"])   // someone else: ignored
    }

    @Test func trustedAttributesAndOmit() throws {
        #expect(order(run(try childGuard(), [kids(b: ["trusted.oomd_prefer": "1"])])[0]) == ["b", "a"])
        #expect(order(run(try childGuard(), [kids(["trusted.oomd_avoid": "1"])])[0]) == ["b", "a"])
        let omitted = run(try childGuard(), [kids(["user.oomd_omit": "1"])])[0]
        #expect(order(omitted) == ["b"])
        #expect(exclusion(omitted, "a") == "omitted by user.oomd_omit")
        // Operators can switch the attributes off.
        #expect(order(run(try childGuard(top: "honor_xattrs = false"), [kids(["trusted.oomd_avoid": "1"])])[0]) == ["a", "b"])
    }

    @Test func avoidWinsOverPrefer() throws {
        let d = run(try childGuard("prefer = [\"/t/*\"]"), [kids(["user.oomd_avoid": "1"])])[0]
        #expect(order(d) == ["b", "a"])
        #expect(d.guards[0].candidates[1].preference == .avoid)
    }

    @Test func kubernetesQoSOrder() throws {
        let q = "/kubepods.slice"
        let s = snapshot(at: 1, [
            group(q, id: 2),
            group(q + "/kubepods-pod11.slice", id: 3, current: 900 * MiB),
            group(q + "/kubepods-burstable.slice", id: 4),
            group(q + "/kubepods-burstable.slice/kubepods-burstable-pod22.slice", id: 5, current: 500 * MiB),
            group(q + "/kubepods-besteffort.slice", id: 6),
            group(q + "/kubepods-besteffort.slice/kubepods-besteffort-pod33.slice", id: 7, current: 10 * MiB),
        ])
        let text = """
            [[guard]]
            name = "k"
            match = "/kubepods.slice"
            candidates = "pods"
            qos_order = QOS
            [[guard.trigger]]
            usage_above = "0"
            """
        let withQoS = run(try config(text.replacingOccurrences("QOS", "true")), [s])[0]
        #expect(order(withQoS) == ["kubepods-besteffort-pod33.slice", "kubepods-burstable-pod22.slice", "kubepods-pod11.slice"])
        let bySize = run(try config(text.replacingOccurrences("QOS", "false")), [s])[0]
        #expect(order(bySize) == ["kubepods-pod11.slice", "kubepods-burstable-pod22.slice", "kubepods-besteffort-pod33.slice"])
    }
}

extension String {
    func replacingOccurrences(_ a: String, _ b: String) -> String {
        split(separator: a, omittingEmptySubsequences: false).joined(separator: b)
    }
}

@Suite struct AfterActingTests {
    @Test func postActionDelayHoldsTheGuard() throws {
        let cfg = try childGuard("post_action_delay = \"15s\"")
        let e = Evaluator(config: cfg, ownCgroup: nil)
        func at(_ t: Double) -> Snapshot {
            snapshot(at: t, [group("/t", id: 2), group("/t/a", id: 3, current: 50 * MiB), group("/t/b", id: 4, current: 40 * MiB)])
        }
        var (d, st) = e.evaluate(at(0), state: PolicyState())
        #expect(d.victim?.path.description == "/t/a")
        st.recordAction(guard: cfg.guards[0], victim: d.victim!.path, id: d.victim!.id, at: d.time)
        (d, st) = e.evaluate(at(14.9), state: st)
        #expect(d.victim == nil)
        #expect(d.guards[0].waitingUntil?.monotonicNanos == 15_000_000_000)
        #expect(d.noVictimReason == "guard 't' fired but waits 100ms more after killing /t/a")
        (d, st) = e.evaluate(at(15), state: st)
        #expect(d.victim?.path.description == "/t/b")   // /t/a was killed: not again
        #expect(d.guards[0].candidates.first { $0.path.description == "/t/a" }?.excluded == "already killed")
    }

    @Test func theFirstGuardInOrderActsAndOthersWait() throws {
        let cfg = try config("""
            [[guard]]
            name = "first"
            match = "/a"
            [[guard.trigger]]
            usage_above = "0"
            [[guard]]
            name = "second"
            match = "/b"
            [[guard.trigger]]
            usage_above = "0"
            """)
        let s = snapshot(at: 1, [group("/a", id: 2, current: 1 * MiB), group("/b", id: 3, current: 900 * MiB)])
        let d = run(cfg, [s])[0]
        #expect(d.victim?.guardName == "first")
        #expect(d.victim?.path.description == "/a")
        #expect(d.guards[1].fired)
        // After a kill by 'first', 'second' waits too: one kill per shortage until memory settles.
        var st = PolicyState()
        st.recordAction(guard: cfg.guards[0], victim: CgroupPath("/a")!, id: 2, at: Timestamp(monotonicNanos: 0, wallNanos: 0))
        let during = run(cfg, [s], state: st)[0]
        #expect(during.victim == nil)
        #expect(during.guards[1].waitingUntil?.monotonicNanos == 15_000_000_000)
        #expect(during.noVictimReason == "guard 'first' fired but waits 14s more after killing /a; guard 'second' fired but waits 14s more after killing /a")
        let after = run(cfg, [snapshot(at: 15, [group("/b", id: 3, current: 900 * MiB)])], state: st)[0]
        #expect(after.victim?.guardName == "second")
    }
}
