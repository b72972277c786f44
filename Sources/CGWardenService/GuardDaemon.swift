#if canImport(Glibc)
import Glibc
#endif
import CGWardenActions
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
    /// A watched group whose usage gained at least this share of a usage
    /// trigger's threshold since a snapshot more than twice
    /// `minimumSampleInterval` ago is sampled again at `minimumSampleInterval`:
    /// the growth may all be recent (a runaway that started just before this
    /// snapshot), and its rate averaged over a mostly idle interval would
    /// schedule the next snapshot too late; the next one measures the real
    /// rate. 0.05 is above what a resting group's usage moves between
    /// snapshots (memcg charges in batches of 64 pages per CPU,
    /// MEMCG_CHARGE_BATCH: 256 KiB per CPU with 4 KiB pages; 5% of an 80%
    /// threshold of a 16 MiB group is 655 KiB), so an idle node does not
    /// sample faster; an unpaced runaway (30 MiB/s in the VM) gains 5% of a
    /// 64 MiB group's 80% in 85 ms.
    public var growthStep = 0.05
    /// A watched group that became populated (a process entered it while it
    /// was empty) this recently is sampled at `minimumSampleInterval`: a
    /// workload that just started has no rate yet, its first snapshot sees
    /// it starting (exec, runtime) rather than growing, and an allocator that
    /// runs away at once reaches 80% of a 16 MiB group in 0.7 s in the VM,
    /// within one interval. At most one second of snapshots at the floor per
    /// start; empty groups (created, removed) cost nothing.
    public var startWatch: Duration = .seconds(1)
    /// Groups near a threshold whose one figure is read between snapshots
    /// (`SampleTimer.Schedule`), nearest first: each is a pread of a kept-open
    /// file (memory.stat: an open, a read and a close), up to 10 times a
    /// second; past this, the nearest left out is sampled by its distance
    /// with whole snapshots, as before.
    public var maximumNearReads = 256
    /// Files watched for changes (memory.events, cgroup.events of watched
    /// groups): each watch costs kernel memory and counts against
    /// fs.inotify.max_user_watches; past this the interval covers the rest.
    public var maximumFileWatches = 4096
    /// How long the helper may take to empty a group before a kill is
    /// reported incomplete (it waits for `populated 0`).
    public var killTimeout: Duration = .seconds(10)
    /// A group the helper refused is not asked for again for this long. A
    /// refusal repeats (a mount below the group, a `protect` pattern the
    /// helper took at its start and a reload removed), and a guard that keeps
    /// firing on the group would otherwise ask at every snapshot, ten times a
    /// second near a threshold, with a `refused` event each time. Other
    /// candidates are still tried at once.
    public var refusalHold: Duration = .seconds(30)
    /// The window of the node's PSI triggers: the kernel then checks stalls
    /// every window/10. 1 s needs CAP_SYS_RESOURCE (armed before the drop);
    /// unprivileged windows must be multiples of 2 s.
    public var pressureWindowMicros: UInt32 = 1_000_000
    /// Off: no PSI triggers, no inotify, and the interval only (no faster
    /// sampling near a threshold): a poller like the other guards, for
    /// side-by-side benchmarks.
    public var kernelWakeups = true
    /// After the first snapshot, drop the pages of the start from memory
    /// (`StartupPages`): argument and configuration parsing, the loader's
    /// relocations, the first walk. Off: for side-by-side benchmarks.
    public var dropStartupPages = true
    /// Groups with a PSI trigger of their own: each makes the kernel run a
    /// polling thread (psimon) for that group, and the helper arms at most
    /// 120 a minute; past this, those groups are sampled on the timer.
    public var maximumGroupTriggers = 64
    /// Triggers armed per helper job: a job holds the helper, and a kill must not wait long behind it.
    public var armsPerJob = 16
    /// Groups whose own counters a wake reads at once (their cgroup.events
    /// changed: they may have emptied and be removed next, taking their
    /// counters with them): each is an open, a read and a close (~10 µs);
    /// past this, the next snapshot reads them.
    public var readsPerWake = 256

    public init() {}
}

