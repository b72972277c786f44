#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
import CGWardenEndpoint
import CGWardenPolicy
import CGWardenSystem
import CGWardenTestSupport
@testable import CGWardenService

/// A clock the test moves.
final class TestClock: Clock, @unchecked Sendable {
    var nanos: UInt64
    init(_ nanos: UInt64 = 1_000_000_000_000) { self.nanos = nanos }
    func now() -> Timestamp { Timestamp(monotonicNanos: nanos, wallNanos: 1_700_000_000_000_000_000 + nanos) }
    func sleep(until monotonicNanos: UInt64) { nanos = max(nanos, monotonicNanos) }
}

func path(_ text: String) -> CgroupPath { CgroupPath(text)! }

/// Snapshots and decisions made the way the daemon makes them, from values.
enum MetricsFixture {
    static let config = """
        [metrics]
        listen = "127.0.0.1:9464"
        [[guard]]
        name = "tenants"
        match = "/tenants.slice/*"
        [[guard.trigger]]
        usage_of_limit = "90%"
        for = "2s"
        [[guard.trigger]]
        pressure_above = "40%"
        [[guard]]
        name = "pods"
        match = "/kubepods.slice/**"
        mode = "observe"
        candidates = "pods"
        [[guard.trigger]]
        node_available_below = "1%"
        """

    static func load(_ text: String = config) -> Config {
        try! ConfigLoader.load([(name: "m.toml", text: text)])
    }

    static func group(_ path: CgroupPath, id: UInt64, current: UInt64, max: UInt64? = nil, procs: Int = 1) -> CgroupSnapshot {
        let events = MemoryEvents(KeyedCounters(["low": 0, "high": 3, "max": 7, "oom": 1, "oom_kill": 1, "oom_group_kill": 0]))
        let pressure = Pressure(some: PressureLine(avg10: 12.5, avg60: 3.25, total: 1_500_000), full: PressureLine(avg10: 1, total: 250_000))
        return CgroupSnapshot(path: path, id: id,
                              memory: MemoryState(current: current, max: max.map { .bytes($0) } ?? .max, high: .max, low: .bytes(0),
                                                  min: .bytes(0), events: events, stat: KeyedCounters(["anon": current])),
                              pressure: pressure, events: CgroupEvents(populated: true, frozen: false), nrProcs: procs)
    }

    /// `/`, `/tenants.slice`, tenants a..e (a at 95% of its limit), hostile names, a pod.
    static func snapshot(at seconds: UInt64, extra: [CgroupSnapshot] = []) -> Snapshot {
        var groups = [CgroupSnapshot(path: path("/"), id: 1), group(path("/tenants.slice"), id: 2, current: 1 << 30)]
        groups.append(group(path("/tenants.slice/a.slice"), id: 10, current: 95 << 20, max: 100 << 20))
        for (i, n) in ["b", "c", "d", "e"].enumerated() {
            groups.append(group(path("/tenants.slice/\(n).slice"), id: 11 + UInt64(i), current: UInt64(i + 1) << 20))
        }
        // A name that is not UTF-8, a quote, a backslash, a newline, an escape sequence.
        groups.append(group(CgroupPath(names: [CgroupName("tenants.slice"), CgroupName(bytes: [0xFF, 0x22, 0x5C, 0x0A, 0x1B, 0x5B, 0x32, 0x4A])]), id: 20, current: 1 << 20))
        groups.append(group(path("/kubepods.slice"), id: 30, current: 1 << 30))
        groups.append(group(path("/kubepods.slice/kubepods-burstable.slice"), id: 31, current: 1 << 29))
        groups.append(group(path("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_aaaa_bbbb_cccc_111122223333.slice"),
                            id: 32, current: 1 << 28))
        let meminfo = MemInfo(memTotal: 16 << 30, memAvailable: 100 << 20, swapTotal: 0, swapFree: 0)
        return Snapshot(root: "/sys/fs/cgroup", time: Timestamp(monotonicNanos: 1_000_000_000_000 + seconds * 1_000_000_000,
                                                                 wallNanos: 1_700_000_000_000_000_000 + seconds * 1_000_000_000),
                        system: SystemSnapshot(meminfo: meminfo, pressure: Pressure(some: PressureLine(avg10: 5), full: PressureLine()),
                                               oomKill: 0),
                        cgroups: groups + extra,
                        pods: PodNames(entries: [Array("shop_cart-0_0f1e2d3c-aaaa-bbbb-cccc-111122223333".utf8)]))
    }

