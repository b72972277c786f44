import CGWardenCore
import CGWardenPolicy

/// The policy over a run of snapshots: the evaluator and the state it
/// carries from one snapshot to the next. `explain`, `explain --replay` and
/// the daemon step through snapshots the same way, so that a replay decides
/// as the daemon would have.
public struct PolicySession: Sendable {
    public let evaluator: Evaluator
    public private(set) var state = PolicyState()

    public init(config: Config, ownCgroup: CgroupPath?, detail: Evaluator.Detail = .holding) {
        evaluator = Evaluator(config: config, ownCgroup: ownCgroup, detail: detail)
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
}
