import CGWardenCore

/// What the policy decided at one snapshot, and why: the value `explain`
/// prints and the daemon acts on.
public struct Decision: Equatable, Sendable {
    /// The snapshot's time.
    public var time: Timestamp
    /// One entry per guard, in configuration order.
    public var guards: [GuardDecision]
    /// The group to kill, or nil (then `noVictimReason` says why).
    public var victim: Victim?
    /// What each observing guard would kill now (nothing is killed for them).
    public var observed: [Victim]
    public var noVictimReason: String?
    /// The ids of the groups some guard watches (what the daemon watches for
    /// changes, matched once per snapshot by the evaluator).
    public var watchedIDs: Set<UInt64>

    public init(time: Timestamp, guards: [GuardDecision], victim: Victim?, observed: [Victim] = [],
                noVictimReason: String?, watchedIDs: Set<UInt64> = []) {
        self.time = time
        self.guards = guards
        self.victim = victim
        self.observed = observed
        self.noVictimReason = noVictimReason
        self.watchedIDs = watchedIDs
    }

    /// The eligible candidates of the guard that chose `victim`, in kill
    /// order: the victim first, then whom to try when it is refused.
    public func ranked(for victim: Victim) -> [Candidate] {
        guards.first { $0.name == victim.guardName }?.candidates.filter { $0.exclusion == nil } ?? []
    }
}

public struct Victim: Equatable, Sendable {
    /// The guard that acts.
    public var guardName: String
    public var path: CgroupPath
    /// The id to re-check right before the kill: a group re-created at the same
    /// path since the snapshot is another group.
    public var id: UInt64
    /// One line: why this group, now.
    public var reason: String

    public init(guardName: String, path: CgroupPath, id: UInt64, reason: String) {
        self.guardName = guardName
        self.path = path
        self.id = id
        self.reason = reason
    }
}

public struct GuardDecision: Equatable, Sendable {
    public var name: String
    /// `observe`: it reports whom it would kill and kills nothing.
    public var mode: GuardMode
    /// The guard's triggers; a `TriggerResult` refers to one by index.
    public var triggers: [Trigger]
    /// Some watched group met the triggers (combined with any/all).
    public var fired: Bool
    /// Fired, but still in its post-action delay: it will not act until then.
    public var waitingUntil: Timestamp?
    public var lastVictim: CgroupPath?
    /// Watched groups with each trigger's measurement: those where some
    /// trigger holds (every one with `Evaluator.Detail.all`).
    public var watched: [WatchedGroup]
    /// Watched groups where no trigger holds and that `watched` leaves out.
    public var quiet: Int
    /// Candidates in kill order (eligible first), with exclusions after them.
    public var candidates: [Candidate]
    /// For each trigger that measures a distance, the watched group nearest
    /// its threshold: how soon the guard may fire.
    public var headroom: [TriggerHeadroom]
    /// For each usage trigger, the watched group whose usage gained the
    /// largest share of the threshold since the previous snapshot, short of
    /// it: the rate over that span is an average, and the growth may all be recent.
    public var growth: [TriggerGrowth] = []
    /// How long ago the most recently started watched group (one that held
    /// no process before) became populated, among those short of a usage
    /// trigger's threshold: a workload that just started has no rate yet.
    public var startedFor: UInt64? = nil
    /// Watched groups short of a trigger's threshold by less than
    /// `Evaluator.nearHeadroom`, with what to read of each to tell between
    /// two snapshots that it moved toward the threshold: the daemon reads
    /// these (one file each) instead of the whole tree. Nearest first, at most
    /// `Evaluator.nearLimit`.
    public var near: [NearGroup] = []
    /// The headroom of the nearest group left out of `near` (past its limit),
    /// or of a near trigger that has nothing to read between snapshots (an
    /// event rate): sampled by its distance with whole snapshots.
    public var nearUnread: Double? = nil
}

