import CGWardenCore

/// The figures of one group the policy reads: plain values, no references,
/// so that a table of them is read and copied without reference counting.
struct GroupFigures: Sendable {
    var id: UInt64
    var hasMemory: Bool
    var current: UInt64?
    var max: Limit?
    var high: Limit?
    var low: Limit?
    var min: Limit?
    var unreclaimable: UInt64?
    var swapCurrent: UInt64?
    var hasEvents: Bool
    var eventsMax: UInt64?
    var eventsHigh: UInt64?
    var eventsOomKill: UInt64?
    var pressure: Pressure?
    var populated: Bool?
    var nrProcs: Int?

    @inline(__always)
    init(_ g: CgroupSnapshot) {
        id = g.id
        pressure = g.pressure
        populated = g.events?.populated
        nrProcs = g.nrProcs
        hasMemory = false
        hasEvents = false
        // One read of `g.memory` and of its events: each read through
        // `g.memory?.` copied it, retaining every array in it.
        guard let m = g.memory else { return }
        hasMemory = true
        current = m.current
        max = m.max
        high = m.high
        low = m.low
        min = m.min
        unreclaimable = m.unreclaimable
        swapCurrent = m.swapCurrent
        guard let e = m.events else { return }
        hasEvents = true
        eventsMax = e.max
        eventsHigh = e.high
        eventsOomKill = e.oomKill
    }
}

/// One snapshot as the policy reads it: the figures of every group in
/// columns indexed like `Snapshot.cgroups`, and the tree over them. Built
/// once per snapshot; every guard reads it.
final class SnapshotTable {
    let time: Timestamp
    let system: SystemSnapshot
    let figures: [GroupFigures]
    let paths: [CgroupPath]
    let attributes: [CgroupAttributes?]
    /// Parent index of each group; -1 for the top group (or an orphan).
    let parent: [Int]
    let children: [[Int]]

    var count: Int { figures.count }

    init(_ s: Snapshot) {
        time = s.time
        system = s.system
        let n = s.cgroups.count
        var figures: [GroupFigures] = []
        var paths: [CgroupPath] = []
        var attributes: [CgroupAttributes?] = []
        figures.reserveCapacity(n)
        paths.reserveCapacity(n)
        attributes.reserveCapacity(n)
        // Read in place: a copy of each `CgroupSnapshot` retains all it holds.
        s.cgroups.withUnsafeBufferPointer { groups in
            for i in groups.indices {
                figures.append(GroupFigures(groups[i]))
                paths.append(groups[i].path)
                attributes.append(groups[i].attributes)
            }
        }
        let (parent, children) = SnapshotTable.tree(paths)
        self.figures = figures
        self.paths = paths
        self.attributes = attributes
        self.parent = parent
        self.children = children
    }

    /// The parent and children of each group, by index. In `CgroupPath`'s
    /// order (pre-order, siblings by name) each group's parent, when
    /// present, is the nearest of the ancestors before it: found on a stack,
    /// no path hashed. Children are listed in snapshot order.
    static func tree(_ paths: [CgroupPath]) -> (parent: [Int], children: [[Int]]) {
        let n = paths.count
        var parent = [Int](repeating: -1, count: n)
        var children = [[Int]](repeating: [], count: n)
        // Walks give that order; anything else is sorted into it (cheaper
        // than hashing every path), unless two groups share a path.
        var order = Array(paths.indices)
        func increasing() -> Bool { order.indices.dropFirst().allSatisfy { paths[order[$0 - 1]] < paths[order[$0]] } }
        var ordered = increasing()
        if !ordered {
            order.sort { paths[$0] < paths[$1] }
            ordered = increasing()
        }
        if ordered {
            var ancestors: [Int] = []
            for i in order {
                let path = paths[i]
                while let top = ancestors.last, !path.isBelow(paths[top]) { ancestors.removeLast() }
                // The nearest ancestor present is the parent when it is one level up.
                if let top = ancestors.last, !path.isRoot,
                   paths[top].bytes.count == (path.bytes.lastIndex(of: UInt8(ascii: "/")) ?? 0) {
                    parent[i] = top
                }
                ancestors.append(i)
            }
            for i in 0..<n where parent[i] >= 0 { children[parent[i]].append(i) }
            return (parent, children)
        }
        var index: [CgroupPath: Int] = [:]
        index.reserveCapacity(n)
        for i in 0..<n { index[paths[i]] = i }
        for i in 0..<n {
            if let p = paths[i].parent, let pi = index[p] {
                parent[i] = pi
                children[pi].append(i)
            }
        }
        return (parent, children)
    }

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

