#if canImport(Glibc)
import Glibc
#endif
import CShims
import CGWardenCore
import CGWardenIO
import CGWardenPolicy
import CGWardenSystem

//   cgwarden-bench daemon-reaction --cgwarden PATH [--trials 20] [--rates 32,max] [--limits 64,256]
//                                  [--high-limits 64] [--threshold 80] [--compare PATH --compare-name NAME]
//   cgwarden-bench daemon-idle --cgwarden PATH [--also PATH] [--sizes 0,100,1000] [--near-at 100] [--seconds 60]
//                              [--churn-minutes 10] [--churn-per-second 100]
// (scripts/bench passes --cgwarden, and --also with the --static-swift-stdlib build).

/// A `cgwarden run --log json` started by the benchmark: its events (one JSON
/// line each on its standard error, read through a pipe), its processes.
final class DaemonUnderTest {
    let pid: pid_t
    let errors: Int32
    var pending: [UInt8] = []
    var events: [JSON] = []
    var otherLines: [String] = []

    init(_ argv: [String]) throws {
        var fds: [Int32] = [0, 0]
        guard cgw_pipe_cloexec(&fds) == 0 else { throw BenchError("pipe2: \(String(cString: strerror(errno)))") }
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        var cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var p: pid_t = 0
        let rc = posix_spawn(&p, argv[0], &actions, nil, &cargs, environ)
        close(fds[1])
        guard rc == 0 else { throw BenchError("spawn \(argv[0]): \(String(cString: strerror(rc)))") }
        pid = p
        errors = fds[0]
    }

    /// Reads what the daemon wrote so far; JSON lines become events.
    func drain() {
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(errors, &buf, buf.count)
            if n <= 0 { break }
            pending += buf[0..<n]
        }
        while let nl = pending.firstIndex(of: 0x0a) {
            let line = String(decoding: pending[..<nl], as: UTF8.self)
            pending.removeSubrange(...nl)
            if let j = try? JSON.parse(line), j["kind"] != nil { events.append(j) } else { otherLines.append(line) }
        }
    }

    /// The first event of that kind (and cgroup) from `from` on, waiting up to `seconds`.
    func await(_ kind: String, cgroup: String? = nil, seconds: Double) -> JSON? {
        var waited = 0.0
        while waited <= seconds {
            drain()
            if let e = events.first(where: { $0["kind"]?.stringValue == kind && (cgroup == nil || $0["cgroup"]?.stringValue == cgroup) }) {
                return e
            }
            if !alive { return nil }
            usleep(20_000)
            waited += 0.02
        }
        return nil
    }

    var alive: Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }

    /// SIGTERM, then the exit status (SIGKILL after 10 s).
    @discardableResult
    func stop() -> Int32 {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<500 {
            if waitpid(pid, &status, WNOHANG) == pid { drain(); close(errors); return status }
            usleep(20_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        close(errors)
        return status
    }

    /// The launcher and the helper: descendants of the daemon, found through /proc.
    func descendants() -> [(pid: pid_t, name: String)] {
        var parent: [pid_t: pid_t] = [:]
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard let p = pid_t(name) else { continue }
            if let ppid = ProcessFigures.statusField(p, "PPid").flatMap({ pid_t($0) }) { parent[p] = ppid }
        }
        var out: [(pid_t, String)] = []
        var frontier: Set<pid_t> = [pid]
        while !frontier.isEmpty {
            let next = Set(parent.filter { frontier.contains($0.value) }.map(\.key))
            for p in next.sorted() { out.append((p, ProcessFigures.role(p))) }
            frontier = next
        }
        return out
    }
}

/// CPU time and memory of one process, from /proc.
enum ProcessFigures {
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// utime + stime, in seconds.
    static func cpuSeconds(_ pid: pid_t) -> Double? {
        let text = KillBenchmark.readText("/proc/\(pid)/stat")
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: state is field 3 of proc(5); utime 14, stime 15.
        guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { return nil }
        return (u + s) / ticksPerSecond
    }

    static func statusField(_ pid: pid_t, _ key: String) -> String? {
        for line in KillBenchmark.readText("/proc/\(pid)/status").split(separator: "\n") where line.hasPrefix(key + ":") {
            return line.dropFirst(key.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map(String.init)
        }
        return nil
    }

    /// A field of /proc/PID/status in KiB (VmRSS, VmHWM, RssAnon, RssFile, VmLck).
    static func kib(_ pid: pid_t, _ key: String) -> Int { statusField(pid, key).flatMap { Int($0) } ?? -1 }

    /// A field of /proc/PID/smaps_rollup in KiB: Rss, Pss (resident pages
    /// divided among the processes mapping them), Anonymous, Locked. Exact,
    /// from the page tables: VmRSS of /proc/PID/status comes from counters
    /// each thread syncs only every 64 page faults (kernels before 6.2),
    /// and was seen 2.4 MiB short.
    static func rollup(_ pid: pid_t, _ key: String) -> Int {
        for line in KillBenchmark.readText("/proc/\(pid)/smaps_rollup").split(separator: "\n") where line.hasPrefix(key + ":") {
            return line.dropFirst(key.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) } ?? -1
        }
        return -1
    }

