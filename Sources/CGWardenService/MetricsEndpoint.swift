import CGWardenCore
import CGWardenEndpoint
import CGWardenPolicy
import CGWardenSystem
import Synchronization

/// More families for `/metrics`, rendered on the endpoint's thread after
/// cgwarden's own: the hook point for parts that keep their own state (the
/// event store's health). Must be safe to call from that thread.
public protocol MetricsCollector: Sendable {
    func collect(into out: inout Exposition, now: Timestamp)
}

/// `/metrics` and `/healthz`, answered on the endpoint's thread from the
/// latest frame. `/metrics` is rendered once per frame: every scraper of the
/// same snapshot is sent the same buffer.
public final class MetricsResponder: EndpointResponder {
    let board: MetricsBoard
    let clock: Clock
    let collectors: [MetricsCollector]
    /// The last rendering: its frame's generation, the bytes.
    private let cache = Mutex<(generation: UInt64, body: [UInt8])?>(nil)

    /// `/healthz` fails when the last snapshot is older than this many intervals.
    public static let staleIntervals: UInt64 = 3
    /// And never sooner than this: an interval of 100 ms must not make a
    /// scheduling hiccup an outage.
    public static let staleFloor: Duration = .seconds(1)

    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public init(board: MetricsBoard, clock: Clock = SystemClock(), collectors: [MetricsCollector] = []) {
        self.board = board
        self.clock = clock
        self.collectors = collectors
    }

    /// The frame the cached body was rendered from.
    var cacheGeneration: UInt64? { cache.withLock { $0?.generation } }

    public func respond(to request: HTTPRequestHead, endpoint: EndpointStatistics) -> HTTPResponse? {
        switch request.path {
        case "/metrics": return metrics(endpoint)
        case "/healthz": return health()
        default: return nil
        }
    }

    func metrics(_ endpoint: EndpointStatistics) -> HTTPResponse {
        let now = clock.now()
        guard let frame = board.latest else {
            return HTTPResponse(status: 503, text: "no snapshot yet")
        }
        // The frame's body is shared; what changes per scrape (ages, the
        // endpoint's own counts) is a short tail rendered each time.
        let body: [UInt8]
        if let c = cache.withLock({ $0 }), c.generation == frame.generation {
            body = c.body
        } else {
            body = MetricsRendering.render(frame)
            cache.withLock { $0 = (frame.generation, body) }
        }
        var tail = Exposition()
        MetricsRendering.renderLive(frame, endpoint: endpoint, now: now, into: &tail)
        for c in collectors { c.collect(into: &tail, now: now) }
        return HTTPResponse(status: 200, contentType: MetricsResponder.contentType, body: body + tail.bytes)
    }

    func health() -> HTTPResponse {
        let now = clock.now().monotonicNanos
        guard let frame = board.latest else { return HTTPResponse(status: 503, text: "no snapshot yet") }
        let age = now.subtractingSaturated(frame.time.monotonicNanos)
        let limit = max(frame.interval.nanosecondsClamped.multipliedSaturated(by: MetricsResponder.staleIntervals),
                        MetricsResponder.staleFloor.nanosecondsClamped)
        let ageText = Units.decimal(Double(age) / 1e9, decimals: 1) + " s"
        if age > limit {
            return HTTPResponse(status: 503, text: "stale: the last snapshot is \(ageText) old "
                                + "(more than \(MetricsResponder.staleIntervals) intervals of \(frame.interval.text))")
        }
        if let problem = frame.helperProblem {
            return HTTPResponse(status: 503, text: "kill helper unusable: \(problem)")
        }
        return HTTPResponse(status: 200, text: "ok: last snapshot \(ageText) ago, \(frame.groupsSeen) groups, "
                            + "\(frame.guards.count) guards")
    }
}

