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
    public var noVictimReason: String?

    public init(time: Timestamp, guards: [GuardDecision], victim: Victim?, noVictimReason: String?) {
        self.time = time
        self.guards = guards
        self.victim = victim
        self.noVictimReason = noVictimReason
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
}

public struct GuardDecision: Equatable, Sendable {
    public var name: String
    /// Some watched group met the triggers (combined with any/all).
    public var fired: Bool
    /// Fired, but still in its post-action delay: it will not act until then.
    public var waitingUntil: Timestamp?
    public var lastVictim: CgroupPath?
    /// Every watched group with each trigger's measurement.
    public var watched: [WatchedGroup]
    /// Candidates in kill order (eligible first), with exclusions after them.
    public var candidates: [Candidate]
}

public struct WatchedGroup: Equatable, Sendable {
    public var path: CgroupPath
    public var id: UInt64
    public var fired: Bool
    public var triggers: [TriggerResult]
}

public struct TriggerResult: Equatable, Sendable {
    /// The trigger as configured, e.g. `usage_of_limit 90% of memory.max for 10s`.
    public var description: String
    /// What was measured, e.g. `61.2M of 64.0M (95.6%)`.
    public var measured: String
    /// The condition holds in this snapshot.
    public var holding: Bool
    /// For how long it has held (0 when it does not hold).
    public var heldFor: TimeSpan
    /// Held for the sustain time: counts for the guard.
    public var fired: Bool
}

public struct Candidate: Equatable, Sendable {
    public enum Preference: String, Sendable {
        case prefer, normal, avoid

        var participle: String { self == .prefer ? "preferred" : self == .avoid ? "avoided" : "normal" }
    }

    public var path: CgroupPath
    public var id: UInt64
    /// The rank key's value (bytes, bytes/s or percent).
    public var score: Double
    /// The score in words, e.g. `usage 61.2M`.
    public var scoreText: String
    public var preference: Preference
    /// Why this preference (`avoid: user.oomd_avoid`), or nil for normal.
    public var preferenceReason: String?
    /// Why it may not be killed; nil for an eligible candidate.
    public var excluded: String?
    /// 1-based place among eligible candidates; nil when excluded.
    public var rank: Int?
}

// MARK: - JSON (Docs/explain-json.md)

extension Decision {
    public var json: JSON {
        .object([
            ("time", .object([("monotonic_ns", .uint(time.monotonicNanos)), ("wall_ns", .uint(time.wallNanos))])),
            ("victim", victim.map { v in
                .object([("guard", .string(v.guardName)), ("path", .string(v.path.description)),
                         ("id", .uint(v.id)), ("reason", .string(v.reason))])
            } ?? .null),
            ("no_victim_reason", .string(noVictimReason)),
            ("guards", .array(guards.map(\.json))),
        ])
    }
}

extension GuardDecision {
    public var json: JSON {
        .object([
            ("name", .string(name)),
            ("fired", .bool(fired)),
            ("waiting_until_ns", waitingUntil.map { .uint($0.monotonicNanos) } ?? .null),
            ("last_victim", .string(lastVictim?.description)),
            ("watched", .array(watched.map { w in
                .object([("path", .string(w.path.description)), ("id", .uint(w.id)), ("fired", .bool(w.fired)),
                         ("triggers", .array(w.triggers.map { t in
                             .object([("trigger", .string(t.description)), ("measured", .string(t.measured)),
                                      ("holding", .bool(t.holding)), ("held_for_s", .double(t.heldFor.seconds)),
                                      ("fired", .bool(t.fired))])
                         }))])
            })),
            ("candidates", .array(candidates.map { c in
                .object([("path", .string(c.path.description)), ("id", .uint(c.id)), ("rank", .number(c.rank)),
                         ("score", .double(c.score)), ("score_text", .string(c.scoreText)),
                         ("preference", .string(c.preference.rawValue)),
                         ("preference_reason", .string(c.preferenceReason)),
                         ("excluded", .string(c.excluded))])
            })),
        ])
    }
}
