#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenIO
import CGWardenPolicy
import CGWardenSystem

/// Every bound of the daemon's loop, named, with the reason beside it.
public struct DaemonTunables: Sendable {
    /// The shortest time between two snapshots, however often the kernel
    /// wakes the loop: a group throttled at its memory.high counts thousands
    /// of `high` events a second, and each snapshot reads every group.
    public var minimumSampleInterval: Duration = .milliseconds(100)
    /// Below this headroom (share of a threshold left) the loop samples
    /// faster than `interval`, down to `minimumSampleInterval` at the
    /// threshold, for a group nearest its threshold for the first time (no
    /// history yet): a runaway past 90% of its memory.max can reach the
    /// limit within a fraction of a second (earlyoom adapts its sleep the same way).
    public var fastSamplingHeadroom = 0.5
    /// Then, while that group approaches the threshold, the next snapshot
    /// comes after this share of the time left at the rate seen since the
    /// previous one (0.5: each snapshot halves the distance); a group that
    /// does not approach is sampled at `interval`, however near it rests.
    /// Measured: `cgwarden-bench daemon-reaction` and `daemon-idle` (Docs/performance.md).
    public var approachShare = 0.5
    /// The shortest time between two snapshots while a group approaches a
    /// threshold: the guard acts at most this long after the crossing (plus
    /// a snapshot). Lower than `minimumSampleInterval`, which bounds the
    /// kernel's wake-ups, because it lasts only while usage climbs.
    public var approachMinimumInterval: Duration = .milliseconds(50)
    /// Files watched for changes (memory.events, cgroup.events of watched
    /// groups): each watch costs kernel memory and counts against
    /// fs.inotify.max_user_watches; past this the interval covers the rest.
    public var maximumFileWatches = 4096
    /// How long the helper may take to empty a group before a kill is
    /// reported incomplete (it waits for `populated 0`).
    public var killTimeout: Duration = .seconds(10)
    /// The window of the node's PSI triggers: the kernel then checks stalls
    /// every window/10. 1 s needs CAP_SYS_RESOURCE (armed before the drop);
    /// unprivileged windows must be multiples of 2 s.
    public var pressureWindowMicros: UInt32 = 1_000_000
    /// Off: no PSI triggers, no inotify, and the interval only (no faster
    /// sampling near a threshold): a poller like the other guards, for
    /// side-by-side benchmarks.
    public var kernelWakeups = true

    public init() {}
}

/// `cgwarden run`: the guard. Each wake: snapshot, evaluate, and when a
/// victim is chosen, ask the helper (on its own thread) to kill it and wait
/// for `populated 0`; then the post-action delay. Woken by the kernel (PSI
/// triggers, changes of memory.events and cgroup.events) and by a timer
/// that runs faster as usage nears a threshold.
public final class GuardDaemon {
    public private(set) var config: Config
    var session: PolicySession
    let source: SnapshotSource
    let killer: Killer
    let sink: EventSink
    let notifier: ServiceNotifier
    let clock: Clock
    let tunables: DaemonTunables
    /// Every guard observes (`--dry-run`, or `daemon.dry_run`).
    let dryRun: Bool
    /// Loads the configuration again (SIGHUP): the same files as at start.
    let reload: () throws -> Config

    let signals: SignalSource
    let files: FileModificationWatch?
    private var watches: [Int32: UInt64] = [:]
    private var watchedGroups: [UInt64: [Int32]] = [:]
    private var nodeTriggers: [Int32] = []
    private var lastSample: UInt64 = 0
    private var nextSample: UInt64 = 0
    private var timer = SampleTimer()
    private var lastWatchdog: UInt64 = 0
    private var kernelWoke = false
    private var inFlight: (victim: Victim, snapshot: Snapshot)?
    private var lastActionText = "none"
    private var groupsSeen = 0
    private var reportedProblems = Set<String>()