    static func pss(_ pid: pid_t) -> Int { rollup(pid, "Pss") }
    static func rss(_ pid: pid_t) -> Int { rollup(pid, "Rss") }

    /// What a cgwarden process is, from its command line.
    static func role(_ pid: pid_t) -> String {
        let args = KillBenchmark.readText("/proc/\(pid)/cmdline").split(separator: "\0").map(String.init)
        if args.contains("--launcher") { return "launcher" }
        if args.contains("kill-helper") { return "helper" }
        return args.first.map { String($0.split(separator: "/").last ?? "") } ?? "?"
    }

    /// Resident KiB by mapping (file name, or [heap], [stack], [anon]), largest first.
    static func residentByMapping(_ pid: pid_t) -> [(String, Int)] {
        var totals: [String: Int] = [:]
        var current = "?"
        for line in KillBenchmark.readText("/proc/\(pid)/smaps").split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = parts.first else { continue }
            if first.contains("-"), first.first?.isHexDigit == true {
                // A mapping's header: range perms offset dev inode [path]
                current = parts.count >= 6 ? String(parts[5].split(separator: "/").last ?? parts[5]) : "[anon]"
            } else if first == "Rss:", parts.count >= 2, let k = Int(parts[1]) {
                totals[current, default: 0] += k
            }
        }
        return totals.sorted { $0.value > $1.value }
    }
}

