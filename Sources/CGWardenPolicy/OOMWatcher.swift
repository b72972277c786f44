import CGWardenCore

/// The kernel's own memory events inside groups, as the event history keeps
/// them: every OOM (`oom`, `oom_kill`, `oom_group_kill` of a group's own
/// `memory.events.local`), bursts of `max` and `high`, each attributed to the
/// group where it happened, and joined with the kernel log's report of the
/// task it killed (/dev/kmsg: which task, how much it held).
///
/// Pure: counters and reports in, events out, on the caller's timestamps.
/// It keeps, per group id of the last snapshot, five counters and two burst
/// windows; and at most `maximumHeld` rises, reports and told reports: its
/// memory follows the groups of the node, never the uptime.
///
/// Attribution: a group's own counters (`memory.events.local`), never the
/// hierarchical ones, in which a parent counts every event of its subtree.
/// The kernel counts `oom` (and `max`) in the group whose limit was hit and
/// `oom_kill` in the victim's group: a kill in a child of a limited parent
/// is an `oom` event of the parent and an `oom` event with the task in the
/// child. Kernels without `memory.events.local` (before 5.2): a leaf's
/// hierarchical counters are its own; other groups have no events of their own.
///
/// Joining: a rise of `oom_kill` in a group takes the reports whose
/// `task_memcg` is that group's path (as the kernel prints it, from the
/// hierarchy's root: the walked root must be the hierarchy's), one per kill,
/// oldest first. A rise waits `reportWait` for its reports (the log may be
/// read after the counters), a report `countersWait` for its rise (the
/// counters of a group are read at the next snapshot, or when it empties); a
/// report whose rise never comes (the group was removed before its counters
/// were read) is told alone, with its group's path and last known id, and a
/// late rise in that group is counted as that report's. Joined by arrival
/// time, not by the kernel log's clock, which drifts from CLOCK_MONOTONIC.
public struct OOMWatcher: Sendable {
    public struct Tunables: Sendable {
        /// A `max` event is one reclaim pass at memory.max: a group whose page
        /// cache fills its limit counts them routinely and harmlessly. Ten
        /// within `burstWindow` mean it lives at its limit (and OOMs when
        /// reclaim stops finding cache): that is an event.
        public var maxBurst: UInt64 = 10
        /// The kernel counts a `high` event for each charge over memory.high
        /// that it throttles: a group briefly over its high counts dozens
        /// in a second. A hundred within `burstWindow` is sustained throttling.
        public var highBurst: UInt64 = 100
        public var burstWindow: Duration = .seconds(10)
        /// A throttled group keeps counting as long as it stays over its
        /// limit: one event per kind and group this often says it still is,
        /// without a journal entry per snapshot (1,000 throttled groups make
        /// at most 1,000 events a minute).
        public var burstRepeat: Duration = .seconds(60)
        /// How long a rise of `oom_kill` waits for the kernel log's report of
        /// the task: the two lines are in the log before the counters can be
        /// read, but the log may be read later in the same wake.
        public var reportWait: Duration = .seconds(2)
        /// How long a kernel-log report waits for the rise in its group's
        /// counters: the next snapshot (the daemon sets interval + 2 s).
        public var countersWait: Duration = .seconds(3)
        /// A report told alone absorbs a later rise in its group for this long.
        public var toldKeep: Duration = .seconds(60)
        /// Rises, reports and told reports held at once, each: an OOM storm
        /// over thousands of groups does not grow the guard; past it, the
        /// oldest is told at once.
        public var maximumHeld = 256

        public init() {}
    }

    /// A group's own counters at one moment (memory.events.local), read by a
    /// snapshot or when the group emptied.
    public struct Reading: Sendable {
        public var path: CgroupPath
        public var id: UInt64
        public var local: MemoryEvents

        public init(path: CgroupPath, id: UInt64, local: MemoryEvents) {
            self.path = path
            self.id = id
            self.local = local
        }
    }

    struct Counters: Equatable {
        var oom: UInt64 = 0, oomKill: UInt64 = 0, oomGroupKill: UInt64 = 0, max: UInt64 = 0, high: UInt64 = 0

        init() {}
        init(_ e: MemoryEvents) {
            oom = e.oom
            oomKill = e.oomKill
            oomGroupKill = e.oomGroupKill
            max = e.max
            high = e.high
        }