    public init(config: Config, source: SnapshotSource, killer: Killer, sink: EventSink, notifier: ServiceNotifier,
                clock: Clock = SystemClock(), tunables: DaemonTunables = DaemonTunables(), dryRun: Bool,
                signals: SignalSource, reload: @escaping () throws -> Config) {
        self.config = config
        self.source = source
        self.killer = killer
        self.sink = sink
        self.notifier = notifier
        self.clock = clock
        self.tunables = tunables
        self.dryRun = dryRun || config.daemon.dryRun
        self.signals = signals
        self.reload = reload
        files = tunables.kernelWakeups ? try? FileModificationWatch() : nil
        session = PolicySession(config: GuardDaemon.effective(config, dryRun: dryRun), ownCgroup: killer.own.path)
    }

    /// The configuration as it runs: a dry run makes every guard observe.
    static func effective(_ config: Config, dryRun: Bool) -> Config {
        guard dryRun || config.daemon.dryRun else { return config }
        var c = config
        for i in c.guards.indices { c.guards[i].mode = .observe }
        return c
    }

    var interval: UInt64 { config.daemon.interval.nanoseconds }

    // MARK: the loop

    /// Guards until SIGTERM or SIGINT; the exit status.
    public func run() -> Int32 {
        sink.record(GuardEvent(kind: .started, time: clock.now(),
                               reason: "\(config.guards.count) guard\(config.guards.count == 1 ? "" : "s")"
                                   + (dryRun ? ", dry run: every guard observes" : "")
                                   + ", own cgroup \(killer.own)"))
        guard sampleAndAct() else {
            notifier.stopping()
            return 1
        }
        notifier.ready(statusLine())
        while true {
            let now = clock.now().monotonicNanos
            // A wake-up of the kernel that came too soon after the last
            // snapshot is served at the floor, not at the next timer sample.
            let kernelDeadline = lastSample.addingSaturated(UInt64(tunables.minimumSampleInterval.nanosecondsClamped))
            let deadline = kernelWoke ? min(nextSample, kernelDeadline) : nextSample
            var waitMillis = deadline > now ? Int32(clamping: (deadline - now + 999_999) / 1_000_000) : 0
            if let w = notifier.watchdogInterval {
                waitMillis = min(waitMillis, Int32(clamping: w.nanosecondsClamped / 1_000_000))
            }
            var interests = [Poller.Interest(fd: signals.fd, events: Int16(POLLIN)),
                             Poller.Interest(fd: killer.wakeDescriptor, events: Int16(POLLIN))]
            if let files { interests.append(Poller.Interest(fd: files.fd, events: Int16(POLLIN))) }
            let firstTrigger = interests.count
            interests += nodeTriggers.map { Poller.Interest(fd: $0, events: Int16(POLLPRI)) }
            let ready = (try? Poller.wait(interests, milliseconds: waitMillis)) ?? []
            for (index, revents) in ready {
                switch index {
                case 0:
                    for s in signals.read() {
                        switch s {
                        case SIGHUP: reconfigure()
                        case SIGTERM, SIGINT:
                            stop(signal: s)
                            return 0
                        default: break
                        }
                    }
                case 1:
                    if let result = killer.finished() { finished(result) }
                case 2 where files != nil:
                    let (changed, overflow) = files!.changes()
                    if overflow || !changed.isEmpty { kernelWoke = true }
                default:
                    if index >= firstTrigger, revents & Int16(POLLPRI) != 0 { kernelWoke = true }
                }
            }
            let t = clock.now().monotonicNanos
            let due = t >= nextSample || (kernelWoke && t >= kernelDeadline)
            if due {
                kernelWoke = false
                _ = sampleAndAct()
            }
            if notifier.watchdogInterval != nil, t.subtractingSaturated(lastWatchdog) >= (notifier.watchdogInterval?.nanosecondsClamped ?? 0) / 2 {
                notifier.watchdog()
                lastWatchdog = t
            }
        }
    }

