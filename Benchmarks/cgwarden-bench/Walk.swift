#if canImport(Glibc)
import Glibc
#endif
import CShims
import CGWardenCore
import CGWardenIO

/// `cgwarden-bench walk`: snapshot cost per cgroup on real cgroupfs, beside
/// the floor (the simplest loop reading the same files).
enum WalkBenchmark {
    /// The files `status` reads for a group with the memory controller.
    static let files = CgroupFile.files(for: .status, memory: true).map(\.name)

    static func run(sizes: [Int], cgwarden: String?) throws {
        print("# snapshot of the `status` fields (\(files.count) files per group), µs per cgroup")
        print("# kernel \(uname()), \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) CPUs; median of alternated runs")
        print("")
        print("| groups | first: cgwarden | first: floor (open+read+close) | ratio | repeated: cgwarden | repeated: floor (pread, fds open) | ratio |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        var rssLines: [String] = []
        var kernelLines: [String] = []
        for n in sizes {
            let tree = try BenchTree(groups: n)
            defer { tree.remove() }
            let subtree = CgroupPath(tree.relative)!
            let reps = n <= 100 ? 41 : n <= 1000 ? 11 : 5

            // First snapshot: a fresh walker each time (nothing kept open).
            var ours: [Double] = [], floor: [Double] = []
            for _ in 0..<reps {
                ours.append(time { _ = try? Walker(root: "/sys/fs/cgroup").walk(subtree: subtree, fields: .status) })
                floor.append(time { tree.floorOpenReadClose() })
            }
            // Repeated snapshot: the sampler and the floor both hold every descriptor.
            let available0 = meminfo("MemAvailable")
            let sampler = Sampler(root: "/sys/fs/cgroup")
            let first = try sampler.sample(subtree: subtree, fields: .status)
            precondition(first.cgroups.count == n + 1 && first.problems.isEmpty, "sampler saw \(first.cgroups.count) groups, \(first.problems)")
            let fds = tree.openAll()
            let available1 = meminfo("MemAvailable")
            var ours2: [Double] = [], floor2: [Double] = []
            for _ in 0..<reps {
                ours2.append(time { _ = try? sampler.sample(subtree: subtree, fields: .status) })
                floor2.append(time { tree.floorPread(fds) })
            }
            tree.closeAll(fds)
            let m1 = median(ours) / Double(n + 1), f1 = median(floor) / Double(n + 1)
            let m2 = median(ours2) / Double(n + 1), f2 = median(floor2) / Double(n + 1)
            print("| \(n) | \(fmt(m1)) | \(fmt(f1)) | \(fmt(m1 / f1, 2)) | \(fmt(m2)) | \(fmt(f2)) | \(fmt(m2 / f2, 2)) |")
            let held = sampler.openDescriptors + fds.reduce(0) { $0 + $1.count }
            if available0 > available1 {
                kernelLines.append("- \(n) groups: \(held) descriptors held (sampler + floor) took \((available0 - available1) >> 20) MiB of MemAvailable (\((available0 - available1) / UInt64(max(held, 1))) bytes each)")
            }
            if let cgwarden {
                rssLines.append("- `cgwarden status --json` over \(n + 1) groups: peak RSS \(peakRSS([cgwarden, "status", "--json", "/" + tree.relative]) / 1024) MiB")
            }
        }
        print("")
        for l in kernelLines { print(l) }
        for l in rssLines { print(l) }
    }

    static func uname() -> String {
        var u = utsname()
        Glibc.uname(&u)
        return withUnsafeBytes(of: u.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    }

    static func meminfo(_ key: String) -> UInt64 {
        (try? ProcReader().system()).map { key == "MemAvailable" ? $0.meminfo.memAvailable : ($0.meminfo.all[key] ?? 0) } ?? 0
    }
}

/// A hierarchy of N cgroups, 5 levels deep, each with the memory controller.
final class BenchTree {
    let relative: String
    let dir: String
    /// Absolute directory of every group, parents first; the top included.
    private(set) var groups: [String] = []

    init(groups n: Int) throws {
        relative = "cgw-bench-\(n)-\(getpid())"
        dir = "/sys/fs/cgroup/" + relative
        guard mkdir(dir, 0o755) == 0 else { throw BenchError("mkdir \(dir): \(String(cString: strerror(errno)))") }
        groups = [dir]
        // Breadth-first with a branching factor b where b + ... + b^5 >= n.
        var b = 1
        while (1...5).reduce(0, { $0 + Int(pow(Double(b), Double($1))) }) < n { b += 1 }
        var frontier = [dir]
        var made = 0
        level: for _ in 1...5 {
            var next: [String] = []
            for parent in frontier {
                write(parent + "/cgroup.subtree_control", "+memory +pids")
                for i in 0..<b {
                    guard made < n else { break level }
                    let d = parent + "/g\(i)"
                    guard mkdir(d, 0o755) == 0 else { throw BenchError("mkdir \(d): \(String(cString: strerror(errno)))") }
                    next.append(d)
                    groups.append(d)
                    made += 1
                }
            }
            frontier = next
        }
    }

    func remove() {
        for d in groups.reversed() { rmdir(d) }
    }

    /// The floor of a first snapshot: open, read to EOF, close, per file.
    func floorOpenReadClose() {
        var buf = [UInt8](repeating: 0, count: 16384)
        buf.withUnsafeMutableBytes { b in
            for g in groups {
                for f in WalkBenchmark.files {
                    let fd = open(g + "/" + f, O_RDONLY | O_CLOEXEC)
                    if fd < 0 { continue }
                    while read(fd, b.baseAddress, b.count) > 0 {}
                    close(fd)
                }
            }
        }
    }

    func openAll() -> [[Int32]] {
        groups.map { g in WalkBenchmark.files.map { open(g + "/" + $0, O_RDONLY | O_CLOEXEC) }.filter { $0 >= 0 } }
    }

    func closeAll(_ fds: [[Int32]]) {
        for g in fds { for fd in g { close(fd) } }
    }

    /// The floor of a repeated snapshot: one pread per file on kept descriptors.
    func floorPread(_ fds: [[Int32]]) {
        var buf = [UInt8](repeating: 0, count: 16384)
        buf.withUnsafeMutableBytes { b in
            for g in fds { for fd in g { _ = pread(fd, b.baseAddress, b.count, 0) } }
        }
    }

    private func write(_ path: String, _ value: String) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = value.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
    }
}