/// The families of `/metrics` (Docs/metrics.md lists each, with its labels).
public enum MetricsRendering {
    /// What one frame renders to (all but the live tail).
    public static func render(_ f: MetricsFrame) -> [UInt8] {
        var out = Exposition(reservingCapacity: 4096 + f.groups.count * 1800)
        let c = f.counters

        out.family("cgwarden_snapshots_total", .counter, help: "Snapshots taken.")
        out.sample("cgwarden_snapshots_total", c.snapshots)
        out.family("cgwarden_snapshot_failures_total", .counter, help: "Snapshots that could not be taken at all.")
        out.sample("cgwarden_snapshot_failures_total", c.snapshotFailures)
        out.family("cgwarden_near_readings_total", .counter,
                   help: "Readings of the groups near a threshold between snapshots (one file each).")
        out.sample("cgwarden_near_readings_total", c.nearReadings)
        out.family("cgwarden_near_moves_total", .counter,
                   help: "Readings that found a group moved toward its threshold: the next snapshot came at once.")
        out.sample("cgwarden_near_moves_total", c.nearMoves)
        out.family("cgwarden_snapshot_duration_seconds", .histogram, help: "Time to read one snapshot of the hierarchy.")
        out.histogram("cgwarden_snapshot_duration_seconds", bounds: c.snapshotDuration.bounds, counts: c.snapshotDuration.counts,
                      sum: c.snapshotDuration.sum)
        out.family("cgwarden_decision_duration_seconds", .histogram, help: "Time to evaluate the guards on one snapshot.")
        out.histogram("cgwarden_decision_duration_seconds", bounds: c.decisionDuration.bounds, counts: c.decisionDuration.counts,
                      sum: c.decisionDuration.sum)
        out.family("cgwarden_last_snapshot_timestamp_seconds", .gauge, help: "Wall-clock time of the last snapshot.")
        out.sample("cgwarden_last_snapshot_timestamp_seconds", Double(f.time.wallNanos) / 1e9)
        out.family("cgwarden_interval_seconds", .gauge, help: "The configured snapshot interval (daemon.interval).")
        out.sample("cgwarden_interval_seconds", f.interval.totalSeconds)
        out.family("cgwarden_groups", .gauge, help: "Cgroups in the last snapshot.")
        out.sample("cgwarden_groups", UInt64(f.groupsSeen))
        out.family("cgwarden_watched_groups", .gauge, help: "Cgroups some guard watches.")
        out.sample("cgwarden_watched_groups", UInt64(f.groupsWatched))
        out.family("cgwarden_metrics_groups", .gauge, help: "Watched cgroups exported with per-group series (at most metrics.max_groups).")
        out.sample("cgwarden_metrics_groups", UInt64(f.groups.count))
        out.family("cgwarden_metrics_groups_dropped", .gauge,
                   help: "Watched cgroups left out of the per-group series by metrics.max_groups (those using the least memory).")
        out.sample("cgwarden_metrics_groups_dropped", UInt64(max(0, f.groupsDropped)))
        out.family("cgwarden_metrics_max_groups", .gauge, help: "The configured metrics.max_groups.")
        out.sample("cgwarden_metrics_max_groups", UInt64(f.maximumGroups))
        out.family("cgwarden_kill_in_flight", .gauge, help: "1 while the kill helper works on a kill.")
        out.sample("cgwarden_kill_in_flight", UInt64(f.killInFlight ? 1 : 0))
        out.family("cgwarden_helper_usable", .gauge, help: "0 when the kill helper failed (died, timed out, unavailable) at the last kill.")
        out.sample("cgwarden_helper_usable", UInt64(f.helperProblem == nil ? 1 : 0))

        // Kills and events.
        out.family("cgwarden_kills_total", .counter,
                   help: "Kill attempts by guard and result: kill, incomplete, refused, failed, observed.")
        for name in c.guardNames {
            let counts = c.kills[name] ?? []
            for (i, r) in MetricsCounters.results.enumerated() {
                out.sample("cgwarden_kills_total", LabelSet([("guard", name), ("result", r.rawValue)]),
                           i < counts.count ? counts[i] : 0)
            }
        }
        histograms(&out, "cgwarden_kill_duration_seconds", "From the kill's first write to populated 0, as the helper measured it.",
                   c.guardNames, c.killDuration)
        histograms(&out, "cgwarden_kill_reaction_seconds",
                   "From the first snapshot in which the kill's trigger held to the group empty (includes the trigger's 'for').",
                   c.guardNames, c.reaction)
        histograms(&out, "cgwarden_kill_latency_seconds", "From the snapshot that decided a kill to the group empty.",
                   c.guardNames, c.latency)
        out.family("cgwarden_events_total", .counter, help: "Events recorded, by kind (Docs/daemon.md).")
        for (i, k) in GuardEvent.Kind.allCases.enumerated() {
            out.sample("cgwarden_events_total", LabelSet([("kind", k.rawValue)]), c.events[i])
        }
        out.family("cgwarden_helper_restarts_total", .counter, help: "Kill helpers started again after one died.")
        out.sample("cgwarden_helper_restarts_total", c.helperRestarts)
        let hookFailed = GuardEvent.Kind.allCases.firstIndex(of: .hookFailed).map { c.events[$0] } ?? 0
        out.family("cgwarden_hooks_failed_total", .counter, help: "Hooks that failed, timed out or were skipped (hook_failed events).")
        out.sample("cgwarden_hooks_failed_total", hookFailed)

        // Guards: what is coming.
        out.family("cgwarden_guard_info", .gauge, help: "1 per configured guard; mode is act or observe.")
        for g in f.guards { out.sample("cgwarden_guard_info", LabelSet([("guard", g.name), ("mode", g.mode.rawValue)]), UInt64(1)) }
        out.family("cgwarden_guard_firing", .gauge, help: "1 when some watched group meets the guard's triggers.")
        for g in f.guards { out.sample("cgwarden_guard_firing", LabelSet([("guard", g.name)]), UInt64(g.fired ? 1 : 0)) }
        out.family("cgwarden_guard_waiting_seconds", .gauge, help: "Seconds left of the guard's post_action_delay (0: not waiting).")
        for g in f.guards { out.sample("cgwarden_guard_waiting_seconds", LabelSet([("guard", g.name)]), g.waitingSeconds) }
        out.family("cgwarden_guard_watched_groups", .gauge, help: "Cgroups the guard watches.")
        for g in f.guards { out.sample("cgwarden_guard_watched_groups", LabelSet([("guard", g.name)]), UInt64(g.watchedGroups)) }
        out.family("cgwarden_guard_trigger_held_seconds", .gauge,
                   help: "How long the trigger has held on the watched group where it held longest (0: holds nowhere).")
        for g in f.guards {
            for t in g.triggers {
                out.sample("cgwarden_guard_trigger_held_seconds", LabelSet([("guard", g.name), ("trigger", t.text)]), t.heldSeconds)
            }
        }
        out.family("cgwarden_guard_trigger_sustain_seconds", .gauge, help: "The trigger's 'for': how long it must hold before it fires.")
        for g in f.guards {
            for t in g.triggers {
                out.sample("cgwarden_guard_trigger_sustain_seconds", LabelSet([("guard", g.name), ("trigger", t.text)]), t.sustainSeconds)
            }
        }
        out.family("cgwarden_guard_trigger_holding_groups", .gauge, help: "Watched cgroups where the trigger holds.")
        for g in f.guards {
            for t in g.triggers {
                out.sample("cgwarden_guard_trigger_holding_groups", LabelSet([("guard", g.name), ("trigger", t.text)]),
                           UInt64(t.holdingGroups))
            }
        }
        out.family("cgwarden_guard_trigger_headroom_ratio", .gauge,
                   help: "Share of the trigger's threshold left on the watched group nearest it (0 or less: it holds).")
        for g in f.guards {
            for t in g.triggers {
                guard let h = t.headroom else { continue }
                out.sample("cgwarden_guard_trigger_headroom_ratio", LabelSet([("guard", g.name), ("trigger", t.text)]), h)
            }
        }
        out.family("cgwarden_guard_candidate_info", .gauge,
                   help: "1 for the group a fired guard would kill first now (its labels say which).")
        for g in f.guards {
            guard let c = g.firstCandidate else { continue }
            out.sample("cgwarden_guard_candidate_info", LabelSet([("guard", g.name)]).merged(c), UInt64(1))
        }

        // The node.
        let m = f.node.meminfo
        out.family("cgwarden_node_memory_total_bytes", .gauge, help: "MemTotal of /proc/meminfo.")
        out.sample("cgwarden_node_memory_total_bytes", m.memTotal)
        out.family("cgwarden_node_memory_available_bytes", .gauge, help: "MemAvailable of /proc/meminfo.")
        out.sample("cgwarden_node_memory_available_bytes", m.memAvailable)
        out.family("cgwarden_node_swap_total_bytes", .gauge, help: "SwapTotal of /proc/meminfo.")
        out.sample("cgwarden_node_swap_total_bytes", m.swapTotal)
        out.family("cgwarden_node_swap_free_bytes", .gauge, help: "SwapFree of /proc/meminfo.")
        out.sample("cgwarden_node_swap_free_bytes", m.swapFree)
        if let p = f.node.pressure {
            out.family("cgwarden_node_memory_pressure_ratio", .gauge, help: "/proc/pressure/memory averages, as a ratio (avg10 12.5 is 0.125).")
            pressureSamples(&out, "cgwarden_node_memory_pressure_ratio", LabelSet(), p)
        }

        // Per watched group (at most metrics.max_groups).
        out.family("cgwarden_cgroup_memory_current_bytes", .gauge, help: "memory.current of a watched cgroup.")
        for g in f.groups { if let v = g.current { out.sample("cgwarden_cgroup_memory_current_bytes", g.labels, v) } }
        out.family("cgwarden_cgroup_memory_max_bytes", .gauge, help: "memory.max of a watched cgroup (absent when max).")
        for g in f.groups { if let v = g.max { out.sample("cgwarden_cgroup_memory_max_bytes", g.labels, v) } }
        out.family("cgwarden_cgroup_memory_high_bytes", .gauge, help: "memory.high of a watched cgroup (absent when max).")
        for g in f.groups { if let v = g.high { out.sample("cgwarden_cgroup_memory_high_bytes", g.labels, v) } }
        out.family("cgwarden_cgroup_memory_events_total", .counter,
                   help: "memory.events counters of a watched cgroup (hierarchical), by event.")
        for g in f.groups {
            guard let e = g.events else { continue }
            for (name, v) in [("low", e.low), ("high", e.high), ("max", e.max), ("oom", e.oom), ("oom_kill", e.oomKill),
                              ("oom_group_kill", e.oomGroupKill)] {
                out.sample("cgwarden_cgroup_memory_events_total", g.labels.adding("event", name), v)
            }
        }
        out.family("cgwarden_cgroup_memory_pressure_ratio", .gauge,
                   help: "memory.pressure averages of a watched cgroup, as a ratio, by kind (some, full) and window (10s, 60s).")
        for g in f.groups { if let p = g.pressure { pressureSamples(&out, "cgwarden_cgroup_memory_pressure_ratio", g.labels, p) } }
        out.family("cgwarden_cgroup_memory_pressure_stalled_seconds_total", .counter,
                   help: "memory.pressure total stall time of a watched cgroup, by kind.")
        for g in f.groups {
            guard let p = g.pressure else { continue }
            out.sample("cgwarden_cgroup_memory_pressure_stalled_seconds_total", g.labels.adding("kind", "some"), Double(p.some.total) / 1e6)
            if let full = p.full {
                out.sample("cgwarden_cgroup_memory_pressure_stalled_seconds_total", g.labels.adding("kind", "full"), Double(full.total) / 1e6)
            }
        }
        return out.bytes
    }

