import CGWardenActions
import CGWardenCore
import CGWardenPolicy
import Synchronization

/// Where the guard leaves its latest `MetricsFrame` and the endpoint takes
/// it: a reference swapped under a lock held for a few instructions. The old
/// frame is released after the lock, by whoever held it last.
public final class MetricsBoard: Sendable {
    private let frame = Mutex<MetricsFrame?>(nil)

    public init() {}

    public func publish(_ next: MetricsFrame) {
        var next: MetricsFrame? = next
        frame.withLock { swap(&$0, &next) }
        // `next` now holds the previous frame: freed here, outside the lock.
        _ = next
    }

    public var latest: MetricsFrame? { frame.withLock { $0 } }
}

/// Namespace and name of the pod a group belongs to (escaped, as every
/// name cgwarden shows), from the snapshot's table of the kubelet's log
/// directories; nil outside pods and for pods the table does not name.
func podName(of group: CgroupSnapshot, in snapshot: Snapshot) -> (namespace: String, name: String)? {
    guard let name = snapshot.podLabels(for: group.path)?.name else { return nil }
    return (name.namespaceText, name.nameText)
}

/// The guard's side of the metrics: counts what happens, and after each
/// snapshot builds a `MetricsFrame` (values only) and publishes it. Runs on
/// the guard's thread only; rendering is the endpoint's. Also an `EventSink`:
/// every event counts (kills by guard and result, hook failures...).
public final class MetricsRecorder: EventSink {
    public let board: MetricsBoard
    private(set) var settings: MetricsSettings
    private var guards: [Guard]
    private var triggerTexts: [[String]]
    private var interval: Duration
    private var counters = MetricsCounters()
    private var generation: UInt64 = 0
    private var helperProblem: String?
    private let started: UInt64

    /// Per group id: its labels rendered once, whether some guard watches it
    /// (pattern matching once per group, not per snapshot), when last seen.
    struct GroupEntry {
        /// cgroup v2 lets a group be renamed within its parent: the id stays, the label must not.
        var path: CgroupPath
        var labels: LabelSet
        var watched: Bool
        var podKey: String?
        var seen: UInt64
    }
    private var entries: [UInt64: GroupEntry] = [:]

    public init(config: Config, board: MetricsBoard = MetricsBoard(), startedMonotonic: UInt64 = 0) {
        self.board = board
        settings = config.metrics
        guards = config.guards
        interval = config.daemon.interval
        triggerTexts = config.guards.map { $0.triggers.map(\.description) }
        started = startedMonotonic
        for g in config.guards { counters.add(guard: g.name) }
    }

    /// A reload: the new guards (their counters start at 0; the old ones keep theirs).
    public func configure(_ config: Config) {
        let listen = settings.listen
        settings = config.metrics
        // The socket is bound once, before the privileges are dropped.
        settings.listen = listen
        guards = config.guards
        interval = config.daemon.interval
        triggerTexts = config.guards.map { $0.triggers.map(\.description) }
        entries = [:]
        for g in config.guards { counters.add(guard: g.name) }
    }

    public func record(_ event: GuardEvent) {
        let k = GuardEvent.Kind.allCases.firstIndex(of: event.kind) ?? 0
        counters.events[k] = counters.events[k].addingSaturated(1)
        if let r = MetricsCounters.results.firstIndex(of: event.kind), let name = event.guardName {
            counters.add(guard: name)
            counters.kills[name]![r] = counters.kills[name]![r].addingSaturated(1)
        }
    }

    /// The groups near a threshold were read between snapshots; `moved`: one moved toward it.
    public func nearRead(moved: Bool) {
        counters.nearReadings = counters.nearReadings.addingSaturated(1)
        if moved { counters.nearMoves = counters.nearMoves.addingSaturated(1) }
    }

    /// A snapshot could not be taken.
    public func snapshotFailed() {
        counters.snapshotFailures = counters.snapshotFailures.addingSaturated(1)
    }

    /// A kill job came back: durations, reaction, helper restarts, and
    /// whether the helper answers.
    /// Reaction: from the first snapshot in which the victim's trigger held
    /// (the decision's time minus how long it had held) to `now`, when the
    /// helper reported the group empty. Latency: from the snapshot that
    /// decided to the same moment.
    public func finished(_ result: KillJobResult, victim: Victim, decision: Decision, at now: Timestamp) {
        counters.helperRestarts = counters.helperRestarts.addingSaturated(UInt64(max(0, result.respawns)))
        let name = victim.guardName
        counters.add(guard: name)
        for (_, outcome) in result.attempts {
            switch outcome {
            case .killed(let r):
                helperProblem = nil
                counters.killDuration[name]!.observe(seconds: Double(r.durationNanos) / 1e9)
                let decided = decision.time.monotonicNanos
                let emptied = now.monotonicNanos
                counters.latency[name]!.observe(seconds: Double(emptied.subtractingSaturated(decided)) / 1e9)
                let held = MetricsRecorder.heldFor(victim, in: decision)
                let since = decided.subtractingSaturated(held.nanosecondsClamped)
                counters.reaction[name]!.observe(seconds: Double(emptied.subtractingSaturated(since)) / 1e9)
            case .incomplete, .refused, .wouldKill:
                helperProblem = nil
            case .failed(let f):
                switch f {
                case .helperDied, .timedOut, .unavailable, .protocolError:
                    helperProblem = "the kill helper failed at the last kill: \(f.describe { "errno \($0)" })"
                case .system:
                    helperProblem = nil
                }
            }
        }
    }

