import CGWardenCore

/// Evaluates a configuration against snapshots. Pure: every input is a
/// value, time comes from the snapshots.
public struct Evaluator: Sendable {
    public let config: Config
    /// cgwarden's own cgroup: never killed, nor any ancestor of it.
    public let ownCgroup: CgroupPath?
    public var detail: Detail

    /// How much of the evaluation a decision keeps.
    public enum Detail: Sendable {
        /// Watched groups where some trigger holds (a rule over 10,000 pods
        /// would otherwise carry 10,000 quiet entries every second).
        case holding
        /// Every watched group (`explain --verbose`).
        case all
    }

    /// Growth is averaged with weight dt / (dt + tau): recent snapshots count
    /// most, and a one-sample spike (page cache filled by one read) fades
    /// within ~tau. 10 s matches PSI's shortest window.
    public static let growthTimeConstant = 10.0

    /// A group's growth is known once it has been seen this long: before,
    /// there is no rate at all (its first snapshot) or one over a span too
    /// short to tell a runaway from a page-cache fill. A guard that ranks by
    /// growth does not act on a candidate whose growth is unknown.
    public static let growthKnownAfter = Duration.seconds(1)

    /// How long a fired guard waits for the growth of new candidates before
    /// it acts on those it knows (the new ones are then left out): a tenant
    /// who makes a fresh group every half second must not hold a guard off.
    public static let historyWaitLimit = Duration.seconds(5)

    /// Watched groups short of a threshold by less than this share of it are
    /// listed in `GuardDecision.near`, with what to read of each between
    /// snapshots (0: none, as for `explain`; the daemon sets its
    /// `fastSamplingHeadroom`).
    public var nearHeadroom = 0.0
    /// At most this many near groups a guard lists, nearest first: a node of
    /// 10,000 tenants all at 60% of an 80% trigger must not make each
    /// decision carry 10,000 entries (the daemon reads each at up to 10 Hz).
    public var nearLimit = 256

    public init(config: Config, ownCgroup: CgroupPath?, detail: Detail = .holding) {
        self.config = config
        self.ownCgroup = ownCgroup
        self.detail = detail
    }

    /// The decision at `snapshot`, and the state to pass to the next call.
    public func evaluate(_ snapshot: Snapshot, state: PolicyState) -> (Decision, PolicyState) {
        let table = SnapshotTable(snapshot)
        let now = snapshot.time.monotonicNanos
        var next = state
        // One lookup per group, not one per guard and trigger.
        let previous = table.figures.map { state.previous[$0.id] }
        updateHistory(table, previous: previous, state: &next)
        // Since when each group holds processes after it was empty (or was
        // first seen with some, after the first snapshot): a workload that
        // just started has no rate yet. 0: since before the first snapshot.
        let populatedSince = zip(table.figures, previous).map { f, p -> UInt64? in
            guard f.populated ?? ((f.nrProcs ?? 0) > 0) else { return nil }
            if let p { return p.populatedSince ?? now }
            return state.previousTime == nil ? 0 : now
        }
        var newHolding: [PolicyState.HoldKey: UInt64] = [:]
        newHolding.reserveCapacity(state.holdingSince.count)
        // Guards often share their match patterns: match each distinct list once.
        var matchMemo: [[CgroupPattern]: [Bool]] = [:]
        let ranking = Ranking(config: config, ownCgroup: ownCgroup, table: table, state: next, now: now)
        var guards: [GuardDecision] = []
        for (index, rule) in config.guards.enumerated() {
            let matched = matchMemo[rule.match] ?? table.matching(rule.match)
            matchMemo[rule.match] = matched
            guards.append(evaluate(rule, at: index, matched: matched, table: table, previous: previous,
                                   populatedSince: populatedSince, state: state, holding: &newHolding, ranking: ranking))
        }
        next.holdingSince = newHolding
        var anyWatches = [Bool](repeating: false, count: table.count)
        for matched in matchMemo.values {
            for group in 0..<table.count where matched[group] { anyWatches[group] = true }
        }
        var watchedIDs = Set<UInt64>(minimumCapacity: table.count)
        for group in 0..<table.count where anyWatches[group] { watchedIDs.insert(table.figures[group].id) }
        var samples: [UInt64: PolicyState.Sample] = [:]
        samples.reserveCapacity(table.count)
        for (f, since) in zip(table.figures, populatedSince) {
            samples[f.id] = PolicyState.Sample(time: now, current: f.current, unreclaimable: f.unreclaimable,
                                               max: f.eventsMax, high: f.eventsHigh,
                                               oomKill: f.eventsOomKill, populatedSince: since)
        }
        next.previous = samples
        next.previousTime = now
        let choice = choose(guards, now: now, state: &next)
        return (Decision(time: snapshot.time, guards: guards, victim: choice.victim, observed: choice.observed,
                         noVictimReason: choice.victim == nil ? choice.reasons.joined(separator: "; ") : nil,
                         watchedIDs: watchedIDs), next)
    }

