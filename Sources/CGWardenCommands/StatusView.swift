import CGWardenCore

/// How siblings are ordered in `status`.
public enum StatusSort: String, CaseIterable, Sendable {
    /// By name (the default).
    case name
    /// Largest `memory.current` first.
    case current
    /// Highest `memory.current / memory.max` first.
    case percent
    /// Highest PSI `some` avg10 first.
    case pressure
    /// Most kernel OOM kills (`memory.events` `oom_kill`, then `oom`) first.
    case oom
}

/// The human form of `cgwarden status`: a node summary, then the hierarchy as
/// an indented tree with one aligned row per group, at most 80 columns wide.
public struct StatusView {
    public var snapshot: Snapshot
    /// The group at the top of the tree (the root, or the CGROUP argument).
    public var top: CgroupPath
    public var sort: StatusSort
    public var processes: [CgroupPath: [ProcessInfo]]?
    /// OOM events of the last `historyWindow` per group, from the event store.
    public var history: [CgroupPath: [(kind: GuardEvent.Kind, count: Int, lastNanos: UInt64)]] = [:]

    /// One day: what `status` shows of the event history under each group.
    public static let historyWindow: UInt64 = 86_400 * 1_000_000_000

    public init(snapshot: Snapshot, top: CgroupPath = .root, sort: StatusSort = .name,
                processes: [CgroupPath: [ProcessInfo]]? = nil) {
        self.snapshot = snapshot
        self.top = top
        self.sort = sort
        self.processes = processes
    }

    /// Width of the CGROUP column: the tree glyphs and the name.
    static let nameWidth = 32
    /// Deepest indentation drawn; deeper levels are folded into a `…` prefix
    /// so that the numbers stay in their columns.
    static let maxIndent = 18