/// A watched group near a trigger's threshold, and the one figure to read of
/// it (or of the node) that tells, between two snapshots, whether it moved
/// toward the threshold.
public struct NearGroup: Equatable, Sendable {
    public enum Reading: Hashable, Sendable {
        /// The group's `memory.current`.
        case current
        /// anon + shmem + kernel of the group's `memory.stat`.
        case unreclaimable
        /// The group's `memory.pressure`.
        case pressure(PressureLevel, PressureWindow)
        /// `/proc/meminfo`'s MemAvailable, SwapFree.
        case nodeAvailable
        case nodeSwapFree
        /// `/proc/pressure/memory`.
        case nodePressure(PressureLevel, PressureWindow)

        public var isNodeWide: Bool {
            switch self {
            case .nodeAvailable, .nodeSwapFree, .nodePressure: true
            default: false
            }
        }
    }

    /// Index in `GuardDecision.triggers`.
    public var trigger: Int
    /// As in `TriggerHeadroom`: the share of the threshold left.
    public var headroom: Double
    public var path: CgroupPath
    public var id: UInt64
    public var reading: Reading
    /// What the snapshot read, and where the trigger holds.
    public var value: Double
    public var threshold: Double
    /// The trigger holds at or above `threshold` (usage, pressure); false: at
    /// or below it (MemAvailable, SwapFree falling).
    public var rising: Bool

    public init(trigger: Int, headroom: Double, path: CgroupPath, id: UInt64, reading: Reading,
                value: Double, threshold: Double, rising: Bool) {
        self.trigger = trigger
        self.headroom = headroom
        self.path = path
        self.id = id
        self.reading = reading
        self.value = value
        self.threshold = threshold
        self.rising = rising
    }

    /// Read again as `now`: it reached the threshold, or moved toward it by
    /// `step` (a share of the threshold) since the snapshot. A NaN or
    /// infinite reading counts as moved: the snapshot will tell.
    public func moved(to now: Double, step: Double) -> Bool {
        guard now.isFinite else { return true }
        let toward = rising ? now - value : value - now
        return (rising ? now >= threshold : now <= threshold) || toward >= step * threshold
    }
}

/// How much a usage trigger's measure grew on one watched group since the previous snapshot.
public struct TriggerGrowth: Equatable, Sendable {
    /// Index in `GuardDecision.triggers`.
    public var trigger: Int
    /// The usage gained, as a share of the threshold (0.1: a tenth of it);
    /// a group that appeared since the previous snapshot grew from nothing.
    public var step: Double
    /// Nanoseconds since the previous snapshot: the span the step is known over.
    public var over: UInt64
    public var path: CgroupPath
    public var id: UInt64
}

/// How far one trigger is from its threshold, on the watched group nearest it.
public struct TriggerHeadroom: Equatable, Sendable {
    /// Index in `GuardDecision.triggers`.
    public var trigger: Int
    /// The share of the threshold left: 0.25 is a quarter of the way, 0 or
    /// less holds.
    public var headroom: Double
    public var path: CgroupPath
    public var id: UInt64
}

public struct WatchedGroup: Equatable, Sendable {
    public var path: CgroupPath
    public var id: UInt64
    public var fired: Bool
    public var triggers: [TriggerResult]
}

public struct TriggerResult: Equatable, Sendable {
    /// Index in `GuardDecision.triggers`.
    public var index: Int
    /// What was measured (a value: its text is made only when shown).
    public var measurement: Measurement
    /// The condition holds in this snapshot.
    public var holding: Bool
    /// For how long it has held (0 when it does not hold).
    public var heldFor: Duration
    /// Held for the sustain time: counts for the guard.
    public var fired: Bool

    /// What was measured, e.g. `61.2M of 64.0M (95.6%)`.
    public var measured: String { measurement.description }
}

/// A trigger's measurement.
public enum Measurement: Equatable, Sendable, CustomStringConvertible {
    /// Nothing to measure (no limit, no PSI...): never holds.
    case unavailable(String)
    /// A counter seen for the first time: no rate yet.
    case noHistory(counter: String, value: UInt64)
    /// Usage against a limit.
    case share(used: UInt64, of: UInt64)
    case size(UInt64)
    case psi(PressureLevel, PressureWindow, Double, node: Bool)
    /// MemAvailable or SwapFree of the node.
    case node(String, UInt64, total: UInt64)
    case rate(EventCounter, perSecond: Double)
    case change(counter: String, from: UInt64, to: UInt64)