    /// One snapshot, one decision, and the kill it asks for (unless one is
    /// in flight). False when no snapshot could be taken.
    @discardableResult
    func sampleAndAct() -> Bool {
        let taken: (snapshot: Snapshot, walk: WalkResult)
        do {
            taken = try source.take()
        } catch {
            report(problem: "no snapshot: \(error)", cgroup: nil)
            lastSample = clock.now().monotonicNanos
            nextSample = lastSample.addingSaturated(interval)
            return false
        }
        let snapshot = taken.snapshot
        for p in taken.walk.problems { report(problem: "\(p)", cgroup: p.cgroup) }
        lastSample = snapshot.time.monotonicNanos
        groupsSeen = snapshot.cgroups.count
        let decision = session.step(snapshot)
        for v in decision.observed {
            sink.record(event(.observed, victim: v, decision: decision, snapshot: snapshot))
            if let g = session.config.guards.first(where: { $0.name == v.guardName }) {
                session.observed(guard: g, victim: v, at: snapshot.time)
            }
        }
        if let victim = decision.victim, inFlight == nil, !killer.busy {
            let ranked = decision.ranked(for: victim)
            let targets = ranked.map { CgroupTarget(path: $0.path, id: $0.id) }
            inFlight = (victim, snapshot)
            killer.start(KillJob(guardName: victim.guardName, targets: targets.isEmpty ? [CgroupTarget(path: victim.path, id: victim.id)] : targets,
                                 timeout: tunables.killTimeout))
        }
        updateWatches(snapshot)
        nextSample = lastSample.addingSaturated(delay(after: decision))
        return true
    }

    /// The time to the next snapshot: the interval, shorter while a watched
    /// group approaches a trigger's threshold (`SampleTimer`).
    func delay(after decision: Decision) -> UInt64 {
        guard tunables.kernelWakeups else { return interval }
        let nearest = decision.guards.flatMap { g in
            g.headroom.map { SampleTimer.Nearest(key: .init(guardName: g.name, trigger: $0.trigger, id: $0.id), headroom: $0.headroom) }
        }
        return timer.delay(nearest, now: decision.time.monotonicNanos, interval: interval, tunables: tunables)
    }

    /// A kill job came back: every attempt is an event; a kill starts the
    /// guard's post-action delay.
    func finished(_ result: KillJobResult) {
        let now = clock.now()
        guard let (victim, snapshot) = inFlight else { return }
        inFlight = nil
        if result.respawns > 0 {
            sink.record(GuardEvent(kind: .helperRestarted, time: now, reason: "\(result.respawns) new helper(s) during a kill"))
        }
        for (target, outcome) in result.attempts {
            let v = Victim(guardName: victim.guardName, path: target.path, id: target.id,
                           reason: target.id == victim.id ? victim.reason : "next in rank after a refusal")
            var e = event(.kill, victim: v, decision: nil, snapshot: snapshot)
            e.time = now
            switch outcome {
            case .killed(let r), .incomplete(let r):
                if case .incomplete = outcome { e.kind = .incomplete }
                e.method = r.method.description
                e.memoryBefore = r.memoryBefore
                e.memoryAfter = r.memoryAfter
                e.durationNanos = r.durationNanos
                sink.record(e)
                session.acted(on: v, at: now)
                lastActionText = "killed \(target.path)"
                notifier.status(statusLine())
            case .refused(let why):
                e.kind = .refused
                e.reason = "\(why)"
                sink.record(e)
            case .failed(let f):
                e.kind = .failed
                e.reason = f.describe { String(cString: strerror($0)) }
                sink.record(e)
            case .wouldKill:
                break
            }
        }
        // The next decision comes from a new snapshot, at once.
        nextSample = 0
    }

    func event(_ kind: GuardEvent.Kind, victim v: Victim, decision: Decision?, snapshot: Snapshot) -> GuardEvent {
        let g = snapshot.cgroups.first { $0.id == v.id }
        let gd = decision?.guards.first { $0.name == v.guardName }
        let fired = gd?.watched.first { $0.fired }
        let trigger = fired?.triggers.first { $0.fired }
        return GuardEvent(kind: kind, time: snapshot.time, guardName: v.guardName, cgroup: v.path, cgroupID: v.id,
                          trigger: trigger.map { gd!.triggers[$0.index].description }, measured: trigger?.measured,
                          reason: v.reason, memoryBefore: g?.memory?.current,
                          processes: g.map { _ in self.subtreeProcesses(of: v.path, in: snapshot) })
    }

    func subtreeProcesses(of path: CgroupPath, in snapshot: Snapshot) -> UInt64 {
        snapshot.cgroups.reduce(0) { $1.path.isWithin(path) ? $0.addingSaturated(UInt64($1.nrProcs ?? 0)) : $0 }
    }

