#if canImport(Glibc)
import Glibc
#endif

/// A temporary directory, removed with its contents on `remove()`.
public final class TempDir: @unchecked Sendable {
    public let path: String

    public init(_ prefix: String = "cgwarden-test") {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(p != nil, "mkdtemp failed")
        path = String(cString: p!)
    }

    public func remove() { removeTree(path) }
}

/// Removes a directory tree (test fixtures only: refuses anything outside /tmp).
/// Names are handled as bytes: fixtures have names that are not UTF-8.
public func removeTree(_ path: String) {
    precondition(path.hasPrefix("/tmp/"), "refusing to remove \(path)")
    removeTree(bytes: Array(path.utf8))
}

private func removeTree(bytes path: [UInt8]) {
    let c = path.map { CChar(bitPattern: $0) } + [0]
    var st = stat()
    guard lstat(c, &st) == 0 else { return }
    guard st.st_mode & S_IFMT == S_IFDIR else { unlink(c); return }
    let fd = open(c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    if fd >= 0 { removeContents(fd) }
    rmdir(c)
}

/// Empties the directory `fd` (and closes it), relative to descriptors:
/// fixtures may be deeper than PATH_MAX.
private func removeContents(_ fd: Int32) {
    guard let d = fdopendir(fd) else { close(fd); return }
    var entries: [([CChar], Bool)] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
        if name == [0x2e] || name == [0x2e, 0x2e] { continue }
        entries.append((name.map { CChar(bitPattern: $0) } + [0], e.pointee.d_type == UInt8(DT_DIR)))
    }
    for (name, isDir) in entries {
        if isDir {
            let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if child >= 0 { removeContents(child) }
            unlinkat(fd, name, AT_REMOVEDIR)
        } else {
            unlinkat(fd, name, 0)
        }
    }
    closedir(d)
}

/// Creates `path` and its parents.
public func makeDirectories(_ path: String) {
    var current = ""
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
        current += "/" + part
        mkdir(current, 0o755)
    }
}

/// Writes a whole file (creating or truncating it).
public func writeFile(_ path: String, _ content: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    precondition(fd >= 0, "cannot write \(path): \(String(cString: strerror(errno)))")
    defer { close(fd) }
    var s = content
    s.withUTF8 { b in
        var off = 0
        while off < b.count {
            let n = write(fd, b.baseAddress! + off, b.count - off)
            precondition(n > 0)
            off += n
        }
    }
}

