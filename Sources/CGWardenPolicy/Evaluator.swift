import CGWardenCore

/// What the policy remembers from one snapshot to the next: how long each
/// trigger has held, the previous counters (for rates), growth averages and
/// the last action of each guard. A value: the evaluator returns the next one.
public struct PolicyState: Equatable, Sendable {
    struct HoldKey: Hashable, Sendable {
        var guardIndex: Int
        var triggerIndex: Int
        /// The watched group's id; 0 for node-wide triggers (shared by all groups).
        var group: UInt64
    }

    struct Sample: Equatable, Sendable {
        var time: UInt64
        var current: UInt64?
        var max: UInt64?
        var high: UInt64?
        var oomKill: UInt64?
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
    /// Average growth of memory.current in bytes per second, by group id.
    var growth: [UInt64: Double] = [:]
    /// The last kill of each guard, by guard name.
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
        // Saturates: a recording's clock may stand anywhere in 64 bits.
        let a = Action(guardName: g.name, time: time, victim: victim,
                       until: time.monotonicNanos.addingSaturated(g.postActionDelay.nanoseconds))
        lastAction[g.name] = a
        lastKill = a
        killed.insert(id)
    }
}

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

    public init(config: Config, ownCgroup: CgroupPath?, detail: Detail = .holding) {
        self.config = config
        self.ownCgroup = ownCgroup
        self.detail = detail
    }

    /// The decision at `snapshot`, and the state to pass to the next call.
    public func evaluate(_ snapshot: Snapshot, state: PolicyState) -> (Decision, PolicyState) {
        var next = state
        let now = snapshot.time.monotonicNanos
        let tree = Tree(snapshot)
        updateGrowth(snapshot, state: &next)
        var newHolding: [PolicyState.HoldKey: UInt64] = [:]

        var guards: [GuardDecision] = []
        let groups = snapshot.cgroups
        // One lookup per group, not one per guard and trigger.
        let previous = groups.withUnsafeBufferPointer { cg in cg.indices.map { state.previous[cg[$0].id] } }
        // Guards often share their match patterns: match each distinct list once.
        var matchMemo: [[CgroupPattern]: [Bool]] = [:]
        groups.withUnsafeBufferPointer { cg in
            for (gi, g) in config.guards.enumerated() {
                let matched: [Bool]
                if let m = matchMemo[g.match] {
                    matched = m
                } else {
                    matched = (0..<cg.count).map { g.watches(cg[$0].path) }
                    matchMemo[g.match] = matched
                }
                var watched: [WatchedGroup] = []
                var quiet = 0
                var firing: [Int] = []
                var results: [TriggerResult] = []
                for i in 0..<cg.count where matched[i] {
                    results.removeAll(keepingCapacity: true)
                    var anyHolding = false
                    for (ti, trigger) in g.triggers.enumerated() {
                        let m = measure(trigger.kind, group: cg[i], system: snapshot.system, previous: previous[i], now: now)
                        var held = TimeSpan.zero
                        if m.holding {
                            anyHolding = true
                            let key = PolicyState.HoldKey(guardIndex: gi, triggerIndex: ti, group: trigger.kind.isNodeWide ? 0 : cg[i].id)
                            let since = newHolding[key] ?? state.holdingSince[key] ?? now
                            newHolding[key] = since
                            held = TimeSpan(nanoseconds: now.subtractingSaturated(since))
                        }
                        results.append(TriggerResult(index: ti, measurement: m.value, holding: m.holding,
                                                     heldFor: held, fired: m.holding && held >= trigger.sustain))
                    }
                    let fired = g.combine == .any ? results.contains { $0.fired } : (!results.isEmpty && results.allSatisfy { $0.fired })
                    if anyHolding || detail == .all {
                        watched.append(WatchedGroup(path: cg[i].path, id: cg[i].id, fired: fired, triggers: results))
                    } else {
                        quiet += 1
                    }
                    if fired { firing.append(i) }
                }
                var decision = GuardDecision(name: g.name, triggers: g.triggers, fired: !firing.isEmpty, waitingUntil: nil,
                                             lastVictim: nil, watched: watched, quiet: quiet, candidates: [])
                if !firing.isEmpty {
                    // Its own delay after its own kill, and the delay of whichever guard killed last.
                    let waits = [state.lastAction[g.name], state.lastKill].compactMap { $0 }.filter { now < $0.until }
                    if let w = waits.max(by: { $0.until < $1.until }) {
                        decision.waitingUntil = Timestamp(monotonicNanos: w.until,
                                                          wallNanos: w.time.wallNanos.addingSaturated(w.until.subtractingSaturated(w.time.monotonicNanos)))
                        decision.lastVictim = w.victim
                    }
                    decision.candidates = rank(g, firing: firing, groups: cg, tree: tree, state: next)
                }
                guards.append(decision)
            }
        }
        next.holdingSince = newHolding
        var samples: [UInt64: PolicyState.Sample] = [:]
        samples.reserveCapacity(groups.count)
        groups.withUnsafeBufferPointer { cg in
            for i in cg.indices {
                let m = cg[i].memory
                samples[cg[i].id] = PolicyState.Sample(time: now, current: m?.current, max: m?.events?.max,
                                                       high: m?.events?.high, oomKill: m?.events?.oomKill)
            }
        }
        next.previous = samples

        // The first guard (in configuration order) that fired, is not waiting,
        // and has an eligible candidate acts; one kill per decision.
        var victim: Victim?
        var reasons: [String] = []
        for (gd, g) in zip(guards, config.guards) where gd.fired {
            if let until = gd.waitingUntil {
                let left = TimeSpan(nanoseconds: until.monotonicNanos.subtractingSaturated(now))
                reasons.append("guard '\(g.name)' fired but waits \(left) more after killing \(gd.lastVictim?.description ?? "?")")
                continue
            }
            guard let best = gd.candidates.first(where: { $0.exclusion == nil }) else {
                reasons.append("guard '\(g.name)' fired but has no eligible candidate")
                continue
            }
            let why = gd.watched.filter(\.fired).map { w in
                "\(w.path): " + w.triggers.filter(\.fired).map { "\(gd.triggers[$0.index]) (\($0.measured))" }.joined(separator: "; ")
            }.joined(separator: ", ")
            victim = Victim(guardName: g.name, path: best.path, id: best.id,
                            reason: "guard '\(g.name)' fired on \(why); ranked first by \(best.scoreText)"
                                + (best.preference == .normal ? "" : ", \(best.preference.participle) (\(best.preferenceReason ?? ""))"))
            break
        }
        if victim == nil && reasons.isEmpty { reasons.append("no guard fired") }
        return (Decision(time: snapshot.time, guards: guards, victim: victim,
                         noVictimReason: victim == nil ? reasons.joined(separator: "; ") : nil), next)
    }

    // MARK: triggers

    struct Measured {
        var holding: Bool
        var value: Measurement
    }

    func measure(_ kind: TriggerKind, group g: CgroupSnapshot, system: SystemSnapshot,
                 previous: PolicyState.Sample?, now: UInt64) -> Measured {
        switch kind {
        case .usageOfLimit(let p, let limit, let count):
            guard let used = usage(g, count) else { return Measured(holding: false, value: .unavailable(usageMissing(g, count))) }
            let l = limit == .max ? g.memory?.max : g.memory?.high
            guard let lb = l?.bytes else {
                return Measured(holding: false, value: .unavailable(limit == .max ? "no memory.max limit" : "no memory.high limit"))
            }
            let f = lb == 0 ? Double.infinity : Double(used) / Double(lb)
            return Measured(holding: f >= p.fraction, value: .share(used: used, of: lb))
        case .usageAbove(let size, let count):
            guard let used = usage(g, count) else { return Measured(holding: false, value: .unavailable(usageMissing(g, count))) }
            return Measured(holding: used >= size, value: .size(used))
        case .pressure(let level, let window, let p):
            guard let v = psi(g.pressure, level, window) else { return Measured(holding: false, value: .unavailable("no PSI")) }
            return Measured(holding: v >= p.percent, value: .psi(level, window, v, node: false))
        case .nodeAvailableBelow(let amount):
            let m = system.meminfo
            return Measured(holding: m.memAvailable <= amount.bytes(of: m.memTotal),
                            value: .node("MemAvailable", m.memAvailable, total: m.memTotal))
        case .nodeSwapFreeBelow(let amount):
            let m = system.meminfo
            guard m.swapTotal > 0 else { return Measured(holding: false, value: .unavailable("no swap")) }
            return Measured(holding: m.swapFree <= amount.bytes(of: m.swapTotal),
                            value: .node("SwapFree", m.swapFree, total: m.swapTotal))
        case .nodePressure(let level, let window, let p):
            guard let v = psi(system.pressure, level, window) else { return Measured(holding: false, value: .unavailable("no PSI")) }
            return Measured(holding: v >= p.percent, value: .psi(level, window, v, node: true))
        case .eventRate(let counter, let perSecond):
            let cur = counter == .max ? g.memory?.events?.max : g.memory?.events?.high
            guard let cur else { return Measured(holding: false, value: .unavailable("no memory.events")) }
            guard let previous, let prev = counter == .max ? previous.max : previous.high, now > previous.time else {
                return Measured(holding: false, value: .noHistory(counter: counter.rawValue, value: cur))
            }
            let rate = Double(cur >= prev ? cur - prev : 0) / (Double(now - previous.time) / 1e9)
            return Measured(holding: rate >= perSecond, value: .rate(counter, perSecond: rate))
        case .oomKill:
            guard let cur = g.memory?.events?.oomKill else { return Measured(holding: false, value: .unavailable("no memory.events")) }
            guard let prev = previous?.oomKill else { return Measured(holding: false, value: .noHistory(counter: "oom_kill", value: cur)) }
            return Measured(holding: cur > prev, value: .change(counter: "oom_kill", from: prev, to: cur))
        }
    }

    func usage(_ g: CgroupSnapshot, _ count: UsageCount) -> UInt64? {
        count == .all ? g.memory?.current : g.memory?.unreclaimable
    }

    func usageMissing(_ g: CgroupSnapshot, _ count: UsageCount) -> String {
        g.memory == nil ? "no memory accounting" : (count == .all ? "no memory.current" : "no memory.stat")
    }

    func psi(_ p: Pressure?, _ level: PressureLevel, _ window: PressureWindow) -> Double? {
        guard let p else { return nil }
        let line = level == .some ? p.some : p.full
        guard let line else { return nil }
        return window == .avg10 ? line.avg10 : line.avg60
    }

    // MARK: growth

    func updateGrowth(_ s: Snapshot, state: inout PolicyState) {
        let now = s.time.monotonicNanos
        var growth: [UInt64: Double] = [:]
        s.cgroups.withUnsafeBufferPointer { cg in
            for i in cg.indices {
                guard let cur = cg[i].memory?.current else { continue }
                // No earlier figure: no rate yet (its first rate then starts the average).
                guard let prev = state.previous[cg[i].id], let pc = prev.current, now > prev.time else { continue }
                let dt = Double(now - prev.time) / 1e9
                let rate = (Double(cur) - Double(pc)) / dt
                let old = state.growth[cg[i].id] ?? rate
                growth[cg[i].id] = old + dt / (dt + Evaluator.growthTimeConstant) * (rate - old)
            }
        }
        state.growth = growth
    }

    // MARK: candidates

    func rank(_ g: Guard, firing: [Int], groups cg: UnsafeBufferPointer<CgroupSnapshot>, tree: Tree,
              state: PolicyState) -> [Candidate] {
        var seen = [Bool](repeating: false, count: cg.count)
        var pool: [(candidate: Int, watched: Int)] = []
        for m in firing {
            for c in scope(g.candidates, of: m, groups: cg, tree: tree) where !seen[c] {
                seen[c] = true
                pool.append((c, m))
            }
        }
        let protection: [Int: UInt64] = g.rank == .usageAboveProtection ? tree.protection : [:]
        var eligible: [(Candidate, qos: Int)] = []
        var excluded: [Candidate] = []
        // cg[ci] is read in place (a local copy of a snapshot would retain its every field).
        for (ci, wi) in pool {
            var cand = Candidate(path: cg[ci].path, id: cg[ci].id, rankKey: g.rank, score: 0,
                                 current: cg[ci].memory?.current ?? 0, protection: protection[ci] ?? 0,
                                 preference: .normal, preferenceReason: nil, exclusion: nil, rank: nil)
            let (pref, prefReason, omitted) = preference(cg[ci], guard: g, watched: cg[wi])
            cand.preference = pref
            cand.preferenceReason = prefReason
            cand.score = score(g.rank, cg[ci], protection: cand.protection, state: state)
            if let why = exclusion(cg[ci], guard: g) ?? (omitted ? .omitted : nil)
                ?? (state.killed.contains(cand.id) ? .alreadyKilled : nil) {
                cand.exclusion = why
                excluded.append(cand)
            } else {
                eligible.append((cand, g.qosOrder ? qosRank(cg[ci]) : 0))
            }
        }
        let tier: (Candidate.Preference) -> Int = { $0 == .prefer ? 0 : $0 == .normal ? 1 : 2 }
        // Sort positions, not the candidates themselves (moving them is the cost).
        let order = eligible.indices.sorted { i, j in
            let a = eligible[i], b = eligible[j]
            if tier(a.0.preference) != tier(b.0.preference) { return tier(a.0.preference) < tier(b.0.preference) }
            if a.qos != b.qos { return a.qos < b.qos }
            if a.0.score != b.0.score { return a.0.score > b.0.score }
            if a.0.current != b.0.current { return a.0.current > b.0.current }
            return a.0.path < b.0.path  // deterministic tie break
        }
        var out: [Candidate] = []
        out.reserveCapacity(eligible.count + excluded.count)
        for (place, i) in order.enumerated() {
            var c = eligible[i].0
            c.rank = place + 1
            out.append(c)
        }
        out += excluded.sorted { $0.path < $1.path }
        return out
    }

    /// Indices of the candidates a fired group offers.
    func scope(_ s: CandidateScope, of m: Int, groups cg: UnsafeBufferPointer<CgroupSnapshot>, tree: Tree) -> [Int] {
        switch s {
        case .self: return [m]
        case .children: return tree.children[m]
        case .leaves: return tree.descendants(of: m).filter { tree.children[$0].isEmpty }
        case .pods: return tree.descendants(of: m).filter { cg[$0].identity.kubernetes?.level == .pod }
        }
    }

    /// Why `c` may not be killed, or nil.
    func exclusion(_ c: CgroupSnapshot, guard g: Guard) -> Candidate.Exclusion? {
        if c.path.isRoot { return .root }
        if let own = ownCgroup, own.isWithin(c.path) { return own == c.path ? .own : .ancestorOfOwn(own) }
        if let p = config.protect.first(where: { $0.matches(c.path) }) { return .protected(p) }
        guard let m = c.memory, let current = m.current else { return .noMemoryAccounting }
        if let populated = c.events?.populated, !populated { return .noProcesses }
        if c.events == nil, c.nrProcs == 0 { return .noProcesses }
        if current < g.minKillSize { return .belowMinimum(current, minimum: g.minKillSize) }
        return nil
    }

    /// Preference from the configuration and the oomd attributes; `omit`
    /// (systemd's user.oomd_omit) removes the group from the candidates.
    func preference(_ c: CgroupSnapshot, guard g: Guard, watched: CgroupSnapshot)
        -> (Candidate.Preference, String?, omitted: Bool) {
        var avoid: [String] = []
        var prefer: [String] = []
        var omitted = false
        if let p = g.avoid.first(where: { $0.matches(c.path) }) { avoid.append("avoid '\(p)'") }
        if let p = g.prefer.first(where: { $0.matches(c.path) }) { prefer.append("prefer '\(p)'") }
        if config.honorAttributes, let a = c.attributes {
            // systemd honours user.* only from root or from the owner of the
            // watched group: a delegated user cannot shield itself elsewhere.
            let trustedOwner = a.ownerUID == 0 || a.ownerUID == watched.attributes?.ownerUID
            if trustedOwner && a.isSet("user.oomd_avoid") { avoid.append("user.oomd_avoid") }
            if trustedOwner && a.isSet("user.oomd_omit") { omitted = true }
            if a.isSet("trusted.oomd_avoid") { avoid.append("trusted.oomd_avoid") }
            if a.isSet("trusted.oomd_prefer") { prefer.append("trusted.oomd_prefer") }
        }
        // Avoid wins over prefer: being wrong costs a workload someone protected.
        if !avoid.isEmpty { return (.avoid, avoid.joined(separator: ", "), omitted) }
        if !prefer.isEmpty { return (.prefer, prefer.joined(separator: ", "), omitted) }
        return (.normal, nil, omitted)
    }

    func qosRank(_ c: CgroupSnapshot) -> Int {
        switch c.identity.kubernetes?.qos {
        case .besteffort?: return 0
        case .burstable?: return 1
        case .guaranteed?: return 2
        case nil: return 1
        }
    }

    func score(_ key: RankKey, _ c: CgroupSnapshot, protection: UInt64, state: PolicyState) -> Double {
        let current = c.memory?.current ?? 0
        switch key {
        case .usage: return Double(current)
        case .usageAboveProtection: return Double(current > protection ? current - protection : 0)
        case .growth: return state.growth[c.id] ?? 0
        case .pressure: return c.pressure?.some.avg10 ?? 0
        case .swap: return Double(c.memory?.swapCurrent ?? 0)
        }
    }
}

