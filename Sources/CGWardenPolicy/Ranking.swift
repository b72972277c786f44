import CGWardenCore

/// Whom a fired guard may kill, in what order, and why the others not.
struct Ranking {
    let config: Config
    let ownCgroup: CgroupPath?
    let table: SnapshotTable
    let state: PolicyState
    let now: UInt64

    /// The candidates of `g`, whose watched groups `firing` fired: eligible
    /// ones in kill order, then the excluded with why.
    func candidates(_ g: Guard, firing: [Int]) -> [Candidate] {
        var seen = [Bool](repeating: false, count: table.count)
        var pool: [(candidate: Int, watched: Int)] = []
        // Leaves and pods are taken from a firing group's whole subtree: a
        // firing group inside the subtree of an earlier one offers nothing
        // new (all it offers was offered, and seen), so it is skipped, not
        // walked again.
        let subtreeScope = g.candidates == .leaves || g.candidates == .pods
        var covered = [Bool](repeating: false, count: subtreeScope ? table.count : 0)
        for m in firing {
            if subtreeScope {
                if covered[m] { continue }
                for d in table.descendants(of: m) { covered[d] = true }
            }
            for c in scope(g.candidates, of: m) where !seen[c] {
                seen[c] = true
                pool.append((c, m))
            }
        }
        let protection: [Int: UInt64] = g.rank == .usageAboveProtection ? table.protection : [:]
        let avoidMatch = table.firstMatch(g.avoid), preferMatch = table.firstMatch(g.prefer)
        var eligible: [Candidate] = []
        // Plain sort keys, made as each candidate is found: sorting (and
        // reading) the candidates themselves copies and reference counts them.
        var keys: [SortKey] = []
        let tier: (Candidate.Preference) -> Int = { $0 == .prefer ? 0 : $0 == .normal ? 1 : 2 }
        var excluded: [Candidate] = []
        var k = 0
        while k < pool.count {
            let (candidate, watchedGroup) = pool[k]
            k += 1
            let f = table.figures[candidate]
            var cand = Candidate(path: table.paths[candidate], id: f.id, rankKey: g.rank, score: 0,
                                 current: f.current ?? 0, protection: protection[candidate] ?? 0,
                                 preference: .normal, preferenceReason: nil, exclusion: nil, rank: nil)
            let (pref, prefReason, omitted) = preference(candidate, guard: g, watched: watchedGroup,
                                                         avoidMatch: avoidMatch, preferMatch: preferMatch)
            cand.preference = pref
            cand.preferenceReason = prefReason
            let score = self.score(g.rank, candidate, protection: cand.protection)
            cand.score = score ?? 0
            var why = exclusion(candidate, guard: g) ?? (omitted ? .omitted : nil)
                ?? (state.killed.contains(cand.id) ? .alreadyKilled : nil)
            // Blast radius: too big a kill is replaced by the group's own children.
            if why == nil, let over = overCap(candidate, guard: g) {
                why = over
                for c in table.children[candidate] where !seen[c] {
                    seen[c] = true
                    pool.append((c, watchedGroup))
                }
            }
            if why == nil, score == nil {
                let seenFor = Duration.nanoseconds(now.subtractingSaturated(state.firstSeen[f.id] ?? now))
                why = .rankNotKnownYet(seenFor: seenFor, needs: Evaluator.growthKnownAfter)
            }
            if let why {
                cand.exclusion = why
                excluded.append(cand)
            } else {
                keys.append(SortKey(tier: tier(cand.preference), qos: g.qosOrder ? qosRank(candidate) : 0,
                                    score: cand.score, current: cand.current, index: eligible.count))
                eligible.append(cand)
            }
        }
        // The path only breaks ties.
        keys.sort { a, b in
            if a.tier != b.tier { return a.tier < b.tier }
            if a.qos != b.qos { return a.qos < b.qos }
            if a.score != b.score { return a.score > b.score }
            if a.current != b.current { return a.current > b.current }
            return eligible[a.index].path < eligible[b.index].path  // deterministic tie break
        }
        var out: [Candidate] = []
        out.reserveCapacity(eligible.count + excluded.count)
        for (place, key) in keys.enumerated() {
            var c = eligible[key.index]
            c.rank = place + 1
            out.append(c)
        }
        for i in excluded.indices.sorted(by: { excluded[$0].path < excluded[$1].path }) { out.append(excluded[i]) }
        return out
    }

