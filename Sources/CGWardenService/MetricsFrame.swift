import CGWardenCore
import CGWardenPolicy

/// A histogram of a duration: counts per upper bound (seconds), the sum.
public struct DurationHistogram: Sendable, Equatable {
    public let bounds: [Double]
    public private(set) var counts: [UInt64]
    public private(set) var sum: Double = 0

    public init(bounds: [Double]) {
        self.bounds = bounds
        counts = [UInt64](repeating: 0, count: bounds.count + 1)
    }

    public var count: UInt64 { counts.reduce(0) { $0.addingSaturated($1) } }

    public mutating func observe(seconds: Double) {
        guard seconds.isFinite else { return }
        let x = max(0, seconds)
        let i = bounds.firstIndex { x <= $0 } ?? bounds.count
        counts[i] = counts[i].addingSaturated(1)
        sum += x
    }

    /// Snapshots: 10,000 groups took 6.5 s under emulation (Docs/performance.md), 1,000 about 0.1 s.
    static let snapshotBounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    /// The write to `populated 0`: 5 ms for one process, seconds for a fork loop (Docs/performance.md).
    static let killBounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
    /// Reaction includes a trigger's `for`: seconds to minutes.
    static let reactionBounds = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300]
}

/// What the daemon counted since it started: kills by guard and result,
/// events by kind, durations. Kept by the guard's thread, copied into each frame.
public struct MetricsCounters: Sendable {
    /// The results a kill attempt ends in, the `result` label of `cgwarden_kills_total`.
    public static let results: [GuardEvent.Kind] = [.kill, .incomplete, .refused, .failed, .observed]

    /// Per guard, in first-seen order (configuration order, then guards a reload removed).
    public var guardNames: [String] = []
    public var kills: [String: [UInt64]] = [:]
    public var killDuration: [String: DurationHistogram] = [:]
    public var reaction: [String: DurationHistogram] = [:]
    public var latency: [String: DurationHistogram] = [:]
    public var events = [UInt64](repeating: 0, count: GuardEvent.Kind.allCases.count)
    public var helperRestarts: UInt64 = 0
    public var snapshots: UInt64 = 0
    public var snapshotFailures: UInt64 = 0
    /// Readings of the groups near a threshold between snapshots, and those that brought a snapshot forward.
    public var nearReadings: UInt64 = 0
    public var nearMoves: UInt64 = 0
    public var snapshotDuration = DurationHistogram(bounds: DurationHistogram.snapshotBounds)
    public var decisionDuration = DurationHistogram(bounds: DurationHistogram.snapshotBounds)

    public init() {}

    /// Every counter of a guard exists (at 0) from the start, so that
    /// `increase()` sees the first kill.
    public mutating func add(guard name: String) {
        guard kills[name] == nil else { return }
        guardNames.append(name)
        kills[name] = [UInt64](repeating: 0, count: MetricsCounters.results.count)
        killDuration[name] = DurationHistogram(bounds: DurationHistogram.killBounds)
        reaction[name] = DurationHistogram(bounds: DurationHistogram.reactionBounds)
        latency[name] = DurationHistogram(bounds: DurationHistogram.reactionBounds)
    }
}

/// One exported group: its labels rendered once, its figures.
public struct GroupSample: Sendable {
    public var labels: LabelSet
    public var current: UInt64?
    /// nil: no limit (`max`), or not read.
    public var max: UInt64?
    public var high: UInt64?
    public var events: MemoryEvents?
    public var pressure: Pressure?
}

/// One trigger of a guard at this snapshot.
public struct TriggerSample: Sendable {
    /// The trigger as `explain` writes it (`usage >= 90% of memory.max for 10s`).
    public var text: String
    public var sustainSeconds: Double
    /// The longest any watched group has held it (0: none holds it).
    public var heldSeconds: Double
    public var holdingGroups: Int
    /// The share of its threshold left on the watched group nearest it; nil
    /// for triggers that measure no distance (oom_kill, no history yet).
    public var headroom: Double?
}

public struct GuardSample: Sendable {
    public var name: String
    public var mode: GuardMode
    public var fired: Bool
    /// Seconds left of its post-action delay (0: not waiting).
    public var waitingSeconds: Double
    public var watchedGroups: Int
    public var triggers: [TriggerSample]
    /// The labels of its first eligible candidate, when it has one (it fired).
    public var firstCandidate: LabelSet?
}

/// What the guard publishes after each snapshot: values only, rendered on
/// the endpoint's thread. Nothing in it refers back to the guard's state.
public struct MetricsFrame: Sendable {
    /// Counts publishes: the endpoint renders once per frame, whoever asks.
    public var generation: UInt64 = 0
    public var time: Timestamp
    public var interval: Duration
    public var helperProblem: String?
    public var killInFlight: Bool
    public var groupsSeen: Int
    public var groupsWatched: Int
    public var groupsDropped: Int
    public var maximumGroups: Int
    public var groups: [GroupSample]
    public var guards: [GuardSample]
    public var node: SystemSnapshot
    public var counters: MetricsCounters
    /// CLOCK_MONOTONIC when the daemon started (for `process_start`-like uptime).
    public var startedMonotonic: UInt64

    public init(time: Timestamp, interval: Duration, helperProblem: String? = nil, killInFlight: Bool = false,
                groupsSeen: Int = 0, groupsWatched: Int = 0, groupsDropped: Int = 0, maximumGroups: Int = 500,
                groups: [GroupSample] = [], guards: [GuardSample] = [],
                node: SystemSnapshot = SystemSnapshot(meminfo: MemInfo(memTotal: 0, memAvailable: 0, swapTotal: 0, swapFree: 0),
                                                     pressure: nil, oomKill: nil),
                counters: MetricsCounters = MetricsCounters(), startedMonotonic: UInt64 = 0) {
        self.time = time
        self.interval = interval
        self.helperProblem = helperProblem
        self.killInFlight = killInFlight
        self.groupsSeen = groupsSeen
        self.groupsWatched = groupsWatched
        self.groupsDropped = groupsDropped
        self.maximumGroups = maximumGroups
        self.groups = groups
        self.guards = guards
        self.node = node
        self.counters = counters
        self.startedMonotonic = startedMonotonic
    }
}