/// `cgwarden-bench daemon-reaction` and `daemon-idle`: the guard as it runs,
/// `cgwarden run --log json`, measured from outside.
enum DaemonBenchmark {
    static let mountPoint = "/sys/fs/cgroup"

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static func percentile(_ xs: [Double], _ p: Double) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return 0 }
        // Nearest rank.
        let rank = Int((p / 100 * Double(s.count)).rounded(.up))
        return s[min(max(rank - 1, 0), s.count - 1)]
    }

    static func writeFile(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BenchError("cannot write \(path): \(String(cString: strerror(errno)))") }
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }

    // MARK: reaction

    struct Trial {
        var reactionMs: Double
        /// Threshold crossed to the daemon's decision (the kill event's time less the helper's measure).
        var decisionMs: Double?
        /// The helper's own measure, first write to `populated 0`.
        var killMs: Double?
        /// Allocator start to the threshold.
        var rampMs: Double
    }

    /// Threshold crossed -> group empty, the event-driven daemon and the same
    /// daemon with --poll-only (and, with `compare`, the event-driven daemon
    /// of another build), all running, trials alternated.
    static func reaction(cgwarden: String, compare: (name: String, path: String)?, trials: Int, rates: [Int], limits: [Int],
                         highLimits: [Int], thresholdPercent: Int) throws {
        let testload = KillBenchmark.productsDirectory() + "/cgwarden-testload"
        guard access(testload, X_OK) == 0 else { throw BenchError("no \(testload): build the cgwarden-testload product") }
        let top = mountPoint + "/cgw-bench-react"
        guard mkdir(top, 0o755) == 0 else { throw BenchError("mkdir \(top): \(String(cString: strerror(errno)))") }
        defer { rmdir(top) }
        KillBenchmark.write(top + "/cgroup.subtree_control", "+memory +pids")
        // One daemon per mode, each guarding its own groups: they run side by
        // side, so the trials can alternate without restarting any.
        struct Mode {
            var name: String
            var prefix: String
            var argv: [String]
            var daemon: DaemonUnderTest?
        }
        var modes = [Mode(name: "event-driven", prefix: "ev", argv: [cgwarden]),
                     Mode(name: "poll-only", prefix: "po", argv: [cgwarden, "--poll-only"])]
        if let compare { modes.append(Mode(name: "event-driven, \(compare.name)", prefix: "cv", argv: [compare.path])) }
        defer { for m in modes { m.daemon?.stop() } }
        for i in modes.indices {
            let config = "/tmp/cgw-bench-react-\(modes[i].prefix).toml"
            try writeFile(config, """
                [daemon]
                interval = "1s"
                # Read at the end: snapshots taken, their read and evaluation times.
                [metrics]
                listen = "127.0.0.1:\(metricsPort + UInt16(i))"
                [[guard]]
                name = "tenants"
                match = "/cgw-bench-react/\(modes[i].prefix)-*"
                candidates = "self"
                post_action_delay = "0s"
                  [[guard.trigger]]
                  usage_of_limit = "\(thresholdPercent)%"

                # The same threshold written as the group's memory.high.
                [[guard]]
                name = "tenants-high"
                match = "/cgw-bench-react/h\(modes[i].prefix)-*"
                candidates = "self"
                post_action_delay = "0s"
                  [[guard.trigger]]
                  usage_of_limit = "100%"
                  limit = "high"

                """)
            let argv = [modes[i].argv[0], "run", "--config", config, "--log", "json"] + modes[i].argv.dropFirst()
            let d = try DaemonUnderTest(argv)
            modes[i].daemon = d
            guard d.await("started", seconds: 120) != nil else {
                throw BenchError("\(modes[i].name) daemon did not start: \(d.otherLines.joined(separator: "; "))")
            }
        }
        sleep(2)
        print("# daemon-reaction: usage crosses \(thresholdPercent)% of memory.max -> `populated 0`, ms;")
        print("# `cgwarden run` (daemon.interval 1s) vs the same with --poll-only, alternated trials; release build")
        print("# kernel \(WalkBenchmark.uname()), \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) CPUs")
        print("")
        print("| memory.max | ramp | mode | trials | p50 | p95 | min-max | to the decision p50 | p95 | kill in the helper p50 | poll-only / this, p50 |")
        print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        var n = 0
        // Each memory.max at each ramp; then, with `highLimits`, the threshold
        // also set as the group's memory.high, unpaced.
        let runs = limits.flatMap { l in rates.map { (limit: l, rate: $0, high: false) } } + highLimits.map { (limit: $0, rate: 0, high: true) }
        for run in runs {
            let limitMiB = run.limit, rate = run.rate
            let limit = UInt64(limitMiB) << 20
            let threshold = limit * UInt64(thresholdPercent) / 100
            // Up to ~90% of the limit: past the threshold, below memory.max (no
            // reclaim, so no memory.events change: the usage itself must be seen;
            // unless memory.high is at the threshold: the kernel then counts
            // `high` events, and the daemon is woken by inotify).
            // And 3 MiB below it at least: the allocator's own pages (stack,
            // runtime) come on top, and a small group at its memory.max would be
            // reclaimed (counting `max` events, which wake the daemon).
            let allocMiB = min(limitMiB * 88 / 100, limitMiB - 3)
            do {
                var results = [[Trial]](repeating: [], count: modes.count)
                var missed = [Int](repeating: 0, count: modes.count)
                var early = [Int](repeating: 0, count: modes.count)
                // 1 MiB every `pacing` ms (0: as fast as the allocator touches pages).
                let pacing = rate == 0 ? 0 : max(1, 1000 / rate)
                for r in 0..<(modes.count * trials) {
                    let m = r % modes.count
                    n += 1
                    let dirName = (run.high ? "h" : "") + modes[m].prefix + "-\(n)"
                    let dir = top + "/" + dirName
                    guard mkdir(dir, 0o755) == 0 else { throw BenchError("mkdir \(dir): \(String(cString: strerror(errno)))") }
                    KillBenchmark.write(dir + "/memory.max", String(limit))
                    if run.high { KillBenchmark.write(dir + "/memory.high", String(threshold)) }
                    KillBenchmark.write(dir + "/memory.swap.max", "0")
                    KillBenchmark.write(dir + "/pids.max", "16")
                    // A random phase against the daemons' timers.
                    usleep(UInt32.random(in: 0..<1_000_000))
                    let markFile = "/tmp/cgw-bench-react-mark"
                    unlink(markFile)
                    let events = open(dir + "/cgroup.events", O_RDONLY | O_CLOEXEC)
                    let started = now()
                    let loader = try KillBenchmark.spawn([testload, "alloc", "--cgroup", dir, "--mib", String(allocMiB),
                                                          "--step-mib", "1", "--touch", "page", "--interval-ms", String(pacing), "--hold-s", "600",
                                                          "--mark-bytes", String(threshold), "--mark-file", markFile])
                    let end = waitEmptied(events, seconds: 60)
                    close(events)
                    if end == nil { KillBenchmark.write(dir + "/cgroup.kill", "1") }
                    KillBenchmark.reap(loader)
                    // "after N": read after the crossing; only "before N": the allocator died within the piece that crossed.
                    let marks = KillBenchmark.readText(markFile).split(separator: "\n").map { $0.split(separator: " ") }
                    let mark = marks.last { $0.count == 2 && $0[0] == "after" } ?? marks.last { $0.count == 2 && $0[0] == "before" }
                    let crossed = mark.flatMap { UInt64($0[1]) }
                    if mark?[0] == "before" { early[m] += 1 }
                    let killEvent = modes[m].daemon!.await("kill", cgroup: "/cgw-bench-react/" + dirName, seconds: 5)
                    KillBenchmark.remove(dir)
                    guard let end, let crossed, end > crossed else {
                        missed[m] += 1
                        let why = end == nil ? "not emptied within 60 s" : crossed == nil ? "no threshold mark" : "emptied before the mark"
                        let line = "cgwarden-bench: \(modes[m].name) trial \(dirName): \(why)\n"
                        _ = line.withCString { write(2, $0, strlen($0)) }
                        continue
                    }
                    var t = Trial(reactionMs: Double(end - crossed) / 1e6, rampMs: Double(crossed - started) / 1e6)
                    if let e = killEvent, let at = e["monotonic_ns"]?.uint64Value, let took = e["duration_ns"]?.uint64Value {
                        t.killMs = Double(took) / 1e6
                        t.decisionMs = (Double(at) - Double(took) - Double(crossed)) / 1e6
                    }
                    results[m].append(t)
                }
                let p50 = results.map { percentile($0.map(\.reactionMs), 50) }
                // The ramp as it ran: the threshold over the time from the start to the mark.
                let rampSeconds = percentile(results.flatMap { $0.map(\.rampMs) }, 50) / 1000
                let ramp = "\(fmt(Double(threshold >> 20) / max(rampSeconds, 0.001), 0)) MiB/s (\(fmt(rampSeconds, 1)) s to the threshold)"
                for m in modes.indices {
                    let xs = results[m]
                    let rs = xs.map(\.reactionMs)
                    let ds = xs.compactMap(\.decisionMs)
                    let ratio = m != 1 && p50[m] > 0 ? fmt(p50[1] / p50[m], 1) : ""
                    let miss = (missed[m] > 0 ? " (\(missed[m]) missed)" : "") + (early[m] > 0 ? " (\(early[m]) early mark)" : "")
                    print("| \(limitMiB) MiB\(run.high ? ", memory.high at \(thresholdPercent)%" : "") | \(ramp) | \(modes[m].name) | \(xs.count)\(miss) | \(fmt(percentile(rs, 50))) | \(fmt(percentile(rs, 95))) | \(fmt(rs.min() ?? 0))-\(fmt(rs.max() ?? 0)) | \(fmt(percentile(ds, 50))) | \(fmt(percentile(ds, 95))) | \(fmt(percentile(xs.compactMap(\.killMs), 50))) | \(ratio) |")
                    fflush(nil)
                }
                if let raw = getenv("CGW_BENCH_RAW"), String(cString: raw) == "1" {
                    for m in modes.indices {
                        print("# raw \(limitMiB) MiB\(run.high ? " high" : "") \(rate) \(modes[m].name), reaction/decision: "
                              + results[m].map { "\(fmt($0.reactionMs, 0))/\(fmt($0.decisionMs ?? -1, 0))" }.joined(separator: " "))
                    }
                }
            }
        }
        // What the daemons did over the whole run: how often they sampled,
        // what a snapshot and an evaluation took (both before the helper's first write).
        for (i, m) in modes.enumerated() {
            let f = scrapeMetrics(port: metricsPort + UInt16(i))
            guard let snapshots = f["cgwarden_snapshots_total"], let up = f["cgwarden_uptime_seconds"], up > 0 else { continue }
            let mean = { (name: String) -> String in
                guard let sum = f[name + "_sum"], let count = f[name + "_count"], count > 0 else { return "?" }
                return fmt(sum / count * 1000, 2)
            }
            print("# \(m.name): \(fmt(snapshots, 0)) snapshots in \(fmt(up, 0)) s (\(fmt(snapshots / up, 2))/s); "
                  + "mean snapshot read \(mean("cgwarden_snapshot_duration_seconds")) ms, "
                  + "evaluation \(mean("cgwarden_decision_duration_seconds")) ms")
        }
        for m in modes {
            guard let d = m.daemon else { continue }
            d.drain()
            let problems = d.events.filter { ["problem", "failed", "incomplete", "refused"].contains($0["kind"]?.stringValue ?? "") }
            for p in problems.prefix(5) { print("# \(m.name): \(p["kind"]?.stringValue ?? ""): \(p["message"]?.stringValue ?? "")") }
        }
    }

    /// The reaction bench's daemons serve their metrics here (one port each).
    static let metricsPort: UInt16 = 19470

    /// One GET /metrics: each unlabelled sample by name.
    static func scrapeMetrics(port: UInt16) -> [String: Double] {
        guard let fd = try? Sockets.connect(address: [127, 0, 0, 1], port: port) else { return [:] }
        defer { close(fd) }
        let request = Array("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard (request.withUnsafeBytes { try? Sockets.send(fd, $0) }) == request.count else { return [:] }
        var body: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            body += buf[0..<n]
        }
        var out: [String: Double] = [:]
        for line in String(decoding: body, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count >= 2, !parts[0].contains("{"), let v = Double(parts[1]) { out[String(parts[0])] = v }
        }
        return out
    }

    /// The time `cgroup.events` read `populated 0` after having read
    /// `populated 1` (woken by POLLPRI, as the kernel notifies every change).
    static func waitEmptied(_ fd: Int32, seconds: Double) -> UInt64? {
        let deadline = now() + UInt64(seconds * 1e9)
        var seenPopulated = false
        var buf = [UInt8](repeating: 0, count: 256)
        while now() < deadline {
            let n = pread(fd, &buf, buf.count, 0)
            let at = now()
            guard n > 0 else { return nil }
            let text = String(decoding: buf[0..<n], as: UTF8.self)
            if text.contains("populated 1") { seenPopulated = true }
            if seenPopulated && text.contains("populated 0") { return at }
            var p = pollfd(fd: fd, events: Int16(POLLPRI), revents: 0)
            _ = poll(&p, 1, 1000)
        }
        return nil
    }

    // MARK: idle

    struct Usage {
        var cpuPerSecond: Double
        var rss: Int
        var hwm: Int
        var anon: Int
        var file: Int
    }

    /// CPU per second of the daemon over `seconds`, and its memory at the end.
    static func usage(_ pid: pid_t, seconds: Int) -> Usage {
        let c0 = ProcessFigures.cpuSeconds(pid) ?? 0, t0 = now()
        sleep(UInt32(seconds))
        let c1 = ProcessFigures.cpuSeconds(pid) ?? 0, t1 = now()
        let rss = ProcessFigures.rss(pid), anon = ProcessFigures.rollup(pid, "Anonymous")
        return Usage(cpuPerSecond: (c1 - c0) / (Double(t1 - t0) / 1e9), rss: rss,
                     hwm: ProcessFigures.kib(pid, "VmHWM"), anon: anon, file: rss >= 0 && anon >= 0 ? rss - anon : -1)
    }

    static func mib(_ kib: Int) -> String { kib < 0 ? "?" : fmt(Double(kib) / 1024, 1) }

    static func idle(binaries: [(name: String, path: String)], sizes: [Int], nearAt: Int?, seconds: Int, churnMinutes: Int,
                     churnPerSecond: Int) throws {
        let testload = KillBenchmark.productsDirectory() + "/cgwarden-testload"
        guard access(testload, X_OK) == 0 else { throw BenchError("no \(testload): build the cgwarden-testload product") }
        let top = mountPoint + "/cgw-bench-idle"
        guard mkdir(top, 0o755) == 0 else { throw BenchError("mkdir \(top): \(String(cString: strerror(errno)))") }
        KillBenchmark.write(top + "/cgroup.subtree_control", "+memory +pids")
        var made: [String] = []
        defer {
            for d in made.reversed() { rmdir(d) }
            rmdir(top)
        }
        // The default configuration: its `at-own-limit` guard matches every group
        // (usage_of_limit 98% of unreclaimable memory), and its node guard arms
        // a PSI trigger. Empty groups with a memory.max: nothing fires.
        let config = "/tmp/cgw-bench-idle.toml"
        try writeFile(config, DefaultConfig.text)
        func grow(to size: Int) {
            // Parents of 100 children each, the parents counted: p0, p0/g1..g100, p1, ...
            while made.count < size {
                let parentIndex = made.count / 101
                let parent = top + "/p\(parentIndex)"
                if made.count % 101 == 0 {
                    mkdir(parent, 0o755)
                    KillBenchmark.write(parent + "/cgroup.subtree_control", "+memory +pids")
                    made.append(parent)
                } else {
                    let g = parent + "/g\(made.count % 101)"
                    mkdir(g, 0o755)
                    KillBenchmark.write(g + "/memory.max", String(256 << 20))
                    made.append(g)
                }
            }
        }
        print("# daemon-idle: `cgwarden run` with the default configuration, idle (nothing fires), CPU over \(seconds) s")
        print("# after 15 s of warm-up; memory at the end (/proc/PID/smaps_rollup; VmHWM from /proc/PID/status); release builds")
        print("# kernel \(WalkBenchmark.uname()), \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) CPUs; the VM has \(countGroups(mountPoint)) groups besides ours")
        print("")
        print("| build | groups | CPU ms/s | RSS MiB | VmHWM MiB | anon MiB | file MiB | launcher RSS MiB | helper RSS MiB | PSS of the 3 MiB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        var breakdowns: [String] = []
        var costs: [String] = []
        for size in sizes {
            grow(to: size)
            if size > 0 { costs += try snapshotCosts() }
            for b in binaries {
                let d = try DaemonUnderTest([b.path, "run", "--config", config, "--log", "json"])
                guard d.await("started", seconds: 120) != nil else {
                    throw BenchError("\(b.name) daemon did not start: \(d.otherLines.joined(separator: "; "))")
                }
                sleep(15)
                let u = usage(d.pid, seconds: seconds)
                let others = d.descendants()
                func rss(_ role: String) -> String {
                    others.filter { $0.name == role }.map { mib(ProcessFigures.rss($0.pid)) }.joined(separator: ", ")
                }
                let pss = ([d.pid] + others.map(\.pid)).map(ProcessFigures.pss).reduce(0, +)
                print("| \(b.name) | \(size) | \(fmt(u.cpuPerSecond * 1000)) | \(mib(u.rss)) | \(mib(u.hwm)) | \(mib(u.anon)) | \(mib(u.file)) | \(rss("launcher")) | \(rss("helper")) | \(mib(pss)) |")
                fflush(nil)
                var text = "# \(b.name), \(size) groups, resident KiB by mapping: daemon "
                text += ProcessFigures.residentByMapping(d.pid).prefix(8).map { "\($0.0) \($0.1)" }.joined(separator: ", ")
                for o in others {
                    text += "; \(o.name) " + ProcessFigures.residentByMapping(o.pid).prefix(4).map { "\($0.0) \($0.1)" }.joined(separator: ", ")
                }
                breakdowns.append(text)
                if size == sizes.max() { breakdowns += residentByModule(pid: d.pid, binary: b.path).map { "# \(b.name), \(size) groups: " + $0.dropFirst(2) } }
                d.drain()
                let problems = d.events.filter { $0["kind"]?.stringValue == "problem" }.count
                if problems > 0 { breakdowns.append("# \(b.name), \(size) groups: \(problems) problem events") }
                d.stop()
            }
            if size == nearAt {
                // One more group whose unreclaimable memory sits just under the
                // default `at-own-limit` trigger (98%), steady: it never fires,
                // but its headroom is small, and the timer samples faster.
                let near = top + "/near"
                mkdir(near, 0o755)
                KillBenchmark.write(near + "/memory.max", String(64 << 20))
                KillBenchmark.write(near + "/memory.swap.max", "0")
                let loader = try KillBenchmark.spawn([testload, "alloc", "--cgroup", near, "--mib", "60", "--hold-s", "3600"])
                _ = KillBenchmark.wait(seconds: 60) { (UInt64(KillBenchmark.readText(near + "/memory.current").split(separator: "\n").first ?? "") ?? 0) >= 60 << 20 }
                let used = Double(UInt64(KillBenchmark.readText(near + "/memory.current").split(separator: "\n").first ?? "") ?? 0)
                for b in binaries {
                    let d = try DaemonUnderTest([b.path, "run", "--config", config, "--log", "json"])
                    guard d.await("started", seconds: 120) != nil else { throw BenchError("near daemon did not start") }
                    sleep(15)
                    let u = usage(d.pid, seconds: seconds)
                    d.drain()
                    let fired = d.events.filter { ["kill", "observed"].contains($0["kind"]?.stringValue ?? "") }.count
                    print("| \(b.name) | \(size) + 1 resting at \(fmt(used / Double(64 << 20) * 100, 0))% of its memory.max (trigger: 98%) | \(fmt(u.cpuPerSecond * 1000)) | \(mib(u.rss)) | \(mib(u.hwm)) | \(mib(u.anon)) | \(mib(u.file)) | | | |")
                    fflush(nil)
                    if fired > 0 { breakdowns.append("# \(b.name): the group near its threshold was acted on \(fired) time(s)") }
                    d.stop()
                }
                KillBenchmark.write(near + "/cgroup.kill", "1")
                KillBenchmark.reap(loader)
                KillBenchmark.remove(near)
            }
        }
        print("")
        for line in breakdowns { print(line) }
        if !costs.isEmpty {
            print("")
            print("# what one wake costs, in this process (median of 5 rounds after one to open the files; the sets alternate), the VM's whole tree:")
            print("")
            print("| groups | fields read | snapshot ms | + evaluation (default config) ms | snapshot held, KiB |")
            print("|---:|---|---:|---:|---:|")
            for line in costs { print(line) }
        }
        fflush(nil)
        guard churnMinutes > 0, !binaries.isEmpty else { return }
        // Churn: groups created and removed every second beside the idle ones,
        // every build's daemon running at once (the same churn for each).
        let churn = top + "/churn"
        mkdir(churn, 0o755)
        KillBenchmark.write(churn + "/cgroup.subtree_control", "+memory +pids")
        defer { rmdir(churn) }
        var daemons: [DaemonUnderTest] = []
        defer { for d in daemons { d.stop() } }
        for b in binaries {
            let d = try DaemonUnderTest([b.path, "run", "--config", config, "--log", "json"])
            daemons.append(d)
            guard d.await("started", seconds: 120) != nil else { throw BenchError("\(b.name) churn daemon did not start") }
        }
        let others = daemons.map { $0.descendants() }
        print("")
        print("# churn: \(churnPerSecond) groups created and \(churnPerSecond) removed per second (each lives 1 s) beside \(made.count) idle ones,")
        print("# for \(churnMinutes) minutes; the daemons of the \(binaries.count) builds run at once; RSS from smaps_rollup")
        print("")
        print("| minute | groups made | " + binaries.map { "\($0.name): CPU ms/s | RSS MiB | launcher, helper RSS MiB | problems" }.joined(separator: " | ") + " |")
        print("|---:|---:|" + String(repeating: "---:|---:|---:|---:|", count: binaries.count))
        var serial = 0
        var live: [String] = []
        var cpu0 = daemons.map { ProcessFigures.cpuSeconds($0.pid) ?? 0 }
        let churnStart = now()
        var t0 = churnStart
        var madeTotal = 0
        // RSS (KiB) every 10 s, per build: (seconds since the start, KiB).
        var samples = [[(Double, Double)]](repeating: [], count: binaries.count)
        var nextSample = churnStart
        for minute in 1...churnMinutes {
            let minuteEnd = t0 + 60_000_000_000
            while now() < minuteEnd {
                let tick = now()
                var fresh: [String] = []
                for _ in 0..<churnPerSecond {
                    serial += 1
                    let g = churn + "/c\(serial)"
                    if mkdir(g, 0o755) == 0 { fresh.append(g) }
                }
                for g in live { rmdir(g) }
                live = fresh
                madeTotal += fresh.count
                if tick >= nextSample {
                    for i in daemons.indices {
                        samples[i].append((Double(tick - churnStart) / 1e9, Double(ProcessFigures.rss(daemons[i].pid))))
                    }
                    nextSample += 10_000_000_000
                }
                let spent = now() - tick
                if spent < 1_000_000_000 { usleep(UInt32((1_000_000_000 - spent) / 1000)) }
            }
            let t1 = now()
            var cells: [String] = []
            for i in daemons.indices {
                let cpu1 = ProcessFigures.cpuSeconds(daemons[i].pid) ?? 0
                daemons[i].drain()
                let problems = daemons[i].events.filter { $0["kind"]?.stringValue == "problem" }.count
                let helpers = others[i].map { mib(ProcessFigures.rss($0.pid)) }.joined(separator: ", ")
                cells.append("\(fmt((cpu1 - cpu0[i]) / (Double(t1 - t0) / 1e9) * 1000)) | \(mib(ProcessFigures.rss(daemons[i].pid))) | \(helpers) | \(problems)")
                cpu0[i] = cpu1
            }
            print("| \(minute) | \(madeTotal) | " + cells.joined(separator: " | ") + " |")
            fflush(nil)
            t0 = t1
        }
        for g in live { rmdir(g) }
        print("")
        for i in daemons.indices {
            // Least squares over the samples after the first minute (start-up growth excluded).
            let xs = samples[i].filter { $0.0 >= 60 }
            let slope = leastSquaresSlope(xs)
            let kinds = Dictionary(grouping: daemons[i].events.compactMap { $0["kind"]?.stringValue }, by: { $0 }).mapValues(\.count)
            print("# \(binaries[i].name): RSS \(samples[i].first.map { mib(Int($0.1)) } ?? "?") MiB at the start, \(xs.first.map { mib(Int($0.1)) } ?? "?") after 1 minute, "
                  + "\(samples[i].last.map { mib(Int($0.1)) } ?? "?") at \(fmt((samples[i].last?.0 ?? 0) / 60, 1)) min; min-max after 1 minute "
                  + "\(mib(Int(xs.map(\.1).min() ?? -1)))-\(mib(Int(xs.map(\.1).max() ?? -1))) MiB; slope \(fmt(slope * 3600, 0)) KiB/hour "
                  + "(least squares over \(xs.count) samples every 10 s); VmHWM \(mib(ProcessFigures.kib(daemons[i].pid, "VmHWM"))) MiB")
            print("# \(binaries[i].name): events during the churn: \(kinds.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
            print("# \(binaries[i].name): daemon resident KiB by mapping at the end: " + ProcessFigures.residentByMapping(daemons[i].pid).prefix(8).map { "\($0.0) \($0.1)" }.joined(separator: ", "))
        }
    }

    /// KiB per second, from (seconds, KiB) samples.
    static func leastSquaresSlope(_ xs: [(Double, Double)]) -> Double {
        guard xs.count >= 2 else { return 0 }
        let n = Double(xs.count)
        let mx = xs.map(\.0).reduce(0, +) / n, my = xs.map(\.1).reduce(0, +) / n
        let sxx = xs.map { ($0.0 - mx) * ($0.0 - mx) }.reduce(0, +)
        guard sxx > 0 else { return 0 }
        return xs.map { ($0.0 - mx) * ($0.1 - my) }.reduce(0, +) / sxx
    }

    /// Benchmarks/resident-by-module.py on a running daemon: its binary's
    /// resident pages by section and by Swift module (the static build's
    /// only mapping of Swift code). Lines of text, empty without the script.
    static func residentByModule(pid: pid_t, binary: String) -> [String] {
        let script = "Benchmarks/resident-by-module.py"
        guard access(script, R_OK) == 0, let pipe = popen("python3 \(script) \(pid) \(binary) 2>&1", "r") else { return [] }
        defer { pclose(pipe) }
        var out: [String] = []
        var line = [CChar](repeating: 0, count: 8192)
        while fgets(&line, Int32(line.count), pipe) != nil {
            var text = String(cString: line)
            if text.hasSuffix("\n") { text.removeLast() }
            out.append(text)
        }
        return out
    }

    /// One snapshot of the whole tree with the daemon's sampler settings, by
    /// the fields read, and the default configuration's evaluation of it.
    /// The sets alternate, round after round (the host's load drifts).
    static func snapshotCosts() throws -> [String] {
        let config = try ConfigLoader.load([(name: "default", text: DefaultConfig.text)])
        let evaluator = Evaluator(config: config, ownCgroup: nil)
        let proc = ProcReader()
        let clock = SystemClock()
        let base: SnapshotFields = [.usage, .limits, .events, .populated]
        let sets: [(String, SnapshotFields)] = [
            ("what the daemon reads (`.daemon`: status files, memory.stat's summary, attributes)", .daemon),
            ("the same with all of memory.stat (`.policy`, as `explain` and `record`)", .policy),
            ("`.status` (the 13 files of `status`)", .status),
            ("base: memory.current, the 4 limits, memory.events, cgroup.events (kept open)", base),
            ("base + memory.pressure (kept open)", base.union(.pressure)),
            ("base + memory.peak", base.union(.peak)),
            ("base + memory.swap.current/max", base.union(.swap)),
            ("base + memory.events.local", base.union(.eventsLocal)),
            ("base + cgroup.procs (count)", base.union(.procCount)),
            ("base + memory.stat", base.union(.stat)),
            ("base + memory.stat's summary (anon, shmem, kernel)", base.union(.statSummary)),
            ("base + attributes (owner, 4 xattrs)", base.union(.attributes)),
        ]
        // The daemon's sampler: these kept open, the rest open/read/close at every sample.
        let samplers = sets.map { _ in Sampler(root: mountPoint, keepOpen: [.usage, .limits, .events, .pressure, .populated]) }
        var states = sets.map { _ in PolicyState() }
        var walks = sets.map { _ in [Double]() }, evals = sets.map { _ in [Double]() }, heap = sets.map { _ in [Double]() }
        var count = 0
        for round in 0..<6 {
            for (i, (_, fields)) in sets.enumerated() {
                var snapshot: Snapshot?
                let before = cgw_malloc_in_use()
                let w = time {
                    if let walk = try? samplers[i].sample(fields: fields), let system = try? proc.system() {
                        snapshot = Snapshot(root: mountPoint, time: clock.now(), system: system, cgroups: walk.cgroups)
                    }
                }
                // Bytes the snapshot holds (malloc's bytes in use, with the snapshot alive).
                let held = Double(cgw_malloc_in_use()) - Double(before)
                guard let s = snapshot else { throw BenchError("snapshot failed") }
                count = s.cgroups.count
                let e = time { states[i] = evaluator.evaluate(s, state: states[i]).1 }
                // The first round opens every file: not counted.
                if round > 0 {
                    walks[i].append(w)
                    evals[i].append(e)
                    heap[i].append(held)
                }
            }
        }
        return sets.indices.map { i in
            "| \(count) | \(sets[i].0) | \(fmt(median(walks[i]) / 1000)) | \(fmt(median(evals[i]) / 1000)) | \(fmt(median(heap[i]) / 1024, 0)) |"
        }
    }

    static func countGroups(_ root: String) -> Int {
        guard let dir = opendir(root) else { return 0 }
        defer { closedir(dir) }
        var n = 0
        while let e = readdir(dir) {
            guard e.pointee.d_type == UInt8(DT_DIR) else { continue }
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name == "." || name == ".." { continue }
            n += 1 + countGroups(root + "/" + name)
        }
        return n
    }
}