        func covers(_ o: Counters) -> Bool {
            oom >= o.oom && oomKill >= o.oomKill && oomGroupKill >= o.oomGroupKill && max >= o.max && high >= o.high
        }
    }

    struct Burst {
        var windowStart: UInt64 = 0
        var count: UInt64 = 0
        var lastReport: UInt64?
    }

    struct Group {
        var path: CgroupPath
        var counters: Counters
        var max = Burst()
        var high = Burst()
        var stamp: UInt64
        /// When its counters were last read (monotonic ns; nil: not yet).
        var seen: UInt64?
    }

    /// OOM counts of one rise not yet told.
    struct Left {
        var kills: UInt64
        var ooms: UInt64
        var groupKills: UInt64

        var isEmpty: Bool { kills == 0 && ooms == 0 && groupKills == 0 }

        /// One kill's counters (with an `oom` and an `oom_group_kill` while
        /// there are some), or everything left when `all`.
        mutating func take(all: Bool) -> [GuardEvent.CounterDelta] {
            let o = all ? ooms : min(ooms, 1), k = all ? kills : min(kills, 1), g = all ? groupKills : min(groupKills, 1)
            ooms -= o
            kills -= k
            groupKills -= g
            var c: [GuardEvent.CounterDelta] = []
            if o > 0 { c.append(.init("oom", o)) }
            if k > 0 { c.append(.init("oom_kill", k)) }
            if g > 0 { c.append(.init("oom_group_kill", g)) }
            return c
        }
    }

    struct HeldRise {
        var path: CgroupPath
        var id: UInt64
        var time: Timestamp
        var left: Left
    }

    struct HeldReport {
        var report: KernelOOMReport
        var time: Timestamp
        var id: UInt64?
    }

    struct Told {
        var path: CgroupPath
        var time: UInt64
    }

    public let tunables: Tunables
    private var groups: [UInt64: Group] = [:]
    /// The greatest id of the last snapshot: ids only grow (kernfs), so a
    /// group above it was made since, and every count it has is new.
    private var newestID: UInt64?
    private var stamp: UInt64 = 0
    private var rises: [HeldRise] = []
    private var reports: [HeldReport] = []
    private var told: [Told] = []

    public init(tunables: Tunables = Tunables()) {
        self.tunables = tunables
    }

    /// Groups whose counters are kept (those of the last snapshot).
    public var trackedGroups: Int { groups.count }
    /// Rises, reports and told reports held.
    public var held: (rises: Int, reports: Int, told: Int) { (rises.count, reports.count, told.count) }

    // MARK: inputs

    /// A snapshot: the groups' own counters against their previous ones. The
    /// first snapshot is the baseline; groups gone are forgotten.
    public mutating func observe(_ snapshot: Snapshot) -> [GuardEvent] {
        stamp &+= 1
        let previousNewest = newestID
        var newest = newestID ?? 0
        var out: [GuardEvent] = []
        var kept = 0
        let all = snapshot.cgroups
        for i in all.indices {
            let g = all[i]
            newest = Swift.max(newest, g.id)
            guard let m = g.memory else { continue }
            // Before 5.2 there is no .local: a leaf's hierarchical counters are its own.
            guard let own = m.eventsLocal ?? (isLeaf(all, i) ? m.events : nil) else { continue }
            kept += 1
            let counters = Counters(own)
            if var known = groups[g.id] {
                known.path = g.path
                known.stamp = stamp
                out += rise(&known, id: g.id, to: counters, at: snapshot.time)
                groups[g.id] = known
            } else {
                var fresh = Group(path: g.path, counters: Counters(), stamp: stamp)
                if let previousNewest, g.id > previousNewest {
                    out += rise(&fresh, id: g.id, to: counters, at: snapshot.time)
                } else {
                    fresh.counters = counters
                    fresh.seen = snapshot.time.monotonicNanos
                }
                groups[g.id] = fresh
            }
        }
        newestID = newest
        if groups.count > kept { groups = groups.filter { $0.value.stamp == stamp } }
        return out + expire(at: snapshot.time)
    }

    /// Counters read between snapshots (a group that just emptied, before
    /// it is removed). Groups not in the last snapshot are left to the next.
    public mutating func observe(_ readings: [Reading], at time: Timestamp) -> [GuardEvent] {
        var out: [GuardEvent] = []
        for r in readings {
            guard var known = groups[r.id] else { continue }
            out += rise(&known, id: r.id, to: Counters(r.local), at: time)
            groups[r.id] = known
        }
        return out + expire(at: time)
    }

