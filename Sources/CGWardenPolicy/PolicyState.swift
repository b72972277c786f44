import CGWardenCore

/// What the policy remembers from one snapshot to the next: how long each
/// trigger has held, the previous counters (for rates), growth averages, when
/// each group was first seen, and the last action of each guard. A value:
/// the evaluator returns the next one.
public struct PolicyState: Equatable, Sendable {
    struct HoldKey: Hashable, Sendable {
        var guardIndex: Int
        var triggerIndex: Int
        /// The watched group's id; 0 for node-wide triggers (shared by all groups).
        var group: UInt64

        /// One word, not three: a key is hashed for every holding trigger of
        /// every watched group at every snapshot. (Equality still compares
        /// every field.)
        func hash(into h: inout Hasher) {
            h.combine(group ^ UInt64(truncatingIfNeeded: guardIndex) << 48 ^ UInt64(truncatingIfNeeded: triggerIndex) << 40)
        }
    }

    struct Sample: Equatable, Sendable {
        var time: UInt64
        var current: UInt64?
        /// memory.stat's unreclaimable share (`count = "unreclaimable"`).
        var unreclaimable: UInt64?
        var max: UInt64?
        var high: UInt64?
        var oomKill: UInt64?
        /// Since when the group holds processes after it was empty (nil: empty; 0: since before the first snapshot).
        var populatedSince: UInt64? = nil
    }

    public struct Action: Equatable, Sendable {
        public var guardName: String
        public var time: Timestamp
        public var victim: CgroupPath
        /// Until when (monotonic ns) the acting guard's post-action delay runs.
        public var until: UInt64
    }

    /// Since when (monotonic ns) each condition has held without a break.
    var holdingSince: [HoldKey: UInt64] = [:]
    /// The previous snapshot's figures, by group id.
    var previous: [UInt64: Sample] = [:]
    /// When the previous snapshot was taken (monotonic ns): a group missing
    /// from `previous` appeared since then.
    var previousTime: UInt64?
    /// Average growth of memory.current in bytes per second, by group id.
    var growth: [UInt64: Double] = [:]
    /// When each group of the last snapshot was first seen (monotonic ns):
    /// its growth is known only after `Evaluator.growthKnownAfter`.
    var firstSeen: [UInt64: UInt64] = [:]
    /// Guards that fired but wait for their candidates' rank to be known, since when.
    var waitingForHistory: [String: UInt64] = [:]
    /// The last kill (or, for an observing guard, would-be kill) of each guard, by guard name.
    public internal(set) var lastAction: [String: Action] = [:]
    /// The last kill of any guard: every guard waits out its delay, so that
    /// two guards never kill twice for one shortage before memory settles.
    public internal(set) var lastKill: Action?
    /// Groups already killed (by id; ids are never reused): not chosen again.
    public internal(set) var killed: Set<UInt64> = []

    public init() {}

    /// Tells the policy a guard acted (the daemon after a kill; replay after
    /// a decision): its post-action delay starts now.
    public mutating func recordAction(guard g: Guard, victim: CgroupPath, id: UInt64, at time: Timestamp) {
        let a = Action(guardName: g.name, time: time, victim: victim,
                       until: time.monotonicNanos.addingSaturated(g.postActionDelay.nanosecondsClamped))
        lastAction[g.name] = a
        lastKill = a
        killed.insert(id)
    }

    /// Tells the policy an observing guard would have acted: its own delay
    /// starts (so that it reports once per incident), nothing else waits.
    public mutating func recordObservation(guard g: Guard, victim: CgroupPath, at time: Timestamp) {
        lastAction[g.name] = Action(guardName: g.name, time: time, victim: victim,
                                    until: time.monotonicNanos.addingSaturated(g.postActionDelay.nanosecondsClamped))
    }

    /// The state carried over a reload from `old` to `new`: the timers of a
    /// guard whose name and definition are unchanged survive (under its new
    /// place); those of changed or removed guards start over. Counters,
    /// growth, first sightings and kills are the node's, not a guard's.
    public func carried(from old: Config, to new: Config) -> PolicyState {
        var next = self
        var place: [Int: Int] = [:]
        for (i, g) in old.guards.enumerated() {
            if let j = new.guards.firstIndex(where: { $0.name == g.name }), new.guards[j].sameRule(as: g) { place[i] = j }
        }
        next.holdingSince = [:]
        for (key, since) in holdingSince {
            guard let j = place[key.guardIndex] else { continue }
            next.holdingSince[HoldKey(guardIndex: j, triggerIndex: key.triggerIndex, group: key.group)] = since
        }
        let kept = Set(place.keys.map { old.guards[$0].name })
        next.waitingForHistory = waitingForHistory.filter { kept.contains($0.key) }
        return next
    }
}

extension Guard {
    /// The same rule, wherever it is written (the origin may move in an edit).
    func sameRule(as other: Guard) -> Bool {
        var a = self, b = other
        a.origin = b.origin
        for i in a.triggers.indices where i < b.triggers.count { a.triggers[i].origin = b.triggers[i].origin }
        return a == b
    }
}