    /// What the path tells of group `i` (a unit, a Kubernetes level).
    func identity(_ i: Int) -> GroupIdentity { GroupIdentity(path: paths[i]) }

    /// For each group, whether any of `patterns` matches it (`Guard.watches`).
    func matching(_ patterns: [CgroupPattern]) -> [Bool] {
        var out = [Bool](repeating: false, count: count)
        // Pattern by pattern: a pattern read from an array for each path is
        // copied for each call (its text, its levels), a local one is not.
        for pattern in patterns {
            for i in 0..<count where !out[i] && pattern.matches(paths[i]) { out[i] = true }
        }
        return out
    }

    /// The index of the first of `patterns` that matches `path`.
    static func firstMatch(_ patterns: [CgroupPattern], _ path: CgroupPath) -> Int? {
        for (k, pattern) in patterns.enumerated() where pattern.matches(path) { return k }
        return nil
    }

    /// For each group, a protected group of its subtree (itself when it is
    /// one) and the index of the pattern that protects it. The kill helper
    /// refuses a group with a protected group anywhere below it (cgroup.kill
    /// would kill that too), so the policy must not choose one. Computed once
    /// per snapshot, when a guard ranks candidates; a table serves one
    /// evaluation, so one `protect` list.
    func protectedInSubtree(_ patterns: [CgroupPattern]) -> [(group: Int, pattern: Int)?] {
        if let protectedCache { return protectedCache }
        var found = [(group: Int, pattern: Int)?](repeating: nil, count: count)
        // Pattern by pattern, as in `matching`: the first that matches a group.
        for (k, pattern) in patterns.enumerated() {
            for i in 0..<count where found[i] == nil && pattern.matches(paths[i]) { found[i] = (i, k) }
        }
        // Pre-order: a child comes after its parent, so backwards is bottom-up.
        for i in stride(from: count - 1, through: 0, by: -1) where parent[i] >= 0 && found[parent[i]] == nil {
            found[parent[i]] = found[i]
        }
        protectedCache = found
        return found
    }
    private var protectedCache: [(group: Int, pattern: Int)?]?

    /// The first of a list of patterns that matches each group, matched
    /// when first asked and kept for the snapshot: guards share their
    /// `avoid`/`prefer` lists, and a group is a candidate of several guards.
    /// A value a ranking takes (`takeFirstMatch`) and gives back
    /// (`keepFirstMatch`): read in a class, each step of the memo would be
    /// checked for exclusive access.
    struct FirstMatch {
        let patterns: [CgroupPattern]
        let paths: [CgroupPath]
        /// Per group: -2 not matched yet, -1 none, else the pattern's index.
        var memo: [Int32]

        init(_ patterns: [CgroupPattern], paths: [CgroupPath]) {
            self.patterns = patterns
            self.paths = paths
            memo = patterns.isEmpty ? [] : [Int32](repeating: -2, count: paths.count)
        }

        mutating func first(_ i: Int) -> Int? {
            if patterns.isEmpty { return nil }
            var k = memo[i]
            if k == -2 {
                k = Int32(SnapshotTable.firstMatch(patterns, paths[i]) ?? -1)
                memo[i] = k
            }
            return k < 0 ? nil : Int(k)
        }
    }
    private var firstMatches: [[CgroupPattern]: FirstMatch] = [:]

    func takeFirstMatch(_ patterns: [CgroupPattern]) -> FirstMatch {
        // Removed while taken: the memo stays unshared, updated in place.
        firstMatches.removeValue(forKey: patterns) ?? FirstMatch(patterns, paths: paths)
    }