    /// Sorts `near` nearest first (then by id: the same order at every run)
    /// and keeps `limit` of them; the nearest left out goes to `unread`.
    static func keepNearest(_ near: inout [NearGroup], limit: Int, unread: inout Double?) {
        near.sort { ($0.headroom, $0.id, $0.trigger) < ($1.headroom, $1.id, $1.trigger) }
        let keep = Swift.max(limit, 0)
        guard near.count > keep else { return }
        unread = Swift.min(unread ?? near[keep].headroom, near[keep].headroom)
        near.removeSubrange(keep...)
    }

    // MARK: one guard

    /// One guard's triggers on the groups it watches, and its candidates when it fired.
    func evaluate(_ rule: Guard, at index: Int, matched: [Bool], table: SnapshotTable, previous: [PolicyState.Sample?],
                  populatedSince: [UInt64?], state: PolicyState, holding newHolding: inout [PolicyState.HoldKey: UInt64],
                  ranking: Ranking) -> GuardDecision {
        let now = table.time.monotonicNanos
        var watched: [WatchedGroup] = []
        var quiet = 0
        var firing: [Int] = []
        // The triggers as plain values, read for every watched group.
        let kinds = rule.triggers.map(\.kind), sustains = rule.triggers.map(\.sustain)
        let nodeWideTrigger = kinds.map(\.isNodeWide), usage = kinds.map(\.isUsage)
        // Reused while groups are quiet; a kept group takes it along.
        var results: [TriggerResult] = []
        results.reserveCapacity(kinds.count)
        var nearest = [TriggerHeadroom?](repeating: nil, count: rule.triggers.count)
        var growth = [TriggerGrowth?](repeating: nil, count: rule.triggers.count)
        var started: UInt64?
        // Since when each node-wide trigger holds: the same for every group.
        var nodeHoldingSince = [UInt64?](repeating: nil, count: rule.triggers.count)
        var near: [NearGroup] = []
        var nearUnread: Double?
        var nodeNear = [Bool](repeating: false, count: nearHeadroom > 0 ? rule.triggers.count : 0)
        for group in 0..<table.count where matched[group] {
            var anyHolding = false
            let figures = table.figures[group]
            for triggerIndex in kinds.indices {
                let kind = kinds[triggerIndex]
                let m = kind.measure(figures, system: table.system, previous: previous[group], now: now)
                if let h = m.headroom, h < (nearest[triggerIndex]?.headroom ?? .infinity) {
                    nearest[triggerIndex] = TriggerHeadroom(trigger: triggerIndex, headroom: h, path: table.paths[group],
                                                            id: figures.id)
                }
                if let h = m.headroom, h > 0, let since = previous[group]?.time ?? state.previousTime, now > since,
                   let step = kind.usageGrowth(figures, previous: previous[group]),
                   step > (growth[triggerIndex]?.step ?? 0) {
                    growth[triggerIndex] = TriggerGrowth(trigger: triggerIndex, step: step, over: now - since,
                                                         path: table.paths[group], id: figures.id)
                }
                if let h = m.headroom, h > 0, usage[triggerIndex], let since = populatedSince[group], since > 0,
                   since >= (started ?? 0) {
                    started = since
                }
                if let h = m.headroom, h > 0, h < nearHeadroom {
                    let nodeWide = nodeWideTrigger[triggerIndex]
                    if !nodeWide || !nodeNear[triggerIndex] {
                        if nodeWide { nodeNear[triggerIndex] = true }
                        if let r = kind.nearReading(figures, system: table.system) {
                            near.append(NearGroup(trigger: triggerIndex, headroom: h, path: nodeWide ? .root : table.paths[group],
                                                  id: nodeWide ? 0 : figures.id, reading: r.reading, value: r.value,
                                                  threshold: r.threshold, rising: r.rising))
                            if near.count >= 2 * Swift.max(nearLimit, 1) { Self.keepNearest(&near, limit: nearLimit, unread: &nearUnread) }
                        } else {
                            nearUnread = Swift.min(nearUnread ?? h, h)
                        }
                    }
                }
                var held = Duration.zero
                if m.holding {
                    anyHolding = true
                    let since: UInt64
                    if let s = nodeHoldingSince[triggerIndex] {
                        since = s
                    } else {
                        let key = PolicyState.HoldKey(guardIndex: index, triggerIndex: triggerIndex,
                                                      group: nodeWideTrigger[triggerIndex] ? 0 : figures.id)
                        since = state.holdingSince[key] ?? now
                        newHolding[key] = since
                        if nodeWideTrigger[triggerIndex] { nodeHoldingSince[triggerIndex] = since }
                    }
                    held = .nanoseconds(now.subtractingSaturated(since))
                }
                results.append(TriggerResult(index: triggerIndex, measurement: m.value, holding: m.holding,
                                             heldFor: held, fired: m.holding && held >= sustains[triggerIndex]))
            }
            let fired = rule.combine == .any ? results.contains { $0.fired } : (!results.isEmpty && results.allSatisfy { $0.fired })
            if anyHolding || detail == .all {
                watched.append(WatchedGroup(path: table.paths[group], id: figures.id, fired: fired, triggers: results))
                results = []
                results.reserveCapacity(kinds.count)
            } else {
                quiet += 1
                // Not removeAll(keepingCapacity:), which replaces a subrange.
                while !results.isEmpty { results.removeLast() }
            }
            if fired { firing.append(group) }
        }
        var decision = GuardDecision(name: rule.name, mode: rule.mode, triggers: rule.triggers, fired: !firing.isEmpty,
                                     waitingUntil: nil, lastVictim: nil, watched: watched, quiet: quiet, candidates: [],
                                     headroom: nearest.compactMap { $0 }, growth: growth.compactMap { $0 },
                                     startedFor: started.map { now.subtractingSaturated($0) })
        if !near.isEmpty { Self.keepNearest(&near, limit: nearLimit, unread: &nearUnread) }
        decision.near = near
        decision.nearUnread = nearUnread
        if !firing.isEmpty {
            // Its own delay after its own kill, and (for a guard that acts) the
            // delay of whichever guard killed last.
            let waits = [state.lastAction[rule.name], rule.mode == .act ? state.lastKill : nil].compactMap { $0 }
                .filter { now < $0.until }
            if let w = waits.max(by: { $0.until < $1.until }) {
                decision.waitingUntil = Timestamp(monotonicNanos: w.until,
                                                  wallNanos: w.time.wallNanos.addingSaturated(w.until.subtractingSaturated(w.time.monotonicNanos)))
                decision.lastVictim = w.victim
            }
            decision.candidates = ranking.candidates(rule, firing: firing)
        }
        return decision
    }

