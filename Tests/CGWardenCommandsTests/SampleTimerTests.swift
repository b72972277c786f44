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

    static func evaluator(near: Double = 0) throws -> Evaluator {
        let cfg = try ConfigLoader.load([(name: "t.toml", text: """
            [[guard]]
            name = "tenants"
            match = "/t/*"
            candidates = "self"
            [[guard.trigger]]
            usage_of_limit = "80%"
            """)])
        var e = Evaluator(config: cfg, ownCgroup: nil)
        e.nearHeadroom = near
        return e
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
            #expect(t.schedule(after: d, interval: Self.second, tunables: DaemonTunables()).snapshot == Self.second)
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
            let delay = t.schedule(after: d, interval: Self.second, tunables: tunables).snapshot
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

    // MARK: groups near a threshold, read between snapshots

    @Test func aGroupRestingNearItsThresholdIsReadNotSnapshottedAtTheFloor() throws {
        let e = try Self.evaluator(near: DaemonTunables().fastSamplingHeadroom)
        var state = PolicyState()
        var t = SampleTimer()
        // Tenant 3 rests at 48 MiB of a 64 MiB limit: 94% of its 80% threshold
        // (0.0625 of it left: by its distance, every 0.125 s).
        for s in 0..<5 {
            let (d, next) = e.evaluate(Self.node(at: Double(s + 1), count: 20) { $0 == 3 ? 48 * Self.MiB : 20 * Self.MiB },
                                       state: state)
            state = next
            let plan = t.schedule(after: d, interval: Self.second, tunables: DaemonTunables())
            // Whole snapshots at the interval; tenant 3's memory.current by its distance.
            #expect(plan.snapshot == Self.second)
            #expect(plan.reading == 125_000_000)
            #expect(plan.near.map(\.id) == [13] && plan.near.first?.reading == .current)
        }
    }

    @Test func aRunawayFromRestIsSeenByTheReadingThenSampledByItsApproach() throws {
        let e = try Self.evaluator(near: DaemonTunables().fastSamplingHeadroom)
        var state = PolicyState()
        var t = SampleTimer()
        let tunables = DaemonTunables()
        // Tenant 3 rests at 48 MiB, then from 2.5 s runs away at 30 MiB/s; the
        // threshold (51.2 MiB) is crossed at 2.607 s.
        let usage = { (now: Double) -> UInt64 in UInt64((48 + max(0, now - 2.5) * 30) * Double(Self.MiB)) }
        var now = 1.0
        var snapshots = 0
        var readings = 0
        var decided: Double?
        while now < 5, decided == nil {
            let (d, next) = e.evaluate(Self.node(at: now, count: 20) { $0 == 3 ? usage(now) : 20 * Self.MiB }, state: state)
            state = next
            snapshots += 1
            if d.victim != nil { decided = now; break }
            let plan = t.schedule(after: d, interval: Self.second, tunables: tunables)
            // The daemon's loop: read the near groups until one moved, or the snapshot is due.
            var at = now + Double(plan.snapshot) / 1e9
            if let every = plan.reading {
                var r = now + Double(every) / 1e9
                while r < at {
                    readings += 1
                    if plan.near.contains(where: { $0.moved(to: Double(usage(r)), step: tunables.growthStep) }) { at = r; break }
                    r += Double(every) / 1e9
                }
            }
            now = at
        }
        let crossing = 2.5 + (51.2 - 48) / 30
        let decision = try #require(decided)
        // Decided within one reading of the crossing (0.125 s), as when whole snapshots came by its distance.
        #expect(decision >= crossing && decision <= crossing + 0.125 + 1e-6, "decided at \(decision)")
        // Resting from 1 s to 2.5 s: snapshots at the interval, not 10 a second.
        #expect(snapshots <= 8, "\(snapshots) snapshots, \(readings) readings")
        #expect(readings >= 10)
    }

    @Test func pastTheReadLimitTheNearestLeftOutIsSampledByItsDistance() throws {
        let e = try Self.evaluator(near: DaemonTunables().fastSamplingHeadroom)
        var tunables = DaemonTunables()
        tunables.maximumNearReads = 1
        var t = SampleTimer()
        // Two tenants rest near: 48 MiB (0.0625 left) and 44 MiB (0.140625 left).
        let (d, _) = e.evaluate(Self.node(at: 1, count: 20) { $0 == 3 ? 48 * Self.MiB : $0 == 4 ? 44 * Self.MiB : 20 * Self.MiB },
                                state: PolicyState())
        let plan = t.schedule(after: d, interval: Self.second, tunables: tunables)
        #expect(plan.near.map(\.id) == [13])
        #expect(plan.reading == 125_000_000)
        // 0.140625 of 0.5: 0.28 s to tenant 4's whole snapshot.
        #expect(plan.snapshot == 281_250_000)
    }
}
