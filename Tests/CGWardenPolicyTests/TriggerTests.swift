import Testing
import CGWardenCore
@testable import CGWardenPolicy

@Suite struct SustainedTriggerTests {
    let cfg = try! config("""
        [[guard]]
        name = "tenants"
        match = "/t/*"
        [[guard.trigger]]
        usage_of_limit = "90%"
        for = "10s"
        """)

    func at(_ t: Double, _ mib: UInt64) -> Snapshot {
        snapshot(at: t, [group("/t", id: 2), group("/t/a", id: 3, current: mib * MiB, max: .bytes(100 * MiB))])
    }

    @Test func heldFor9point9OfTenSecondsDoesNotFire() {
        let d = run(cfg, [at(0, 95), at(5, 95), at(9.9, 95)])
        #expect(d.allSatisfy { $0.victim == nil })
        #expect(d[2].guards[0].watched.first { $0.path.description == "/t/a" }?.triggers[0].heldFor == .seconds(saturating: 9.9))
        #expect(d[2].guards[0].watched[0].triggers[0].holding)
        #expect(!d[2].guards[0].fired)
    }

    @Test func heldForTenSecondsFires() {
        let d = run(cfg, [at(0, 95), at(5, 95), at(10, 95)])
        #expect(d[1].victim == nil)
        #expect(d[2].victim?.path.description == "/t/a")
        #expect(d[2].victim?.id == 3)
        #expect(d[2].guards[0].watched.first { $0.fired }?.triggers[0].measured == "95.0M of 100.0M (95.0%)")
    }

    @Test func aDipOfOneSampleRestartsTheTimer() {
        let d = run(cfg, [at(0, 95), at(3, 95), at(6, 80), at(7, 95), at(16, 95), at(17, 95)])
        #expect(d[2].guards[0].watched[0].triggers[0].holding == false)
        #expect(d[4].victim == nil)                      // 9 s since the dip
        #expect(d[5].victim?.path.description == "/t/a") // 10 s since the dip
    }

    @Test func eachGroupHasItsOwnTimer() {
        let s0 = snapshot(at: 0, [group("/t/a", id: 3, current: 95 * MiB, max: .bytes(100 * MiB)),
                                  group("/t/b", id: 4, current: 10 * MiB, max: .bytes(100 * MiB))])
        let s1 = snapshot(at: 6, [group("/t/a", id: 3, current: 95 * MiB, max: .bytes(100 * MiB)),
                                  group("/t/b", id: 4, current: 99 * MiB, max: .bytes(100 * MiB))])
        let s2 = snapshot(at: 10, [group("/t/a", id: 3, current: 95 * MiB, max: .bytes(100 * MiB)),
                                   group("/t/b", id: 4, current: 99 * MiB, max: .bytes(100 * MiB))])
        let d = run(cfg, [s0, s1, s2])
        #expect(d[2].victim?.path.description == "/t/a")
        #expect(d[2].guards[0].watched.first { $0.path.description == "/t/b" }?.fired == false)
    }

    @Test func quietGroupsAreCountedNotListedByDefault() {
        let s = snapshot(at: 0, [group("/t/a", id: 3, current: 95 * MiB, max: .bytes(100 * MiB)),
                                 group("/t/b", id: 4, current: 10 * MiB, max: .bytes(100 * MiB)),
                                 group("/t/c", id: 5, current: 10 * MiB, max: .bytes(100 * MiB))])
        let d = run(cfg, [s], detail: .holding)[0]
        #expect(d.guards[0].watched.map(\.path.description) == ["/t/a"])
        #expect(d.guards[0].quiet == 2)
        #expect(run(cfg, [s])[0].guards[0].watched.count == 3)
    }

    @Test func aRecreatedGroupStartsOver() {
        // Same path, new id: a new group, whose timer starts at its first sighting.
        let d = run(cfg, [at(0, 95), snapshot(at: 10, [group("/t/a", id: 99, current: 95 * MiB, max: .bytes(100 * MiB))])])
        #expect(d[1].victim == nil)
    }
}

@Suite struct TriggerKindTests {
    func fires(_ trigger: String, _ groups: [CgroupSnapshot], system s: SystemSnapshot = system(),
               before: [CgroupSnapshot]? = nil, dt: Double = 1) throws -> Bool {
        let cfg = try config("""
            [[guard]]
            name = "g"
            match = "/a"
            [[guard.trigger]]
            \(trigger)
            """)
        var snaps: [Snapshot] = []
        if let before { snaps.append(snapshot(at: 100, before, system: s)) }
        snaps.append(snapshot(at: 100 + dt, groups, system: s))
        return run(cfg, snaps).last!.guards[0].fired
    }

    @Test func usageOfLimit() throws {
        #expect(try fires("usage_of_limit = \"90%\"", [group("/a", id: 2, current: 90 * MiB, max: .bytes(100 * MiB))]))
        #expect(try !fires("usage_of_limit = \"90%\"", [group("/a", id: 2, current: 89 * MiB, max: .bytes(100 * MiB))]))
        #expect(try !fires("usage_of_limit = \"90%\"", [group("/a", id: 2, current: 99 * MiB, max: .max)]))
        #expect(try fires("usage_of_limit = 90", [group("/a", id: 2, current: 90 * MiB, max: .bytes(100 * MiB))]))
    }

