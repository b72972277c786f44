// cgwarden-bench: reproducible benchmarks on a real kernel (run through
// scripts/bench, which boots the cgroup v2 VM). Prints Markdown tables.
//
//   cgwarden-bench walk [--sizes 100,1000,10000] [--cgwarden PATH]
//   cgwarden-bench policy [--groups 10000]
//   cgwarden-bench kill --cgwarden PATH [--sizes 1,100,1000]
//   cgwarden-bench daemon-reaction --cgwarden PATH [--trials 20] [--rates 32,max] [--limits 64,256] [--high-limits 64]
//                                  [--compare PATH --compare-name NAME]
//   cgwarden-bench daemon-idle --cgwarden PATH [--also PATH] [--sizes 0,100,1000] [--near-at 100] [--churn-minutes 10]
//   cgwarden-bench store [--dir DIR] [--events 20000]   (no cgroups: the host too)
//   cgwarden-bench pods [--entries 110,1000,20000]   (a directory in /tmp; no VM needed)
//   cgwarden-bench metrics [--groups 1000] [--cgwarden PATH]
#if canImport(Glibc)
import Glibc
#endif
import CShims
import CGWardenIO
import CGWardenCore

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func time(_ body: () -> Void) -> Double {
    var a = timespec(), b = timespec()
    clock_gettime(CLOCK_MONOTONIC, &a)
    body()
    clock_gettime(CLOCK_MONOTONIC, &b)
    return Double(b.tv_sec - a.tv_sec) * 1e6 + Double(b.tv_nsec - a.tv_nsec) / 1e3
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : s[s.count / 2]
}

func fmt(_ x: Double, _ decimals: Int = 1) -> String { Units.decimal(x, decimals: decimals) }

/// Peak RSS (KiB) of a command run to its end with output discarded.
func peakRSS(_ argv: [String]) -> Int {
    var pid: pid_t = 0
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    var cargs = argv.map { strdup($0) } + [nil]
    defer { cargs.forEach { free($0) }; posix_spawn_file_actions_destroy(&actions) }
    guard posix_spawn(&pid, argv[0], &actions, nil, &cargs, environ) == 0 else { return -1 }
    var status: Int32 = 0
    var usage = rusage()
    _ = wait4(pid, &status, 0, &usage)
    return usage.ru_maxrss
}

/// Refuses to build cgroups anywhere but on a real cgroup2 mount in the VM.
func requireCgroup2VM() {
    let fd = open("/sys/fs/cgroup", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    let ok = fd >= 0 && cgw_fstatfs_type(fd) == CGW_CGROUP2_SUPER_MAGIC
        && getenv("IN_CGROUP2_VM").map({ String(cString: $0) }) == "1"
    if fd >= 0 { close(fd) }
    if !ok {
        fail("/sys/fs/cgroup is not cgroup2 in the test VM; run it through scripts/bench", status: 2)
    }
}

/// Many kept-open descriptors: raise the soft limit (and, as root, the hard one).
func raiseDescriptorLimit() {
    var l = rlimit()
    getrlimit(RLIMIT_NOFILE_, &l)
    l.rlim_max = max(l.rlim_max, 1 << 20)
    l.rlim_cur = l.rlim_max
    if setrlimit(RLIMIT_NOFILE_, &l) != 0 {
        getrlimit(RLIMIT_NOFILE_, &l)
        l.rlim_cur = l.rlim_max
        setrlimit(RLIMIT_NOFILE_, &l)
    }
}
let RLIMIT_NOFILE_ = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)

func fail(_ message: String, status: Int32 = 1) -> Never {
    let line = "cgwarden-bench: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(status)
}

