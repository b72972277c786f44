import Testing
import CGWardenCore
@testable import CGWardenPolicy

// Counters at 2^64-1, 2^63 and 0, counters going backwards (a group
// recreated, a forged recording): the evaluator and its texts never trap.

private let top = UInt64.max
private let half = UInt64(1) << 63

/// A group whose every memory figure is `v`, with `memory.stat` of anon, shmem and kernel at `v`.
private func extreme(_ path: String, id: UInt64, _ v: UInt64, max: Limit? = nil, events: UInt64? = nil) -> CgroupSnapshot {
    var g = group(path, id: id, current: v, max: max ?? .bytes(v), low: .bytes(v), min: .bytes(v), swap: v)
    g.memory?.stat = KeyedCounters(["anon": v, "file": v, "shmem": v, "kernel": v])
    if let events {
        g.memory?.events = MemoryEvents(KeyedCounters(["low": events, "high": events, "max": events, "oom": events,
                                                       "oom_kill": events]))
    }
    return g
}

/// Every trigger and, per guard, one rank key: the whole evaluator on one snapshot.
private func everything(rank: String) throws -> Config {
    try config("""
        [[guard]]
        name = "all"
        match = "/t/*"
        rank = "\(rank)"
        combine = "any"
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
        node_swap_free_below = "100%"
        [[guard.trigger]]
        node_pressure_above = "0%"
        [[guard.trigger]]
        events_per_second_above = 1.0
        event = "max"
        [[guard.trigger]]
        oom_kill = true
        """)
}

@Suite struct HostileEvaluationTests {
    static let ranks = ["usage", "usage_above_protection", "growth", "pressure", "swap"]

    /// `rank = "swap"` with memory.swap.current at 2^64-1 trapped (Double 2^64 back to UInt64).
    @Test func swapAtTheTopRanksAndShows() throws {
        let cfg = try config("""
            [[guard]]
            name = "swap"
            match = "/t/*"
            rank = "swap"
            [[guard.trigger]]
            usage_of_limit = "50%"
            """)
        let d = run(cfg, [snapshot(at: 0, [group("/t", id: 2),
                                           group("/t/a", id: 3, current: 60 * MiB, max: .bytes(100 * MiB), swap: top),
                                           group("/t/b", id: 4, current: 60 * MiB, max: .bytes(100 * MiB), swap: half)])])[0]
        #expect(d.victim?.path.description == "/t/a")
        #expect(d.guards[0].candidates.map(\.scoreText) == ["swap 16.0E", "swap 8.0E"])
    }

