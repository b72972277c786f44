import CGWardenCore
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
        /// Its figure is read between snapshots (`Schedule.near`): its
        /// distance sets when that reading comes, not the next snapshot.
        var read = false
    }

    /// When the next snapshot comes, and what is read until then.
    struct Schedule: Equatable {
        /// Nanoseconds to the next snapshot.
        var snapshot: UInt64
        /// Nanoseconds between two readings of `near` until then; nil: none.
        var reading: UInt64?
        /// The groups near a threshold whose figure is read (one file each):
        /// the next snapshot comes at once when one moved toward its threshold.
        var near: [NearGroup]
    }

    /// A usage trigger's largest growth on a watched group short of its threshold (`TriggerGrowth`).
    struct Growth {
        /// Share of the threshold gained.
        var step: Double
        /// Over how many nanoseconds (since the previous snapshot).
        var over: UInt64
    }

    private var previous: [Key: (headroom: Double, time: UInt64)] = [:]

    /// The next snapshot after `decision` (taken at its time), and what is read until then.
    /// A group resting near its threshold is read (one file, at up to the
    /// floor's rate) rather than the whole tree sampled: a snapshot of 1,000
    /// groups at 10 Hz cost the VM 0.85 s of CPU a second for one tenant
    /// resting at 94% of its limit (Docs/performance.md, daemon-idle).
    mutating func schedule(after decision: Decision, interval: UInt64, tunables: DaemonTunables) -> Schedule {
        var near = decision.guards.flatMap { g in g.near.map { (name: g.name, group: $0) } }
        near.sort { ($0.group.headroom, $0.group.id) < ($1.group.headroom, $1.group.id) }
        var unread = decision.guards.compactMap(\.nearUnread).min()
        var read: [NearGroup] = []
        var readKeys = Set<Key>()
        for n in near {
            guard read.count < tunables.maximumNearReads else {
                unread = min(unread ?? n.group.headroom, n.group.headroom)
                break
            }
            read.append(n.group)
            readKeys.insert(Key(guardName: n.name, trigger: n.group.trigger, id: n.group.id))
        }
        let nearest = decision.guards.flatMap { g in
            g.headroom.map { h in
                // A node-wide figure is read once for the trigger (id 0), whichever group measured it.
                Nearest(key: .init(guardName: g.name, trigger: h.trigger, id: h.id), headroom: h.headroom,
                        read: readKeys.contains(Key(guardName: g.name, trigger: h.trigger, id: h.id))
                            || readKeys.contains(Key(guardName: g.name, trigger: h.trigger, id: 0)))
            }
        }
        let growth = decision.guards.flatMap { g in g.growth.map { Growth(step: $0.step, over: $0.over) } }
        var snapshot = delay(nearest, growth: growth, startedFor: decision.guards.compactMap(\.startedFor).min(),
                             now: decision.time.monotonicNanos, interval: interval, tunables: tunables)
        if let unread { snapshot = min(snapshot, distance(unread, interval: interval, tunables: tunables)) }
        guard let reading = read.map({ distance($0.headroom, interval: interval, tunables: tunables) }).min(),
              reading < snapshot else {
            return Schedule(snapshot: snapshot, reading: nil, near: [])
        }
        return Schedule(snapshot: snapshot, reading: reading, near: read)
    }

    /// Nanoseconds to the next look at a group this far from a threshold
    /// (`fastSamplingHeadroom`): the interval, less as it nears, down to the floor.
    func distance(_ headroom: Double, interval: UInt64, tunables: DaemonTunables) -> UInt64 {
        guard headroom > 0, headroom < tunables.fastSamplingHeadroom else { return interval }
        let floor = UInt64(tunables.minimumSampleInterval.nanosecondsClamped)
        return max(floor, UInt64(saturating: Double(interval) * headroom / tunables.fastSamplingHeadroom))
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
        // (Unless its figure is read between snapshots: then the reading
        // that shows it moving brings the next snapshot.)
        var soonest = n.read ? interval : distance(n.headroom, interval: interval, tunables: tunables)
        // And sooner while it approaches: a share of the time left at the rate since the previous snapshot.
        guard let p = previous[n.key], now > p.time else { return soonest }
        let approach = (p.headroom - n.headroom) / Double(now - p.time)
        guard approach > 0 else { return soonest }
        let left = n.headroom / approach * tunables.approachShare
        guard left < Double(soonest) else { return soonest }
        return max(UInt64(tunables.approachMinimumInterval.nanosecondsClamped), UInt64(left))
    }
}