/// `cgwarden run`: the guard. Each wake: snapshot, evaluate, and when a
/// victim is chosen, ask the helper (on its own thread) to kill it and wait
/// for `populated 0`; then the post-action delay. Woken by the kernel (PSI
/// triggers, changes of memory.events and cgroup.events) and by a timer
/// that runs faster as usage nears a threshold.
public final class GuardDaemon {
    /// Candidates an event keeps: enough to see why this group and not
    /// another; a guard over 10,000 pods would otherwise write them all.
    static let candidatesKept = 50

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
    /// The operator's commands after events (their sink is part of `sink`).
    let hooks: HookRunner?
    /// The Prometheus endpoint's side in the loop: a frame published after
    /// each snapshot (its event counts come through `sink`).
    let metrics: MetricsRecorder?

    let signals: SignalSource
    let files: FileModificationWatch?
    /// Each watch: the group, and whether a change wakes the policy (a
    /// guard watches the group) besides reading the group's counters.
    private var watches: [Int32: (id: UInt64, wakes: Bool, emptied: Bool)] = [:]
    private var groupWatches: [UInt64: GroupWatch] = [:]
    /// The latest snapshot's pod names, for the kernel's events.
    private var pods = PodNames.empty
    /// The kernel's events: counters, /dev/kmsg, their join.
    let kernel: KernelEvents
    /// The snapshots of the last minutes, written beside each kill.
    let recordings: FlightRecordings?
    private var nodeTriggers: [Int32] = []
    /// PSI triggers on groups' memory.pressure, armed by the helper.
    private var groupTriggers: [ArmRequest: Int32] = [:]
    private var arming = false
    /// Requests the helper refused or failed, not asked again for the group's life.
    private var unarmable = Set<ArmRequest>()
    private var lastSample: UInt64 = 0
    private var nextSample: UInt64 = 0
    private var timer = SampleTimer()
    /// The groups near a threshold read until the next snapshot, and when.
    private var nearReads: [NearGroup] = []
    private var readEvery: UInt64 = 0
    private var nextRead = UInt64.max
    private var lastWatchdog: UInt64 = 0
    private var kernelWoke = false
    private var inFlight: (victim: Victim, decision: Decision, snapshot: Snapshot, recording: String?)?
    /// Groups the helper refused, by id: until when (monotonic ns) they are not asked for.
    private var refusedUntil: [UInt64: UInt64] = [:]
    private var lastActionText = "none"
    private var groupsSeen = 0
    private var reportedProblems = Set<String>()

    public init(config: Config, source: SnapshotSource, killer: Killer, sink: EventSink, notifier: ServiceNotifier,
                clock: Clock = SystemClock(), tunables: DaemonTunables = DaemonTunables(), dryRun: Bool,
                signals: SignalSource, hooks: HookRunner? = nil, metrics: MetricsRecorder? = nil,
                reload: @escaping () throws -> Config, kernelLog: KernelLog? = nil,
                recordings: FlightRecordings? = nil) {
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
        self.hooks = hooks
        self.metrics = metrics
        files = tunables.kernelWakeups ? try? FileModificationWatch() : nil
        session = PolicySession(config: GuardDaemon.effective(config, dryRun: dryRun), ownCgroup: killer.own.path,
                                near: GuardDaemon.near(tunables))
        kernel = KernelEvents(log: kernelLog, tunables: GuardDaemon.watcherTunables(config))
        self.recordings = recordings
    }

    /// A report waits for its group's counters until the next snapshot, and a little more.
    static func watcherTunables(_ config: Config) -> OOMWatcher.Tunables {
        var t = OOMWatcher.Tunables()
        t.countersWait = config.daemon.interval + .seconds(2)
        return t
    }

