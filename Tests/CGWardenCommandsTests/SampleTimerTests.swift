import Testing
import CGWardenCore
import CGWardenPolicy
@testable import CGWardenService

/// The daemon's timer: the interval, sooner only while a group approaches a
/// threshold or has just grown by a step (Docs/performance.md, "The guard running").
@Suite struct SampleTimerTests {
    static let second: UInt64 = 1_000_000_000
    static let key = SampleTimer.Key(guardName: "tenants", trigger: 0, id: 42)

    static func nearest(_ headroom: Double, id: UInt64 = 42) -> [SampleTimer.Nearest] {
        [SampleTimer.Nearest(key: SampleTimer.Key(guardName: "tenants", trigger: 0, id: id), headroom: headroom)]
    }

    @Test func farFromEveryThresholdIsTheInterval() {
        var t = SampleTimer()
        #expect(t.delay([], now: Self.second, interval: Self.second, tunables: DaemonTunables()) == Self.second)
        #expect(t.delay(Self.nearest(0.9), now: Self.second, interval: Self.second, tunables: DaemonTunables()) == Self.second)
    }

    @Test func aGroupFirstSeenNearIsSampledByItsDistance() {
        var t = SampleTimer()
        // Headroom 0.25 of 0.5: half the interval.
        #expect(t.delay(Self.nearest(0.25), now: Self.second, interval: Self.second, tunables: DaemonTunables()) == Self.second / 2)
        var u = SampleTimer()
        // At the threshold: the floor of the kernel's wake-ups.
        #expect(u.delay(Self.nearest(0.001), now: Self.second, interval: Self.second, tunables: DaemonTunables())
                == 100_000_000)
    }

    @Test func aGroupRestingNearItsThresholdIsSampledByItsDistance() {
        var t = SampleTimer()
        let tunables = DaemonTunables()
        _ = t.delay(Self.nearest(0.02), now: Self.second, interval: Self.second, tunables: tunables)
        // Same headroom, and a little more: not approaching, but near (a runaway may start at any time).
        #expect(t.delay(Self.nearest(0.02), now: 2 * Self.second, interval: Self.second, tunables: tunables) == 100_000_000)
        #expect(t.delay(Self.nearest(0.03), now: 3 * Self.second, interval: Self.second, tunables: tunables) == 100_000_000)
        // Resting far from it: the interval.
        #expect(t.delay(Self.nearest(0.8), now: 4 * Self.second, interval: Self.second, tunables: tunables) == Self.second)
    }

    @Test func anApproachingGroupIsSampledAtAShareOfTheTimeLeft() {
        var t = SampleTimer()
        let tunables = DaemonTunables()
        _ = t.delay(Self.nearest(0.6), now: Self.second, interval: Self.second, tunables: tunables)
        // 0.2 of headroom lost in 1 s, 0.4 left: 2 s left, sampled after half: 1 s; by distance sooner (0.4 of 0.5 of 1 s).
        #expect(t.delay(Self.nearest(0.4), now: 2 * Self.second, interval: Self.second, tunables: tunables) == 800_000_000)
        // 0.3 lost in 1 s, 0.1 left: a third of a second left, sampled after a sixth.
        let d = t.delay(Self.nearest(0.1), now: 3 * Self.second, interval: Self.second, tunables: tunables)
        #expect(d > 160_000_000 && d < 170_000_000)
        // Closer still: the approach floor, below the kernel's.
        let e = t.delay(Self.nearest(0.01), now: 3 * Self.second + d, interval: Self.second, tunables: tunables)
        #expect(e == UInt64(tunables.approachMinimumInterval.nanosecondsClamped))
        #expect(e < UInt64(tunables.minimumSampleInterval.nanosecondsClamped))
    }

    @Test func aTriggerThatHoldsIsSampledAtTheInterval() {
        var t = SampleTimer()
        let tunables = DaemonTunables()
        #expect(t.delay(Self.nearest(0), now: Self.second, interval: Self.second, tunables: tunables) == Self.second)
        #expect(t.delay(Self.nearest(-0.2), now: 2 * Self.second, interval: Self.second, tunables: tunables) == Self.second)
    }

    @Test func historyIsPerGroup() {
        var t = SampleTimer()
        let tunables = DaemonTunables()
        _ = t.delay(Self.nearest(0.02, id: 1), now: Self.second, interval: Self.second, tunables: tunables)
        // Another group is now the nearest: no history, by distance (0.01 of 0.5 of 1 s is below the floor).
        #expect(t.delay(Self.nearest(0.01, id: 2), now: 2 * Self.second, interval: Self.second, tunables: tunables)
                == 100_000_000)
    }

    @Test func theSoonestOfSeveralTriggersWins() {
        var t = SampleTimer()
        let tunables = DaemonTunables()
        let far = SampleTimer.Nearest(key: SampleTimer.Key(guardName: "a", trigger: 0, id: 1), headroom: 0.9)
        let near = SampleTimer.Nearest(key: SampleTimer.Key(guardName: "b", trigger: 1, id: 2), headroom: 0.1)
        #expect(t.delay([far, near], now: Self.second, interval: Self.second, tunables: tunables) == 200_000_000)
    }
    static let floor: UInt64 = 100_000_000

    @Test func aRunawayThatStartsRightAfterASampleIsSampledAgainAtTheFloor() {
        var t = SampleTimer()
        let tunables = DaemonTunables()
        #expect(t.delay(Self.nearest(1.0), now: Self.second, interval: Self.second, tunables: tunables) == Self.second)
        // A second later it has 0.3 of the threshold more: averaged over the
        // second, 0.3 a second, 0.7 left, the next snapshot after the interval
        // (it crosses in 0.23 s if it started 0.1 s ago). The step alone says: soon.
        let grown = [SampleTimer.Growth(step: 0.3, over: Self.second)]
        #expect(t.delay(Self.nearest(0.7), growth: grown, now: 2 * Self.second, interval: Self.second, tunables: tunables)
                == Self.floor)
        // At the floor the rate is measured (3 a second): the approach takes over, sooner than the floor.
        let again = [SampleTimer.Growth(step: 0.3, over: Self.floor + 5_000_000)]
        let d = t.delay(Self.nearest(0.4), growth: again, now: 2 * Self.second + Self.floor + 5_000_000,
                        interval: Self.second, tunables: tunables)
        #expect(d > 60_000_000 && d < 75_000_000)
    }

    @Test func aFirstSightingThatGrewIsSampledAtTheFloor() {
        var t = SampleTimer()
        // A group that appeared since the previous snapshot with a fifth of the threshold: grew from nothing.
        #expect(t.delay(Self.nearest(0.8), growth: [SampleTimer.Growth(step: 0.2, over: 700_000_000)],
                        now: Self.second, interval: Self.second, tunables: DaemonTunables()) == Self.floor)
    }

    @Test func aSteadyIdleGroupIsNotSampledFaster() {
        var t = SampleTimer()
        let tunables = DaemonTunables()
        // Charge batches and slab move a resting group's usage a little: below the step, the interval.
        for i in 1...5 {
            let noise = [SampleTimer.Growth(step: 0.01, over: Self.second)]
            #expect(t.delay(Self.nearest(0.9), growth: noise, now: UInt64(i) * Self.second, interval: Self.second,
                            tunables: tunables) == Self.second)
        }
        // No growth at all.
        #expect(t.delay(Self.nearest(0.9), growth: [], now: 6 * Self.second, interval: Self.second, tunables: tunables)
                == Self.second)
    }

    @Test func hostileGrowthDoesNotTrap() {
        let tunables = DaemonTunables()
        let cases: [(SampleTimer.Growth, UInt64)] = [
            (.init(step: .nan, over: Self.second), Self.second),
            (.init(step: -0.5, over: Self.second), Self.second),
            (.init(step: -.infinity, over: .max), Self.second),
            (.init(step: .infinity, over: .max), Self.floor),
            (.init(step: .greatestFiniteMagnitude, over: 0), Self.second),
            (.init(step: 0.3, over: 0), Self.second),
        ]
        for (g, expected) in cases {
            var t = SampleTimer()
            #expect(t.delay(Self.nearest(0.9), growth: [g], now: .max, interval: Self.second, tunables: tunables) == expected)
        }
        // An interval shorter than the floor is not lengthened.
        var t = SampleTimer()
        #expect(t.delay([], growth: [.init(step: 1, over: Self.second)], now: Self.second, interval: 50_000_000,
                        tunables: tunables) == 50_000_000)
    }
    @Test func aGroupThatJustStartedIsSampledAtTheFloorForAWhile() {
        var t = SampleTimer()
        let tunables = DaemonTunables()
        // Started 0.3 s ago, nothing grown yet: the floor.
        #expect(t.delay(Self.nearest(1.0), startedFor: 300_000_000, now: Self.second, interval: Self.second,
                        tunables: tunables) == Self.floor)
        // Past the watch: the interval again.
        #expect(t.delay(Self.nearest(1.0), startedFor: UInt64(tunables.startWatch.nanosecondsClamped), now: 2 * Self.second,
                        interval: Self.second, tunables: tunables) == Self.second)
        #expect(t.delay(Self.nearest(1.0), startedFor: .max, now: 3 * Self.second, interval: Self.second,
                        tunables: tunables) == Self.second)
    }
    // MARK: through the evaluator

    static let MiB: UInt64 = 1 << 20

    /// A node of `count` tenants with a 64 MiB memory.max each, at `usage(i)`.
    static func node(at seconds: Double, count: Int, populated: (Int) -> Bool = { _ in true },
                     usage: (Int) -> UInt64) -> Snapshot {
        let ns = UInt64(seconds * 1e9)
        var groups = [CgroupSnapshot(path: .root, id: 1, nrProcs: 1),
                      CgroupSnapshot(path: CgroupPath("/t")!, id: 2, memory: MemoryState(current: 0), nrProcs: 0)]
        for i in 0..<count {
            groups.append(CgroupSnapshot(path: CgroupPath("/t/\(i)")!, id: UInt64(10 + i),
                                         memory: MemoryState(current: usage(i), max: .bytes(64 * MiB)),
                                         events: CgroupEvents(populated: populated(i), frozen: false),
                                         nrProcs: populated(i) ? 1 : 0))
        }
        return Snapshot(root: "/sys/fs/cgroup", time: Timestamp(monotonicNanos: ns, wallNanos: ns),
                        system: SystemSnapshot(meminfo: MemInfo(memTotal: 4096 * MiB, memAvailable: 2048 * MiB,
                                                                swapTotal: 0, swapFree: 0), pressure: nil, oomKill: 0),
                        cgroups: groups)
    }

    static func evaluator() throws -> Evaluator {
        let cfg = try ConfigLoader.load([(name: "t.toml", text: """
            [[guard]]
            name = "tenants"
            match = "/t/*"
            candidates = "self"
            [[guard.trigger]]
            usage_of_limit = "80%"
            """)])
        return Evaluator(config: cfg, ownCgroup: nil)
    }

    @Test func anIdleNodeIsSampledAtTheInterval() throws {
        let e = try Self.evaluator()
        var state = PolicyState()
        var t = SampleTimer()
        // 200 tenants at rest, their usage moving by up to two charge batches
        // (64 pages per CPU) between snapshots, far from the threshold (no
        // distance to sample by), some empty and staying so.
        for s in 0..<30 {
            let snap = Self.node(at: Double(s + 1), count: 200, populated: { $0 % 10 != 0 }) { i in
                UInt64(5 + i % 15) * Self.MiB + UInt64((s * 7 + i) % 3) * 256 * 1024
            }
            let (d, next) = e.evaluate(snap, state: state)
            state = next
            #expect(t.delay(after: d, interval: Self.second, tunables: DaemonTunables()) == Self.second)
        }
    }

    @Test func aRunawayBesideIdleTenantsIsSampledAtTheFloorThenByItsApproach() throws {
        let e = try Self.evaluator()
        var state = PolicyState()
        var t = SampleTimer()
        let tunables = DaemonTunables()
        // Tenant 5 runs away at 30 MiB/s from 0.1 s after the snapshot at 2 s
        // (already populated: no start to see); the others rest at 20 MiB.
        let usage = { (now: Double) in { (i: Int) -> UInt64 in
            i == 5 ? UInt64(2 * Double(Self.MiB) + max(0, now - 2.1) * 30 * Double(Self.MiB)) : 20 * Self.MiB
        } }
        var delays: [UInt64] = []
        var now = 1.0
        while now < 4 {
            let (d, next) = e.evaluate(Self.node(at: now, count: 20, usage: usage(now)), state: state)
            state = next
            if d.victim != nil { break }
            let delay = t.delay(after: d, interval: Self.second, tunables: tunables)
            delays.append(delay)
            now += Double(delay) / 1e9
        }
        // 1 s, 2 s: the interval; at 3 s 27 MiB grown over the second: the
        // floor, not the 0.41 s its average rate would give; then by its
        // approach (and the floor after each step over a longer span) to the
        // crossing at 3.74 s, decided at most the approach floor after it.
        #expect(Array(delays.prefix(3)) == [Self.second, Self.second, Self.floor])
        #expect(now >= 3.74 && now <= 3.74 + 0.05 + 1e-6)
    }
}
