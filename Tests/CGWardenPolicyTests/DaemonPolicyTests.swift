import Testing
import CGWardenCore
@testable import CGWardenPolicy

/// The policy features the daemon acts on: blast radius, observing guards,
/// headroom, and the state a reload keeps.
@Suite struct DaemonPolicyTests {
    /// A session with 2,000 processes in one scope, and a smaller leak beside it.
    func session(_ extra: String) throws -> (Config, Snapshot) {
        let cfg = try config("""
            [[guard]]
            name = "desktop"
            match = "/user.slice"
            candidates = "children"
            \(extra)
            [[guard.trigger]]
            usage_above = "0"
            """)
        var terminal = group("/user.slice/session.scope", id: 3, current: 900 * MiB)
        terminal.nrProcs = 1
        var tabs = [CgroupSnapshot]()
        for i in 0..<4 {
            var t = group("/user.slice/session.scope/tab\(i)", id: 10 + UInt64(i), current: UInt64(100 + 50 * i) * MiB)
            t.nrProcs = 500
            tabs.append(t)
        }
        let s = snapshot(at: 1, [group("/user.slice", id: 2, current: 1000 * MiB), terminal] + tabs
                               + [group("/user.slice/leak.scope", id: 4, current: 220 * MiB)])
        return (cfg, s)
    }

    @Test func theDecisionListsEveryWatchedGroupOnce() throws {
        let cfg = try config("""
            [[guard]]
            name = "tenants"
            match = "/tenants.slice/*"
            [[guard.trigger]]
            usage_above = "1G"
            [[guard]]
            name = "batch"
            match = ["/batch.slice", "/tenants.slice/b"]
            [[guard.trigger]]
            pressure_above = "50%"
            """)
        let s = snapshot(at: 1, [group("/tenants.slice", id: 2), group("/tenants.slice/a", id: 3),
                                 group("/tenants.slice/b", id: 4), group("/tenants.slice/b/x", id: 5),
                                 group("/batch.slice", id: 6), group("/system.slice", id: 7)])
        // Quiet groups too (no trigger holds anywhere): the daemon watches their files.
        let d = run(cfg, [s], detail: .holding)[0]
        #expect(d.watchedIDs == [3, 4, 6])
    }

