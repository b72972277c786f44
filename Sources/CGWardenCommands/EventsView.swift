import CGWardenCore
import CGWardenStore
import CGWardenSystem

/// The human and JSON forms of `cgwarden events`: one row per event, 80
/// columns, names escaped (`PathText`) as everywhere.
enum EventsView {
    // Widths: 6 + 14 + 10 + 18 + 11 + 7 + 8 and six spaces = 80.
    static let idWidth = 6, timeWidth = 14, kindWidth = 10, groupWidth = 18, diedWidth = 11, memoryWidth = 7, byWidth = 8

    static let header = [
        StatusView.lpad("ID", idWidth), StatusView.pad("TIME", timeWidth), StatusView.pad("KIND", kindWidth),
        StatusView.pad("GROUP", groupWidth), StatusView.pad("DIED", diedWidth), StatusView.lpad("MEMORY", memoryWidth), "BY",
    ].joined(separator: " ")

    /// `12-01 10:00:05`, local time.
    static func time(_ wallNanos: UInt64) -> String {
        let f = CalendarTime.local(wallNanos)
        return "\(two(f.month))-\(two(f.day)) \(two(f.hour)):\(two(f.minute)):\(two(f.second))"
    }

    /// `2026-12-01 10:00:05.123 +0100`.
    static func fullTime(_ wallNanos: UInt64) -> String {
        let f = CalendarTime.local(wallNanos)
        let millis = (wallNanos / 1_000_000) % 1000
        let offset = abs(f.utcOffset) / 60
        return "\(f.year)-\(two(f.month))-\(two(f.day)) \(two(f.hour)):\(two(f.minute)):\(two(f.second))."
            + String(millis + 1000).dropFirst() + " \(f.utcOffset < 0 ? "-" : "+")\(two(offset / 60))\(two(offset % 60))"
    }

    static func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// What the group is: a pod or container by what Kubernetes calls it, any
    /// other group by its path (its unit is the last name).
    static func group(_ path: CgroupPath, pod labels: PodLabels? = nil) -> String {
        if let k = KubernetesIdentity(path: path) {
            let pod = labels?.display ?? k.podUID.map { String($0.prefix(8)) } ?? "?"
            switch k.level {
            case .pod: return "pod \(pod)"
            case .container: return "pod \(pod) ctr \(k.containerID.map { String($0.prefix(4)) } ?? "?")"
            case .node, .qos: break
            }
        }
        return path.description
    }

    /// The task the kernel took (`comm[pid]`), or the processes cgwarden took
    /// (or would take), or the counters that rose.
    static func died(_ e: GuardEvent) -> String {
        if let t = e.task { return PathText.escape(Array(t.command.utf8)[...]) + "[\(t.pid)]" }
        switch e.kind {
        case .kill, .incomplete:
            return e.processes.map { "\($0) proc\($0 == 1 ? "" : "s")" } ?? "?"
        case .observed:
            return e.processes.map { "(\($0) proc\($0 == 1 ? "" : "s"))" } ?? "-"
        case .oom, .max, .high:
            let rose = e.counters.map { "\($0.name) +\($0.delta)" }.joined(separator: ",")
            return rose.isEmpty ? "-" : rose
        default:
            return "-"
        }
    }

    static func memory(_ e: GuardEvent) -> String {
        if let rss = e.task?.rss { return Units.size(rss) }
        switch e.kind {
        case .kill, .incomplete, .observed, .refused, .failed: return e.memoryBefore.map(Units.size) ?? "-"
        default: return "-"
        }
    }

    static func row(_ s: StoredEvent) -> String {
        let e = s.event
        let head = StatusView.lpad(String(s.id), idWidth) + " " + StatusView.pad(time(e.time.wallNanos), timeWidth) + " "
            + StatusView.pad(StatusView.truncate(e.kind.rawValue, kindWidth), kindWidth) + " "
        guard let path = e.cgroup else {
            // No group (started, reloaded, a problem): its message in the rest of the row.
            let rest = 80 - idWidth - timeWidth - kindWidth - 3
            return head + StatusView.truncateEnd(visible(e.message), rest)
        }
        return head + [
            StatusView.pad(StatusView.truncate(group(path, pod: e.pod), groupWidth), groupWidth),
            StatusView.pad(StatusView.truncate(died(e), diedWidth), diedWidth),
            StatusView.lpad(StatusView.truncate(memory(e), memoryWidth), memoryWidth),
            e.kind.actor,
        ].joined(separator: " ")
    }