    /// A kill the kernel log reported: joined with a rise waiting for it, or held for one.
    public mutating func kernelReport(_ r: KernelOOMReport, at time: Timestamp) -> [GuardEvent] {
        if let i = rises.firstIndex(where: { OOMWatcher.names(r.task, $0.path) }) {
            var rise = rises[i]
            let last = rise.left.kills <= 1
            let e = event(.oom, rise.path, rise.id, Swift.min(rise.time, time), rise.left.take(all: last), task: r.task)
            if last { rises.remove(at: i) } else { rises[i] = rise }
            return [e]
        }
        var out: [GuardEvent] = []
        if reports.count >= tunables.maximumHeld { out.append(tellAlone(reports.removeFirst(), at: time.monotonicNanos)) }
        let path = r.task.taskGroup
        let id = path.flatMap { p in groups.first { $0.value.path == p }?.key }
        reports.append(HeldReport(report: r, time: time, id: id))
        return out
    }

    /// Tells what waited too long: rises without a report (without the
    /// task), reports without a rise (alone).
    public mutating func expire(at now: Timestamp) -> [GuardEvent] {
        let t = now.monotonicNanos
        var out: [GuardEvent] = []
        let riseWait = tunables.reportWait.nanosecondsClamped, reportWait = tunables.countersWait.nanosecondsClamped
        if rises.contains(where: { $0.time.monotonicNanos.addingSaturated(riseWait) <= t }) {
            for var r in rises where r.time.monotonicNanos.addingSaturated(riseWait) <= t {
                out.append(event(.oom, r.path, r.id, r.time, r.left.take(all: true), task: nil))
            }
            rises.removeAll { $0.time.monotonicNanos.addingSaturated(riseWait) <= t }
        }
        if reports.contains(where: { $0.time.monotonicNanos.addingSaturated(reportWait) <= t }) {
            for r in reports where r.time.monotonicNanos.addingSaturated(reportWait) <= t {
                out.append(tellAlone(r, at: t))
            }
            reports.removeAll { $0.time.monotonicNanos.addingSaturated(reportWait) <= t }
        }
        let keep = tunables.toldKeep.nanosecondsClamped
        told.removeAll { $0.time.addingSaturated(keep) <= t }
        return out
    }

    /// When `expire` next has something to tell (monotonic ns), if ever.
    public var nextDeadline: UInt64? {
        let a = rises.map { $0.time.monotonicNanos.addingSaturated(tunables.reportWait.nanosecondsClamped) }.min()
        let b = reports.map { $0.time.monotonicNanos.addingSaturated(tunables.countersWait.nanosecondsClamped) }.min()
        switch (a, b) {
        case let (x?, y?): return Swift.min(x, y)
        default: return a ?? b
        }
    }

    // MARK: counting

    mutating func rise(_ g: inout Group, id: UInt64, to counters: Counters, at time: Timestamp) -> [GuardEvent] {
        let old = g.counters
        // The events counted now happened since the last reading.
        let since = g.seen ?? time.monotonicNanos
        g.counters = counters
        g.seen = time.monotonicNanos
        guard counters.covers(old) else {
            // Counters only grow while a group lives: lower ones belong to
            // another group (made again at the path): a new baseline.
            g.max = Burst()
            g.high = Burst()
            return []
        }
        var out = kills(path: g.path, id: id,
                        Left(kills: counters.oomKill - old.oomKill, ooms: counters.oom - old.oom,
                             groupKills: counters.oomGroupKill - old.oomGroupKill), at: time)
        if let e = burst(&g.max, .max, counters.max - old.max, threshold: tunables.maxBurst, g.path, id, since, time) { out.append(e) }
        if let e = burst(&g.high, .high, counters.high - old.high, threshold: tunables.highBurst, g.path, id, since, time) { out.append(e) }
        return out
    }

