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
        for m in firing {
            for c in scope(g.candidates, of: m) where !seen[c] {
                seen[c] = true
                pool.append((c, m))
            }
        }
        let protection: [Int: UInt64] = g.rank == .usageAboveProtection ? table.protection : [:]
        var eligible: [(Candidate, qos: Int)] = []
        var excluded: [Candidate] = []
        var k = 0
        while k < pool.count {
            let (candidate, watchedGroup) = pool[k]
            k += 1
            let f = table.figures[candidate]
            var cand = Candidate(path: table.paths[candidate], id: f.id, rankKey: g.rank, score: 0,
                                 current: f.current ?? 0, protection: protection[candidate] ?? 0,
                                 preference: .normal, preferenceReason: nil, exclusion: nil, rank: nil)
            let (pref, prefReason, omitted) = preference(candidate, guard: g, watched: watchedGroup)
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
                eligible.append((cand, g.qosOrder ? qosRank(candidate) : 0))
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
    func preference(_ i: Int, guard g: Guard, watched w: Int) -> (Candidate.Preference, String?, omitted: Bool) {
        var avoid: [String] = []
        var prefer: [String] = []
        var omitted = false
        let path = table.paths[i]
        if let p = g.avoid.first(where: { $0.matches(path) }) { avoid.append("avoid '\(p)'") }
        if let p = g.prefer.first(where: { $0.matches(path) }) { prefer.append("prefer '\(p)'") }
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
