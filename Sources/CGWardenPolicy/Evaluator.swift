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
        let a = Action(guardName: g.name, time: time, victim: victim, until: time.monotonicNanos + g.postActionDelay.nanoseconds)
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

    /// Growth is averaged with weight dt / (dt + tau): recent snapshots count
    /// most, and a one-sample spike (page cache filled by one read) fades
    /// within ~tau. 10 s matches PSI's shortest window.
    public static let growthTimeConstant = 10.0

    public init(config: Config, ownCgroup: CgroupPath?) {
        self.config = config
        self.ownCgroup = ownCgroup
    }

    /// The decision at `snapshot`, and the state to pass to the next call.
    public func evaluate(_ snapshot: Snapshot, state: PolicyState) -> (Decision, PolicyState) {
        var next = state
        let now = snapshot.time.monotonicNanos
        let tree = Tree(snapshot)
        updateGrowth(snapshot, state: &next)
        var newHolding: [PolicyState.HoldKey: UInt64] = [:]

        var guards: [GuardDecision] = []
        for (gi, g) in config.guards.enumerated() {
            var watched: [WatchedGroup] = []
            var firing: [CgroupSnapshot] = []
            for group in snapshot.cgroups where g.watches(group.path) {
                var results: [TriggerResult] = []
                for (ti, trigger) in g.triggers.enumerated() {
                    let m = measure(trigger.kind, group: group, system: snapshot.system, previous: state.previous[group.id], now: now)
                    let key = PolicyState.HoldKey(guardIndex: gi, triggerIndex: ti, group: trigger.kind.isNodeWide ? 0 : group.id)
                    var since: UInt64?
                    if m.holding {
                        since = newHolding[key] ?? state.holdingSince[key] ?? now
                        newHolding[key] = since
                    }
                    let held = since.map { TimeSpan(nanoseconds: now - $0) } ?? .zero
                    results.append(TriggerResult(description: describe(trigger), measured: m.text, holding: m.holding,
                                                 heldFor: held, fired: m.holding && held >= trigger.sustain))
                }
                let fired = g.combine == .any ? results.contains { $0.fired } : (!results.isEmpty && results.allSatisfy { $0.fired })
                watched.append(WatchedGroup(path: group.path, id: group.id, fired: fired, triggers: results))
                if fired { firing.append(group) }
            }
            var decision = GuardDecision(name: g.name, fired: !firing.isEmpty, waitingUntil: nil,
                                         lastVictim: nil, watched: watched, candidates: [])
            if !firing.isEmpty {
                // Its own delay after its own kill, and the delay of whichever guard killed last.
                let waits = [state.lastAction[g.name], state.lastKill].compactMap { $0 }.filter { now < $0.until }
                if let w = waits.max(by: { $0.until < $1.until }) {
                    decision.waitingUntil = Timestamp(monotonicNanos: w.until,
                                                      wallNanos: w.time.wallNanos + (w.until - w.time.monotonicNanos))
                    decision.lastVictim = w.victim
                }
                decision.candidates = rank(g, firing: firing, tree: tree, state: next)
            }
            guards.append(decision)
        }
        next.holdingSince = newHolding
        next.previous = Dictionary(uniqueKeysWithValues: snapshot.cgroups.map { g in
            (g.id, PolicyState.Sample(time: now, current: g.memory?.current, max: g.memory?.events?.max,
                                      high: g.memory?.events?.high, oomKill: g.memory?.events?.oomKill))
        })

        // The first guard (in configuration order) that fired, is not waiting,
        // and has an eligible candidate acts; one kill per decision.
        var victim: Victim?
        var reasons: [String] = []
        for (gd, g) in zip(guards, config.guards) where gd.fired {
            if let until = gd.waitingUntil {
                let left = TimeSpan(nanoseconds: until.monotonicNanos - now)
                reasons.append("guard '\(g.name)' fired but waits \(left) more after killing \(gd.lastVictim?.description ?? "?")")
                continue
            }
            guard let best = gd.candidates.first(where: { $0.excluded == nil }) else {
                reasons.append("guard '\(g.name)' fired but has no eligible candidate")
                continue
            }
            let why = gd.watched.filter(\.fired).map { w in
                "\(w.path): " + w.triggers.filter(\.fired).map { "\($0.description) (\($0.measured))" }.joined(separator: "; ")
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

    struct Measurement {
        var holding: Bool
        var text: String
    }

    func measure(_ kind: TriggerKind, group g: CgroupSnapshot, system: SystemSnapshot,
                 previous: PolicyState.Sample?, now: UInt64) -> Measurement {
        switch kind {
        case .usageOfLimit(let p, let limit, let count):
            guard let used = usage(g, count) else { return Measurement(holding: false, text: usageMissing(g, count)) }
            let l = limit == .max ? g.memory?.max : g.memory?.high
            guard let lb = l?.bytes else { return Measurement(holding: false, text: "no memory.\(limit.rawValue) limit") }
            let f = lb == 0 ? Double.infinity : Double(used) / Double(lb)
            return Measurement(holding: f >= p.fraction,
                               text: "\(Units.size(used)) of \(Units.size(lb)) (\(Units.decimal(f * 100, decimals: 1))%)")
        case .usageAbove(let size, let count):
            guard let used = usage(g, count) else { return Measurement(holding: false, text: usageMissing(g, count)) }
            return Measurement(holding: used >= size, text: Units.size(used))
        case .pressure(let level, let window, let p):
            guard let v = psi(g.pressure, level, window) else { return Measurement(holding: false, text: "no PSI") }
            return Measurement(holding: v >= p.percent, text: "\(level.rawValue) avg\(window == .avg10 ? 10 : 60) \(Units.decimal(v, decimals: 2))%")
        case .nodeAvailableBelow(let amount):
            let m = system.meminfo
            let threshold = amount.bytes(of: m.memTotal)
            return Measurement(holding: m.memAvailable <= threshold,
                               text: "MemAvailable \(Units.size(m.memAvailable)) of \(Units.size(m.memTotal))")
        case .nodeSwapFreeBelow(let amount):
            let m = system.meminfo
            guard m.swapTotal > 0 else { return Measurement(holding: false, text: "no swap") }
            return Measurement(holding: m.swapFree <= amount.bytes(of: m.swapTotal),
                               text: "SwapFree \(Units.size(m.swapFree)) of \(Units.size(m.swapTotal))")
        case .nodePressure(let level, let window, let p):
            guard let v = psi(system.pressure, level, window) else { return Measurement(holding: false, text: "no PSI") }
            return Measurement(holding: v >= p.percent, text: "node \(level.rawValue) avg\(window == .avg10 ? 10 : 60) \(Units.decimal(v, decimals: 2))%")
        case .eventRate(let counter, let perSecond):
            let cur = counter == .max ? g.memory?.events?.max : g.memory?.events?.high
            guard let cur else { return Measurement(holding: false, text: "no memory.events") }
            guard let previous, let prev = counter == .max ? previous.max : previous.high, now > previous.time else {
                return Measurement(holding: false, text: "\(counter.rawValue) \(cur) (no earlier snapshot yet)")
            }
            let rate = Double(cur >= prev ? cur - prev : 0) / (Double(now - previous.time) / 1e9)
            return Measurement(holding: rate >= perSecond, text: "\(counter.rawValue) +\(Quantities.decimal(rate, 1))/s")
        case .oomKill:
            guard let cur = g.memory?.events?.oomKill else { return Measurement(holding: false, text: "no memory.events") }
            guard let prev = previous?.oomKill else { return Measurement(holding: false, text: "oom_kill \(cur) (no earlier snapshot yet)") }
            return Measurement(holding: cur > prev, text: "oom_kill \(prev) -> \(cur)")
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

    func describe(_ t: Trigger) -> String {
        let body: String
        switch t.kind {
        case .usageOfLimit(let p, let limit, let count):
            body = "\(count == .unreclaimable ? "unreclaimable " : "")usage >= \(p) of memory.\(limit.rawValue)"
        case .usageAbove(let s, let count):
            body = "\(count == .unreclaimable ? "unreclaimable " : "")usage >= \(Units.size(s))"
        case .pressure(let level, let window, let p):
            body = "PSI \(level.rawValue) avg\(window == .avg10 ? 10 : 60) >= \(p)"
        case .nodeAvailableBelow(let a):
            body = "node MemAvailable <= \(a)"
        case .nodeSwapFreeBelow(let a):
            body = "node SwapFree <= \(a)"
        case .nodePressure(let level, let window, let p):
            body = "node PSI \(level.rawValue) avg\(window == .avg10 ? 10 : 60) >= \(p)"
        case .eventRate(let c, let r):
            body = "memory.events \(c.rawValue) rising >= \(Quantities.trimmed(r))/s"
        case .oomKill:
            body = "kernel OOM kill inside (memory.events oom_kill rose)"
        }
        return t.sustain == .zero ? body : "\(body) for \(t.sustain)"
    }

    // MARK: growth

    func updateGrowth(_ s: Snapshot, state: inout PolicyState) {
        let now = s.time.monotonicNanos
        var growth: [UInt64: Double] = [:]
        for g in s.cgroups {
            guard let cur = g.memory?.current else { continue }
            // No earlier figure: no rate yet (its first rate then starts the average).
            guard let prev = state.previous[g.id], let pc = prev.current, now > prev.time else { continue }
            let dt = Double(now - prev.time) / 1e9
            let rate = (Double(cur) - Double(pc)) / dt
            let old = state.growth[g.id] ?? rate
            growth[g.id] = old + dt / (dt + Evaluator.growthTimeConstant) * (rate - old)
        }
        state.growth = growth
    }

    // MARK: candidates

    func rank(_ g: Guard, firing: [CgroupSnapshot], tree: Tree, state: PolicyState) -> [Candidate] {
        var seen = Set<UInt64>()
        var pool: [(CgroupSnapshot, watched: CgroupSnapshot)] = []
        for m in firing {
            for c in scope(g.candidates, of: m, tree: tree) where seen.insert(c.id).inserted {
                pool.append((c, m))
            }
        }
        let protection = g.rank == .usageAboveProtection ? tree.effectiveProtection() : [:]
        var eligible: [(Candidate, qos: Int, current: UInt64)] = []
        var excluded: [Candidate] = []
        for (c, watched) in pool {
            let (pref, prefReason, omitted) = preference(c, guard: g, watched: watched)
            let (score, text) = self.score(g.rank, c, protection: protection, state: state)
            var cand = Candidate(path: c.path, id: c.id, score: score, scoreText: text, preference: pref,
                                 preferenceReason: prefReason, excluded: nil, rank: nil)
            if let why = exclusion(c, guard: g) ?? (omitted ? "omitted by user.oomd_omit" : nil)
                ?? (state.killed.contains(c.id) ? "already killed" : nil) {
                cand.excluded = why
                excluded.append(cand)
            } else {
                eligible.append((cand, g.qosOrder ? qosRank(c) : 0, c.memory?.current ?? 0))
            }
        }
        let tier: (Candidate.Preference) -> Int = { $0 == .prefer ? 0 : $0 == .normal ? 1 : 2 }
        eligible.sort { a, b in
            if tier(a.0.preference) != tier(b.0.preference) { return tier(a.0.preference) < tier(b.0.preference) }
            if a.qos != b.qos { return a.qos < b.qos }
            if a.0.score != b.0.score { return a.0.score > b.0.score }
            if a.current != b.current { return a.current > b.current }
            return a.0.path < b.0.path  // deterministic tie break
        }
        var out = eligible.enumerated().map { i, e in
            var c = e.0
            c.rank = i + 1
            return c
        }
        out += excluded.sorted { $0.path < $1.path }
        return out
    }

    func scope(_ s: CandidateScope, of m: CgroupSnapshot, tree: Tree) -> [CgroupSnapshot] {
        switch s {
        case .self: return [m]
        case .children: return tree.children[m.path] ?? []
        case .leaves:
            return tree.descendants(of: m.path, includingSelf: true).filter { (tree.children[$0.path] ?? []).isEmpty }
        case .pods:
            return tree.descendants(of: m.path, includingSelf: true).filter { $0.identity.kubernetes?.level == .pod }
        }
    }

    /// Why `c` may not be killed, or nil.
    func exclusion(_ c: CgroupSnapshot, guard g: Guard) -> String? {
        if c.path.isRoot { return "the root cgroup" }
        if let own = ownCgroup, own.isWithin(c.path) {
            return own == c.path ? "cgwarden's own cgroup" : "an ancestor of cgwarden's own cgroup (\(own))"
        }
        if let p = config.protect.first(where: { $0.matches(c.path) }) { return "protected by '\(p)'" }
        guard let m = c.memory, let current = m.current else { return "no memory accounting (controller off)" }
        if let populated = c.events?.populated, !populated { return "no processes" }
        if c.events == nil, c.nrProcs == 0 { return "no processes" }
        if current < g.minKillSize {
            return "uses \(Units.size(current)), below min_kill_size \(Units.size(g.minKillSize))"
        }
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

    func score(_ key: RankKey, _ c: CgroupSnapshot, protection: [UInt64: UInt64], state: PolicyState) -> (Double, String) {
        let current = c.memory?.current ?? 0
        switch key {
        case .usage:
            return (Double(current), "usage \(Units.size(current))")
        case .usageAboveProtection:
            let p = protection[c.id] ?? 0
            let above = current > p ? current - p : 0
            return (Double(above), "usage above protection \(Units.size(above)) (\(Units.size(current)) - \(Units.size(p)))")
        case .growth:
            let r = state.growth[c.id] ?? 0
            let sign = r < 0 ? "-" : "+"
            return (r, "growth \(sign)\(Units.size(UInt64(abs(r))))/s")
        case .pressure:
            let v = c.pressure?.some.avg10 ?? 0
            return (v, "PSI some avg10 \(Units.decimal(v, decimals: 2))%")
        case .swap:
            let s = c.memory?.swapCurrent ?? 0
            return (Double(s), "swap \(Units.size(s))")
        }
    }
}

/// Parent/child lookups over a snapshot.
struct Tree {
    let snapshot: Snapshot
    let byPath: [CgroupPath: CgroupSnapshot]
    let children: [CgroupPath: [CgroupSnapshot]]

    init(_ s: Snapshot) {
        snapshot = s
        var byPath: [CgroupPath: CgroupSnapshot] = [:]
        var children: [CgroupPath: [CgroupSnapshot]] = [:]
        for g in s.cgroups {
            byPath[g.path] = g
            if let p = g.path.parent { children[p, default: []].append(g) }
        }
        self.byPath = byPath
        self.children = children
    }

    func descendants(of p: CgroupPath, includingSelf: Bool) -> [CgroupSnapshot] {
        var out: [CgroupSnapshot] = []
        if includingSelf, let g = byPath[p] { out.append(g) }
        for c in children[p] ?? [] { out += descendants(of: c.path, includingSelf: true) }
        return out
    }

    /// Effective memory protection per group id: the larger of effective
    /// `memory.min` and `memory.low`, distributed among siblings as the kernel
    /// does (mm/page_counter.c, without memory_recursiveprot): a group keeps
    /// min(usage, setting), scaled down when its siblings together claim more
    /// than the parent's own effective protection.
    func effectiveProtection() -> [UInt64: UInt64] {
        var out: [UInt64: UInt64] = [:]
        func visit(_ parent: CgroupPath, parentMin: Double?, parentLow: Double?) {
            let kids = (children[parent] ?? []).filter { $0.memory != nil }
            func claimed(_ g: CgroupSnapshot, _ setting: Limit?) -> Double {
                let usage = Double(g.memory?.current ?? 0)
                let s: Double = setting.map { $0.bytes.map { Double($0) } ?? Double.infinity } ?? 0
                return min(usage, s)
            }
            let sumMin = kids.reduce(0.0) { $0 + claimed($1, $1.memory?.min) }
            let sumLow = kids.reduce(0.0) { $0 + claimed($1, $1.memory?.low) }
            for k in kids {
                func effective(_ own: Double, _ sum: Double, _ parentEffective: Double?) -> Double {
                    guard let pe = parentEffective else { return own }  // below the root: as set
                    return sum > pe && sum > 0 ? own * pe / sum : own
                }
                let emin = effective(claimed(k, k.memory?.min), sumMin, parentMin)
                let elow = effective(claimed(k, k.memory?.low), sumLow, parentLow)
                out[k.id] = UInt64(max(emin, elow))
                visit(k.path, parentMin: emin, parentLow: elow)
            }
        }
        // Top-level groups (children of the walked root, or of the top group) start unscaled.
        let top = snapshot.cgroups.first?.path ?? .root
        visit(top, parentMin: nil, parentLow: nil)
        if let first = snapshot.cgroups.first, first.memory != nil, out[first.id] == nil {
            out[first.id] = UInt64(max(Double(first.memory?.min?.bytes ?? 0), Double(first.memory?.low?.bytes ?? 0)))
        }
        return out
    }
}