    /// The configuration as it runs: a dry run makes every guard observe.
    static func effective(_ config: Config, dryRun: Bool) -> Config {
        guard dryRun || config.daemon.dryRun else { return config }
        var c = config
        for i in c.guards.indices { c.guards[i].mode = .observe }
        return c
    }

    var interval: UInt64 { config.daemon.interval.nanosecondsClamped }

    /// The policy lists the groups as near as the timer samples faster for,
    /// as many as it reads (none for a poller).
    static func near(_ tunables: DaemonTunables) -> (headroom: Double, limit: Int) {
        tunables.kernelWakeups ? (tunables.fastSamplingHeadroom, tunables.maximumNearReads) : (0, 0)
    }

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
        if tunables.dropStartupPages {
            do {
                let dropped = try StartupPages.dropOwn()
                if let failure = dropped.failure { report(problem: "dropping the pages of the start: \(failure)", cgroup: nil) }
            } catch {
                report(problem: "dropping the pages of the start: \(error)", cgroup: nil)
            }
        }
        while true {
            let now = clock.now().monotonicNanos
            // A wake-up of the kernel that came too soon after the last
            // snapshot is served at the floor, not at the next timer sample.
            let kernelDeadline = lastSample.addingSaturated(UInt64(tunables.minimumSampleInterval.nanosecondsClamped))
            let deadline = min(kernelWoke ? min(nextSample, kernelDeadline) : nextSample, nextRead)
            var waitMillis = deadline > now ? Int32(clamping: (deadline - now + 999_999) / 1_000_000) : 0
            if let held = kernel.nextDeadline {
                waitMillis = min(waitMillis, held > now ? Int32(clamping: (held - now + 999_999) / 1_000_000) : 0)
            }
            if let w = notifier.watchdogInterval {
                waitMillis = min(waitMillis, Int32(clamping: w.nanosecondsClamped / 1_000_000))
            }
            if let hookDeadline = hooks?.nextDeadline {
                waitMillis = min(waitMillis, hookDeadline > now ? Int32(clamping: (hookDeadline - now + 999_999) / 1_000_000) : 0)
            }
            var interests = [Poller.Interest(fd: signals.fd, events: Int16(POLLIN)),
                             Poller.Interest(fd: killer.wakeDescriptor, events: Int16(POLLIN))]
            if let files { interests.append(Poller.Interest(fd: files.fd, events: Int16(POLLIN))) }
            let logIndex = interests.count
            if let log = kernel.descriptor { interests.append(Poller.Interest(fd: log, events: Int16(POLLIN))) }
            let firstTrigger = interests.count
            interests += nodeTriggers.map { Poller.Interest(fd: $0, events: Int16(POLLPRI)) }
            interests += groupTriggers.values.map { Poller.Interest(fd: $0, events: Int16(POLLPRI)) }
            // A hook's pidfd turns readable when it exits; -1 (no pidfd) is ignored by poll.
            interests += (hooks?.descriptors ?? []).map { Poller.Interest(fd: $0, events: Int16(POLLIN)) }
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
                    switch killer.finished() {
                    case .kill(let result)?: finished(result)
                    case .armed(let results)?: armed(results)
                    case nil: break
                    }
                case 2 where files != nil:
                    let (changed, overflow) = files!.changes()
                    if overflow { kernelWoke = true }
                    fileChanges(changed)
                case logIndex where kernel.descriptor != nil && index < firstTrigger:
                    record(kernel.readLog(at: clock.now()))
                default:
                    if index >= firstTrigger, revents & Int16(POLLPRI) != 0 { kernelWoke = true }
                }
            }
            // Hooks that ended are reaped, those past their timeout killed (a few waitpid calls).
            hooks?.service()
            record(kernel.expire(at: clock.now()))
            if let recordings { for p in recordings.takeProblems() { report(problem: p, cgroup: nil) } }
            let t = clock.now().monotonicNanos
            var due = t >= nextSample || (kernelWoke && t >= kernelDeadline)
            if !due, t >= nextRead {
                if nearMoved() {
                    due = true
                } else {
                    nextRead = t.addingSaturated(readEvery)
                }
            }
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
        let started = metrics == nil ? 0 : clock.now().monotonicNanos
        do {
            taken = try source.take()
        } catch {
            metrics?.snapshotFailed()
            report(problem: "no snapshot: \(error)", cgroup: nil)
            lastSample = clock.now().monotonicNanos
            nextSample = lastSample.addingSaturated(interval)
            nearReads = []
            nextRead = .max
            return false
        }
        let snapshot = taken.snapshot
        let read = metrics == nil ? 0 : clock.now().monotonicNanos
        for p in taken.walk.problems { report(problem: "\(p)", cgroup: p.cgroup) }
        for w in snapshot.pods.warnings { report(problem: w, cgroup: nil) }
        lastSample = snapshot.time.monotonicNanos
        groupsSeen = snapshot.cgroups.count
        recordings?.append(snapshot)
        pods = snapshot.pods
        record(kernel.observe(snapshot))
        let decision = session.step(snapshot)
        let decided = metrics == nil ? 0 : clock.now().monotonicNanos
        for v in decision.observed {
            if let g = session.config.guards.first(where: { $0.name == v.guardName }) {
                session.observed(guard: g, victim: v, at: snapshot.time)
            }
            // A dry run takes the kill's path through the helper (resolution,
            // refusals, the subtree) and stops before the write: its report
            // comes back from the helper. An observing guard only reports.
            if dryRun, inFlight == nil, !killer.busy {
                let ranked = decision.ranked(for: v).map { CgroupTarget(path: $0.path, id: $0.id) }
                inFlight = (v, decision, snapshot, nil)
                killer.submit(.check(KillJob(guardName: v.guardName,
                                             targets: ranked.isEmpty ? [CgroupTarget(path: v.path, id: v.id)] : ranked,
                                             timeout: tunables.killTimeout)))
            } else {
                sink.record(event(.observed, victim: v, decision: decision, snapshot: snapshot))
            }
        }
        if let victim = decision.victim, inFlight == nil, !killer.busy {
            let ranked = decision.ranked(for: victim).map { CgroupTarget(path: $0.path, id: $0.id) }
            if !refusedUntil.isEmpty { refusedUntil = refusedUntil.filter { $0.value > lastSample } }
            let targets = (ranked.isEmpty ? [CgroupTarget(path: victim.path, id: victim.id)] : ranked)
                .filter { refusedUntil[$0.id] == nil }
            if !targets.isEmpty {
                killer.submit(.kill(KillJob(guardName: victim.guardName, targets: targets, timeout: tunables.killTimeout)))
                // Written while the helper kills: the snapshots up to this decision.
                let recording = recordings?.write(time: snapshot.time, id: targets[0].id, intervalNanos: interval)
                inFlight = (victim, decision, snapshot, recording)
            }
        }
        updateWatches(snapshot, watched: decision.watchedIDs)
        updateGroupTriggers(snapshot)
        metrics?.sampled(snapshot, decision: decision, took: read.subtractingSaturated(started),
                         decided: decided.subtractingSaturated(read), killInFlight: inFlight != nil)
        let plan = schedule(after: decision)
        nextSample = lastSample.addingSaturated(plan.snapshot)
        nearReads = plan.near
        readEvery = plan.reading ?? 0
        nextRead = plan.reading.map { lastSample.addingSaturated($0) } ?? .max
        return true
    }

    /// The time to the next snapshot: the interval, shorter while a watched
    /// group approaches a trigger's threshold, grew by a step or just
    /// started; and the groups near a threshold to read until then (`SampleTimer`).
    func schedule(after decision: Decision) -> SampleTimer.Schedule {
        guard tunables.kernelWakeups else { return SampleTimer.Schedule(snapshot: interval, reading: nil, near: []) }
        return timer.schedule(after: decision, interval: interval, tunables: tunables)
    }

    /// Reads the figure of each group near a threshold: true when one moved
    /// toward its threshold by `growthStep` of it since the snapshot, or
    /// reached it (then the snapshot comes now). A group that cannot be read
    /// (gone, emptied) is left to the next snapshot.
    func nearMoved() -> Bool {
        var node: SystemSnapshot?
        // A figure is read once, whichever guards and triggers listed it.
        var read: [NearReadKey: Double?] = [:]
        for n in nearReads {
            let key = NearReadKey(reading: n.reading, id: n.id)
            let value: Double?
            if let v = read[key] {
                value = v
            } else {
                if n.reading.isNodeWide, node == nil { node = try? source.proc.system() }
                value = source.read(n.reading, of: n.id, node: node)
                read[key] = value
            }
            if let value, n.moved(to: value, step: tunables.growthStep) {
                metrics?.nearRead(moved: true)
                return true
            }
        }
        metrics?.nearRead(moved: false)
        return false
    }

    struct NearReadKey: Hashable {
        var reading: NearGroup.Reading
        var id: UInt64
    }

    /// A kill job came back: every attempt is an event; a kill starts the
    /// guard's post-action delay.
    func finished(_ result: KillJobResult) {
        let now = clock.now()
        guard let (victim, decision, snapshot, recording) = inFlight else { return }
        inFlight = nil
        metrics?.finished(result, victim: victim, decision: decision, at: now)
        if result.respawns > 0 {
            sink.record(GuardEvent(kind: .helperRestarted, time: now, reason: "\(result.respawns) new helper(s) during a kill"))
        }
        for (target, outcome) in result.attempts {
            let v = Victim(guardName: victim.guardName, path: target.path, id: target.id,
                           reason: target.id == victim.id ? victim.reason : "next in rank after a refusal")
            var e = event(.kill, victim: v, decision: decision, snapshot: snapshot)
            e.time = now
            e.recording = recording
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
                refusedUntil[target.id] = now.monotonicNanos.addingSaturated(UInt64(tunables.refusalHold.nanosecondsClamped))
            case .failed(let f):
                e.kind = .failed
                e.reason = f.describe { String(cString: strerror($0)) }
                sink.record(e)
                // Not asked again at every snapshot while it keeps failing.
                refusedUntil[target.id] = now.monotonicNanos.addingSaturated(UInt64(tunables.refusalHold.nanosecondsClamped))
                // A helper that died or went silent may have written cgroup.kill
                // already: wait as after a kill, rather than kill a second group
                // for the same shortage.
                switch f {
                case .helperDied, .timedOut: session.acted(on: v, at: now)
                default: break
                }
            case .wouldKill(let c):
                // The dry run went through the helper's checks: what a kill would take.
                e.kind = .observed
                e.reason = "\(v.reason); the helper's checks passed: \(c.processes) process\(c.processes == 1 ? "" : "es") "
                    + "in \(c.groups) group\(c.groups == 1 ? "" : "s")"
                sink.record(e)
            }
        }
        // The next decision comes from a new snapshot, at once.
        nextSample = 0
    }

    func event(_ kind: GuardEvent.Kind, victim v: Victim, decision: Decision?, snapshot: Snapshot) -> GuardEvent {
        let g = snapshot.cgroups.first { $0.id == v.id }
        let gd = decision?.guards.first { $0.name == v.guardName }
        // The fired group the victim belongs to (several may have fired).
        let fired = gd?.watched.first { $0.fired && v.path.isWithin($0.path) } ?? gd?.watched.first { $0.fired }
        let trigger = fired?.triggers.first { $0.fired }
        var e = GuardEvent(kind: kind, time: snapshot.time, guardName: v.guardName, cgroup: v.path, cgroupID: v.id,
                           trigger: trigger.map { gd!.triggers[$0.index].description }, measured: trigger?.measured,
                           reason: v.reason, memoryBefore: g?.memory?.current,
                           processes: g.map { _ in self.subtreeProcesses(of: v.path, in: snapshot) })
        e.pod = snapshot.podLabels(for: v.path)
        // The ranked candidates and the excluded, as the decision had them (bounded: an event is not a snapshot).
        e.candidates = (gd?.candidates ?? []).prefix(GuardDaemon.candidatesKept).map {
            GuardEvent.EventCandidate(path: $0.path, id: $0.id, rank: $0.rank, score: $0.scoreText, excluded: $0.excluded)
        }
        return e
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

    /// A group's watches: memory.events where a guard watches the group (a
    /// change wakes the policy), cgroup.events everywhere (a change reads
    /// the group's own counters at once: it may have emptied, and be
    /// removed next).
    struct GroupWatch {
        var path: CgroupPath
        var events: Int32?
        var populated: Int32?
        var guarded: Bool
    }

    /// Watches the files of every group of `snapshot`, within
    /// `maximumFileWatches`: those of groups some guard watches first
    /// (`guardedNow`, the evaluator's matches).
    func updateWatches(_ snapshot: Snapshot, watched guardedNow: Set<UInt64>) {
        guard let files else { return }
        var live = Set<UInt64>()
        live.reserveCapacity(snapshot.cgroups.count)
        for g in snapshot.cgroups {
            live.insert(g.id)
        }
        for (id, w) in groupWatches where !live.contains(id) || w.guarded != guardedNow.contains(id) {
            for wd in [w.events, w.populated].compactMap({ $0 }) {
                files.unwatch(wd)
                watches[wd] = nil
            }
            groupWatches[id] = nil
        }
        let base = Array(source.root.utf8)
        for pass in [true, false] {
            for g in snapshot.cgroups where guardedNow.contains(g.id) == pass && groupWatches[g.id] == nil && !g.path.isRoot {
                guard watches.count + (pass ? 2 : 1) <= tunables.maximumFileWatches else { break }
                let dir = base + [0x2f] + g.path.bytes
                var w = GroupWatch(path: g.path, guarded: pass)
                if pass, let wd = try? files.watch(path: dir + Array("/memory.events".utf8)) {
                    w.events = wd
                    watches[wd] = (g.id, true, false)
                }
                if let wd = try? files.watch(path: dir + Array("/cgroup.events".utf8)) {
                    w.populated = wd
                    watches[wd] = (g.id, pass, true)
                }
                groupWatches[g.id] = w
            }
        }
    }

    /// Watched files changed: a guard's group wakes the policy; a group
    /// whose cgroup.events changed has its own counters read now, before a
    /// removal can take them (at most `readsPerWake`; the rest at the next
    /// snapshot).
    func fileChanges(_ changed: Set<Int32>) {
        var emptied: [OOMWatcher.Reading] = []
        var seen = Set<UInt64>()
        for wd in changed {
            guard let w = watches[wd] else { continue }
            if w.wakes { kernelWoke = true }
            guard w.emptied, emptied.count < tunables.readsPerWake, seen.insert(w.id).inserted,
                  let path = groupWatches[w.id]?.path, let local = source.sampler.eventsLocal(of: w.id) else { continue }
            emptied.append(OOMWatcher.Reading(path: path, id: w.id, local: local))
        }
        record(kernel.observe(emptied, at: clock.now()))
    }

    /// The kernel's events, each with the pod its group is in (the latest
    /// snapshot's table: a removed pod's log directory outlives its cgroup).
    func record(_ events: [GuardEvent]) {
        for var e in events {
            if e.pod == nil, let path = e.cgroup { e.pod = pods.podLabels(for: path) }
            sink.record(e)
        }
    }

    /// Keeps a PSI trigger armed on memory.pressure of each group a guard
    /// watches with a pressure trigger (at most `maximumGroupTriggers`), and
    /// closes those of groups gone or no longer watched. The helper arms
    /// them (the file is root's); one job at a time, never during a kill.
    func updateGroupTriggers(_ snapshot: Snapshot) {
        guard tunables.kernelWakeups else { return }
        var wanted: [ArmRequest] = []
        for g in config.guards {
            for t in g.triggers {
                guard case .pressure(let level, _, let p) = t.kind else { continue }
                let window = tunables.pressureWindowMicros
                let spec = PressureTriggerSpec(full: level == .full, stallMicros: UInt32(clamping: Int(Double(window) * min(1, max(0.001, p.percent / 100)))),
                                               windowMicros: window)
                for c in snapshot.cgroups where c.memory != nil && g.watches(c.path) {
                    wanted.append(ArmRequest(target: CgroupTarget(path: c.path, id: c.id), spec: spec))
                }
            }
        }
        let keep = Set(wanted.prefix(tunables.maximumGroupTriggers))
        for (r, fd) in groupTriggers where !keep.contains(r) {
            close(fd)
            groupTriggers[r] = nil
        }
        let live = Set(snapshot.cgroups.map(\.id))
        unarmable = unarmable.filter { live.contains($0.target.id) }
        guard !arming, inFlight == nil, !killer.busy else { return }
        let missing = keep.filter { groupTriggers[$0] == nil && !unarmable.contains($0) }
        guard !missing.isEmpty else { return }
        arming = true
        killer.submit(.arm(Array(missing.prefix(tunables.armsPerJob))))
    }

    func armed(_ results: [(request: ArmRequest, result: Result<Int32, HelperRequestError>)]) {
        arming = false
        for (r, result) in results {
            switch result {
            case .success(let fd): groupTriggers[r] = fd
            case .failure(let e):
                unarmable.insert(r)
                report(problem: "no PSI trigger on \(r.target.path): \(e)", cgroup: r.target.path)
            }
        }
    }

    /// Arms a PSI trigger on /proc/pressure/memory for every node pressure
    /// trigger of the configuration. At the start it runs as root, before the
    /// drop: the descriptor keeps its trigger, and root may use a 1 s window.
    /// After a reload (unprivileged) the file is still writable (0666), but
    /// only with windows that are multiples of 2 s: such a window is used then.
    public func armNodeTriggers(proc: String = "/proc") {
        for fd in nodeTriggers { close(fd) }
        nodeTriggers = []
        for g in config.guards {
            for t in g.triggers {
                guard case .nodePressure(let level, _, let p) = t.kind else { continue }
                var armed = false
                var lastError: SystemError?
                for window in [tunables.pressureWindowMicros, PressureTrigger.unprivilegedWindowStepMicros] {
                    let stall = UInt32(clamping: Int(Double(window) * min(1, max(0.001, p.percent / 100))))
                    do {
                        nodeTriggers.append(try PressureTrigger.arm(path: proc + "/pressure/memory", full: level == .full,
                                                                    stallMicros: stall, windowMicros: window))
                        armed = true
                        break
                    } catch {
                        lastError = error
                    }
                }
                if !armed {
                    report(problem: "no PSI trigger on \(proc)/pressure/memory for guard '\(g.name)' "
                           + "(\(lastError.map { "\($0)" } ?? "?")): sampled on the timer", cgroup: nil)
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
            var fresh = PolicySession(config: effective, ownCgroup: killer.own.path, near: GuardDaemon.near(tunables))
            fresh.carry(session.state, from: old)
            session = fresh
            config = next
            hooks?.configure(next.hooks, maximumRunning: next.daemon.maximumRunningHooks)
            metrics?.configure(next)
            recordings?.update(window: next.events.flightRecorder, maxBytes: next.events.flightRecorderMaxSize)
            if tunables.kernelWakeups { armNodeTriggers(proc: source.proc.proc) }
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
        for fd in groupTriggers.values { close(fd) }
        groupTriggers = [:]
        hooks?.shutdown()
    }
}