    func keepFirstMatch(_ m: FirstMatch) {
        firstMatches[m.patterns] = m
    }

    /// Effective protection by group index, computed once per snapshot.
    lazy var protection: [UInt64] = effectiveProtection()

    /// The oomd attributes of a group, read once per snapshot: a group is a
    /// candidate of several guards, and each reads all four.
    struct OomdAttributes {
        var ownerUID: UInt32
        var userAvoid: Bool
        var userOmit: Bool
        var trustedAvoid: Bool
        var trustedPrefer: Bool

        init(_ a: CgroupAttributes) {
            ownerUID = a.ownerUID
            // Most groups have none set.
            let any = !a.values.isEmpty
            userAvoid = any && a.isSet("user.oomd_avoid")
            userOmit = any && a.isSet("user.oomd_omit")
            trustedAvoid = any && a.isSet("trusted.oomd_avoid")
            trustedPrefer = any && a.isSet("trusted.oomd_prefer")
        }
    }

    /// By group index; nil where the snapshot has no attributes.
    lazy var oomdAttributes: [OomdAttributes?] = attributes.map { $0.map(OomdAttributes.init) }

    /// Processes in each group's subtree (`cgroup.procs` lines, summed up the
    /// tree), computed once per snapshot when a guard caps its victims.
    lazy var subtreeProcesses: [UInt64] = {
        var sums = figures.map { UInt64($0.nrProcs ?? 0) }
        // Pre-order: a child comes after its parent, so backwards is bottom-up.
        for i in stride(from: count - 1, through: 0, by: -1) where parent[i] >= 0 {
            sums[parent[i]] = sums[parent[i]].addingSaturated(sums[i])
        }
        return sums
    }()

    /// Effective memory protection per group index (0 without memory
    /// accounting): the larger of effective
    /// `memory.min` and `memory.low`, distributed among siblings as the kernel
    /// does (mm/page_counter.c, without memory_recursiveprot): a group keeps
    /// min(usage, setting), scaled down when its siblings together claim more
    /// than the parent's own effective protection.
    func effectiveProtection() -> [UInt64] {
        // Sums in the order of `children`, as the kernel walks siblings.
        var out = [UInt64](repeating: 0, count: count)
        func claimed(_ g: GroupFigures, _ setting: Limit?) -> Double {
            let usage = Double(g.current ?? 0)
            let s: Double = setting.map { $0.bytes.map { Double($0) } ?? Double.infinity } ?? 0
            return Swift.min(usage, s)
        }
        func effective(_ own: Double, _ sum: Double, _ parentEffective: Double?) -> Double {
            guard let pe = parentEffective else { return own }  // top groups: as set
            return sum > pe && sum > 0 ? own * pe / sum : own
        }
        // Groups whose children are to be distributed, without recursion (the tree may be deep).
        var work: [(group: Int, parentMin: Double?, parentLow: Double?)] = []
        // The top group of the snapshot (the root, or a walked subtree's top)
        // and any orphan start unscaled.
        for i in 0..<count where parent[i] == -1 {
            if figures[i].hasMemory {
                let e = Swift.max(claimed(figures[i], figures[i].min), claimed(figures[i], figures[i].low))
                out[i] = UInt64(saturating: e)
                work.append((i, e, e))
            } else {
                work.append((i, nil, nil))
            }
        }
        while let (p, parentMin, parentLow) = work.popLast() {
            // Only children with memory accounting claim a share.
            var sumMin = 0.0, sumLow = 0.0
            for k in children[p] where figures[k].hasMemory {
                sumMin += claimed(figures[k], figures[k].min)
                sumLow += claimed(figures[k], figures[k].low)
            }
            for k in children[p] where figures[k].hasMemory {
                let emin = effective(claimed(figures[k], figures[k].min), sumMin, parentMin)
                let elow = effective(claimed(figures[k], figures[k].low), sumLow, parentLow)
                // Saturates: usage of 2^64-1 is 2^64 as a Double.
                out[k] = UInt64(saturating: Swift.max(emin, elow))
                work.append((k, emin, elow))
            }
        }
        return out
    }
}