    @Test func aVictimOverTheProcessCapIsReplacedByItsChildren() throws {
        let (cfg, s) = try session("max_victim_procs = 600")
        let d = run(cfg, [s])[0]
        // The session (2,001 processes) is not killed whole: its biggest tab is.
        #expect(d.victim?.path == CgroupPath("/user.slice/session.scope/tab3"))
        let session = d.guards[0].candidates.first { $0.path == CgroupPath("/user.slice/session.scope") }
        #expect(session?.excluded == "too big to kill at once: 2001 processes, over max_victim_procs 600; its children are candidates instead")
        #expect(d.guards[0].candidates.filter { $0.exclusion == nil }.map { $0.path.name?.description ?? "" }
                == ["tab3", "leak.scope", "tab2", "tab1", "tab0"])
    }

    @Test func aVictimOverTheMemoryShareIsReplacedOrExcluded() throws {
        let (cfg, s) = try session("max_victim_share = \"10%\"")   // of 4 GiB: 409.6 MiB
        let d = run(cfg, [s])[0]
        #expect(d.victim?.path == CgroupPath("/user.slice/session.scope/tab3"))   // 250M
        // A group over the cap without children is excluded outright.
        let (cfg2, s2) = try session("max_victim_share = \"1%\"")
        let d2 = run(cfg2, [s2])[0]
        #expect(d2.victim == nil && d2.noVictimReason == "guard 'desktop' fired but has no eligible candidate")
        #expect(d2.guards[0].candidates.allSatisfy { $0.excluded?.hasPrefix("too big to kill at once") == true })
    }

    @Test func blastRadiusSettingsAreChecked() {
        for (text, message) in [("max_victim_procs = 0", "must be a whole number of processes, 1 or more"),
                                ("max_victim_procs = \"lots\"", "must be a whole number of processes, 1 or more"),
                                ("max_victim_share = \"0%\"", "0% would leave nothing to kill"),
                                ("mode = \"maybe\"", "'maybe'")] {
            #expect(throws: ConfigErrors.self) { try self.session(text) }
            do { _ = try session(text) } catch { #expect("\(error)".contains(message), "\(error)") }
        }
    }

    @Test func anObservingGuardReportsAndKillsNothing() throws {
        let cfg = try config("""
            [[guard]]
            name = "trial"
            mode = "observe"
            match = "/t/*"
            post_action_delay = "10s"
            [[guard.trigger]]
            usage_above = "100M"

            [[guard]]
            name = "live"
            match = "/t/*"
            [[guard.trigger]]
            usage_above = "400M"
            """)
        let s = { (t: Double, a: UInt64) in
            snapshot(at: t, [group("/t", id: 2), group("/t/a", id: 3, current: a * MiB), group("/t/b", id: 4, current: 50 * MiB)])
        }
        let e = Evaluator(config: cfg, ownCgroup: nil)
        var (d, st) = e.evaluate(s(0, 200), state: PolicyState())
        #expect(d.victim == nil && d.observed.map(\.path) == [CgroupPath("/t/a")])
        #expect(d.noVictimReason == "no guard fired")
        st.recordObservation(guard: cfg.guards[0], victim: d.observed[0].path, at: d.time)
        // It reports once per incident: its own delay, and nothing else waits.
        (d, st) = e.evaluate(s(1, 500), state: st)
        #expect(d.observed.isEmpty && d.guards[0].waitingUntil != nil)
        #expect(d.victim?.path == CgroupPath("/t/a") && d.victim?.guardName == "live")
        #expect(st.lastKill == nil)
    }

    @Test func headroomTellsHowNearEachTriggerIs() throws {
        let cfg = try config("""
            [[guard]]
            name = "limits"
            match = "/t/*"
            [[guard.trigger]]
            usage_of_limit = "90%"
            [[guard.trigger]]
            node_available_below = "10%"
            [[guard.trigger]]
            oom_kill = true
            """)
        let s = snapshot(at: 0, [group("/t", id: 2), group("/t/a", id: 3, current: 45 * MiB, max: .bytes(100 * MiB)),
                                 group("/t/b", id: 4, current: 81 * MiB, max: .bytes(100 * MiB))],
                         system: system(total: 1000 * MiB, available: 150 * MiB))
        let h = run(cfg, [s])[0].guards[0].headroom
        #expect(h.map(\.trigger) == [0, 1])
        #expect(h[0].path == CgroupPath("/t/b") && abs(h[0].headroom - 0.1) < 1e-9)   // 81% of a 90% threshold
        #expect(abs(h[1].headroom - 0.5) < 1e-9)   // 150M available over a 100M threshold
    }

    @Test func growthNamesTheUsageTriggersLargestStepShortOfItsThreshold() throws {
        let cfg = try config("""
            [[guard]]
            name = "tenants"
            match = "/t/*"
            [[guard.trigger]]
            usage_of_limit = "80%"
            [[guard.trigger]]
            usage_above = "100M"
            count = "unreclaimable"
            [[guard.trigger]]
            pressure_above = "50%"
            """)
        let limit = Limit.bytes(64 * MiB)
        let first = snapshot(at: 1, [group("/t/a", id: 3, current: 1 * MiB, max: limit),
                                     group("/t/b", id: 4, current: 30 * MiB),
                                     group("/t/c", id: 5, current: 40 * MiB, max: limit, anon: 10 * MiB),
                                     group("/t/e", id: 7, current: 50 * MiB, max: limit)])
        let second = snapshot(at: 2, [group("/t/a", id: 3, current: 21 * MiB, max: limit),          // a runaway
                                      group("/t/b", id: 4, current: 60 * MiB, some: 10),             // no limit
                                      group("/t/c", id: 5, current: 44 * MiB, max: limit, anon: 10 * MiB), // page cache
                                      group("/t/d", id: 6, current: 5 * MiB, max: limit),            // new
                                      group("/t/e", id: 7, current: 60 * MiB, max: limit)])          // past 80%
        let third = snapshot(at: 2.5, [group("/t/a", id: 3, current: 2 * MiB, max: limit),          // freed
                                       group("/t/d", id: 6, current: 6 * MiB, max: limit)])
        let d = run(cfg, [first, second, third])
        // The first snapshot has nothing to compare with.
        #expect(d[0].guards[0].growth.isEmpty)
        let g = d[1].guards[0].growth
        // Usage of memory.max: /t/a, 20M of a 51.2M threshold, over the second
        // (/t/e grew more but holds; /t/b has no limit; /t/d grew from nothing, less).
        #expect(g.count == 2)
        #expect(g[0].trigger == 0 && g[0].path == CgroupPath("/t/a") && abs(g[0].step - 20 / 51.2) < 1e-9
                && g[0].over == 1_000_000_000)
        // Unreclaimable usage: the page cache of /t/c does not count; /t/b's 30M of 100M does.
        #expect(g[1].trigger == 1 && g[1].path == CgroupPath("/t/b") && abs(g[1].step - 0.3) < 1e-9)
        // Then /t/a shrank: only /t/d's 1M over half a second.
        let h = d[2].guards[0].growth
        #expect(h.count == 2 && h[0].path == CgroupPath("/t/d") && abs(h[0].step - 1 / 51.2) < 1e-9 && h[0].over == 500_000_000)
    }

    @Test func growthOnHostileFiguresDoesNotTrap() throws {
        let cfg = try config("""
            [[guard]]
            name = "tenants"
            match = "/t/*"
            [[guard.trigger]]
            usage_of_limit = "80%"
            [[guard.trigger]]
            usage_above = "1"
            """)
        let huge = UInt64.max
        let first = snapshot(at: 1, [group("/t/a", id: 3, current: 0, max: .bytes(huge)),
                                     group("/t/b", id: 4, current: huge, max: .bytes(0)),
                                     group("/t/c", id: 5, current: 0, max: .bytes(1))])
        let second = snapshot(at: 1, [group("/t/a", id: 3, current: huge / 2, max: .bytes(huge)),
                                      group("/t/b", id: 4, current: 0, max: .bytes(0)),
                                      group("/t/c", id: 5, current: 0, max: .bytes(1))])
        let third = snapshot(at: 2, [group("/t/a", id: 3, current: huge / 2 + huge / 4, max: .bytes(huge))])
        let d = run(cfg, [first, second, third])
        // The same timestamp twice: no span, no growth.
        #expect(d[1].guards[0].growth.isEmpty)
        let g = d[2].guards[0].growth
        // A quarter of the limit over 80% of it (usage_above 1 byte holds: no growth short of it).
        #expect(g.count == 1 && g[0].trigger == 0 && abs(g[0].step - 0.25 / 0.8) < 1e-9)
    }

    @Test func startedForTellsWhenAWatchedGroupLastBecamePopulated() throws {
        let cfg = try config("""
            [[guard]]
            name = "tenants"
            match = "/t/*"
            [[guard.trigger]]
            usage_of_limit = "80%"
            [[guard]]
            name = "pressure"
            match = "/t/*"
            [[guard.trigger]]
            pressure_above = "50%"
            """)
        let limit = Limit.bytes(64 * MiB)
        let d = run(cfg, [
            snapshot(at: 1, [group("/t/a", id: 3, current: 0, max: limit, populated: false),
                             group("/t/b", id: 4, max: limit)]),
            // /t/a starts; /t/b was populated before the first snapshot: not a start.
            snapshot(at: 2, [group("/t/a", id: 3, max: limit), group("/t/b", id: 4, max: limit)]),
            snapshot(at: 2.5, [group("/t/a", id: 3, max: limit), group("/t/b", id: 4, max: limit),
                               group("/t/c", id: 5, current: 60 * MiB, max: limit)]),   // new, started, but holds
            // /t/a empties, then starts again; /t/d is new with processes: a start too.
            snapshot(at: 3, [group("/t/a", id: 3, current: 0, max: limit, populated: false)]),
            snapshot(at: 4, [group("/t/a", id: 3, max: limit), group("/t/d", id: 6, max: limit)]),
        ])
        #expect(d[0].guards[0].startedFor == nil)
        #expect(d[1].guards[0].startedFor == 0)
        #expect(d[2].guards[0].startedFor == 500_000_000)
        #expect(d[3].guards[0].startedFor == nil)
        #expect(d[4].guards[0].startedFor == 0)
        // Not for a guard without a usage trigger.
        #expect(d.allSatisfy { $0.guards[1].startedFor == nil })
    }

    @Test func aReloadKeepsTheTimersOfUnchangedGuards() throws {
        let text = { (sustain: String) in """
            [[guard]]
            name = "steady"
            match = "/t/*"
            [[guard.trigger]]
            usage_above = "0"
            for = "10s"

            [[guard]]
            name = "edited"
            match = "/t/*"
            [[guard.trigger]]
            usage_above = "0"
            for = "\(sustain)"
            """ }
        let old = try config(text("10s"))
        let s = { (t: Double) in snapshot(at: t, [group("/t", id: 2), group("/t/a", id: 3)]) }
        let d = run(old, [s(0), s(5)])
        #expect(d[1].guards.map { $0.watched.first?.triggers[0].heldFor } == [.seconds(5), .seconds(5)])
        // The reloaded file has a guard moved first and one edited.
        let new = try config("[[guard]]\nname = \"new\"\nmatch = \"/x\"\n[[guard.trigger]]\noom_kill = true\n\n" + text("20s"))
        var st = PolicyState()
        for snap in [s(0), s(5)] { st = Evaluator(config: old, ownCgroup: nil).evaluate(snap, state: st).1 }
        let carried = st.carried(from: old, to: new)
        let after = Evaluator(config: new, ownCgroup: nil, detail: .all).evaluate(s(9), state: carried).0
        #expect(after.guards[1].watched.first?.triggers[0].heldFor == .seconds(9))   // steady: since 0
        #expect(after.guards[2].watched.first?.triggers[0].heldFor == .zero)         // edited: starts over
    }
}
