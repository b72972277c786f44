#if canImport(Glibc)
import Glibc
#endif
import Testing
import Synchronization
import CGWardenCore
import CGWardenTestSupport

/// The metric names a file uses (a dashboard's queries, alert rules).
func metricNames(in text: String) -> Set<String> {
    var names = Set<String>()
    var rest = Substring(text)
    while let r = rest.firstRange(of: "cgwarden_") {
        let name = rest[r.lowerBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
        names.insert(String(name))
        rest = rest[r.upperBound...]
    }
    return names
}

/// The sample names a scrape declares: every family of a `# TYPE` line, with
/// `_bucket`, `_sum` and `_count` for histograms.
func declaredNames(in scrape: String) -> Set<String> {
    var names = Set<String>()
    for line in scrape.split(separator: "\n") where line.hasPrefix("# TYPE ") {
        let f = line.split(separator: " ")
        guard f.count == 4 else { continue }
        names.insert(String(f[2]))
        if f[3] == "histogram" { for s in ["_bucket", "_sum", "_count"] { names.insert(String(f[2]) + s) } }
    }
    return names
}

/// A Prometheus server of Debian's package, scraping loopback every second,
/// its storage in /tmp (the VM's RAM overlay).
final class PrometheusServer {
    let dir: String
    let port: UInt16
    let child: Child

    init(scraping target: String, port: UInt16 = 19090) throws {
        dir = "/tmp/cgwarden-prometheus-\(getpid())"
        self.port = port
        makeDirectories(dir + "/data")
        writeFile(dir + "/prometheus.yml", """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            rule_files:
              - \(repositoryRoot())/Configs/prometheus/cgwarden-alerts.yml
            scrape_configs:
              - job_name: cgwarden
                static_configs:
                  - targets: ["\(target)"]
            """)
        child = try Child(["/bin/sh", "-c", "exec prometheus --config.file=\(dir)/prometheus.yml --storage.tsdb.path=\(dir)/data "
                           + "--web.listen-address=127.0.0.1:\(port) > \(dir)/log 2>&1"])
    }

    deinit {
        kill(child.pid, SIGTERM)
        _ = child.wait(seconds: 20)
        kill(child.pid, SIGKILL)
        _ = child.wait(seconds: 5)
        removeTree(dir)
    }

    var log: String { String((readFile(dir + "/log") ?? "").suffix(3000)) }

    /// An instant query through the HTTP API: the result's samples.
    func query(_ q: String) -> [JSON]? {
        guard let r = TestHTTP.get(port: port, "/api/v1/query?query=" + TestHTTP.percentEncoded(q), timeoutMillis: 5000),
              r.status == 200, let j = try? JSON.parse(r.body), j["status"]?.stringValue == "success" else { return nil }
        return j["data"]?["result"]?.arrayValue
    }

    /// The value of the first sample of `q`, as Prometheus writes it ("1", "0.25").
    func value(_ q: String) -> String? {
        query(q)?.first?["value"]?.arrayValue?.last?.stringValue
    }
}

@Suite(.serialized, .enabled(if: KernelEnvironment.shouldRun, Comment(rawValue: KernelEnvironment.skipReason)))
struct MetricsKernelTests {
    static let port: UInt16 = 19464

    func config(_ g: TestCgroup) -> String {
        tenantsGuard(g, before: """
            [metrics]
            listen = "127.0.0.1:\(MetricsKernelTests.port)"
            """)
    }

    /// Prometheus itself scrapes the daemon: the watched group's series with
    /// its cgroup label, the kill counter and histograms after a kill, and the
    /// shipped rules loaded; every metric the dashboard and the rules use is
    /// in a real scrape, which `promtool check metrics` accepts.
    @Test func aRealPrometheusScrapesTheGuard() throws {
        let g = try tenantGroups("metrics-prom")
        let daemon = try DaemonRun("metrics-prom", config: config(g))
        try daemon.started()
        #expect(waitUntil(seconds: 30) { TestHTTP.get(port: MetricsKernelTests.port, "/healthz")?.status == 200 },
                "healthz: \(TestHTTP.get(port: MetricsKernelTests.port, "/healthz").map { "\($0)" } ?? "no answer")")
        let first = try #require(TestHTTP.get(port: MetricsKernelTests.port, "/metrics"))
        #expect(first.status == 200)
        #expect(first.body.contains("cgwarden_cgroup_memory_current_bytes{cgroup=\"\(g.path)/a\"}"), "\(first.body.prefix(3000))")

        let prometheus = try PrometheusServer(scraping: "127.0.0.1:\(MetricsKernelTests.port)")
        let series = "cgwarden_cgroup_memory_current_bytes{cgroup=\"\(g.path)/a\"}"
        #expect(waitUntil(seconds: 120) { prometheus.query(series)?.isEmpty == false },
                "Prometheus has no \(series):\n\(prometheus.log)")
        #expect(prometheus.value("up{job=\"cgwarden\"}") == "1")
        #expect(prometheus.value("cgwarden_guard_watched_groups{guard=\"tenants\"}") == "2")

        let trace = AllocationTrace("metrics-prom")
        defer { trace.remove() }
        let load = try allocate(g.dir + "/a", mib: 192, step: 4, intervalMillis: 100, trace: trace)
        let kill = try #require(daemon.waitFor("kill", seconds: 90) { $0.cgroup == g.path + "/a" }, "no kill:\n\(daemon.log)")
        #expect(load.wait(seconds: 30) == .signaled(SIGKILL))
        let kills = "cgwarden_kills_total{guard=\"tenants\",result=\"kill\"}"
        #expect(waitUntil(seconds: 30) { prometheus.value(kills) == "1" }, "\(kills): \(prometheus.value(kills) ?? "none")")
        #expect(prometheus.value("cgwarden_kill_reaction_seconds_count{guard=\"tenants\"}") == "1")
        #expect(prometheus.value("cgwarden_kill_duration_seconds_count{guard=\"tenants\"}") == "1")
        // The shipped rules are loaded and evaluated.
        let rules = TestHTTP.get(port: prometheus.port, "/api/v1/rules", timeoutMillis: 5000)
        #expect(rules?.body.contains("CgwardenKilled") == true, "\(rules.map { "\($0)" } ?? "no answer")")

        // A real scrape after the kill: promtool, and the names the dashboard and rules use.
        let scrape = try #require(TestHTTP.get(port: MetricsKernelTests.port, "/metrics"))
        let dir = TempDir()
        defer { dir.remove() }
        writeFile(dir.path + "/scrape.txt", scrape.body)
        let check = try run(["/bin/sh", "-c", "promtool check metrics < \(dir.path)/scrape.txt 2>&1"])
        #expect(check.status == .exited(0) && check.stdout.isEmpty, "promtool check metrics:\n\(check.stdout)")
        let declared = declaredNames(in: scrape.body)
        for file in ["Configs/grafana/cgwarden.json", "Configs/prometheus/cgwarden-alerts.yml"] {
            let used = metricNames(in: readFile(repositoryRoot() + "/" + file) ?? "")
            #expect(used.count >= 5, "\(file)")
            #expect(used.subtracting(declared).isEmpty, "\(file) uses metrics no scrape has: \(used.subtracting(declared).sorted())")
        }
        let reaction = scrape.body.split(separator: "\n").first { $0.hasPrefix("cgwarden_kill_reaction_seconds_sum") } ?? "-"
        print("metrics e2e: Prometheus saw the kill; \(reaction); kill \(millis(kill["duration_ns"]?.uint64Value ?? 0))")
        #expect(daemon.stop().status == .exited(0), "\(daemon.log)")
    }

    /// While the endpoint is flooded (a connect storm, requests that never
    /// end, garbage), a tenant ramping toward its limit is still emptied
    /// before the kernel's OOM killer acts, the daemon's descriptors stay
    /// bounded, and it still answers afterwards.
    @Test func aFloodedEndpointDoesNotDelayAKill() throws {
        let g = try tenantGroups("metrics-flood")
        let daemon = try DaemonRun("metrics-flood", config: config(g))
        try daemon.started()
        let port = MetricsKernelTests.port
        #expect(waitUntil(seconds: 30) { TestHTTP.get(port: port, "/healthz")?.status == 200 })
        let before = try daemon.openFiles()
        let baseline = before.count
        let baselineSockets = before.filter { $0.hasPrefix("socket:") }.count

        let stop = Atomic<Bool>(false)
        let connects = Atomic<Int>(0)
        let mostFiles = Atomic<Int>(0)
        let mostSockets = Atomic<Int>(0)
        let atMost = Mutex<[String]>([])
        let floods = [
            TestThread {
                while !stop.load(ordering: .relaxed) {
                    if let fd = TestHTTP.connect(port: port, timeoutMillis: 300) { close(fd); _ = connects.add(1, ordering: .relaxed) }
                }
            },
            TestThread {
                while !stop.load(ordering: .relaxed) {
                    var fds: [Int32] = []
                    for _ in 0..<100 {
                        if let fd = TestHTTP.connect(port: port, timeoutMillis: 300) {
                            _ = TestHTTP.send(fd, Array("GET /metrics HTTP/1.1\r\nX-Slow: ".utf8))
                            fds.append(fd)
                        }
                    }
                    for _ in 0..<10 where !stop.load(ordering: .relaxed) {
                        for fd in fds { _ = TestHTTP.send(fd, [0x61]) }
                        usleep(100_000)
                    }
                    for fd in fds { close(fd) }
                }
            },
            TestThread {
                while !stop.load(ordering: .relaxed) {
                    _ = TestHTTP.request(port: port, "\u{0}\u{1}garbage\r\n\r\n", timeoutMillis: 300)
                    _ = TestHTTP.get(port: port, "/metrics", timeoutMillis: 300)
                }
            },
            TestThread {
                while !stop.load(ordering: .relaxed) {
                    if let files = try? daemon.openFiles() {
                        if files.count > mostFiles.load(ordering: .relaxed) {
                            mostFiles.store(files.count, ordering: .relaxed)
                            atMost.withLock { $0 = files }
                        }
                        let sockets = files.filter { $0.hasPrefix("socket:") }.count
                        if sockets > mostSockets.load(ordering: .relaxed) { mostSockets.store(sockets, ordering: .relaxed) }
                    }
                    usleep(50_000)
                }
            },
        ]
        let joined = Atomic<Bool>(false)
        func endFlood() {
            stop.store(true, ordering: .relaxed)
            if !joined.exchange(true, ordering: .relaxed) { for f in floods { f.join() } }
        }
        defer { endFlood() }
        usleep(1_000_000)
        let trace = AllocationTrace("metrics-flood")
        defer { trace.remove() }
        let load = try allocate(g.dir + "/a", mib: 192, step: 4, intervalMillis: 100, trace: trace, traceGroup: g.dir + "/a")
        let kill = try #require(daemon.waitFor("kill", seconds: 90) { $0.cgroup == g.path + "/a" }, "no kill:\n\(daemon.log)")
        #expect(load.wait(seconds: 30) == .signaled(SIGKILL))
        #expect(g.value("a/memory.events", "oom_kill") == 0, "the kernel's OOM killer acted first: \(g.read("a/memory.events") ?? "-")")
        endFlood()
        let threshold = Int64(128 << 20) * 8 / 10
        let crossed = trace.steps.first { $0.current >= threshold }
        let most = mostFiles.load(ordering: .relaxed)
        let sockets = mostSockets.load(ordering: .relaxed)
        // The endpoint's connections: its cap (32), and one accepted past it
        // to be closed (eviction), over the sockets held before (the
        // listener among them).
        #expect(sockets <= baselineSockets + 32 + 1, "sockets: \(sockets), before the flood \(baselineSockets)")
        // Everything: the endpoint's, and what the kill opens beside them
        // while it runs (the victim's pidfds, the group's directory, the
        // flight recording's directory and file, the journal's): at most 8.
        let others = atMost.withLock { $0 }.filter { !$0.hasPrefix("socket:") }
        #expect(most <= baseline + 32 + 1 + 8,
                "descriptors: \(most), before the flood \(baseline); at the most, besides sockets: \(others.sorted())")
        #expect(waitUntil(seconds: 15) { TestHTTP.get(port: port, "/healthz")?.status == 200 })
        let scrape = TestHTTP.get(port: port, "/metrics")?.body ?? ""
        let closed = scrape.split(separator: "\n").filter { $0.hasPrefix("cgwarden_endpoint_") }.joined(separator: "; ")
        print("metrics flood: \(connects.load(ordering: .relaxed)) connects; 80% crossed -> empty in \(since(crossed, kill)); "
              + "kill \(millis(kill["duration_ns"]?.uint64Value ?? 0)); descriptors \(baseline) -> at most \(most) (sockets \(baselineSockets) -> \(sockets); the rest at the most: \(others.count)); \(closed)")
        #expect(daemon.stop().status == .exited(0), "\(daemon.log)")
    }
}