    func report(problem: String, cgroup: CgroupPath?) {
        // Once per problem: an unreadable group must not flood the journal every interval.
        guard reportedProblems.insert(problem).inserted else { return }
        if reportedProblems.count > 10_000 { reportedProblems.removeAll() }
        sink.record(GuardEvent(kind: .problem, time: clock.now(), cgroup: cgroup, reason: problem))
    }

    func statusLine() -> String {
        let acting = config.guards.filter { $0.mode == .act }.count
        return "guarding \(groupsSeen) groups with \(config.guards.count) guards (\(dryRun ? 0 : acting) acting); last action: \(lastActionText)"
    }

    // MARK: the kernel's wake-ups

    /// Watches memory.events and cgroup.events of the groups some guard
    /// watches (the kernel notifies on every change of them), and arms the
    /// node's PSI triggers once.
    func updateWatches(_ snapshot: Snapshot) {
        guard let files else { return }
        let watchedNow = Set(snapshot.cgroups.filter { g in config.guards.contains { $0.watches(g.path) } }.map(\.id))
        for (id, wds) in watchedGroups where !watchedNow.contains(id) {
            for wd in wds { files.unwatch(wd); watches[wd] = nil }
            watchedGroups[id] = nil
        }
        for g in snapshot.cgroups where watchedNow.contains(g.id) && watchedGroups[g.id] == nil {
            guard watches.count + 2 <= tunables.maximumFileWatches else { break }
            var wds: [Int32] = []
            let base = Array(source.root.utf8) + (g.path.isRoot ? [] : [0x2f] + g.path.bytes)
            for file in ["memory.events", "cgroup.events"] {
                if let wd = try? files.watch(path: base + Array(("/" + file).utf8)) {
                    wds.append(wd)
                    watches[wd] = g.id
                }
            }
            watchedGroups[g.id] = wds
        }
    }

    /// Arms a PSI trigger on /proc/pressure/memory for every node pressure
    /// trigger of the configuration. Called as root, before the drop: the
    /// descriptor keeps its trigger, and root may use any window.
    public func armNodeTriggers(proc: String = "/proc") {
        for fd in nodeTriggers { close(fd) }
        nodeTriggers = []
        for g in config.guards {
            for t in g.triggers {
                guard case .nodePressure(let level, _, let p) = t.kind else { continue }
                let window = tunables.pressureWindowMicros
                let stall = UInt32(clamping: Int(Double(window) * min(1, max(0.001, p.percent / 100))))
                if let fd = try? PressureTrigger.arm(path: proc + "/pressure/memory", full: level == .full,
                                                     stallMicros: stall, windowMicros: window) {
                    nodeTriggers.append(fd)
                }
            }
        }
    }

    // MARK: signals

    func reconfigure() {
        notifier.reloading()
        do {
            let next = try reload()
            let old = session.config
            let effective = GuardDaemon.effective(next, dryRun: dryRun)
            var fresh = PolicySession(config: effective, ownCgroup: killer.own.path)
            fresh.carry(session.state, from: old)
            session = fresh
            config = next
            sink.record(GuardEvent(kind: .reloaded, time: clock.now(),
                                   reason: "\(next.guards.count) guards from \(next.files.joined(separator: " + "))"))
        } catch {
            sink.record(GuardEvent(kind: .reloadFailed, time: clock.now(), reason: "\(error)"))
        }
        notifier.ready(statusLine())
    }

    func stop(signal: Int32) {
        notifier.stopping()
        sink.record(GuardEvent(kind: .stopping, time: clock.now(), reason: signal == SIGTERM ? "SIGTERM" : "SIGINT"))
        for fd in nodeTriggers { close(fd) }
        nodeTriggers = []
    }
}

extension Duration {
    /// Whole nanoseconds, held to 0...Int64.max.
    var nanosecondsClamped: Int64 {
        let (s, a) = components
        guard s >= 0 else { return 0 }
        return s.multipliedSaturated(by: 1_000_000_000).addingSaturated(a / 1_000_000_000)
    }
}
