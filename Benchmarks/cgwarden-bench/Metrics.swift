#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenEndpoint
import CGWardenPolicy
import CGWardenService
import CGWardenSystem

/// `cgwarden-bench metrics`: what the metrics endpoint costs the guard per
/// snapshot (building and publishing the frame, on the guard's thread),
/// what rendering costs the endpoint's thread, and the daemon's memory with
/// the endpoint off, idle, and scraped.
enum MetricsBenchmark {
    static let port: UInt16 = 19464

    static func config(top: String, maximumGroups: Int?, metrics: Bool) -> String {
        var t = ""
        if metrics {
            t += "[metrics]\nlisten = \"127.0.0.1:\(port)\"\n"
            if let maximumGroups { t += "max_groups = \(maximumGroups)\n" }
        }
        return t + """
            [[guard]]
            name = "all"
            match = ["\(top)", "\(top)/**"]
            [[guard.trigger]]
            usage_of_limit = "90%"
            for = "10s"
            [[guard.trigger]]
            pressure_above = "50%"
            """
    }

    static func run(groups n: Int, cgwarden: String?) throws {
        let tree = try BenchTree(groups: n)
        defer { tree.remove() }
        let top = "/" + tree.relative
        print("# one guard watching all \(n + 1) groups (2 triggers); per snapshot, median of 15 after 3")
        print("")
        print("| max_groups | exported | snapshot µs | evaluation µs | metrics frame µs | frame / (snapshot + evaluation) | render µs | body KiB |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for cap in [500, 10_000] {
            let config = try ConfigLoader.load([(name: "bench.toml", text: self.config(top: top, maximumGroups: cap, metrics: true))])
            let source = SnapshotSource(root: "/sys/fs/cgroup")
            var session = PolicySession(config: config, ownCgroup: nil)
            let recorder = MetricsRecorder(config: config)
            var snaps: [Double] = [], evals: [Double] = [], frames: [Double] = [], renders: [Double] = []
            var bytes = 0, exported = 0
            for i in 0..<18 {
                var taken: Snapshot?
                let s = time { taken = try? source.take().snapshot }
                guard let snapshot = taken else { throw BenchError("snapshot failed") }
                var decision: Decision?
                let e = time { decision = session.step(snapshot) }
                let f = time { recorder.sampled(snapshot, decision: decision!, took: 0, decided: 0, killInFlight: false) }
                let frame = recorder.board.latest!
                var body: [UInt8] = []
                let r = time { body = MetricsRendering.render(frame) }
                if i >= 3 {
                    snaps.append(s); evals.append(e); frames.append(f); renders.append(r)
                    bytes = body.count
                    exported = frame.groups.count
                }
            }
            let s = median(snaps), e = median(evals), f = median(frames)
            print("| \(cap) | \(exported) | \(fmt(s, 0)) | \(fmt(e, 0)) | \(fmt(f, 0)) | \(fmt(f / (s + e) * 100, 1))% | "
                  + "\(fmt(median(renders), 0)) | \(bytes / 1024) |")
        }
        guard let cgwarden else { return }
        print("")
        print("# the daemon (`cgwarden run`, release, as root then dropped) over the same tree; RSS from /proc/PID/status")
        print("")
        print("| endpoint | VmRSS after 10 s MiB | VmRSS after 100 scrapes MiB | VmHWM MiB | scrape ms (median) | body KiB |")
        print("|---|---:|---:|---:|---:|---:|")
        for (label, metrics, cap) in [("off", false, nil), ("on, max_groups 500", true, 500), ("on, every group", true, 10_000)] as [(String, Bool, Int?)] {
            let path = "/tmp/cgwarden-bench-metrics-\(getpid()).toml"
            let text = config(top: top, maximumGroups: cap, metrics: metrics)
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            _ = text.withCString { write(fd, $0, strlen($0)) }
            close(fd)
            defer { unlink(path) }
            let pid = try spawnQuiet([cgwarden, "run", "--config", path, "--log", "json"])
            defer {
                kill(pid, SIGTERM)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
            sleep(10)
            let idle = status(pid, "VmRSS")
            var times: [Double] = []
            var size = 0
            if metrics {
                for _ in 0..<100 {
                    var got = 0
                    times.append(time { got = scrape() } / 1000)
                    size = max(size, got)
                    usleep(100_000)
                }
            }
            let after = status(pid, "VmRSS"), peak = status(pid, "VmHWM")
            print("| \(label) | \(fmt(Double(idle) / 1024, 1)) | \(metrics ? fmt(Double(after) / 1024, 1) : "-") | \(fmt(Double(peak) / 1024, 1)) | "
                  + "\(metrics ? fmt(median(times), 1) : "-") | \(metrics ? String(size / 1024) : "-") |")
        }
    }

    /// One GET /metrics: the bytes received (0 on failure).
    static func scrape() -> Int {
        guard let fd = try? Sockets.connect(address: [127, 0, 0, 1], port: port) else { return 0 }
        defer { close(fd) }
        let request = Array("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard (request.withUnsafeBytes { try? Sockets.send(fd, $0) }) == request.count else { return 0 }
        var total = 0
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            total += n
        }
        return total
    }

    /// A field of /proc/PID/status, KiB.
    static func status(_ pid: pid_t, _ key: String) -> Int {
        let fd = open("/proc/\(pid)/status", O_RDONLY)
        guard fd >= 0 else { return -1 }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 8192)
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        let text = String(decoding: buf.prefix(max(0, n)), as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return -1 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }

    static func spawnQuiet(_ argv: [String]) throws -> pid_t {
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) }; posix_spawn_file_actions_destroy(&actions) }
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cargs, environ)
        guard rc == 0 else { throw BenchError("spawn \(argv[0]): \(String(cString: strerror(rc)))") }
        return pid
    }
}