/// Parent/child lookups over a snapshot, by index into `cgroups`.
final class Tree {
    let snapshot: Snapshot
    /// Parent index of each group; -1 for the top group (or an orphan).
    let parent: [Int]
    let children: [[Int]]

    init(_ s: Snapshot) {
        snapshot = s
        var index: [CgroupPath: Int] = [:]
        index.reserveCapacity(s.cgroups.count)
        var parent = [Int](repeating: -1, count: s.cgroups.count)
        var children = [[Int]](repeating: [], count: s.cgroups.count)
        s.cgroups.withUnsafeBufferPointer { cg in
            for i in cg.indices { index[cg[i].path] = i }
            for i in cg.indices {
                if let p = cg[i].path.parent, let pi = index[p] {
                    parent[i] = pi
                    children[pi].append(i)
                }
            }
        }
        self.parent = parent
        self.children = children
    }

    /// Effective protection by group index, computed once per snapshot.
    lazy var protection: [Int: UInt64] = effectiveProtection()

    /// `i` and everything below it, parents first.
    func descendants(of i: Int) -> [Int] {
        var out: [Int] = []
        var stack = [i]
        while let x = stack.popLast() {
            out.append(x)
            stack.append(contentsOf: children[x].reversed())
        }
        return out
    }

    /// Effective memory protection per group index: the larger of effective
    /// `memory.min` and `memory.low`, distributed among siblings as the kernel
    /// does (mm/page_counter.c, without memory_recursiveprot): a group keeps
    /// min(usage, setting), scaled down when its siblings together claim more
    /// than the parent's own effective protection.
    func effectiveProtection() -> [Int: UInt64] {
        snapshot.cgroups.withUnsafeBufferPointer { effectiveProtection($0) }
    }