    public var description: String {
        switch self {
        case .unavailable(let why): return why
        case .noHistory(let c, let v): return "\(c) \(v) (no earlier snapshot yet)"
        case .share(let used, let limit):
            let f = limit == 0 ? Double.infinity : Double(used) / Double(limit)
            return "\(Units.size(used)) of \(Units.size(limit)) (\(Units.decimal(f * 100, decimals: 1))%)"
        case .size(let b): return Units.size(b)
        case .psi(let level, let window, let v, let node):
            return "\(node ? "node " : "")\(level.rawValue) avg\(window == .avg10 ? 10 : 60) \(Units.decimal(v, decimals: 2))%"
        case .node(let what, let v, let total): return "\(what) \(Units.size(v)) of \(Units.size(total))"
        case .rate(let c, let r): return "\(c.rawValue) +\(Quantities.decimal(r, 1))/s"
        case .change(let c, let from, let to): return "\(c) \(from) -> \(to)"
        }
    }
}

public struct Candidate: Equatable, Sendable {
    public enum Preference: String, Sendable {
        case prefer, normal, avoid

        var participle: String { self == .prefer ? "preferred" : self == .avoid ? "avoided" : "normal" }
    }

    /// Why a group may not be killed.
    public enum Exclusion: Equatable, Sendable, CustomStringConvertible {
        case root
        case own
        case ancestorOfOwn(CgroupPath)
        case protected(CgroupPattern)
        /// A group below it is protected: the helper refuses it (cgroup.kill
        /// would kill the protected group too).
        case holdsProtected(CgroupPath, CgroupPattern)
        case omitted
        case noMemoryAccounting
        case noProcesses
        case belowMinimum(UInt64, minimum: UInt64)
        case alreadyKilled
        /// Its rank key needs history it does not have yet (growth of a new group).
        case rankNotKnownYet(seenFor: Duration, needs: Duration)
        /// A kill of it would take more than the guard allows at once; its
        /// children are candidates in its place.
        case overBlastRadius(BlastRadius)

        public enum BlastRadius: Equatable, Sendable, CustomStringConvertible {
            case processes(UInt64, cap: UInt64)
            case share(UInt64, total: UInt64, cap: Percent)

            public var description: String {
                switch self {
                case .processes(let n, let cap): return "\(n) processes, over max_victim_procs \(cap)"
                case .share(let used, let total, let cap):
                    let f = total == 0 ? 0 : Double(used) / Double(total) * 100
                    return "\(Units.size(used)) is \(Units.decimal(f, decimals: 1))% of the node, over max_victim_share \(cap)"
                }
            }
        }

        public var description: String {
            switch self {
            case .root: return "the root cgroup"
            case .own: return "cgwarden's own cgroup"
            case .ancestorOfOwn(let own): return "an ancestor of cgwarden's own cgroup (\(own))"
            case .protected(let p): return "protected by '\(p)'"
            case .holdsProtected(let below, let p): return "holds \(below), protected by '\(p)'"
            case .omitted: return "omitted by user.oomd_omit"
            case .noMemoryAccounting: return "no memory accounting (controller off)"
            case .noProcesses: return "no processes"
            case .belowMinimum(let c, let m): return "uses \(Units.size(c)), below min_kill_size \(Units.size(m))"
            case .alreadyKilled: return "already killed"
            case .rankNotKnownYet(let seen, let needs): return "rank not known yet (seen for \(seen.text), needs \(needs.text))"
            case .overBlastRadius(let b): return "too big to kill at once: \(b); its children are candidates instead"
            }
        }
    }

    public var path: CgroupPath
    public var id: UInt64
    public var rankKey: RankKey
    /// The rank key's value (bytes, bytes/s or percent).
    public var score: Double
    public var current: UInt64
    /// Effective protection, for `usage_above_protection`.
    public var protection: UInt64
    public var preference: Preference
    /// Why this preference (`avoid: user.oomd_avoid`), or nil for normal.
    public var preferenceReason: String?
    public var exclusion: Exclusion?
    /// 1-based place among eligible candidates; nil when excluded.
    public var rank: Int?