    /// What changes between two scrapes of the same frame.
    public static func renderLive(_ f: MetricsFrame, endpoint: EndpointStatistics, now: Timestamp, into out: inout Exposition) {
        out.family("cgwarden_snapshot_age_seconds", .gauge, help: "Seconds since the last snapshot, at the scrape.")
        out.sample("cgwarden_snapshot_age_seconds", Double(now.monotonicNanos.subtractingSaturated(f.time.monotonicNanos)) / 1e9)
        out.family("cgwarden_uptime_seconds", .gauge, help: "Seconds since the daemon started.")
        out.sample("cgwarden_uptime_seconds", Double(now.monotonicNanos.subtractingSaturated(f.startedMonotonic)) / 1e9)
        out.family("cgwarden_endpoint_connections", .gauge, help: "Connections the metrics endpoint holds open.")
        out.sample("cgwarden_endpoint_connections", UInt64(max(0, endpoint.open)))
        out.family("cgwarden_endpoint_requests_total", .counter, help: "Requests the metrics endpoint answered or refused, by outcome.")
        out.sample("cgwarden_endpoint_requests_total", LabelSet([("outcome", "served")]), endpoint.served)
        out.sample("cgwarden_endpoint_requests_total", LabelSet([("outcome", "bad_request")]), endpoint.badRequests)
        out.sample("cgwarden_endpoint_requests_total", LabelSet([("outcome", "busy")]), endpoint.busy)
        out.family("cgwarden_endpoint_closed_total", .counter,
                   help: "Connections the endpoint closed early: past a deadline, or the oldest past the connection cap.")
        out.sample("cgwarden_endpoint_closed_total", LabelSet([("reason", "deadline")]), endpoint.timedOut)
        out.sample("cgwarden_endpoint_closed_total", LabelSet([("reason", "evicted")]), endpoint.evicted)
    }

    static func histograms(_ out: inout Exposition, _ name: String, _ help: String, _ names: [String],
                           _ byGuard: [String: DurationHistogram]) {
        out.family(name, .histogram, help: help)
        for n in names {
            guard let h = byGuard[n] else { continue }
            out.histogram(name, LabelSet([("guard", n)]), bounds: h.bounds, counts: h.counts, sum: h.sum)
        }
    }

    static func pressureSamples(_ out: inout Exposition, _ name: String, _ labels: LabelSet, _ p: Pressure) {
        var lines = [("some", p.some)]
        if let full = p.full { lines.append(("full", full)) }
        for (kind, line) in lines {
            out.sample(name, labels.adding("kind", kind).adding("window", "10s"), line.avg10 / 100)
            out.sample(name, labels.adding("kind", kind).adding("window", "60s"), line.avg60 / 100)
        }
    }
}

extension LabelSet {
    /// These labels, then `other`'s.
    func merged(_ other: LabelSet) -> LabelSet {
        var l = self
        l.append(other)
        return l
    }
}