    private func effectiveProtection(_ cg: UnsafeBufferPointer<CgroupSnapshot>) -> [Int: UInt64] {
        var out: [Int: UInt64] = [:]
        func claimed(_ g: CgroupSnapshot, _ setting: Limit?) -> Double {
            let usage = Double(g.memory?.current ?? 0)
            let s: Double = setting.map { $0.bytes.map { Double($0) } ?? Double.infinity } ?? 0
            return min(usage, s)
        }
        func effective(_ own: Double, _ sum: Double, _ parentEffective: Double?) -> Double {
            guard let pe = parentEffective else { return own }  // top groups: as set
            return sum > pe && sum > 0 ? own * pe / sum : own
        }
        func visit(_ kids: [Int], parentMin: Double?, parentLow: Double?) {
            let kids = kids.filter { cg[$0].memory != nil }
            let sumMin = kids.reduce(0.0) { $0 + claimed(cg[$1], cg[$1].memory?.min) }
            let sumLow = kids.reduce(0.0) { $0 + claimed(cg[$1], cg[$1].memory?.low) }
            for k in kids {
                let emin = effective(claimed(cg[k], cg[k].memory?.min), sumMin, parentMin)
                let elow = effective(claimed(cg[k], cg[k].memory?.low), sumLow, parentLow)
                // Saturates: usage of 2^64-1 is 2^64 as a Double.
                out[k] = UInt64(saturating: max(emin, elow))
                visit(children[k], parentMin: emin, parentLow: elow)
            }
        }
        // The top group of the snapshot (the root, or a walked subtree's top)
        // and any orphan start unscaled.
        for i in cg.indices where parent[i] == -1 {
            if cg[i].memory != nil {
                let e = max(claimed(cg[i], cg[i].memory?.min), claimed(cg[i], cg[i].memory?.low))
                out[i] = UInt64(saturating: e)
                visit(children[i], parentMin: e, parentLow: e)
            } else {
                visit(children[i], parentMin: nil, parentLow: nil)
            }
        }
        return out
    }
}
