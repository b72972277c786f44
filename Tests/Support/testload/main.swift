// cgwarden-testload: a bounded load for real-kernel tests and the demo.
// It only ever runs inside the cgroup v2 VM; it refuses to join a cgroup that
// is not on a cgroup2 file system (on a hybrid host /sys/fs/cgroup is a tmpfs
// and a "limit" there limits nothing).
//
//   cgwarden-testload alloc --cgroup DIR --mib N [--step-mib S] [--interval-ms T] [--hold-s H]
//                           [--touch all|page] [--trace FILE] [--trace-cgroup DIR2]
//                           [--mark-bytes B --mark-file FILE]
//       join DIR, allocate and touch N MiB in steps of S MiB every T ms, hold H s, exit 0.
//       --touch page writes one byte per 4 KiB page instead of every byte: as
//       resident, and ~3x faster under emulation (with transparent huge pages
//       one fault fills 2 MiB). --trace appends a line after every step:
//       "<CLOCK_MONOTONIC ns> <MiB allocated> <memory.current of DIR (or DIR2)> <MemAvailable bytes>"
//       (-1 where unreadable), to time what a guard saw against what was allocated.
//       With --mark-bytes, append to FILE the CLOCK_MONOTONIC time (ns) at which DIR's
//       memory.current reached B bytes: "after N" (read after each 64 KiB touched), and
//       before it "before N" (written before the 64 KiB that could reach it, the memory
//       controller charging up to 256 KiB at once), for when the process is killed first
//   cgwarden-testload sleep --cgroup DIR [--hold-s H]
//       join DIR and sleep
//   cgwarden-testload spawn --cgroup DIR --count N [--hold-s H]
//       join DIR, start N sleeping children (posix_spawn of itself), sleep
//   cgwarden-testload fork --cgroup DIR --count N [--hold-s H]
//       the same with fork() (no exec: cheap enough for 1,000 children under emulation)
//   cgwarden-testload forkloop --cgroup DIR [--hold-s H]
//       every process forks as fast as it can, forever: a fork bomb, run only in
//       a group whose pids.max is a number of at most 5000; each process exits
//       after H seconds (default 120)
//   cgwarden-testload exec --cgroup DIR -- PROGRAM [ARGS...]
//       join DIR and exec PROGRAM (to run a command inside a cgroup)
#if canImport(Glibc)
import Glibc
#endif
import CShims

/// Hard ceiling of any allocation: even if a limit fails to apply, the
/// allocator stops here (the VM has 2 GiB by default).
let maxMiB = 3072
/// Hard ceiling of spawned children.
let maxChildren = 5000

