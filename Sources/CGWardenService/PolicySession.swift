import CGWardenCore
import CGWardenPolicy

/// The policy over a run of snapshots: the evaluator and the state it
/// carries from one snapshot to the next. `explain`, `explain --replay` and
/// the daemon step through snapshots the same way, so that a replay decides
/// as the daemon would have.
public struct PolicySession: Sendable {
    public let evaluator: Evaluator
    public private(set) var state = PolicyState()

    /// `near`: list the groups this near a threshold in each decision, at
    /// most so many (`Evaluator.nearHeadroom`, `nearLimit`).
    public init(config: Config, ownCgroup: CgroupPath?, detail: Evaluator.Detail = .holding,
                near: (headroom: Double, limit: Int) = (0, 0)) {
        var e = Evaluator(config: config, ownCgroup: ownCgroup, detail: detail)
        e.nearHeadroom = near.headroom
        e.nearLimit = near.limit
        evaluator = e
    }

    public var config: Config { evaluator.config }

    /// The decision on one snapshot.
    public mutating func step(_ snapshot: Snapshot) -> Decision {
        let (decision, next) = evaluator.evaluate(snapshot, state: state)
        state = next
        return decision
    }

    /// An observing guard would have acted: its own delay starts.
    public mutating func observed(guard g: Guard, victim: Victim, at time: Timestamp) {
        state.recordObservation(guard: g, victim: victim.path, at: time)
    }

    /// Takes over the state of the session before a reload, for what still applies.
    public mutating func carry(_ previous: PolicyState, from old: Config) {
        state = previous.carried(from: old, to: config)
    }

    /// A guard acted on `victim` at `time`: its post-action delay starts and
    /// the group is not chosen again.
    public mutating func acted(on victim: Victim, at time: Timestamp) {
        guard let g = config.guards.first(where: { $0.name == victim.guardName }) else { return }
        state.recordAction(guard: g, victim: victim.path, id: victim.id, at: time)
    }
}

/// A recording run through the policy as the daemon would have run it:
/// every decision that kills is taken as done at its snapshot's time.
public enum Replay {
    /// The decisions that kill, in time order. The recorder's own cgroup is
    /// unknown here: nothing is excluded for it.
    public static func decisions(_ snapshots: [Snapshot], config: Config) -> [Decision] {
        var session = PolicySession(config: config, ownCgroup: nil)
        var out: [Decision] = []
        for s in snapshots {
            let d = session.step(s)
            if let v = d.victim {
                session.acted(on: v, at: d.time)
                out.append(d)
            }
        }
        return out
    }

    /// How two configurations' kills differ over the same recording.
    public struct Difference: Sendable {
        /// Kills only the first configuration makes (no kill of that group by the other).
        public var onlyA: [Decision]
        /// Kills only the second makes.
        public var onlyB: [Decision]
        /// The same group killed by both, at different times: (A's, B's).
        public var moved: [(a: Decision, b: Decision)]
        public var killsA: Int
        public var killsB: Int

        public var isEmpty: Bool { onlyA.isEmpty && onlyB.isEmpty && moved.isEmpty }
    }

    /// Both configurations over `snapshots`, each deciding as the daemon
    /// would; kills of the same group are paired in order (the first kill of
    /// a group by A with the first by B), and only what differs is kept.
    public static func difference(_ snapshots: [Snapshot], _ a: Config, _ b: Config) -> Difference {
        let killsA = decisions(snapshots, config: a), killsB = decisions(snapshots, config: b)
        var unmatchedB = killsB
        var onlyA: [Decision] = []
        var moved: [(a: Decision, b: Decision)] = []
        for d in killsA {
            guard let v = d.victim, let i = unmatchedB.firstIndex(where: { $0.victim?.id == v.id }) else {
                onlyA.append(d)
                continue
            }
            let other = unmatchedB.remove(at: i)
            if other.time.monotonicNanos != d.time.monotonicNanos { moved.append((d, other)) }
        }
        return Difference(onlyA: onlyA, onlyB: unmatchedB, moved: moved, killsA: killsA.count, killsB: killsB.count)
    }
}