    private struct SortKey {
        var tier: Int
        var qos: Int
        var score: Double
        var current: UInt64
        var index: Int
    }

    /// Indices of the candidates a fired group offers.
    func scope(_ s: CandidateScope, of m: Int) -> [Int] {
        switch s {
        case .self: return [m]
        case .children: return table.children[m]
        case .leaves: return table.descendants(of: m).filter { table.children[$0].isEmpty }
        case .pods: return table.descendants(of: m).filter { table.identity($0).kubernetes?.level == .pod }
        }
    }

    /// Why group `i` may not be killed, or nil.
    func exclusion(_ i: Int, guard g: Guard) -> Candidate.Exclusion? {
        let path = table.paths[i], f = table.figures[i]
        if path.isRoot { return .root }
        if let own = ownCgroup, own.isWithin(path) { return own == path ? .own : .ancestorOfOwn(own) }
        if !config.protect.isEmpty, let (j, k) = table.protectedInSubtree(config.protect)[i] {
            return j == i ? .protected(config.protect[k]) : .holdsProtected(table.paths[j], config.protect[k])
        }
        guard f.hasMemory, let current = f.current else { return .noMemoryAccounting }
        if let populated = f.populated, !populated { return .noProcesses }
        if f.populated == nil, f.nrProcs == 0 { return .noProcesses }
        if current < g.minKillSize { return .belowMinimum(current, minimum: g.minKillSize) }
        return nil
    }

    /// A kill of group `i` would take more than the guard allows in one go.
    func overCap(_ i: Int, guard g: Guard) -> Candidate.Exclusion? {
        if let cap = g.maxVictimProcesses {
            let procs = table.subtreeProcesses[i]
            if procs > cap { return .overBlastRadius(.processes(procs, cap: cap)) }
        }
        if let share = g.maxVictimShare, let current = table.figures[i].current {
            let total = table.system.meminfo.memTotal
            let f = total == 0 ? 0 : Double(current) / Double(total)
            if f > share.fraction { return .overBlastRadius(.share(current, total: total, cap: share)) }
        }
        return nil
    }

    /// Preference from the configuration and the oomd attributes; `omit`
    /// (systemd's user.oomd_omit) removes the group from the candidates.
    func preference(_ i: Int, guard g: Guard, watched w: Int, avoidMatch: SnapshotTable.FirstMatch? = nil,
                    preferMatch: SnapshotTable.FirstMatch? = nil) -> (Candidate.Preference, String?, omitted: Bool) {
        var avoid: [String] = []
        var prefer: [String] = []
        var omitted = false
        if let k = (avoidMatch ?? table.firstMatch(g.avoid)).first(i) { avoid.append("avoid '\(g.avoid[k])'") }
        if let k = (preferMatch ?? table.firstMatch(g.prefer)).first(i) { prefer.append("prefer '\(g.prefer[k])'") }
        if config.honorAttributes, let a = table.attributes[i] {
            // systemd honours user.* only from root or from the owner of the
            // watched group: a delegated user cannot shield itself elsewhere.
            let trustedOwner = a.ownerUID == 0 || a.ownerUID == table.attributes[w]?.ownerUID
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

    func qosRank(_ i: Int) -> Int {
        switch table.identity(i).kubernetes?.qos {
        case .besteffort?: return 0
        case .burstable?: return 1
        case .guaranteed?: return 2
        case nil: return 1
        }
    }

    /// The rank key's value; nil when it is not known yet (growth needs a
    /// group seen for `Evaluator.growthKnownAfter`).
    func score(_ key: RankKey, _ i: Int, protection: UInt64) -> Double? {
        let f = table.figures[i]
        let current = f.current ?? 0
        switch key {
        case .usage: return Double(current)
        case .usageAboveProtection: return Double(current > protection ? current - protection : 0)
        case .growth:
            guard let first = state.firstSeen[f.id], now.subtractingSaturated(first) >= Evaluator.growthKnownAfter.nanosecondsClamped,
                  let g = state.growth[f.id] else { return nil }
            return g
        case .pressure: return f.pressure?.some.avg10 ?? 0
        case .swap: return Double(f.swapCurrent ?? 0)
        }
    }
}