func fail(_ message: String) -> Never {
    let s = "cgwarden-testload: \(message)\n"
    _ = s.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

var args = Array(CommandLine.arguments.dropFirst())
guard let mode = args.first else { fail("usage: alloc|sleep|spawn|fork|forkloop|exec --cgroup DIR ...") }
args.removeFirst()
var command: [String] = []
if let dash = args.firstIndex(of: "--") {
    command = Array(args[(dash + 1)...])
    args = Array(args[..<dash])
}
var options: [String: String] = [:]
var i = 0
while i < args.count {
    guard args[i].hasPrefix("--"), i + 1 < args.count else { fail("bad argument \(args[i])") }
    options[String(args[i].dropFirst(2))] = args[i + 1]
    i += 2
}
@MainActor func int(_ key: String, _ def: Int? = nil) -> Int {
    if let v = options[key] {
        guard let n = Int(v), n >= 0 else { fail("--\(key) needs a number, not \(v)") }
        return n
    }
    guard let def else { fail("--\(key) is required") }
    return def
}

func join(_ dir: String) {
    let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { fail("cannot open \(dir): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    guard cgw_fstatfs_type(fd) == CGW_CGROUP2_SUPER_MAGIC else {
        fail("\(dir) is not on a cgroup2 file system: refusing to run a load outside a real cgroup")
    }
    let procs = openat(fd, "cgroup.procs", O_WRONLY | O_CLOEXEC)
    guard procs >= 0 else { fail("cannot open \(dir)/cgroup.procs: \(String(cString: strerror(errno)))") }
    let pid = "\(getpid())\n"
    let n = pid.withCString { write(procs, $0, strlen($0)) }
    guard n > 0 else { fail("cannot join \(dir): \(String(cString: strerror(errno)))") }
    close(procs)
}

func sleepMillis(_ ms: Int) {
    var ts = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
    var rest = timespec()
    while nanosleep(&ts, &rest) < 0 && errno == EINTR { ts = rest }
}

/// A small kernel file's text (nil when unreadable).
func readSmall(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buf = [UInt8](repeating: 0, count: 8192)
    let n = read(fd, &buf, buf.count)
    return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : nil
}

func firstNumber(_ text: String?) -> Int? {
    text.flatMap { Int($0.split(separator: "\n").first ?? "") }
}

/// MemAvailable of /proc/meminfo, in bytes.
func memAvailable() -> Int? {
    guard let text = readSmall("/proc/meminfo") else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
        let f = line.split(separator: " ")
        if f.count >= 2, let kib = Int(f[1]) { return kib * 1024 }
    }
    return nil
}

@MainActor func hold() {
    let seconds = int("hold-s", 3600)
    sleepMillis(seconds * 1000)
}

if let dir = options["cgroup"] { join(dir) }

switch mode {
case "alloc":
    let total = int("mib")
    guard total <= maxMiB else { fail("--mib \(total) is above the ceiling of \(maxMiB)") }
    let step = max(1, int("step-mib", 8))
    let interval = int("interval-ms", 0)
    let perPage: Bool
    switch options["touch"] ?? "all" {
    case "all": perPage = false
    case "page": perPage = true
    case let other: fail("--touch is all or page, not \(other)")
    }
    let trace = options["trace"].map { path -> Int32 in
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { fail("cannot open \(path): \(String(cString: strerror(errno)))") }
        return fd
    }
    // The time the group's usage crosses a threshold (benchmarks of the
    // guard's reaction), read after every 64 KiB touched: late by at most
    // the time to touch 64 KiB. A guard may kill the process within that
    // piece, so a first, early mark is written before a piece that could
    // cross (memory.current moves by up to 256 KiB at once: the controller
    // charges pages to the counter in batches of 64 per CPU).
    var markAt: UInt64? = nil
    var early = true
    var current: Int32 = -1
    if options["mark-bytes"] != nil {
        guard let dir = options["cgroup"], options["mark-file"] != nil else { fail("--mark-bytes needs --cgroup and --mark-file") }
        markAt = UInt64(int("mark-bytes"))
        current = open(dir + "/memory.current", O_RDONLY | O_CLOEXEC)
        guard current >= 0 else { fail("cannot open \(dir)/memory.current: \(String(cString: strerror(errno)))") }
    }
    func usage() -> UInt64 {
        var buf = [UInt8](repeating: 0, count: 32)
        let n = pread(current, &buf, buf.count, 0)
        guard n > 0 else { return 0 }
        return UInt64(String(decoding: buf[0..<n], as: UTF8.self).split(separator: "\n").first ?? "") ?? 0
    }
    func mark(_ kind: String) {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let text = "\(kind) \(UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec))\n"
        // Appended, one write each: a kill between opening and writing the
        // second mark must not lose the first (O_TRUNC did).
        let fd = open(options["mark-file"]!, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { fail("cannot write \(options["mark-file"]!): \(String(cString: strerror(errno)))") }
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }
    let piece = 64 << 10
    let batch: UInt64 = 256 << 10
    var chunks: [UnsafeMutableRawPointer] = []
    var done = 0
    while done < total {
        let n = min(step, total - done)
        let p = malloc(n << 20)!
        // Touch every page: resident, not just reserved; in pieces, for the marks.
        var offset = 0
        while offset < n << 20 {
            let size = min(piece, (n << 20) - offset)
            if let m = markAt, early, usage() + UInt64(size) + batch >= m {
                mark("before")
                early = false
            }
            if perPage {
                let bytes = (p + offset).assumingMemoryBound(to: UInt8.self)
                for o in stride(from: 0, to: size, by: 4096) { bytes[o] = 0x5a }
            } else {
                memset(p + offset, 0x5a, size)
            }
            offset += size
            if let m = markAt, usage() >= m {
                mark("after")
                markAt = nil
            }
        }
        chunks.append(p)
        done += n
        if let trace {
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            let current = (options["trace-cgroup"] ?? options["cgroup"]).flatMap { firstNumber(readSmall($0 + "/memory.current")) } ?? -1
            let line = "\(Int(ts.tv_sec) * 1_000_000_000 + Int(ts.tv_nsec)) \(done) \(current) \(memAvailable() ?? -1)\n"
            _ = line.withCString { write(trace, $0, strlen($0)) }
        }
        if interval > 0 { sleepMillis(interval) }
    }
    hold()
    _ = chunks
case "sleep":
    hold()
case "spawn":
    let count = int("count")
    guard count <= maxChildren else { fail("--count \(count) is above the ceiling of \(maxChildren)") }
    var started = 0
    for _ in 0..<count {
        var pid: pid_t = 0
        let argv: [String] = ["cgwarden-testload", "sleep", "--hold-s", String(int("hold-s", 3600))]
        var cargs = argv.map { strdup($0) } + [nil]
        let rc = posix_spawn(&pid, "/proc/self/exe", nil, nil, &cargs, environ)
        cargs.forEach { free($0) }
        if rc != 0 { break }   // pids.max reached: that is the point of some tests
        started += 1
    }
    let s = "started \(started)\n"
    _ = s.withCString { write(1, $0, strlen($0)) }
    hold()
case "fork":
    let count = int("count")
    guard count <= maxChildren else { fail("--count \(count) is above the ceiling of \(maxChildren)") }
    let holdMillis = int("hold-s", 3600) * 1000
    var started = 0
    for _ in 0..<count {
        let pid = fork()
        if pid == 0 {
            sleepMillis(holdMillis)
            _exit(0)
        }
        if pid < 0 { break }   // pids.max reached
        started += 1
    }
    let s = "started \(started)\n"
    _ = s.withCString { write(1, $0, strlen($0)) }
    hold()
case "forkloop":
    // Bounded by the group's pids.max, which must be set (and small).
    guard let dir = options["cgroup"] else { fail("forkloop needs --cgroup") }
    let fd = open(dir + "/pids.max", O_RDONLY | O_CLOEXEC)
    var buf = [UInt8](repeating: 0, count: 32)
    let n = fd >= 0 ? read(fd, &buf, buf.count) : -1
    if fd >= 0 { close(fd) }
    let text = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "" : ""
    guard let limit = Int(text), limit <= maxChildren else {
        fail("forkloop needs pids.max of \(dir) set to at most \(maxChildren) (it is '\(text)')")
    }
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    let deadline = ts.tv_sec + int("hold-s", 120)
    let s = "forking under pids.max \(limit)\n"
    _ = s.withCString { write(1, $0, strlen($0)) }
    while true {
        clock_gettime(CLOCK_MONOTONIC, &ts)
        if ts.tv_sec >= deadline { _exit(0) }
        if fork() < 0 { sched_yield() }   // at pids.max: try again at once
    }
case "exec":
    guard !command.isEmpty else { fail("exec needs -- PROGRAM [ARGS...]") }
    var cargs = command.map { strdup($0) } + [nil]
    execv(command[0], &cargs)
    fail("exec \(command[0]): \(String(cString: strerror(errno)))")
default:
    fail("unknown mode \(mode)")
}