    public func render() -> String {
        var lines = StatusView.summary(snapshot.system)
        lines.append(StatusView.header)
        let byParent = Dictionary(grouping: snapshot.cgroups.filter { $0.path != top }) { $0.path.parent! }
        if let first = snapshot.cgroups.first(where: { $0.path == top }) {
            emit(first, prefix: "", childPrefix: "", byParent: byParent, into: &lines)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static let header = pad("CGROUP", nameWidth) + " " + [
        lpad("CURRENT", 7), lpad("LIMIT", 7), lpad("USE", 4), lpad("HIGH", 7),
        lpad("SWAP", 6), lpad("SOME", 5), lpad("FULL", 5),
    ].joined(separator: " ")

    /// Two lines on the node: memory and swap, then pressure and OOM kills.
    static func summary(_ s: SystemSnapshot) -> [String] {
        let m = s.meminfo
        let used = m.memTotal >= m.memAvailable ? m.memTotal - m.memAvailable : 0
        let swapUsed = m.swapTotal >= m.swapFree ? m.swapTotal - m.swapFree : 0
        var l1 = "node: memory \(Units.size(used)) used of \(Units.size(m.memTotal)) (\(Units.size(m.memAvailable)) available)"
        l1 += ", swap \(Units.size(swapUsed)) of \(Units.size(m.swapTotal))"
        var l2 = "      pressure "
        if let p = s.pressure {
            l2 += "some \(Units.decimal(p.some.avg10, decimals: 2))% full \(p.full.map { Units.decimal($0.avg10, decimals: 2) + "%" } ?? "-") (avg10)"
        } else {
            l2 += "not available (no PSI)"
        }
        l2 += ", OOM kills since boot \(s.oomKill.map(String.init) ?? "-")"
        return [l1, l2, ""]
    }

    private func emit(_ g: CgroupSnapshot, prefix: String, childPrefix: String,
                      byParent: [CgroupPath: [CgroupSnapshot]], into lines: inout [String]) {
        lines.append(StatusView.row(g, prefix: prefix, isTop: g.path == top, pods: snapshot.pods))
        // Detail lines hang below the row, aligned with the children.
        let children = sorted(byParent[g.path] ?? [])
        let detail = childPrefix + (children.isEmpty ? "   " : "│  ")
        if let e = g.memory?.events, let text = StatusView.eventsText(e) {
            lines.append(StatusView.fold(detail) + "events: " + text)
        }
        if let h = history[g.path], let text = StatusView.historyText(h) {
            lines.append(StatusView.fold(detail) + text)
        }
        for p in processes?[g.path] ?? [] {
            lines.append(StatusView.fold(detail) + StatusView.processText(p))
        }
        for (i, c) in children.enumerated() {
            let last = i == children.count - 1
            emit(c, prefix: childPrefix + (last ? "└─ " : "├─ "), childPrefix: childPrefix + (last ? "   " : "│  "),
                 byParent: byParent, into: &lines)
        }
    }

    func sorted(_ groups: [CgroupSnapshot]) -> [CgroupSnapshot] {
        func key(_ g: CgroupSnapshot) -> Double {
            switch sort {
            case .name: return 0
            case .current: return g.memory?.current.map { Double($0) } ?? -1
            case .percent: return g.memory?.fractionOfMax ?? -1
            case .pressure: return g.pressure?.some.avg10 ?? -1
            case .oom:
                guard let e = g.memory?.events else { return -1 }
                return Double(e.oomKill) * 1e6 + Double(e.oom)
            }
        }
        // Stable: ties keep name order (the walk's order).
        return groups.enumerated().sorted { a, b in
            let ka = key(a.element), kb = key(b.element)
            return ka != kb ? ka > kb : a.offset < b.offset
        }.map(\.element)
    }

    /// One aligned row.
    static func row(_ g: CgroupSnapshot, prefix: String, isTop: Bool, pods: PodNames = .empty) -> String {
        let name = isTop ? g.path.description : displayName(g, pods: pods)
        let folded = fold(prefix)
        let cell = folded + truncate(name, nameWidth - folded.count)
        let m = g.memory
        let current = m?.current.map(Units.size) ?? "-"
        let limit = m.map { Units.limit($0.max) } ?? "-"
        let use = m?.fractionOfMax.map(Units.percent) ?? "-"
        let high: String = {
            guard let h = m?.high else { return "-" }
            return h.isMax ? "-" : Units.limit(h)
        }()
        let swap = m?.swapCurrent.map(Units.size) ?? "-"
        let some = g.pressure.map { psi($0.some.avg10) } ?? "-"
        let full = g.pressure?.full.map { psi($0.avg10) } ?? "-"
        return pad(cell, nameWidth) + " " + [
            lpad(current, 7), lpad(limit, 7), lpad(use, 4), lpad(high, 7),
            lpad(swap, 6), lpad(some, 5), lpad(full, 5),
        ].joined(separator: " ")
    }

    /// A PSI percentage in its 5 columns: `42.17`, `100.0` (a fully stalled
    /// group), `>999` for what only a forged file holds.
    static func psi(_ v: Double) -> String {
        if v < 99.995 { return Units.decimal(v, decimals: 2) }
        if v < 999.95 { return Units.decimal(v, decimals: 1) }
        return ">999"
    }

    /// The name shown for a group: Kubernetes pods (by `namespace/name`
    /// where the kubelet's log directories tell) and containers (runtime and
    /// short id) by what they are (their cgroup names are 60+ characters),
    /// others by name.
    static func displayName(_ g: CgroupSnapshot, pods: PodNames = .empty) -> String {
        let identity = g.identity
        if let k = identity.kubernetes, k.level == .pod {
            if let name = pods.podLabels(for: k)?.name { return "pod \(name)" }
            return "pod \(k.podUID.map { String($0.prefix(8)) } ?? "?") \(k.qos?.rawValue ?? "")"
        }
        // The container's own group; its children (Podman's `container`) show their names.
        // In a pod, `ctr`: the runtime is the node's, and the row three levels deep has 20 columns.
        if let c = identity.container, let parent = g.path.parent, GroupIdentity(path: parent).container != c {
            return identity.kubernetes != nil && !c.isMonitor ? "ctr \(c.shortID)" : c.description
        }
        return g.path.name?.description ?? "/"
    }

    /// Non-zero `memory.events` counters, or nil when all are zero.
    static func eventsText(_ e: MemoryEvents) -> String? {
        let shown: [(String, UInt64)] = [("high", e.high), ("max", e.max), ("oom", e.oom),
                                         ("oom_kill", e.oomKill), ("oom_group_kill", e.oomGroupKill)]
        guard shown.contains(where: { $0.1 > 0 }) else { return nil }
        return shown.map { "\($0.0) \($0.1)" }.joined(separator: "  ")
    }

    /// `last 24h: 2 oom, 1 kill (last 10:02:11)`: what the store recorded for the group.
    static func historyText(_ h: [(kind: GuardEvent.Kind, count: Int, lastNanos: UInt64)]) -> String? {
        guard !h.isEmpty else { return nil }
        let order: [GuardEvent.Kind] = [.oom, .kill, .incomplete, .max, .high]
        let counts = order.compactMap { k in h.first { $0.kind == k }.map { "\($0.count) \(k.rawValue)" } }
        let last = h.map(\.lastNanos).max() ?? 0
        return "last 24h: " + counts.joined(separator: ", ") + " (last " + EventsView.time(last) + ")"
    }

    static func processText(_ p: ProcessInfo) -> String {
        "pid " + lpad(String(p.pid), 7) + "  " + pad(truncate(PathText.escape(p.command), 15), 15)
            + " rss " + lpad(Units.size(p.rss), 7) + "  oom_score " + lpad(String(p.oomScore), 4)
            + " adj " + String(p.oomScoreAdj)
    }

    /// Keeps deep tree prefixes within `maxIndent` columns.
    static func fold(_ prefix: String) -> String {
        guard prefix.count > maxIndent else { return prefix }
        return "…" + String(prefix.suffix(maxIndent - 1))
    }

    static func truncate(_ s: String, _ width: Int) -> String {
        guard width > 1 else { return width == 1 ? "…" : "" }
        guard s.count > width else { return s }
        // Keep both ends: names differ at the end (a.slice vs b.slice) as often as at the start.
        let head = (width - 1) / 2, tail = width - 1 - head
        return String(s.prefix(head)) + "…" + String(s.suffix(tail))
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    static func lpad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }
}