    /// Control characters (a newline in a reload's errors) as spaces: one row stays one row.
    static func visible(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value < 0x20 || ($0.value >= 0x7f && $0.value < 0xa0) ? " " : $0 }))
    }

    /// One JSON object: `event_id`, the event's own fields (Docs/events.md), its message.
    static func jsonLine(_ s: StoredEvent) -> String {
        guard case .object(let pairs) = s.event.json else { return "{}" }
        return JSON.object([("event_id", .int(s.id))] + pairs + [("message", .string(s.event.message))]).serialized()
    }

    /// Every field, one per line, then the candidates and the recording.
    static func show(_ s: StoredEvent) -> String {
        let e = s.event
        var lines: [(String, String)] = [("event", "\(s.id)"), ("time", fullTime(e.time.wallNanos)), ("kind", e.kind.rawValue),
                                         ("by", e.kind.actor)]
        func add(_ key: String, _ value: String?) { if let value { lines.append((key, value)) } }
        add("guard", e.guardName)
        if let path = e.cgroup {
            let identity = GroupIdentity(path: path)
            add("cgroup", path.description + (e.cgroupID.map { " (id \($0))" } ?? ""))
            add("unit", identity.unit)
            add("pod", (e.pod?.uid ?? identity.kubernetes?.podUID).map { uid in
                (e.pod?.qualifiedName.map { $0 + ", uid " } ?? "") + uid
                    + (identity.kubernetes?.qos.map { " (\($0.rawValue))" } ?? "")
            })
            add("container", identity.kubernetes?.containerID)
        }
        add("trigger", e.trigger)
        add("measured", e.measured)
        add("reason", e.reason)
        add("method", e.method)
        add("memory before", e.memoryBefore.map { Units.size($0) + " (\($0) bytes)" })
        add("memory after", e.memoryAfter.map { Units.size($0) + " (\($0) bytes)" })
        add("freed", e.memoryFreed.map(Units.size))
        add("processes", e.processes.map(String.init))
        add("took", e.durationNanos.map { Units.decimal(Double($0) / 1e6, decimals: 1) + " ms" })
        if !e.counters.isEmpty { add("counters", e.counters.map { "\($0.name) +\($0.delta)" }.joined(separator: ", ")) }
        if let t = e.task {
            add("task", PathText.escape(Array(t.command.utf8)[...]) + " (pid \(t.pid)" + (t.uid.map { ", uid \($0)" } ?? "") + ")")
            add("task rss", t.rss.map { Units.size($0) + " (anon \(Units.size(t.anonRSS ?? 0)), file \(Units.size(t.fileRSS ?? 0)), shmem \(Units.size(t.shmemRSS ?? 0)))" })
            add("constraint", t.constraint)
            add("oom group", t.oomGroup?.description)
            add("task group", t.taskGroup?.description)
        }
        add("recording", e.recording.map { $0 + "  (cgwarden explain --replay " + $0 + ")" })
        add("message", e.message)
        let width = (lines.map(\.0.count).max() ?? 0) + 1
        var out = lines.map { StatusView.pad($0.0 + ":", width) + " " + $0.1 }
        if !e.candidates.isEmpty {
            out.append("")
            out.append("candidates (\(e.candidates.count), in rank order; excluded ones with why):")
            for c in e.candidates {
                let rank = c.rank.map { StatusView.lpad("\($0).", 4) } ?? "   -"
                out.append("  \(rank) \(c.path) (id \(c.id))  \(c.score)" + (c.excluded.map { "  excluded: \($0)" } ?? ""))
            }
        }
        return out.joined(separator: "\n") + "\n"
    }
}

extension StatusView {
    /// The first `width` characters, with `…` when cut (a message reads from its start).
    static func truncateEnd(_ s: String, _ width: Int) -> String {
        guard s.count > width else { return s }
        return String(s.prefix(max(0, width - 1))) + "…"
    }
}
