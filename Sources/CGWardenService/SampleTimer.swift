import CGWardenPolicy

/// When the guard takes its next snapshot: the interval, sooner while a
/// watched group approaches a threshold, and at the floor after a group grew
/// by a step over a long span (the rate averaged over it may hide a runaway
/// that started just now) or while one has just started. Each decision names, per guard and
/// trigger, the watched group nearest its threshold and its headroom; the
/// timer keeps the last one of each to tell a group that approaches from one
/// that only stays near (headroom alone sampled a group resting at 79% of an
/// 80% trigger at the floor for as long as it stayed there).
struct SampleTimer {
    struct Key: Hashable {
        var guardName: String
        var trigger: Int
        var id: UInt64
    }

    struct Nearest {
        var key: Key
        /// Share of the threshold left (`TriggerHeadroom.headroom`).
        var headroom: Double
    }

    /// A usage trigger's largest growth on a watched group short of its threshold (`TriggerGrowth`).
    struct Growth {
        /// Share of the threshold gained.
        var step: Double
        /// Over how many nanoseconds (since the previous snapshot).
        var over: UInt64
    }

    private var previous: [Key: (headroom: Double, time: UInt64)] = [:]

    /// Nanoseconds to the next snapshot after `decision` (taken at its time).
    mutating func delay(after decision: Decision, interval: UInt64, tunables: DaemonTunables) -> UInt64 {
        let nearest = decision.guards.flatMap { g in
            g.headroom.map { Nearest(key: .init(guardName: g.name, trigger: $0.trigger, id: $0.id), headroom: $0.headroom) }
        }
        let growth = decision.guards.flatMap { g in g.growth.map { Growth(step: $0.step, over: $0.over) } }
        return delay(nearest, growth: growth, startedFor: decision.guards.compactMap(\.startedFor).min(),
                     now: decision.time.monotonicNanos, interval: interval, tunables: tunables)
    }

    /// Nanoseconds to the next snapshot, after one taken at `now`.
    mutating func delay(_ nearest: [Nearest], growth: [Growth] = [], startedFor: UInt64? = nil, now: UInt64,
                        interval: UInt64, tunables: DaemonTunables) -> UInt64 {
        var seen: [Key: (headroom: Double, time: UInt64)] = [:]
        var soonest = interval
        let floor = UInt64(tunables.minimumSampleInterval.nanosecondsClamped)
        // A workload that just started: no rate yet, and nothing says it will not run away now.
        if let s = startedFor, s < UInt64(tunables.startWatch.nanosecondsClamped) { soonest = min(soonest, floor) }
        // Over a span of about the floor the rate is measured, not guessed:
        // the approach below takes over (twice the floor: the floor's own
        // snapshot comes a little late, by the loop's latency).
        for g in growth where g.step >= tunables.growthStep && g.over > floor.multipliedSaturated(by: 2) {
            soonest = min(soonest, floor)
        }
        for n in nearest where !n.headroom.isNaN {
            soonest = min(soonest, delay(n, now: now, interval: interval, tunables: tunables))
            seen[n.key] = (n.headroom, now)
        }
        previous = seen
        return soonest
    }

    private func delay(_ n: Nearest, now: UInt64, interval: UInt64, tunables: DaemonTunables) -> UInt64 {
        // A trigger that holds is decided on this snapshot (or timed by its
        // `for` on snapshot timestamps): sampling faster would not kill sooner.
        guard n.headroom > 0 else { return interval }
        // By its distance, always: a runaway that starts between two
        // snapshots has no rate yet (measured in the VM: at 35 MiB/s a
        // tenant crosses 80% to its memory.max in 0.7 s, and the rate seen
        // over a mostly idle second came too late).
        var soonest = interval
        if n.headroom < tunables.fastSamplingHeadroom {
            let floor = UInt64(tunables.minimumSampleInterval.nanosecondsClamped)
            soonest = max(floor, UInt64(Double(interval) * n.headroom / tunables.fastSamplingHeadroom))
        }
        // And sooner while it approaches: a share of the time left at the rate since the previous snapshot.
        guard let p = previous[n.key], now > p.time else { return soonest }
        let approach = (p.headroom - n.headroom) / Double(now - p.time)
        guard approach > 0 else { return soonest }
        let left = n.headroom / approach * tunables.approachShare
        guard left < Double(soonest) else { return soonest }
        return max(UInt64(tunables.approachMinimumInterval.nanosecondsClamped), UInt64(left))
    }
}