func main() {
    var args = Array(CommandLine.arguments.dropFirst())
    let command = args.isEmpty ? "walk" : args.removeFirst()
    func option(_ name: String) -> String? {
        guard let i = args.firstIndex(of: "--" + name), i + 1 < args.count else { return nil }
        return args[i + 1]
    }
    if command == "policy-profile" {
        do { try PolicyBenchmark.profile(groups: Int(option("groups") ?? "10000") ?? 10000, times: Int(option("times") ?? "5") ?? 5) } catch { fail("\(error)") }
        return
    }
    if command == "profile" {
        // Reads only: repeated samples of any tree (a fixture), for perf or callgrind.
        guard let root = option("root") else { fail("profile needs --root DIR", status: 2) }
        raiseDescriptorLimit()
        let sampler = Sampler(root: root)
        let times = Int(option("times") ?? "100") ?? 100
        // --fields status (default), daemon (what `cgwarden run` reads) or policy.
        let fields: SnapshotFields = switch option("fields") {
        case "daemon": .daemon
        case "policy": .policy
        default: .status
        }
        var groups = 0
        let us = time { for _ in 0..<times { groups = (try? sampler.sample(fields: fields))?.cgroups.count ?? 0 } }
        print("\(groups) groups, \(fmt(us / Double(times * max(groups, 1)))) µs per group per sample")
        return
    }
    if command == "store" {
        let dir = option("dir") ?? "/var/tmp/cgwarden-bench-store"
        mkdir(dir, 0o755)
        do { try StoreBenchmark.run(dir: dir, events: max(100, Int(option("events") ?? "20000") ?? 20000)) } catch { fail("\(error)") }
        return
    }
    if command == "pods" {
        // A directory in /tmp, no cgroup: runs on any machine.
        let sizes = (option("entries") ?? "110,1000,20000").split(separator: ",").compactMap { Int($0) }.filter { $0 >= 0 && $0 <= 100_000 }
        do { try PodsBenchmark.run(entries: sizes) } catch { fail("\(error)") }
        return
    }
    requireCgroup2VM()
    raiseDescriptorLimit()
    do {
        switch command {
        case "policy":
            try PolicyBenchmark.run(groups: Int(option("groups") ?? "10000") ?? 10000)
        case "metrics":
            try MetricsBenchmark.run(groups: Int(option("groups") ?? "1000") ?? 1000, cgwarden: option("cgwarden"))
        case "walk":
            let sizes = (option("sizes") ?? "100,1000,10000").split(separator: ",").compactMap { Int($0) }
            try WalkBenchmark.run(sizes: sizes, cgwarden: option("cgwarden"))
        case "kill":
            let sizes = (option("sizes") ?? "1,100,1000").split(separator: ",").compactMap { Int($0) }.filter { $0 >= 1 && $0 <= 4000 }
            try KillBenchmark.run(sizes: sizes, reps: option("reps").flatMap { Int($0) }, cgwarden: option("cgwarden"),
                                  forkLoop: min(Int(option("fork-loop") ?? "1000") ?? 1000, 4000))
        case "daemon-reaction":
            guard let cgwarden = option("cgwarden") else { fail("daemon-reaction needs --cgwarden PATH", status: 2) }
            try DaemonBenchmark.reaction(cgwarden: cgwarden, compare: option("compare").map { (name: option("compare-name") ?? "other build", path: $0) },
                                         trials: max(1, Int(option("trials") ?? "20") ?? 20),
                                         rates: (option("rates") ?? "32,max").split(separator: ",").compactMap { $0 == "max" ? 0 : Int($0) }.filter { $0 >= 0 },
                                         limits: (option("limits") ?? "64,256").split(separator: ",").compactMap { Int($0) }.map { min(max($0, 16), 1024) },
                                         highLimits: (option("high-limits") ?? "64").split(separator: ",").compactMap { Int($0) }.map { min(max($0, 32), 1024) },
                                         thresholdPercent: min(max(Int(option("threshold") ?? "80") ?? 80, 10), 85))
        case "daemon-idle":
            guard let cgwarden = option("cgwarden") else { fail("daemon-idle needs --cgwarden PATH", status: 2) }
            var binaries = [(name: option("cgwarden-name") ?? "shared", path: cgwarden)]
            // --also A,B --also-name a,b: more builds, measured side by side.
            if let also = option("also") {
                let names = (option("also-name") ?? "static").split(separator: ",").map(String.init)
                for (i, path) in also.split(separator: ",").enumerated() {
                    binaries.append((name: i < names.count ? names[i] : "build \(i + 2)", path: String(path)))
                }
            }
            try DaemonBenchmark.idle(binaries: binaries,
                                     sizes: (option("sizes") ?? "0,100,1000").split(separator: ",").compactMap { Int($0) }.filter { $0 >= 0 && $0 <= 20_000 },
                                     nearAt: Int(option("near-at") ?? "100"),
                                     seconds: max(5, Int(option("seconds") ?? "60") ?? 60),
                                     churnMinutes: max(0, Int(option("churn-minutes") ?? "10") ?? 10),
                                     churnPerSecond: min(max(Int(option("churn-per-second") ?? "100") ?? 100, 1), 1000))
        default:
            fail("unknown benchmark \(command)", status: 2)
        }
    } catch {
        fail("\(error)")
    }
}

main()
