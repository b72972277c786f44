/// The JSON form of a snapshot: the document of `cgwarden status --json`
/// (Docs/status-json.md). Key order is part of the format.

/// A process as the kernel's own OOM killer sees it (for `status --procs`).
public struct ProcessInfo: Equatable, Sendable {
    public var pid: Int32
    /// `/proc/PID/comm` (at most 15 characters).
    public var command: String
    /// Resident set size in bytes (`/proc/PID/statm` resident pages x page size).
    public var rss: UInt64
    /// `/proc/PID/oom_score`: the kernel's badness, 0...2000.
    public var oomScore: Int64
    /// `/proc/PID/oom_score_adj`: -1000 (never) ... 1000 (first).
    public var oomScoreAdj: Int64

    public init(pid: Int32, command: String, rss: UInt64, oomScore: Int64, oomScoreAdj: Int64) {
        self.pid = pid
        self.command = command
        self.rss = rss
        self.oomScore = oomScore
        self.oomScoreAdj = oomScoreAdj
    }

    public var json: JSON {
        .object([("pid", .int(Int64(pid))), ("command", .string(command)), ("rss", .uint(rss)),
                 ("oom_score", .int(oomScore)), ("oom_score_adj", .int(oomScoreAdj))])
    }
}

extension Pressure {
    public var json: JSON {
        .object([("some", some.json), ("full", full?.json ?? .null)])
    }
}

extension PressureLine {
    public var json: JSON {
        .object([("avg10", .double(avg10)), ("avg60", .double(avg60)),
                 ("avg300", .double(avg300)), ("total", .uint(total))])
    }
}

extension KeyedCounters {
    public var json: JSON { .object(zip(keys, values).map { ($0, JSON.uint($1)) }) }
}

extension Limit {
    /// Bytes, or null for `max`.
    public var json: JSON { bytes.map { .uint($0) } ?? .null }
}

extension MemoryState {
    public var json: JSON {
        .object([
            ("current", .number(current)),
            ("max", max?.json ?? .null),
            ("high", high?.json ?? .null),
            ("low", low?.json ?? .null),
            ("min", min?.json ?? .null),
            ("peak", .number(peak)),
            ("swap_current", .number(swapCurrent)),
            ("swap_max", swapMax?.json ?? .null),
        ])
    }
}

extension GroupIdentity {
    public var kubernetesJSON: JSON { kubernetesJSON(pods: .empty) }

    /// The `kubernetes` object, with the pod's namespace and name from `pods`.
    public func kubernetesJSON(pods: PodNames) -> JSON {
        guard let k = kubernetes else { return .null }
        let name = pods.podLabels(for: k)?.name
        return .object([
            ("level", .string(k.level.rawValue)),
            ("pod_uid", .string(k.podUID)),
            ("pod_namespace", .string(name?.namespaceText)),
            ("pod_name", .string(name?.nameText)),
            ("qos", .string(k.qos?.rawValue)),
            ("container_id", .string(k.containerID)),
            ("runtime", .string(k.runtime)),
        ])
    }

    public var containerJSON: JSON {
        guard let c = container else { return .null }
        return .object([("runtime", .string(c.runtime)), ("id", .string(c.id)), ("conmon", .bool(c.isMonitor))])
    }
}

extension CgroupSnapshot {
    /// One GROUP object; `processes` is added when the caller read them,
    /// pod names from `pods`.
    public func json(processes: [ProcessInfo]? = nil, pods: PodNames = .empty) -> JSON {
        let identity = self.identity
        var o: [(String, JSON)] = [
            ("path", .string(path.description)),
            ("id", .uint(id)),
            ("memory", memory?.json ?? .null),
            ("events", memory?.events?.all.json ?? .null),
            ("events_local", memory?.eventsLocal?.all.json ?? .null),
            ("pressure", pressure?.json ?? .null),
            ("populated", events.map { .bool($0.populated) } ?? .null),
            ("nr_procs", .number(nrProcs ?? procs?.count)),
            ("unit", .string(identity.unit)),
            ("kubernetes", identity.kubernetesJSON(pods: pods)),
            ("container", identity.containerJSON),
        ]
        if let stat = memory?.stat { o.append(("stat", stat.json)) }
        if let a = attributes {
            o.append(("attributes", .object([("owner_uid", .uint(UInt64(a.ownerUID))),
                                             ("values", .object(a.values.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))])))
        }
        if let processes { o.append(("processes", .array(processes.map(\.json)))) }
        return .object(o)
    }
}

extension SystemSnapshot {
    public var json: JSON {
        .object([
            ("mem_total", .uint(meminfo.memTotal)),
            ("mem_available", .uint(meminfo.memAvailable)),
            ("swap_total", .uint(meminfo.swapTotal)),
            ("swap_free", .uint(meminfo.swapFree)),
            ("oom_kill", .number(oomKill)),
            ("pressure", pressure?.json ?? .null),
        ])
    }
}

extension Snapshot {
    /// The `status --json` document. `processes` maps a cgroup path to its
    /// processes when `--procs` asked for them.
    public func statusJSON(processes: [CgroupPath: [ProcessInfo]]? = nil) -> JSON {
        .object([
            ("root", .string(root)),
            ("system", system.json),
            ("cgroups", .array(cgroups.map { g in g.json(processes: processes.map { $0[g.path] ?? [] }, pods: pods) })),
        ])
    }
}