    /// A recorder that has seen `steps` snapshots one second apart.
    static func recorder(_ config: Config = load(), steps: UInt64 = 3, extra: [CgroupSnapshot] = []) -> (MetricsRecorder, Decision) {
        let recorder = MetricsRecorder(config: config, startedMonotonic: 1_000_000_000_000)
        var session = PolicySession(config: config, ownCgroup: nil)
        var decision: Decision!
        for s in 0..<steps {
            let snap = snapshot(at: s, extra: extra)
            decision = session.step(snap)
            recorder.sampled(snap, decision: decision, took: 2_000_000, decided: 300_000, killInFlight: false)
        }
        return (recorder, decision)
    }

    static func text(_ frame: MetricsFrame, endpoint: EndpointStatistics = EndpointStatistics()) -> String {
        var tail = Exposition()
        MetricsRendering.renderLive(frame, endpoint: endpoint, now: Timestamp(monotonicNanos: frame.time.monotonicNanos + 1, wallNanos: 0),
                                    into: &tail)
        return String(decoding: MetricsRendering.render(frame) + tail.bytes, as: UTF8.self)
    }
}

/// `promtool check metrics` on `text`: its exit status and output.
func promtoolCheckMetrics(_ text: String) throws -> (status: Int32, output: String) {
    let dir = TempDir()
    defer { dir.remove() }
    writeFile(dir.path + "/scrape.txt", text)
    return try runCommand(["/bin/sh", "-c", "promtool check metrics < \(dir.path)/scrape.txt 2>&1"])
}

/// Runs a command to its end; its status and its standard output.
func runCommand(_ argv: [String]) throws -> (status: Int32, output: String) {
    let pipe = try Files.pipe()
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, pipe.write, 1)
    var cargs = argv.map { strdup($0) } + [nil]
    defer { cargs.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, argv[0], &actions, nil, &cargs, environ)
    Files.close(pipe.write)
    defer { Files.close(pipe.read) }
    guard rc == 0 else { throw SystemError(call: "posix_spawn", path: argv[0], errno: rc) }
    let out = try Files.readToEnd(pipe.read, chunk: 65536)
    var status: Int32 = 0
    _ = waitpid(pid, &status, 0)
    return ((status >> 8) & 0xff, String(decoding: out, as: UTF8.self))
}

@Suite struct MetricsRenderingTests {
    @Test func aFrameRendersEveryFamilyWithItsLabels() throws {
        let (recorder, _) = MetricsFixture.recorder(steps: 2)
        let frame = try #require(recorder.board.latest)
        let text = MetricsFixture.text(frame)
        // The per-group series of a watched group, with what its path says it is.
        #expect(text.contains(#"cgwarden_cgroup_memory_current_bytes{cgroup="/tenants.slice/a.slice",unit="a.slice"} 99614720"#))
        #expect(text.contains(#"cgwarden_cgroup_memory_max_bytes{cgroup="/tenants.slice/a.slice",unit="a.slice"} 104857600"#))
        #expect(text.contains(#"cgwarden_cgroup_memory_events_total{cgroup="/tenants.slice/a.slice",unit="a.slice",event="oom_kill"} 1"#))
        #expect(text.contains(#"cgwarden_cgroup_memory_pressure_ratio{cgroup="/tenants.slice/a.slice",unit="a.slice",kind="some",window="10s"} 0.125"#))
        #expect(text.contains(#"cgwarden_cgroup_memory_pressure_stalled_seconds_total{cgroup="/tenants.slice/a.slice",unit="a.slice",kind="some"} 1.5"#))
        let pod = #"cgroup="/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_aaaa_bbbb_cccc_111122223333.slice","#
            + #"unit="kubepods-burstable-pod0f1e2d3c_aaaa_bbbb_cccc_111122223333.slice",pod_uid="0f1e2d3c-aaaa-bbbb-cccc-111122223333",qos="burstable","#
            + #"namespace="shop",pod="cart-0""#
        #expect(text.contains("cgwarden_cgroup_memory_current_bytes{\(pod)} 268435456"))
        // No memory.max: no series (not +Inf).
        #expect(!text.contains(#"cgwarden_cgroup_memory_max_bytes{cgroup="/tenants.slice/b.slice""#))
        // Unwatched groups are not exported.
        #expect(!text.contains(#"{cgroup="/tenants.slice","#))
        #expect(!text.contains(#"{cgroup="/","#))
        // The hostile name, escaped as `status` shows it (\xff, \", \\, \n, \x1b), then for the format.
        #expect(text.contains(#"cgwarden_cgroup_memory_current_bytes{cgroup="/tenants.slice/\\xff\"\\\\\\x0a\\x1b[2J"} 1048576"#))
        // Guards: firing, held, sustain, headroom, the first candidate.
        #expect(text.contains(#"cgwarden_guard_firing{guard="tenants"} 0"#))
        #expect(text.contains(#"cgwarden_guard_trigger_held_seconds{guard="tenants",trigger="usage >= 90% of memory.max for 2s"} 1"#))
        #expect(text.contains(#"cgwarden_guard_trigger_sustain_seconds{guard="tenants",trigger="usage >= 90% of memory.max for 2s"} 2"#))
        #expect(text.contains(#"cgwarden_guard_trigger_holding_groups{guard="tenants",trigger="usage >= 90% of memory.max for 2s"} 1"#))
        #expect(text.contains(#"cgwarden_guard_trigger_headroom_ratio{guard="tenants",trigger="PSI some avg10 >= 40%"} 0.6875"#))
        #expect(text.contains(#"cgwarden_guard_info{guard="pods",mode="observe"} 1"#))
        #expect(text.contains(#"cgwarden_guard_watched_groups{guard="tenants"} 6"#))
        #expect(text.contains(#"cgwarden_kills_total{guard="tenants",result="kill"} 0"#))
        #expect(text.contains(#"cgwarden_kills_total{guard="pods",result="observed"} 0"#))
        #expect(text.contains("cgwarden_snapshots_total 2\n"))
        #expect(text.contains("cgwarden_watched_groups 9\n"))
        #expect(text.contains("cgwarden_metrics_groups_dropped 0\n"))
        #expect(text.contains(#"cgwarden_snapshot_duration_seconds_bucket{le="0.0025"} 2"#))
        #expect(text.contains("cgwarden_node_memory_available_bytes 104857600\n"))
    }

