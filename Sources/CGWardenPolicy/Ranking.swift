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
        func offer(_ c: Int, _ m: Int) {
            if !seen[c] {
                seen[c] = true
                pool.append((c, m))
            }
        }
        for m in firing {
            switch g.candidates {
            case .self: offer(m, m)
            case .children: for c in table.children[m] { offer(c, m) }
            case .leaves, .pods:
                if covered[m] { continue }
                for d in table.descendants(of: m) {
                    covered[d] = true
                    if offers(g.candidates, d) { offer(d, m) }
                }
            }
        }
        let protection: [UInt64] = g.rank == .usageAboveProtection ? table.protection : []
        var avoidMatch = table.takeFirstMatch(g.avoid), preferMatch = table.takeFirstMatch(g.prefer)
        defer {
            table.keepFirstMatch(avoidMatch)
            table.keepFirstMatch(preferMatch)
        }
        let protectedIn = config.protect.isEmpty ? [] : table.protectedInSubtree(config.protect)
        let processes = g.maxVictimProcesses == nil ? [] : table.subtreeProcesses
        let oomd = config.honorAttributes ? table.oomdAttributes : []
        // Each candidate's findings as plain values, and plain sort keys: a
        // `Candidate` (a path, texts) is made once, in its final place.
        var found: [Finding] = []
        found.reserveCapacity(pool.count)
        var keys: [SortKey] = []
        keys.reserveCapacity(pool.count)
        var excluded: [Int] = []
        let tier: (Candidate.Preference) -> Int = { $0 == .prefer ? 0 : $0 == .normal ? 1 : 2 }
        var k = 0
        while k < pool.count {
            let (candidate, watchedGroup) = pool[k]
            k += 1
            let (facts, omitted) = preference(candidate, guard: g, watched: watchedGroup, avoidMatch: &avoidMatch,
                                              preferMatch: &preferMatch, oomd: oomd)
            let score = self.score(g.rank, candidate, protection: protection.isEmpty ? 0 : protection[candidate])
            let id = table.figures[candidate].id
            var why = exclusion(candidate, guard: g, protectedIn: protectedIn) ?? (omitted ? .omitted : nil)
                ?? (!state.killed.isEmpty && state.killed.contains(id) ? .alreadyKilled : nil)
            // Blast radius: too big a kill is replaced by the group's own children.
            if why == nil, let over = overCap(candidate, guard: g, processes: processes) {
                why = over
                for c in table.children[candidate] where !seen[c] {
                    seen[c] = true
                    pool.append((c, watchedGroup))
                }
            }
            if why == nil, score == nil {
                let seenFor = Duration.nanoseconds(now.subtractingSaturated(state.firstSeen[id] ?? now))
                why = .rankNotKnownYet(seenFor: seenFor, needs: Evaluator.growthKnownAfter)
            }
            if why != nil {
                excluded.append(found.count)
            } else {
                keys.append(SortKey(tier: tier(facts.preference), qos: g.qosOrder ? qosRank(candidate) : 0,
                                    score: score ?? 0, current: table.figures[candidate].current ?? 0, index: found.count))
            }
            found.append(Finding(group: candidate, score: score ?? 0, preference: facts, exclusion: why))
        }
        // The path only breaks ties.
        keys.sort { a, b in
            if a.tier != b.tier { return a.tier < b.tier }
            if a.qos != b.qos { return a.qos < b.qos }
            if a.score != b.score { return a.score > b.score }
            if a.current != b.current { return a.current > b.current }
            return table.paths[found[a.index].group] < table.paths[found[b.index].group]  // deterministic tie break
        }
        excluded.sort { table.paths[found[$0].group] < table.paths[found[$1].group] }
        // The same few reasons recur (one `avoid` pattern over a subtree): each text is made once.
        var reasons: [PreferenceFacts: String] = [:]
        var out: [Candidate] = []
        out.reserveCapacity(found.count)
        func append(_ i: Int, rank: Int?) {
            let x = found[i]
            var reason: String?
            if x.preference.preference != .normal {
                if let r = reasons[x.preference] {
                    reason = r
                } else {
                    reason = x.preference.reason(guard: g)
                    reasons[x.preference] = reason
                }
            }
            let f = table.figures[x.group]
            out.append(Candidate(path: table.paths[x.group], id: f.id, rankKey: g.rank, score: x.score,
                                 current: f.current ?? 0, protection: protection.isEmpty ? 0 : protection[x.group],
                                 preference: x.preference.preference, preferenceReason: reason,
                                 exclusion: x.exclusion, rank: rank))
        }
        for (place, key) in keys.enumerated() { append(key.index, rank: place + 1) }
        for i in excluded { append(i, rank: nil) }
        return out
    }

    /// What ranking found for one candidate, before it is a `Candidate`.
    private struct Finding {
        var group: Int
        var score: Double
        var preference: PreferenceFacts
        var exclusion: Candidate.Exclusion?
    }

    private struct SortKey {
        var tier: Int
        var qos: Int
        var score: Double
        var current: UInt64
        var index: Int
    }

    /// Whether group `d`, below a fired group, is a candidate of a subtree scope.
    func offers(_ s: CandidateScope, _ d: Int) -> Bool {
        switch s {
        case .self, .children: return false
        case .leaves: return table.children[d].isEmpty
        case .pods: return table.identity(d).kubernetes?.level == .pod
        }
    }

    /// Why group `i` may not be killed, or nil.
    /// `protectedIn`: `table.protectedInSubtree(config.protect)`, empty without a `protect` list.
    func exclusion(_ i: Int, guard g: Guard, protectedIn: [(group: Int, pattern: Int)?]) -> Candidate.Exclusion? {
        let path = table.paths[i], f = table.figures[i]
        if path.isRoot { return .root }
        if let own = ownCgroup, own.isWithin(path) { return own == path ? .own : .ancestorOfOwn(own) }
        if !protectedIn.isEmpty, let (j, k) = protectedIn[i] {
            return j == i ? .protected(config.protect[k]) : .holdsProtected(table.paths[j], config.protect[k])
        }
        guard f.hasMemory, let current = f.current else { return .noMemoryAccounting }
        if let populated = f.populated, !populated { return .noProcesses }
        if f.populated == nil, f.nrProcs == 0 { return .noProcesses }
        if current < g.minKillSize { return .belowMinimum(current, minimum: g.minKillSize) }
        return nil
    }

    /// A kill of group `i` would take more than the guard allows in one go.
    /// `processes`: `table.subtreeProcesses` when the guard caps them.
    func overCap(_ i: Int, guard g: Guard, processes: [UInt64]) -> Candidate.Exclusion? {
        if let cap = g.maxVictimProcesses {
            let procs = processes[i]
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
    /// `oomd`: `table.oomdAttributes`, empty unless the configuration honours them.
    func preference(_ i: Int, guard g: Guard, watched w: Int, avoidMatch: inout SnapshotTable.FirstMatch,
                    preferMatch: inout SnapshotTable.FirstMatch,
                    oomd: [SnapshotTable.OomdAttributes?]) -> (PreferenceFacts, omitted: Bool) {
        var facts = PreferenceFacts()
        var omitted = false
        facts.avoidPattern = avoidMatch.first(i)
        facts.preferPattern = preferMatch.first(i)
        if !oomd.isEmpty, let a = oomd[i] {
            // systemd honours user.* only from root or from the owner of the
            // watched group: a delegated user cannot shield itself elsewhere.
            let trustedOwner = a.ownerUID == 0 || a.ownerUID == oomd[w]?.ownerUID
            facts.userAvoid = trustedOwner && a.userAvoid
            omitted = trustedOwner && a.userOmit
            facts.trustedAvoid = a.trustedAvoid
            facts.trustedPrefer = a.trustedPrefer
        }
        return (facts, omitted)
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

/// Why a candidate is preferred or avoided, as plain values (pattern
/// indices, attributes): ranking thousands of candidates compares these, and
/// makes a text once per distinct reason.
struct PreferenceFacts: Hashable {
    var avoidPattern: Int?
    var preferPattern: Int?
    var userAvoid = false
    var trustedAvoid = false
    var trustedPrefer = false

    // Avoid wins over prefer: being wrong costs a workload someone protected.
    var preference: Candidate.Preference {
        if avoidPattern != nil || userAvoid || trustedAvoid { return .avoid }
        if preferPattern != nil || trustedPrefer { return .prefer }
        return .normal
    }

    /// `avoid '/p/**', user.oomd_avoid`; nil for normal.
    func reason(guard g: Guard) -> String? {
        var parts: [String] = []
        switch preference {
        case .avoid:
            if let k = avoidPattern { parts.append("avoid '\(g.avoid[k])'") }
            if userAvoid { parts.append("user.oomd_avoid") }
            if trustedAvoid { parts.append("trusted.oomd_avoid") }
        case .prefer:
            if let k = preferPattern { parts.append("prefer '\(g.prefer[k])'") }
            if trustedPrefer { parts.append("trusted.oomd_prefer") }
        case .normal:
            return nil
        }
        return parts.joined(separator: ", ")
    }
}
