/// The JSON of the kill path's values (Docs/kill-json.md), beside them as
/// the snapshot's and the decision's are beside theirs.

extension KillReport {
    public var json: JSON {
        .object([
            ("method", .string(method == .cgroupKill ? "cgroup.kill" : "freeze+sigkill")),
            ("fallback_reason", .string(fallbackReason.map { r in
                switch r {
                case .forced: return "forced"
                case .noCgroupKill: return "no_cgroup_kill"
                case .notSupported: return "not_supported"
                }
            })),
            ("rounds", .uint(UInt64(rounds))), ("signalled", .uint(UInt64(signalled))),
            ("remaining", .uint(UInt64(remaining))), ("duration_ns", .uint(durationNanos)),
            ("memory_before", .number(memoryBefore)), ("memory_after", .number(memoryAfter)),
            ("released", .uint(UInt64(released))),
        ])
    }
}

extension HelperRefusal {
    /// `reason` is the stable code name (`HelperRefusal.Code.name`).
    public var json: JSON {
        .object([("reason", .string(code.name)), ("message", .string(description))])
    }
}

extension HelperFailure {
    /// `errnoText` names an errno (strerror, at the edge).
    public func json(_ errnoText: (Int32) -> String) -> JSON {
        var errno = JSON.null
        if case .system(let f) = self { errno = .int(Int64(f.errno)) }
        return .object([("message", .string(describe(errnoText))), ("errno", errno)])
    }
}

extension HelperInfo {
    public var json: JSON {
        var ownState: String
        switch own {
        case .at: ownState = "found"
        case .outside: ownState = "outside"
        case .unknown: ownState = "unknown"
        }
        return .object([("pid", .int(Int64(pid))), ("seccomp", .bool(seccomp)),
                        ("root_is_cgroup2", .bool(rootIsCgroup2)), ("own_cgroup", .string(ownCgroup?.description)),
                        ("own_cgroup_state", .string(ownState))])
    }
}

extension KillOutcome {
    /// `killed`, `incomplete`, `would_kill`, `refused` or `failed`.
    public var name: String {
        switch self {
        case .killed: return "killed"
        case .incomplete: return "incomplete"
        case .wouldKill: return "would_kill"
        case .refused: return "refused"
        case .failed: return "failed"
        }
    }
}