    mutating func kills(path: CgroupPath, id: UInt64, _ rise: Left, at time: Timestamp) -> [GuardEvent] {
        var left = rise
        guard !left.isEmpty else { return [] }
        var out: [GuardEvent] = []
        // Kills already told from the log alone: this rise is theirs.
        while left.kills > 0, let i = told.firstIndex(where: { $0.path == path }) {
            told.remove(at: i)
            _ = left.take(all: false)
        }
        while left.kills > 0, let i = reports.firstIndex(where: { OOMWatcher.names($0.report.task, path) }) {
            let r = reports.remove(at: i)
            out.append(event(.oom, path, id, Swift.min(r.time, time), left.take(all: left.kills == 1), task: r.report.task))
        }
        if left.kills > 0 {
            if rises.count >= tunables.maximumHeld {
                var oldest = rises.removeFirst()
                out.append(event(.oom, oldest.path, oldest.id, oldest.time, oldest.left.take(all: true), task: nil))
            }
            rises.append(HeldRise(path: path, id: id, time: time, left: left))
        } else if !left.isEmpty {
            // An OOM at this group's limit whose victim was elsewhere (a
            // child), or that found none; or its rest after the kills.
            if out.isEmpty {
                out.append(event(.oom, path, id, time, left.take(all: true), task: nil))
            } else {
                out[out.count - 1].counters = OOMWatcher.merged(out[out.count - 1].counters, left.take(all: true))
            }
        }
        return out
    }

    /// `since`: the previous reading, where the events of `delta` began.
    func burst(_ b: inout Burst, _ kind: GuardEvent.Kind, _ delta: UInt64, threshold: UInt64, _ path: CgroupPath, _ id: UInt64,
               _ since: UInt64, _ time: Timestamp) -> GuardEvent? {
        guard delta > 0 else { return nil }
        let t = time.monotonicNanos
        if b.count == 0 || t.subtractingSaturated(b.windowStart) > tunables.burstWindow.nanosecondsClamped {
            b.windowStart = since
            b.count = 0
        }
        b.count = b.count.addingSaturated(delta)
        guard b.count >= threshold else { return nil }
        if let last = b.lastReport, t.subtractingSaturated(last) < tunables.burstRepeat.nanosecondsClamped { return nil }
        let n = b.count, span = t.subtractingSaturated(b.windowStart)
        b.count = 0
        b.windowStart = t
        b.lastReport = t
        let what = kind == .max ? "at its memory.max: reclaim ran" : "over its memory.high: throttled"
        let within = span > 0 ? " within \(Duration.nanoseconds(Int64(clamping: span)).text)" : " since it was first seen"
        return event(kind, path, id, time, [.init(kind.rawValue, n)], task: nil, reason: "\(what) \(n) time\(n == 1 ? "" : "s")\(within)")
    }

    mutating func tellAlone(_ r: HeldReport, at t: UInt64) -> GuardEvent {
        let path = r.report.task.taskGroup ?? r.report.task.oomGroup
        if let path {
            if told.count >= tunables.maximumHeld { told.removeFirst() }
            told.append(Told(path: path, time: t))
        }
        return event(.oom, path, r.id, r.time, [], task: r.report.task,
                     reason: "told by the kernel log; the group's own counters did not show it in time "
                         + "(removed before they were read, or outside the guarded root)")
    }

    func event(_ kind: GuardEvent.Kind, _ path: CgroupPath?, _ id: UInt64?, _ time: Timestamp,
               _ counters: [GuardEvent.CounterDelta], task: GuardEvent.KilledTask?, reason: String? = nil) -> GuardEvent {
        var e = GuardEvent(kind: kind, time: time, cgroup: path, cgroupID: id, reason: reason)
        e.counters = counters
        e.task = task
        return e
    }

    // MARK: helpers

    /// The report names this group as the victim's (or, for a kill line
    /// without its summary, as within the group whose limit was hit).
    static func names(_ task: GuardEvent.KilledTask, _ path: CgroupPath) -> Bool {
        if let t = task.taskGroup { return t == path }
        if let o = task.oomGroup { return path.isWithin(o) }
        return false
    }

    static func merged(_ a: [GuardEvent.CounterDelta], _ b: [GuardEvent.CounterDelta]) -> [GuardEvent.CounterDelta] {
        var out = a
        for c in b {
            if let i = out.firstIndex(where: { $0.name == c.name }) {
                out[i].delta = out[i].delta.addingSaturated(c.delta)
            } else {
                out.append(c)
            }
        }
        let order = ["oom", "oom_kill", "oom_group_kill"]
        return out.sorted { (order.firstIndex(of: $0.name) ?? 3) < (order.firstIndex(of: $1.name) ?? 3) }
    }

    /// No child follows it in pre-order.
    func isLeaf(_ all: [CgroupSnapshot], _ i: Int) -> Bool {
        i + 1 == all.count || !(all[i + 1].path.isWithin(all[i].path) && all[i + 1].path != all[i].path)
    }
}