    @Test func theFirstCandidateOfAFiredGuardIsALabel() throws {
        let (recorder, decision) = MetricsFixture.recorder(steps: 4)
        #expect(decision.guards[0].fired)
        let text = MetricsFixture.text(try #require(recorder.board.latest))
        #expect(text.contains(#"cgwarden_guard_firing{guard="tenants"} 1"#))
        #expect(text.contains(#"cgwarden_guard_candidate_info{guard="tenants",cgroup="/tenants.slice/a.slice",unit="a.slice"} 1"#))
        #expect(text.contains(#"cgwarden_guard_trigger_held_seconds{guard="tenants",trigger="usage >= 90% of memory.max for 2s"} 3"#))
    }

    @Test func promtoolAcceptsARendering() throws {
        let (recorder, decision) = MetricsFixture.recorder(steps: 4)
        // Counts in every family: a kill, its durations, events of every kind.
        let v = try #require(decision.victim)
        let report = KillReport(method: .cgroupKill, durationNanos: 7_000_000, memoryBefore: 1 << 20, memoryAfter: 0)
        recorder.finished(KillJobResult(job: KillJob(guardName: v.guardName, targets: [], timeout: .seconds(10)),
                                        attempts: [(CgroupTarget(path: v.path, id: v.id), .killed(report))], respawns: 1),
                          victim: v, decision: decision, at: Timestamp(monotonicNanos: decision.time.monotonicNanos + 50_000_000, wallNanos: 0))
        for kind in GuardEvent.Kind.allCases {
            recorder.record(GuardEvent(kind: kind, time: decision.time, guardName: "tenants", reason: "test"))
        }
        var session = PolicySession(config: MetricsFixture.load(), ownCgroup: nil)
        let snap = MetricsFixture.snapshot(at: 5)
        recorder.sampled(snap, decision: session.step(snap), took: 1, decided: 1, killInFlight: true)
        let text = MetricsFixture.text(try #require(recorder.board.latest))
        #expect(text.contains(#"cgwarden_kills_total{guard="tenants",result="kill"} 1"#))
        #expect(text.contains(#"cgwarden_kill_duration_seconds_bucket{guard="tenants",le="0.01"} 1"#))
        // Reaction: the trigger held for 3 s at the decision, the group was empty 50 ms after it.
        #expect(text.contains(#"cgwarden_kill_reaction_seconds_sum{guard="tenants"} 3.05"#))
        #expect(text.contains(#"cgwarden_kill_latency_seconds_sum{guard="tenants"} 0.05"#))
        #expect(text.contains("cgwarden_helper_restarts_total 1\n"))
        #expect(text.contains("cgwarden_hooks_failed_total 1\n"))
        #expect(text.contains("cgwarden_kill_in_flight 1\n"))
        let (status, output) = try promtoolCheckMetrics(text)
        #expect(status == 0, "promtool check metrics:\n\(output)")
        #expect(output.isEmpty, "promtool check metrics:\n\(output)")
    }

    @Test func everyFamilyNameIsValidAndHasHelp() throws {
        let (recorder, _) = MetricsFixture.recorder()
        let text = MetricsFixture.text(try #require(recorder.board.latest))
        var helped = Set<String>()
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# HELP ") { helped.insert(String(line.split(separator: " ")[2])) }
            if line.hasPrefix("# TYPE ") {
                let name = String(line.split(separator: " ")[2])
                #expect(helped.contains(name))
                #expect(Exposition.isValidName(name))
                #expect(name.hasPrefix("cgwarden_"))
            }
        }
        #expect(helped.count >= 40)
    }

    @Test func pastMaxGroupsTheLargestAreKeptAndTheRestCounted() throws {
        var config = MetricsFixture.load()
        config.metrics.maximumGroups = 3
        let (recorder, _) = MetricsFixture.recorder(config)
        let frame = try #require(recorder.board.latest)
        #expect(frame.groups.count == 3)
        #expect(frame.groupsWatched == 9)
        #expect(frame.groupsDropped == 6)
        let text = MetricsFixture.text(frame)
        // The largest three watched groups: /kubepods.slice (1G), kubepods-burstable (512M), the pod (256M).
        #expect(text.contains(#"cgwarden_cgroup_memory_current_bytes{cgroup="/kubepods.slice",unit="kubepods.slice"} 1073741824"#))
        #expect(!text.contains(#"cgroup="/tenants.slice/a.slice""#) || text.contains("candidate_info"))
        #expect(text.contains("cgwarden_metrics_groups_dropped 6\n"))
        let series = text.split(separator: "\n").filter { $0.hasPrefix("cgwarden_cgroup_") }.count
        // At most 15 series per exported group (Docs/metrics.md).
        #expect(series <= 3 * MetricsSettings.seriesPerGroup)
        #expect(series == 3 * MetricsSettings.seriesPerGroup - 3 * 2)  // no memory.max, memory.high here
    }

    @Test func aThousandGroupsRenderWithinTheCap() throws {
        let extra = (0..<1000).map { MetricsFixture.group(path("/tenants.slice/t\($0).slice"), id: 1000 + UInt64($0), current: UInt64($0) << 12) }
        let (recorder, _) = MetricsFixture.recorder(steps: 2, extra: extra)
        let frame = try #require(recorder.board.latest)
        #expect(frame.groups.count == 500)
        #expect(frame.groupsDropped == 1009 - 500)
        let text = MetricsFixture.text(frame)
        let (status, output) = try promtoolCheckMetrics(text)
        #expect(status == 0, "\(output.prefix(2000))")
    }

    @Test func healthFollowsTheSnapshotAndTheHelper() throws {
        let clock = TestClock()
        let board = MetricsBoard()
        let responder = MetricsResponder(board: board, clock: clock)
        let request = HTTPRequestHead(method: "GET", path: "/healthz", minorVersion: 1)
        #expect(responder.respond(to: request, endpoint: EndpointStatistics())?.status == 503)
        board.publish(MetricsFrame(time: clock.now(), interval: .seconds(1)))
        let ok = try #require(responder.respond(to: request, endpoint: EndpointStatistics()))
        #expect(ok.status == 200)
        #expect(String(decoding: ok.body, as: UTF8.self).hasPrefix("ok: last snapshot 0.0 s ago"))
        clock.nanos += 3_500_000_000
        let stale = try #require(responder.respond(to: request, endpoint: EndpointStatistics()))
        #expect(stale.status == 503)
        #expect(String(decoding: stale.body, as: UTF8.self) == "stale: the last snapshot is 3.5 s old (more than 3 intervals of 1s)\n")
        board.publish(MetricsFrame(time: clock.now(), interval: .seconds(1), helperProblem: "the kill helper died"))
        let helper = try #require(responder.respond(to: request, endpoint: EndpointStatistics()))
        #expect(helper.status == 503)
        #expect(String(decoding: helper.body, as: UTF8.self).hasPrefix("kill helper unusable"))
        #expect(responder.respond(to: HTTPRequestHead(method: "GET", path: "/other", minorVersion: 1), endpoint: EndpointStatistics()) == nil)
    }

    @Test func theBodyIsRenderedOncePerFrame() throws {
        let (recorder, _) = MetricsFixture.recorder()
        let responder = MetricsResponder(board: recorder.board)
        let request = HTTPRequestHead(method: "GET", path: "/metrics", minorVersion: 1)
        let a = try #require(responder.respond(to: request, endpoint: EndpointStatistics()))
        let cached = try #require(responder.cacheGeneration)
        _ = responder.respond(to: request, endpoint: EndpointStatistics())
        #expect(responder.cacheGeneration == cached)
        #expect(a.contentType == "text/plain; version=0.0.4; charset=utf-8")
    }
}
