import Testing
@testable import CGWardenService

/// The daemon's timer: the interval, sooner only while a group approaches a
/// threshold (Docs/performance.md, "The guard running").
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
}