    // MARK: the victim

    /// The first acting guard (in configuration order) that fired, is not
    /// waiting, and has an eligible candidate acts: one kill per decision.
    /// Every observing guard that would act says whom, beside it.
    func choose(_ guards: [GuardDecision], now: UInt64,
                state: inout PolicyState) -> (victim: Victim?, observed: [Victim], reasons: [String]) {
        var victim: Victim?
        var observed: [Victim] = []
        var reasons: [String] = []
        for (gd, g) in zip(guards, config.guards) {
            guard gd.fired else {
                state.waitingForHistory[g.name] = nil
                continue
            }
            if g.mode == .act && victim != nil { continue }
            let label = g.mode == .observe ? "observing guard '\(g.name)'" : "guard '\(g.name)'"
            if let until = gd.waitingUntil {
                let left = Duration.nanoseconds(until.monotonicNanos.subtractingSaturated(now))
                if g.mode == .act {
                    reasons.append("\(label) fired but waits \(left.text) more after killing \(gd.lastVictim?.description ?? "?")")
                }
                continue
            }
            // Too little history is not a reason: wait (a bounded time) for
            // the rank of candidates that are too new to have one.
            let unknown = gd.candidates.filter { if case .rankNotKnownYet? = $0.exclusion { return true }; return false }
            if !unknown.isEmpty {
                let since = state.waitingForHistory[g.name] ?? now
                state.waitingForHistory[g.name] = since
                let waited = Duration.nanoseconds(now.subtractingSaturated(since))
                if waited < Evaluator.historyWaitLimit {
                    if g.mode == .act {
                        reasons.append("\(label) fired but waits for the \(g.rank.rawValue) of \(unknown.count) new "
                                       + "group\(unknown.count == 1 ? "" : "s") to be known (at most \((Evaluator.historyWaitLimit - waited).text) more)")
                    }
                    continue
                }
            } else {
                state.waitingForHistory[g.name] = nil
            }
            guard let best = gd.candidates.first(where: { $0.exclusion == nil }) else {
                if g.mode == .act { reasons.append("\(label) fired but has no eligible candidate") }
                continue
            }
            let why = gd.watched.filter(\.fired).map { w in
                "\(w.path): " + w.triggers.filter(\.fired).map { "\(gd.triggers[$0.index]) (\($0.measured))" }.joined(separator: "; ")
            }.joined(separator: ", ")
            let chosen = Victim(guardName: g.name, path: best.path, id: best.id,
                                reason: "guard '\(g.name)' fired on \(why); ranked first by \(best.scoreText)"
                                    + (best.preference == .normal ? "" : ", \(best.preference.participle) (\(best.preferenceReason ?? ""))"))
            if g.mode == .act { victim = chosen } else { observed.append(chosen) }
        }
        if victim == nil && reasons.isEmpty { reasons.append("no guard fired") }
        return (victim, observed, reasons)
    }

    // MARK: history

    /// Growth averages and first sightings, for the groups of this snapshot
    /// only (a removed group's history goes with it: no growth with uptime).
    /// `previous`: `state.previous` of each group, by index.
    func updateHistory(_ table: SnapshotTable, previous: [PolicyState.Sample?], state: inout PolicyState) {
        let now = table.time.monotonicNanos
        var growth: [UInt64: Double] = [:]
        growth.reserveCapacity(table.count)
        var firstSeen: [UInt64: UInt64] = [:]
        firstSeen.reserveCapacity(table.count)
        for (f, prev) in zip(table.figures, previous) {
            firstSeen[f.id] = state.firstSeen[f.id] ?? now
            guard let cur = f.current else { continue }
            // No earlier figure: no rate yet (its first rate then starts the average).
            guard let prev, let pc = prev.current, now > prev.time else { continue }
            let dt = Double(now - prev.time) / 1e9
            let rate = (Double(cur) - Double(pc)) / dt
            let old = state.growth[f.id] ?? rate
            growth[f.id] = old + dt / (dt + Evaluator.growthTimeConstant) * (rate - old)
        }
        state.growth = growth
        state.firstSeen = firstSeen
    }
}