    @Test func usageOfHighAndUnreclaimable() throws {
        let g = group("/a", id: 2, current: 95 * MiB, high: .bytes(100 * MiB), anon: 40 * MiB)
        #expect(try fires("usage_of_limit = \"90%\"\nlimit = \"high\"", [g]))
        #expect(try !fires("usage_of_limit = \"90%\"\nlimit = \"high\"\ncount = \"unreclaimable\"", [g]))
        #expect(try !fires("usage_of_limit = \"90%\"", [g]))  // no memory.max
    }

    @Test func usageAbove() throws {
        #expect(try fires("usage_above = \"2G\"", [group("/a", id: 2, current: 2048 * MiB)]))
        #expect(try !fires("usage_above = \"2G\"", [group("/a", id: 2, current: 2047 * MiB)]))
        #expect(try !fires("usage_above = \"1G\"\ncount = \"unreclaimable\"", [group("/a", id: 2, current: 2048 * MiB, anon: 100 * MiB)]))
    }

    @Test func groupPressure() throws {
        #expect(try fires("pressure_above = \"40%\"", [group("/a", id: 2, some: 40)]))
        #expect(try !fires("pressure_above = \"40%\"", [group("/a", id: 2, some: 39.99)]))
        #expect(try fires("pressure_above = \"20%\"\npressure = \"full\"", [group("/a", id: 2, some: 0, full: 25)]))
        #expect(try fires("pressure_above = \"20%\"\nwindow = \"60s\"", [group("/a", id: 2, some: 0, someAvg60: 30)]))
        #expect(try !fires("pressure_above = \"20%\"\nwindow = \"60s\"", [group("/a", id: 2, some: 50, someAvg60: 10)]))
    }

    @Test func nodeMemoryAndSwap() throws {
        let g = [group("/a", id: 2)]
        #expect(try fires("node_available_below = \"10%\"", g, system: system(total: 1000 * MiB, available: 100 * MiB)))
        #expect(try !fires("node_available_below = \"10%\"", g, system: system(total: 1000 * MiB, available: 101 * MiB)))
        #expect(try fires("node_available_below = \"512M\"", g, system: system(available: 512 * MiB)))
        #expect(try fires("node_swap_free_below = \"10%\"", g, system: system(swapTotal: 1000 * MiB, swapFree: 50 * MiB)))
        #expect(try !fires("node_swap_free_below = \"10%\"", g, system: system(swapTotal: 0, swapFree: 0)))
        #expect(try fires("node_pressure_above = \"60%\"\npressure = \"full\"", g, system: system(full: 61)))
        #expect(try !fires("node_pressure_above = \"60%\"", g, system: system(some: 59, full: 70)))
    }

    @Test func eventRates() throws {
        let before = [group("/a", id: 2, events: (high: 0, max: 100, oomKill: 0))]
        #expect(try fires("events_per_second_above = 10", [group("/a", id: 2, events: (0, 120, 0))], before: before, dt: 2))
        #expect(try !fires("events_per_second_above = 10", [group("/a", id: 2, events: (0, 119, 0))], before: before, dt: 2))
        #expect(try fires("events_per_second_above = 5\nevent = \"high\"", [group("/a", id: 2, events: (50, 100, 0))], before: before, dt: 10))
        // The first snapshot has no rate yet.
        #expect(try !fires("events_per_second_above = 0", [group("/a", id: 2, events: (0, 500, 0))]))
    }

    @Test func oomKillRising() throws {
        let before = [group("/a", id: 2, events: (0, 0, 1))]
        #expect(try fires("oom_kill = true", [group("/a", id: 2, events: (0, 0, 2))], before: before))
        #expect(try !fires("oom_kill = true", [group("/a", id: 2, events: (0, 0, 1))], before: before))
        #expect(try !fires("oom_kill = true", [group("/a", id: 2, events: (0, 0, 5))]))  // no earlier snapshot
    }

    @Test func combineAnyAndAll() throws {
        let g = [group("/a", id: 2, current: 95 * MiB, max: .bytes(100 * MiB), some: 5)]
        let any = try config("""
            [[guard]]
            name = "g"
            match = "/a"
            [[guard.trigger]]
            usage_of_limit = "90%"
            [[guard.trigger]]
            pressure_above = "10%"
            """)
        var all = any
        all.guards[0].combine = .all
        #expect(run(any, [snapshot(at: 1, g)])[0].guards[0].fired)
        #expect(!run(all, [snapshot(at: 1, g)])[0].guards[0].fired)
        let both = [group("/a", id: 2, current: 95 * MiB, max: .bytes(100 * MiB), some: 15)]
        #expect(run(all, [snapshot(at: 1, both)])[0].guards[0].fired)
    }
}
