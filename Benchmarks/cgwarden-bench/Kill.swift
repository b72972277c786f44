#if canImport(Glibc)
import Glibc
#endif
import CShims
import CGWardenActions
import CGWardenCore

//   cgwarden-bench kill --cgwarden PATH [--sizes 1,100,1000] [--reps N] [--fork-loop 1000]
// (scripts/bench kill passes --cgwarden).

/// `cgwarden-bench kill`: time from the request to `populated 0`, through
/// the real helper, for groups of sleeping processes and for a fork loop,
/// with cgroup.kill and with the freeze + per-pid SIGKILL fallback,
/// alternated in the same run.
enum KillBenchmark {
    struct Sample {
        var roundTripMs: Double
        var helperMs: Double
        var rounds: Int
        var signalled: Int
    }

    static func run(sizes: [Int], reps: Int?, cgwarden: String?, forkLoop: Int) throws {
        guard let cgwarden else { throw BenchError("kill needs --cgwarden PATH (the binary whose helper is measured)") }
        let testload = productsDirectory() + "/cgwarden-testload"
        guard access(testload, X_OK) == 0 else { throw BenchError("no \(testload): build the cgwarden-testload product") }
        var c = KillHelperClient.Configuration()
        c.executable = cgwarden
        c.requestTimeout = .seconds(60)
        let helper: KillHelperClient
        do { helper = try KillHelperClient(c) } catch { throw BenchError("\(error)") }
        let top = "/sys/fs/cgroup/cgw-bench-kill-\(getpid())"
        guard mkdir(top, 0o755) == 0 else { throw BenchError("mkdir \(top): \(String(cString: strerror(errno)))") }
        defer { rmdir(top) }
        write(top + "/cgroup.subtree_control", "+memory +pids")
        var n = 0
        func group() -> String {
            n += 1
            let d = top + "/g\(n)"
            mkdir(d, 0o755)
            return d
        }

        // One kill first, not counted: the helper's first request pays for lazy
        // initialisation (the first group's files, page faults in its code).
        do {
            let d = group()
            let loader = try spawn([testload, "fork", "--cgroup", d, "--count", "0", "--hold-s", "600"])
            guard wait(seconds: 60, { procs(d) == 1 }) else { throw BenchError("warm-up group did not start") }
            _ = try measure(helper, d, fallback: false)
            reap(loader)
            remove(d)
        }
        print("# kill: request to `populated 0`, ms (median of alternated runs; min-max); through the helper, release build")
        print("# kernel \(WalkBenchmark.uname()), \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) CPUs")
        print("")
        print("| group | runs | cgroup.kill | in the helper | freeze+SIGKILL fallback | in the helper | fallback / cgroup.kill | fallback rounds, signals |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for size in sizes {
            let runs = reps ?? (size >= 1000 ? 5 : 11)
            var kill: [Sample] = [], fallback: [Sample] = []
            for r in 0..<(2 * runs) {
                let useFallback = r % 2 == 1
                let d = group()
                write(d + "/pids.max", String(size + 16))
                let loader = try spawn([testload, "fork", "--cgroup", d, "--count", String(size - 1), "--hold-s", "600"])
                guard wait(seconds: 600, { procs(d) == size }) else { throw BenchError("\(d): \(procs(d)) of \(size) processes") }
                let s = try measure(helper, d, fallback: useFallback)
                if useFallback { fallback.append(s) } else { kill.append(s) }
                reap(loader)
                remove(d)
            }
            row("\(size) sleeping", runs, kill, fallback)
        }
        if forkLoop > 0 {
            let runs = reps ?? 5
            var kill: [Sample] = [], fallback: [Sample] = []
            for r in 0..<(2 * runs) {
                let useFallback = r % 2 == 1
                let d = group()
                write(d + "/pids.max", String(forkLoop))
                let loader = try spawn([testload, "forkloop", "--cgroup", d, "--hold-s", "600"])
                guard wait(seconds: 600, { pidsCurrent(d) >= forkLoop * 9 / 10 }) else { throw BenchError("\(d): the fork loop stalled") }
                let s = try measure(helper, d, fallback: useFallback)
                if useFallback { fallback.append(s) } else { kill.append(s) }
                reap(loader)
                remove(d)
            }
            row("fork loop at pids.max \(forkLoop)", runs, kill, fallback)
        }
    }

    static func measure(_ helper: KillHelperClient, _ dir: String, fallback: Bool) throws -> Sample {
        let path = CgroupPath(String(dir.dropFirst("/sys/fs/cgroup".count)))!
        guard case .success(let t) = CgroupResolution.target(path, root: "/sys/fs/cgroup") else { throw BenchError("resolve \(dir)") }
        var outcome = KillOutcome.failed(.unavailable("not run"))
        let us = time { outcome = helper.kill(t, timeout: .seconds(120), forceFallback: fallback) }
        guard case .killed(let r) = outcome else { throw BenchError("\(dir): \(outcome)") }
        guard readText(dir + "/cgroup.events").contains("populated 0") else { throw BenchError("\(dir) still populated") }
        return Sample(roundTripMs: us / 1000, helperMs: Double(r.durationNanos) / 1e6, rounds: Int(r.rounds), signalled: Int(r.signalled))
    }

    static func row(_ name: String, _ runs: Int, _ k: [Sample], _ f: [Sample]) {
        func cell(_ xs: [Double]) -> String {
            "\(fmt(median(xs))) (\(fmt(xs.min() ?? 0))-\(fmt(xs.max() ?? 0)))"
        }
        let km = median(k.map(\.roundTripMs)), fm = median(f.map(\.roundTripMs))
        let rounds = "\(Int(median(f.map { Double($0.rounds) }))), \(Int(median(f.map { Double($0.signalled) })))"
        print("| \(name) | \(runs) + \(runs) | \(cell(k.map(\.roundTripMs))) | \(fmt(median(k.map(\.helperMs)))) | \(cell(f.map(\.roundTripMs))) | \(fmt(median(f.map(\.helperMs)))) | \(fmt(fm / km, 2)) | \(rounds) |")
    }

    // MARK: processes and files

    static func spawn(_ argv: [String]) throws -> pid_t {
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        var cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cargs, environ)
        guard rc == 0 else { throw BenchError("spawn \(argv[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    static func reap(_ pid: pid_t) {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// Removes a group once its last process has been reaped (by its parent or by init).
    static func remove(_ dir: String) {
        _ = wait(seconds: 30) { rmdir(dir) == 0 || errno == ENOENT }
    }

    static func procs(_ dir: String) -> Int { readText(dir + "/cgroup.procs").split(separator: "\n").count }

    static func pidsCurrent(_ dir: String) -> Int {
        Int(readText(dir + "/pids.current").split(separator: "\n").first ?? "") ?? 0
    }

    static func wait(seconds: Double, _ condition: () -> Bool) -> Bool {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let deadline = Double(ts.tv_sec) + seconds
        while true {
            if condition() { return true }
            clock_gettime(CLOCK_MONOTONIC, &ts)
            if Double(ts.tv_sec) > deadline { return false }
            usleep(20_000)
        }
    }

    static func readText(_ path: String) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func write(_ path: String, _ value: String) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = value.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
    }

    static func productsDirectory() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        let exe = String(decoding: buf[0..<max(n, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(exe[..<(exe.lastIndex(of: "/") ?? exe.endIndex)])
    }
}