    /// Why it may not be killed; nil for an eligible candidate.
    public var excluded: String? { exclusion?.description }

    /// The score in words, e.g. `usage 61.2M`.
    public var scoreText: String {
        switch rankKey {
        case .usage: return "usage \(Units.size(current))"
        case .usageAboveProtection:
            let above = current > protection ? current - protection : 0
            return "usage above protection \(Units.size(above)) (\(Units.size(current)) - \(Units.size(protection)))"
        // The score is a Double (for ordering); its text saturates at 16.0E.
        case .growth: return "growth \(score < 0 ? "-" : "+")\(Units.size(UInt64(saturating: abs(score))))/s"
        case .pressure: return "PSI some avg10 \(Units.decimal(score, decimals: 2))%"
        case .swap: return "swap \(Units.size(UInt64(saturating: score)))"
        }
    }
}

// MARK: - JSON (Docs/explain-json.md)

extension Decision {
    public var json: JSON { json(pods: .empty) }

    /// With the namespace and name of the groups in pods, from `pods`.
    public func json(pods: PodNames) -> JSON {
        .object([
            ("time", .object([("monotonic_ns", .uint(time.monotonicNanos)), ("wall_ns", .uint(time.wallNanos))])),
            ("victim", victim.map { v in
                .object([("guard", .string(v.guardName)), ("path", .string(v.path.description)),
                         ("id", .uint(v.id)), ("reason", .string(v.reason))] + podFields(v.path, pods))
            } ?? .null),
            ("observed", .array(observed.map { v in
                .object([("guard", .string(v.guardName)), ("path", .string(v.path.description)),
                         ("id", .uint(v.id)), ("reason", .string(v.reason))] + podFields(v.path, pods))
            })),
            ("no_victim_reason", .string(noVictimReason)),
            ("guards", .array(guards.map { $0.json(pods: pods) })),
        ])
    }
}

/// `pod_namespace`, `pod_name` of a group in a pod (null when not in one, or not named).
func podFields(_ path: CgroupPath, _ pods: PodNames) -> [(String, JSON)] {
    let name = pods.podLabels(for: path)?.name
    return [("pod_namespace", .string(name?.namespaceText)), ("pod_name", .string(name?.nameText))]
}

extension GuardDecision {
    public var json: JSON { json(pods: .empty) }

    public func json(pods: PodNames) -> JSON {
        .object([
            ("name", .string(name)),
            ("mode", .string(mode.rawValue)),
            ("fired", .bool(fired)),
            ("waiting_until_ns", waitingUntil.map { .uint($0.monotonicNanos) } ?? .null),
            ("last_victim", .string(lastVictim?.description)),
            ("quiet", .int(Int64(quiet))),
            ("watched", .array(watched.map { w in
                .object([("path", .string(w.path.description)), ("id", .uint(w.id)), ("fired", .bool(w.fired)),
                         ("triggers", .array(w.triggers.map { t in
                             .object([("trigger", .string(triggers[t.index].description)), ("measured", .string(t.measured)),
                                      ("holding", .bool(t.holding)), ("held_for_s", .double(t.heldFor.totalSeconds)),
                                      ("fired", .bool(t.fired))])
                         }))])
            })),
            ("candidates", .array(candidates.map { c in
                .object([("path", .string(c.path.description)), ("id", .uint(c.id)), ("rank", .number(c.rank)),
                         ("score", .double(c.score)), ("score_text", .string(c.scoreText)),
                         ("preference", .string(c.preference.rawValue)),
                         ("preference_reason", .string(c.preferenceReason)),
                         ("excluded", .string(c.excluded))] + podFields(c.path, pods))
            })),
            ("headroom", .array(headroom.map { h in
                .object([("trigger", .string(triggers[h.trigger].description)), ("headroom", .double(h.headroom)),
                         ("path", .string(h.path.description)), ("id", .uint(h.id))])
            })),
        ])
    }
}