    /// How long the trigger the kill event names had held at the decision
    /// (the fired trigger of the watched group the victim belongs to).
    static func heldFor(_ v: Victim, in decision: Decision) -> Duration {
        let gd = decision.guards.first { $0.name == v.guardName }
        let fired = gd?.watched.first { $0.fired && v.path.isWithin($0.path) } ?? gd?.watched.first { $0.fired }
        return fired?.triggers.first { $0.fired }?.heldFor ?? .zero
    }

    /// After a snapshot and its decision: builds and publishes the frame.
    /// `took` and `decided`: nanoseconds the snapshot and the decision took.
    public func sampled(_ snapshot: Snapshot, decision: Decision, took: UInt64, decided: UInt64, killInFlight: Bool) {
        counters.snapshots = counters.snapshots.addingSaturated(1)
        counters.snapshotDuration.observe(seconds: Double(took) / 1e9)
        counters.decisionDuration.observe(seconds: Double(decided) / 1e9)
        generation &+= 1
        let stamp = generation

        // The watched groups, their labels from the cache.
        var watched: [(index: Int, current: UInt64)] = []
        for (i, g) in snapshot.cgroups.enumerated() {
            let pod = podName(of: g, in: snapshot)
            let podKey = pod.map { $0.namespace + "/" + $0.name }
            if var e = entries[g.id], e.podKey == podKey, e.path == g.path {
                e.seen = stamp
                entries[g.id] = e
                if e.watched { watched.append((i, g.memory?.current ?? 0)) }
                continue
            }
            let isWatched = guards.contains { $0.watches(g.path) }
            entries[g.id] = GroupEntry(path: g.path, labels: isWatched ? MetricsRecorder.labels(g, pod: pod) : LabelSet(),
                                       watched: isWatched, podKey: podKey, seen: stamp)
            if isWatched { watched.append((i, g.memory?.current ?? 0)) }
        }
        // Groups gone: forgotten once the cache holds twice what is live.
        if entries.count > 2 * snapshot.cgroups.count + 64 { entries = entries.filter { $0.value.seen == stamp } }
        let cap = settings.maximumGroups
        var chosen = watched
        if chosen.count > cap {
            // The groups using the most memory; then shown in the tree's order.
            chosen.sort { $0.current != $1.current ? $0.current > $1.current : $0.index < $1.index }
            chosen = Array(chosen.prefix(cap)).sorted { $0.index < $1.index }
        }
        let groups = chosen.map { c -> GroupSample in
            let g = snapshot.cgroups[c.index]
            return GroupSample(labels: entries[g.id]!.labels, current: g.memory?.current, max: g.memory?.max?.bytes,
                               high: g.memory?.high?.bytes, events: g.memory?.events, pressure: g.pressure)
        }
        let guardSamples = decision.guards.enumerated().map { (gi, gd) -> GuardSample in
            let texts = gi < triggerTexts.count && triggerTexts[gi].count == gd.triggers.count
                ? triggerTexts[gi] : gd.triggers.map(\.description)
            var held = [Duration](repeating: .zero, count: gd.triggers.count)
            var holding = [Int](repeating: 0, count: gd.triggers.count)
            for w in gd.watched {
                for t in w.triggers where t.holding && t.index < held.count {
                    held[t.index] = max(held[t.index], t.heldFor)
                    holding[t.index] += 1
                }
            }
            var headroom = [Double?](repeating: nil, count: gd.triggers.count)
            for h in gd.headroom where h.trigger < headroom.count { headroom[h.trigger] = h.headroom }
            let triggers = gd.triggers.indices.map { i in
                TriggerSample(text: texts[i], sustainSeconds: gd.triggers[i].sustain.totalSeconds,
                              heldSeconds: held[i].totalSeconds, holdingGroups: holding[i], headroom: headroom[i])
            }
            var first: LabelSet?
            if let c = gd.candidates.first(where: { $0.exclusion == nil }) {
                if let e = entries[c.id], e.watched {
                    first = e.labels
                } else if let g = snapshot.cgroups.first(where: { $0.id == c.id }) {
                    first = MetricsRecorder.labels(g, pod: podName(of: g, in: snapshot))
                } else {
                    first = LabelSet([("cgroup", c.path.description)])
                }
            }
            let waiting = gd.waitingUntil.map { Double($0.monotonicNanos.subtractingSaturated(snapshot.time.monotonicNanos)) / 1e9 } ?? 0
            return GuardSample(name: gd.name, mode: gd.mode, fired: gd.fired, waitingSeconds: waiting,
                               watchedGroups: gd.watched.count + gd.quiet, triggers: triggers, firstCandidate: first)
        }
        var frame = MetricsFrame(time: snapshot.time, interval: interval, helperProblem: helperProblem,
                                 killInFlight: killInFlight, groupsSeen: snapshot.cgroups.count,
                                 groupsWatched: watched.count, groupsDropped: watched.count - groups.count,
                                 maximumGroups: cap, groups: groups, guards: guardSamples, node: snapshot.system,
                                 counters: counters, startedMonotonic: started)
        frame.generation = stamp
        board.publish(frame)
    }

    /// A group's labels: its path (escaped as `status` shows it), what the
    /// path says it is (unit, pod uid, QoS), and its pod's namespace and name.
    static func labels(_ g: CgroupSnapshot, pod: (namespace: String, name: String)?) -> LabelSet {
        let identity = g.identity
        return LabelSet([("cgroup", g.path.description), ("unit", identity.unit),
                         ("pod_uid", identity.kubernetes?.podUID), ("qos", identity.kubernetes?.qos?.rawValue),
                         ("namespace", pod?.namespace), ("pod", pod?.name)])
    }
}