/// Reads a whole file, nil when it cannot be read.
public func readFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return nil }
        if n == 0 { break }
        out += buf[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

/// The repository's top directory, found from this source file's path.
public func repositoryRoot() -> String {
    // This file is .../Tests/Support/TestSupport/Fixtures.swift.
    let file: String = #filePath
    var parts = file.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(4)
    return parts.joined(separator: "/")
}

/// One cgroup's control files as a fixture writes them. Values are the text
/// the kernel would show (`max` or a number).
public struct FixtureGroup {
    public var current: String? = "0"
    public var max: String? = "max"
    public var high: String? = "max"
    public var low: String? = "0"
    public var min: String? = "0"
    public var peak: String? = "0"
    public var swapCurrent: String? = "0"
    public var swapMax: String? = "max"
    public var events: String? = FixtureGroup.events()
    public var eventsLocal: String? = FixtureGroup.events()
    public var pressure: String? = FixtureGroup.pressure()
    public var procs: [Int32] = []
    public var populated: Bool? = nil
    /// What this group enables for its children (`cgroup.subtree_control`).
    public var subtreeControl = "memory pids"
    /// Whether the parent enabled memory for this group (if not, no memory.* files but memory.pressure).
    public var memoryEnabled = true

    public init() {}

    public static func events(high: UInt64 = 0, max: UInt64 = 0, oom: UInt64 = 0, oomKill: UInt64 = 0,
                              oomGroupKill: UInt64 = 0) -> String {
        "low 0\nhigh \(high)\nmax \(max)\noom \(oom)\noom_kill \(oomKill)\noom_group_kill \(oomGroupKill)\n"
    }

    public static func pressure(some: String = "0.00", full: String = "0.00") -> String {
        "some avg10=\(some) avg60=0.00 avg300=0.00 total=0\nfull avg10=\(full) avg60=0.00 avg300=0.00 total=0\n"
    }
}

/// A fake cgroupfs tree in a temporary directory, built in code.
public final class FixtureTree: @unchecked Sendable {
    public let dir: TempDir
    public var root: String { dir.path + "/cgroup" }
    public var proc: String { dir.path + "/proc" }

    /// An empty root with the memory controller, and a /proc with meminfo,
    /// vmstat and pressure/memory.
    public init(memTotalKB: UInt64 = 2_010_028, memAvailableKB: UInt64 = 1_500_000, oomKill: UInt64 = 0) {
        dir = TempDir("cgwarden-fixture")
        makeDirectories(root)
        writeFile(root + "/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
        writeFile(root + "/cgroup.subtree_control", "memory pids\n")
        writeFile(root + "/cgroup.procs", "1\n")
        writeFile(root + "/memory.pressure", FixtureGroup.pressure())
        writeFile(root + "/memory.stat", "anon 0\nfile 0\n")
        makeDirectories(proc + "/pressure")
        writeFile(proc + "/meminfo", """
            MemTotal:       \(memTotalKB) kB
            MemFree:        \(memAvailableKB) kB
            MemAvailable:   \(memAvailableKB) kB
            SwapTotal:             0 kB
            SwapFree:              0 kB

            """)
        writeFile(proc + "/vmstat", "nr_free_pages 1000\noom_kill \(oomKill)\n")
        writeFile(proc + "/pressure/memory", FixtureGroup.pressure())
    }

    deinit { dir.remove() }

    /// Adds (or rewrites) a group at `path` (e.g. "/tenants.slice/a.slice"); parents must exist.
    @discardableResult
    public func add(_ path: String, _ g: FixtureGroup = FixtureGroup()) -> String {
        let d = root + path
        makeDirectories(d)
        func put(_ name: String, _ value: String?) {
            if let value { writeFile(d + "/" + name, value.hasSuffix("\n") ? value : value + "\n") }
        }
        put("cgroup.controllers", g.memoryEnabled ? "memory pids" : "pids")
        put("cgroup.subtree_control", g.subtreeControl)
        put("cgroup.procs", g.procs.map { "\($0)\n" }.joined())
        put("cgroup.events", "populated \((g.populated ?? !g.procs.isEmpty) ? 1 : 0)\nfrozen 0")
        put("memory.pressure", g.pressure)
        if g.memoryEnabled {
            put("memory.current", g.current)
            put("memory.max", g.max)
            put("memory.high", g.high)
            put("memory.low", g.low)
            put("memory.min", g.min)
            put("memory.peak", g.peak)
            put("memory.swap.current", g.swapCurrent)
            put("memory.swap.max", g.swapMax)
            put("memory.events", g.events)
            put("memory.events.local", g.eventsLocal)
            put("memory.stat", "anon \(g.current ?? "0")\nfile 0\nshmem 0\nkernel 0\n")
        }
        return d
    }

    /// Adds a group named by raw bytes below `parent` (names that are not
    /// UTF-8): a directory with cgroup.procs, cgroup.events and memory.current.
    @discardableResult
    public func add(bytes name: [UInt8], below parent: String, procs: [Int32] = [], current: UInt64 = 4096) -> [UInt8] {
        let d = Array((root + parent).utf8) + [0x2f] + name
        func c(_ b: [UInt8]) -> [CChar] { b.map { CChar(bitPattern: $0) } + [0] }
        precondition(mkdir(c(d), 0o755) == 0, "mkdir failed")
        for (file, value) in [("cgroup.procs", procs.map { "\($0)\n" }.joined()),
                              ("cgroup.events", "populated \(procs.isEmpty ? 0 : 1)\nfrozen 0\n"),
                              ("cgroup.controllers", "memory pids\n"), ("memory.current", "\(current)\n")] {
            let fd = open(c(d + Array(("/" + file).utf8)), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            precondition(fd >= 0, "create failed")
            _ = value.withCString { Glibc.write(fd, $0, strlen($0)) }
            close(fd)
        }
        return d
    }

    /// Adds a chain of groups below `parent`, one per name, each made
    /// relative to its parent's descriptor: the chain may go past PATH_MAX.
    public func addChain(_ names: [String], below parent: String) {
        var fd = open(root + parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        precondition(fd >= 0, "open \(parent) failed")
        for name in names {
            precondition(mkdirat(fd, name, 0o755) == 0, "mkdirat failed")
            let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            precondition(child >= 0, "openat failed")
            close(fd)
            fd = child
            for (file, value) in [("cgroup.procs", ""), ("cgroup.events", "populated 0\nfrozen 0\n"),
                                  ("cgroup.controllers", "memory pids\n"), ("memory.current", "4096\n")] {
                let f = openat(fd, file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                precondition(f >= 0, "create failed")
                _ = value.withCString { Glibc.write(f, $0, strlen($0)) }
                close(f)
            }
        }
        close(fd)
    }

    /// Sets what a group enables for its children.
    public func setSubtreeControl(_ path: String, _ value: String) {
        writeFile(root + path + "/cgroup.subtree_control", value + "\n")
    }

    /// Adds a fake process to the /proc fixture.
    public func addProcess(pid: Int32, command: String, rssPages: UInt64, oomScore: Int, oomScoreAdj: Int) {
        let d = proc + "/\(pid)"
        makeDirectories(d)
        writeFile(d + "/comm", command + "\n")
        writeFile(d + "/statm", "1000 \(rssPages) 100 10 0 200 0\n")
        writeFile(d + "/oom_score", "\(oomScore)\n")
        writeFile(d + "/oom_score_adj", "\(oomScoreAdj)\n")
    }
}