    /// The shipped default configuration trapped on anon + shmem + kernel.
    @Test func theShippedDefaultOnCountersAtTheTop() throws {
        let cfg = try ConfigLoader.load([(name: "default", text: DefaultConfig.text)])
        let groups = [group("/system.slice", id: 2), extreme("/system.slice/a.service", id: 3, top),
                      extreme("/system.slice/b.service", id: 4, half), extreme("/system.slice/c.service", id: 5, 0)]
        let sys = system(total: top, available: 0, swapTotal: top, swapFree: 0, some: 100, full: 100)
        let d = run(cfg, [snapshot(at: 0, groups, system: sys), snapshot(at: 15, groups, system: sys),
                          snapshot(at: 30, groups, system: sys)])
        let last = try #require(d.last)
        #expect(last.victim != nil)
        let atLimit = try #require(last.guards.first { $0.name == "at-own-limit" })
        #expect(atLimit.watched.first { $0.path.description == "/system.slice/a.service" }?.triggers[0].measured
                == "16.0E of 16.0E (100.0%)")
    }

    /// `node_available_below = "3%"` of a MemTotal near 2^64: 100% of it is 2^64 as a Double.
    @Test func percentagesOfATotalNearTheTop() {
        #expect(Amount.percent(.percent(100)).bytes(of: top) == top)
        #expect(Amount.percent(.percent(3)).bytes(of: top) == 553_402_322_211_286_528)
        #expect(Amount.percent(.percent(1e300)).bytes(of: 2) == top)
        #expect(Amount.percent(.percent(0)).bytes(of: top) == 0)
        #expect(Amount.percent(Percent(fraction: .nan)).bytes(of: top) == 0)
    }

    @Test(arguments: ranks, [top, half, 0])
    func everyTriggerAndRankOnExtremes(rank: String, value: UInt64) throws {
        let cfg = try everything(rank: rank)
        let sys = system(total: value, available: value, swapTotal: value, swapFree: value, some: 1e308, full: .infinity)
        let s0 = snapshot(at: 0, [group("/t", id: 2), extreme("/t/a", id: 3, value, events: 0),
                                  extreme("/t/b", id: 4, value, max: .bytes(0), events: value)], system: sys)
        // 1 ns later: rates and growth of a whole 64-bit range per nanosecond.
        var s1 = snapshot(at: 0, [group("/t", id: 2), extreme("/t/a", id: 3, value == 0 ? top : 0, events: top),
                                  extreme("/t/b", id: 4, value, max: .bytes(0), events: 0)], system: sys)
        s1.time.monotonicNanos += 1
        // A second later: a rank by growth is known (Evaluator.growthKnownAfter).
        var s2 = s1
        s2.time.monotonicNanos += 1_000_000_000
        let d = run(cfg, [s0, s1, s2])
        for decision in d {
            _ = decision.json.serialized()
            for g in decision.guards {
                for w in g.watched { for t in w.triggers { _ = t.measured } }
                for c in g.candidates { _ = c.scoreText; _ = c.excluded }
            }
        }
        #expect(d[1].guards[0].fired)
        if rank == "growth" {
            // Seen for 1 ns: the guard waits for the growth to be known.
            #expect(d[1].victim == nil && d[1].noVictimReason?.contains("waits for the growth") == true)
        } else {
            #expect(d[1].victim != nil)
        }
        #expect(d[2].victim != nil || d[2].guards[0].waitingUntil != nil)
    }

    @Test func growthOfAWholeRangeInOneNanosecond() throws {
        let cfg = try config("""
            [[guard]]
            name = "g"
            match = "/t/*"
            rank = "growth"
            [[guard.trigger]]
            usage_above = "0"
            """)
        var s1 = snapshot(at: 0, [group("/t/up", id: 3, current: top), group("/t/down", id: 4, current: 0)])
        s1.time.monotonicNanos = 1
        var s2 = s1
        s2.time.monotonicNanos += 1_000_000_000
        let d = run(cfg, [snapshot(at: 0, [group("/t/up", id: 3, current: 0), group("/t/down", id: 4, current: top)]), s1, s2])
        // At 1 ns the growth is not known yet; a second later it is (a range per nanosecond, saturated).
        #expect(d[1].guards[0].candidates.allSatisfy { if case .rankNotKnownYet? = $0.exclusion { return true }; return false })
        #expect(d[2].guards[0].candidates.map(\.scoreText) == ["growth +16.0E/s", "growth -16.0E/s"])
    }

    /// A group recreated under the same id (a fixture on tmpfs reuses inodes) or
    /// a forged recording: counters go backwards. No rate, no OOM kill, no trap.
    @Test func countersGoingBackwards() throws {
        let cfg = try config("""
            [[guard]]
            name = "g"
            match = "/t/*"
            combine = "any"
            [[guard.trigger]]
            events_per_second_above = 1.0
            event = "max"
            [[guard.trigger]]
            oom_kill = true
            """)
        let d = run(cfg, [snapshot(at: 0, [group("/t/a", id: 3, events: (top, top, top))]),
                          snapshot(at: 1, [group("/t/a", id: 3, events: (0, 0, 0))])])
        let triggers = d[1].guards[0].watched[0].triggers
        #expect(triggers.map(\.holding) == [false, false])
        #expect(triggers.map(\.measured) == ["max +0/s", "oom_kill 18446744073709551615 -> 0"])
    }

    @Test func eventRateOfAWholeRangeInOneNanosecond() throws {
        let cfg = try config("""
            [[guard]]
            name = "g"
            match = "/t/*"
            [[guard.trigger]]
            events_per_second_above = 1.0
            event = "max"
            """)
        var s1 = snapshot(at: 0, [group("/t/a", id: 3, events: (0, top, 0))])
        s1.time.monotonicNanos = 1
        let d = run(cfg, [snapshot(at: 0, [group("/t/a", id: 3, events: (0, 0, 0))]), s1])
        #expect(d[1].guards[0].watched[0].triggers[0].measured == "max +1.844674407370955e+28/s")
        #expect(d[1].victim?.path.description == "/t/a")
    }

    /// A clock at the end of 64 bits: the post-action delay and the hold time saturate.
    @Test func timeAtTheTop() throws {
        let cfg = try config("""
            [[guard]]
            name = "g"
            match = "/t/*"
            post_action_delay = "10s"
            [[guard.trigger]]
            usage_above = "0"
            """)
        var s = snapshot(at: 0, [group("/t/a", id: 3), group("/t/b", id: 4)])
        s.time = Timestamp(monotonicNanos: top - 5, wallNanos: top - 5)
        var state = PolicyState()
        state.recordAction(guard: cfg.guards[0], victim: CgroupPath("/t/a")!, id: 3, at: s.time)
        #expect(state.lastKill?.until == top)
        let d = run(cfg, [s], state: state)[0]
        #expect(d.guards[0].waitingUntil == Timestamp(monotonicNanos: top, wallNanos: top))
        #expect(d.noVictimReason == "guard 'g' fired but waits 0s more after killing /t/a")

        // A hold that started "later" than now (state from another clock): held 0, not negative.
        var later = PolicyState()
        later.holdingSince[PolicyState.HoldKey(guardIndex: 0, triggerIndex: 0, group: 3)] = top
        let d2 = run(cfg, [snapshot(at: 1, [group("/t/a", id: 3)])], state: later)[0]
        #expect(d2.guards[0].watched[0].triggers[0].heldFor == .zero)
    }

    @Test func protectionAtTheTop() throws {
        let cfg = try config("""
            [[guard]]
            name = "g"
            match = "/t"
            candidates = "children"
            rank = "usage_above_protection"
            [[guard.trigger]]
            usage_above = "0"
            """)
        let d = run(cfg, [snapshot(at: 0, [extreme("/t", id: 2, top), extreme("/t/a", id: 3, top), extreme("/t/b", id: 4, half)])])[0]
        // The top group keeps all of its 2^64 (as a Double); the children's
        // 2^64 + 2^63 claim is scaled down to it, as the kernel does.
        #expect(d.guards[0].candidates.map(\.path.description) == ["/t/a", "/t/b"])
        #expect(d.guards[0].candidates.map(\.protection) == [12_297_829_382_473_033_728, 6_148_914_691_236_516_864])
    }
}

@Suite struct HostileQuantityTests {
    @Test func timeSpans() {
        #expect(Duration.seconds(saturating: 1e300) == Duration.maximum)
        #expect(Duration.seconds(saturating: -1) == .zero)
        #expect(Duration.seconds(saturating: .nan) == .zero)
        #expect(Duration.milliseconds(saturating: .max) == Duration.maximum)
        #expect(Duration.nanoseconds(UInt64.max).text == "18446744073.7s")
        #expect(Duration.nanoseconds(UInt64(1) << 63).text == "9223372036.9s")
    }

    @Test func decimals() {
        #expect(Quantities.decimal(1e30, 1) == "1e+30")
        #expect(Quantities.decimal(.infinity, 2) == "inf")
        #expect(Quantities.decimal(-.infinity, 2) == "-inf")
        #expect(Quantities.decimal(.nan, 2) == "nan")
        #expect(Quantities.decimal(-0.5, 1) == "-0.5")
        #expect(Quantities.decimal(2.25, 2) == "2.25")
        #expect(Quantities.trimmed(.infinity) == "inf")
        #expect(Quantities.trimmed(1e20) == "1e+20")
        #expect(Percent(fraction: .infinity).description == "inf%")
    }
}
