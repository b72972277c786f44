#if canImport(Glibc)
import Glibc
#endif
import Testing
import Synchronization
import CGWardenActions
import CGWardenCore
import CGWardenService
import CGWardenTestSupport
import CShims

// MARK: the daemon as a child process

/// `cgwarden run --log json` started as a child of the test: each JSON line
/// of its standard error is an event. The pipe is read on a thread of its own
/// so that the daemon never blocks on a full pipe while a test waits.
final class DaemonRun {
    let pid: pid_t
    let configPath: String
    /// Its event store's directory: its own under /tmp unless `arguments` name one.
    let stateDirectory: String
    private let ownsStateDirectory: Bool
    private let output: DaemonOutput
    private var parsed = 0
    private var events: [JSON] = []
    private var reaped: Termination?
    /// After SIGTERM: when the helper, the launcher and the daemon were gone (s).
    private(set) var stopTimes: (stopping: Double?, helper: Double?, launcher: Double?, daemon: Double)?
    var stopTimesText: String {
        guard let t = stopTimes else { return "-" }
        func ms(_ s: Double?) -> String { s.map { "\(Int($0 * 1000)) ms" } ?? "?" }
        return "stopping event \(ms(t.stopping)), helper gone \(ms(t.helper)), launcher \(ms(t.launcher)), daemon exit \(ms(t.daemon))"
    }

    /// Writes `config` to /tmp and starts the daemon on it.
    init(_ name: String, config: String, arguments: [String] = []) throws {
        configPath = "/tmp/cgwarden-run-\(name)-\(getpid()).toml"
        writeFile(configPath, config)
        var arguments = arguments
        if let i = arguments.firstIndex(of: "--state-dir"), i + 1 < arguments.count {
            stateDirectory = arguments[i + 1]
            ownsStateDirectory = false
        } else {
            stateDirectory = "/tmp/cgwarden-state-\(name)-\(getpid())"
            ownsStateDirectory = true
            removeTree(stateDirectory)
            arguments += ["--state-dir", stateDirectory]
        }
        var fds: [Int32] = [0, 0]
        guard cgw_pipe_cloexec(&fds) == 0 else { throw KernelTestError("pipe2: \(String(cString: strerror(errno)))") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        let argv = [cgwardenBinary, "run", "--config", configPath, "--log", "json"] + arguments
        var cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cargs, environ)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw KernelTestError("spawn \(argv[0]): \(String(cString: strerror(rc)))")
        }
        self.pid = pid
        output = DaemonOutput(fd: fds[0])
        output.startReading()
    }

    deinit {
        if reaped == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        unlink(configPath)
        if ownsStateDirectory { removeTree(stateDirectory) }
    }

    /// Everything it wrote so far (for failure messages).
    var log: String { output.lines.withLock { $0.joined(separator: "\n") } }

    private func refresh() {
        let lines = output.lines.withLock { $0.count > parsed ? Array($0[parsed...]) : [] }
        parsed += lines.count
        for line in lines {
            if let j = try? JSON.parse(line), j.kind != nil { events.append(j) }
        }
    }

    /// Its events so far, of one kind.
    func events(_ kind: String) -> [JSON] {
        refresh()
        return events.filter { $0.kind == kind }
    }

    /// The number of events so far: `after` for a later `waitFor`.
    var eventCount: Int {
        refresh()
        return events.count
    }

    /// The first event of `kind` (past the first `after` events) that `match`
    /// accepts; nil when none came within `seconds` or the daemon ended.
    func waitFor(_ kind: String, seconds: Double = 60, after: Int = 0, _ match: (JSON) -> Bool = { _ in true }) -> JSON? {
        var found: JSON?
        _ = waitUntil(seconds: seconds) {
            refresh()
            found = events.dropFirst(after).first { $0.kind == kind && match($0) }
            return found != nil || exited
        }
        return found
    }

    /// Waits for the `started` event (the helper spawned, privileges dropped).
    func started() throws {
        guard waitFor("started", seconds: 60) != nil else {
            throw KernelTestError("the daemon did not start (\(reaped.map { "\($0)" } ?? "still running")):\n\(log)")
        }
    }

    var exited: Bool {
        if reaped != nil { return true }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { reaped = Termination(waitStatus: status) }
        return reaped != nil
    }

    func signal(_ s: Int32) { kill(pid, s) }

    /// SIGTERM, then how it ended and how long that took (status nil: still
    /// running after 10 s), and when its helper and launcher were gone.
    func stop() -> (status: Termination?, seconds: Double) {
        if let reaped { return (reaped, 0) }
        let helper = helperPID, launcher = launcherPID
        var helperGone: Double?, launcherGone: Double?
        func gone(_ p: pid_t?) -> Bool {
            guard let p, let stat = readFile("/proc/\(p)/stat"), let close = stat.lastIndex(of: ")") else { return true }
            return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
        }
        let start = monotonicSeconds()
        kill(pid, SIGTERM)
        var status: Int32 = 0
        while monotonicSeconds() - start < 10 {
            if helperGone == nil && gone(helper) { helperGone = monotonicSeconds() - start }
            if launcherGone == nil && gone(launcher) { launcherGone = monotonicSeconds() - start }
            if waitpid(pid, &status, WNOHANG) == pid {
                reaped = Termination(waitStatus: status)
                break
            }
            usleep(1000)
        }
        let took = monotonicSeconds() - start
        // Its last lines (the helper and launcher share the pipe: they leave with it).
        _ = waitUntil(seconds: 3) { output.ended.load(ordering: .acquiring) }
        refresh()
        let stopping = events.first { $0.kind == "stopping" }.map { Double($0.monotonicNanos) / 1e9 - start }
        stopTimes = (stopping, helperGone, launcherGone, took)
        if getenv("CGWARDEN_RUN_LOG") != nil { print("--- cgwarden run \(configPath), SIGTERM at \(UInt64(start * 1e9)):\n\(log)\n---") }
        return (reaped, took)
    }

    /// The launcher (its child, root) and the helper now serving it (the
    /// launcher's child): found in /proc, as an operator would.
    var launcherPID: pid_t? {
        processTable().first { $0.ppid == pid && $0.args.contains("kill-helper") && $0.args.contains("--launcher") }?.pid
    }

    /// What its descriptors point to (/proc/PID/fd).
    func openFiles() throws -> [String] {
        guard let d = opendir("/proc/\(pid)/fd") else { throw KernelTestError("/proc/\(pid)/fd: \(String(cString: strerror(errno)))") }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            var buf = [CChar](repeating: 0, count: 4096)
            let n = readlink("/proc/\(pid)/fd/\(name)", &buf, buf.count - 1)
            if n > 0 { out.append(String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
        }
        return out
    }

    var helperPID: pid_t? {
        guard let launcher = launcherPID else { return nil }
        return processTable().first { $0.ppid == launcher && $0.state != "Z" && $0.args.contains("kill-helper") }?.pid
    }
}

/// The daemon's standard error, line by line, read until end of file.
final class DaemonOutput: Sendable {
    let fd: Int32
    let lines = Mutex<[String]>([])
    let ended = Atomic<Bool>(false)

    init(fd: Int32) { self.fd = fd }

    func startReading() {
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<DaemonOutput>.fromOpaque(raw!).takeRetainedValue().drain()
            return nil
        }, Unmanaged.passRetained(self).toOpaque())
        precondition(rc == 0, "pthread_create failed")
        pthread_detach(thread)
    }

    private func drain() {
        var pending: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            pending += buf[0..<n]
            while let nl = pending.firstIndex(of: 0x0a) {
                let line = String(decoding: pending[..<nl], as: UTF8.self)
                pending.removeSubrange(...nl)
                lines.withLock { $0.append(line) }
            }
        }
        if !pending.isEmpty { lines.withLock { $0.append(String(decoding: pending, as: UTF8.self)) } }
        close(fd)
        ended.store(true, ordering: .releasing)
    }
}

extension JSON {
    var kind: String? { self["kind"]?.stringValue }
    var cgroup: String? { self["cgroup"]?.stringValue }
    var monotonicNanos: UInt64 { self["monotonic_ns"]?.uint64Value ?? 0 }
}

struct ProcessEntry {
    var pid: pid_t
    var ppid: pid_t
    var state: Character
    var args: [String]
}

/// The names in a directory (not . and ..).
func names(in dir: String) -> [String] {
    guard let d = opendir(dir) else { return [] }
    defer { closedir(d) }
    var result: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." { result.append(name) }
    }
    return result
}

/// Every process of the VM: pid, parent, state and arguments from /proc.
func processTable() -> [ProcessEntry] {
    guard let d = opendir("/proc") else { return [] }
    defer { closedir(d) }
    var out: [ProcessEntry] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        // The command name may hold spaces and parentheses: the fields start after the last ')'.
        guard let pid = pid_t(name), let stat = readFile("/proc/\(name)/stat"), let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, let ppid = pid_t(fields[1]) else { continue }
        let args = (readFile("/proc/\(name)/cmdline") ?? "").split(separator: "\0").map(String.init)
        out.append(ProcessEntry(pid: pid, ppid: ppid, state: fields[0].first ?? "?", args: args))
    }
    return out
}

// MARK: loads and figures

/// What an allocator wrote after each step (testload alloc --trace).
struct AllocationTrace {
    struct Step {
        var nanos: UInt64
        var mib: Int
        /// memory.current of the traced group, after the step.
        var current: Int64
        var available: Int64
    }

    let path: String

    init(_ name: String) {
        path = "/tmp/cgwarden-trace-\(name)-\(getpid())"
        unlink(path)
    }

    var steps: [Step] {
        (readFile(path) ?? "").split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count == 4, let t = UInt64(f[0]), let m = Int(f[1]), let c = Int64(f[2]), let a = Int64(f[3]) else { return nil }
            return Step(nanos: t, mib: m, current: c, available: a)
        }
    }

    func remove() { unlink(path) }
}

/// A test group with tenants below it, each with its own `memory.max` and no swap.
func tenantGroups(_ name: String, _ tenants: [String] = ["a", "b"], max: String = "128M") throws -> TestCgroup {
    let g = try TestCgroup(name)
    for t in tenants {
        try g.child(t)
        try g.write(t + "/memory.max", max)
        try g.write(t + "/memory.swap.max", "0")
    }
    return g
}

/// The tenants' guard of the end-to-end tests: 80% of each tenant's memory.max, 5 s after a kill.
func tenantsGuard(_ g: TestCgroup, before: String = "") -> String {
    before + """

        [[guard]]
        name = "tenants"
        match = "\(g.path)/*"
        post_action_delay = "5s"
        [[guard.trigger]]
        usage_of_limit = "80%"
        """
}

/// A bounded allocator in `dir`: `mib` MiB in steps, each page touched.
func allocate(_ dir: String, mib: Int, step: Int = 16, intervalMillis: Int = 0, trace: AllocationTrace? = nil,
              traceGroup: String? = nil) throws -> Child {
    var argv = [testloadBinary, "alloc", "--cgroup", dir, "--mib", String(mib), "--step-mib", String(step),
                "--interval-ms", String(intervalMillis), "--touch", "page", "--hold-s", "600"]
    if let trace { argv += ["--trace", trace.path] }
    if let traceGroup { argv += ["--trace-cgroup", traceGroup] }
    return try Child(argv)
}

/// A field of /proc/meminfo, in bytes.
func meminfo(_ key: String) -> UInt64? {
    for line in (readFile("/proc/meminfo") ?? "").split(separator: "\n") where line.hasPrefix(key + ":") {
        let f = line.split(separator: " ")
        if f.count >= 2, let kib = UInt64(f[1]) { return kib * 1024 }
    }
    return nil
}

/// The kernel's OOM kills since boot, node-wide (/proc/vmstat).
func nodeOOMKills() -> UInt64? {
    for line in (readFile("/proc/vmstat") ?? "").split(separator: "\n") where line.hasPrefix("oom_kill ") {
        return UInt64(line.split(separator: " ")[1])
    }
    return nil
}

/// From a traced step to an event, as text ("?" when the trace has no such step).
func since(_ step: AllocationTrace.Step?, _ event: JSON) -> String {
    guard let step else { return "?" }
    return event.monotonicNanos >= step.nanos ? millis(event.monotonicNanos - step.nanos) : "-" + millis(step.nanos - event.monotonicNanos)
}

func millis(_ nanos: UInt64) -> String { String(Double(nanos / 100_000) / 10) + " ms" }
func mib(_ bytes: Int64) -> String { String(Double(bytes / 104_858) / 10) + " MiB" }

// MARK: the tests

/// `cgwarden run` end to end on the real kernel: the daemon as an operator
/// starts it (root, then dropped to its user), its JSON events on stderr.
@Suite(.serialized, .enabled(if: KernelEnvironment.shouldRun, Comment(rawValue: KernelEnvironment.skipReason)))
struct DaemonKernelTests {

    @Test func aTenantRampingTowardItsLimitIsEmptiedBeforeTheKernelOOMKiller() throws {
        let g = try tenantGroups("run-tenants", ["a", "b", "c"])
        // a's processes sit in two child groups: the whole tenant goes, not one process.
        try g.write("a/cgroup.subtree_control", "+memory +pids")
        try g.child("a/app")
        try g.child("a/side")
        let side = try sleepers(g.dir + "/a/side", 3)
        let b = try sleepers(g.dir + "/b", 2)
        let c = try allocate(g.dir + "/c", mib: 48)
        let daemon = try DaemonRun("tenants", config: tenantsGuard(g))
        try daemon.started()
        // 4 MiB every 100 ms toward 192 MiB (~35 MiB/s): past 80% of its
        // 128M, the guard has ~0.7 s before the kernel's OOM killer would act.
        let trace = AllocationTrace("tenants")
        defer { trace.remove() }
        let load = try allocate(g.dir + "/a/app", mib: 192, step: 4, intervalMillis: 100, trace: trace, traceGroup: g.dir + "/a")
        let kill = try #require(daemon.waitFor("kill", seconds: 90) { $0.cgroup == g.path + "/a" }, "no kill:\n\(daemon.log)")
        #expect(kill["method"]?.stringValue == "cgroup.kill")
        #expect(kill["trigger"]?.stringValue == "usage >= 80% of memory.max", "\(kill)")
        #expect(kill["measured"]?.stringValue?.contains(" of 128.0M (") == true, "\(kill)")
        #expect(load.wait(seconds: 30) == .signaled(SIGKILL))
        #expect(side.wait(seconds: 30) == .signaled(SIGKILL))
        #expect(populated(g.dir + "/a") == false)
        #expect(g.value("a/memory.events", "oom_kill") == 0, "the kernel's OOM killer acted first: \(g.read("a/memory.events") ?? "-")")
        #expect(b.isRunning && pids(g.dir + "/b").count == 2 && c.isRunning, "a neighbour was touched")
        #expect(daemon.events("kill").count == 1)
        #expect(daemon.events("failed").isEmpty && daemon.events("incomplete").isEmpty && daemon.events("refused").isEmpty)

        let threshold = Int64(128 << 20) * 8 / 10
        // The allocator may die between a step and its trace line: the figures are for the report only.
        let crossed = trace.steps.first { $0.current >= threshold }
        let peak = trace.steps.map(\.current).max() ?? 0
        print("run e2e tenants: 80% crossed (\(mib(crossed?.current ?? 0))) -> empty in \(since(crossed, kill)); "
              + "kill \(millis(kill["duration_ns"]?.uint64Value ?? 0)) via \(kill["method"]?.stringValue ?? "?"), "
              + "before \(mib(Int64(kill["memory_before"]?.uint64Value ?? 0))), traced peak \(mib(peak)) of 128 MiB, "
              + "oom_kill \(g.value("a/memory.events", "oom_kill") ?? 99)")
        let stop = daemon.stop()
        #expect(stop.status == .exited(0), "\(daemon.log)")
        print("run e2e tenants: SIGTERM -> \(daemon.stopTimesText)")
    }

    @Test func underNodePressureOnlyTheGroupTheRankingNamesIsKilled() throws {
        let t0 = monotonicSeconds()
        let available = try #require(meminfo("MemAvailable"))
        let total = try #require(meminfo("MemTotal"))
        let oomBefore = try #require(nodeOOMKills())
        let mibAvailable = Int(available >> 20)
        let g = try TestCgroup("run-node")
        for t in ["a", "b", "c"] { try g.child(t) }
        // No limits. c (a quarter of what is available) and b (a twentieth)
        // are in place before the guard starts; then a grows toward 80%:
        // together 110%. Ranked by growth, a goes, not c, the largest.
        let cMiB = mibAvailable * 25 / 100, bMiB = mibAvailable * 5 / 100, aMiB = mibAvailable * 80 / 100
        let c = try allocate(g.dir + "/c", mib: cMiB, step: 32)
        let b = try allocate(g.dir + "/b", mib: bMiB, step: 32)
        guard waitUntil(seconds: 90, { (g.number("c/memory.current") ?? 0) >= UInt64(cMiB) << 20
                                      && (g.number("b/memory.current") ?? 0) >= UInt64(bMiB) << 20 }) else {
            throw KernelTestError("the loads did not reach their sizes")
        }
        let loaded = monotonicSeconds()
        // Fires once a has taken a tenth of what was available (a high
        // threshold: what is allocated before it costs time under emulation).
        let threshold = available * 60 / 100
        let daemon = try DaemonRun("node", config: """
            [[guard]]
            name = "node"
            match = "\(g.path)"
            candidates = "children"
            rank = "growth"
            post_action_delay = "4s"
            [[guard.trigger]]
            node_available_below = "\(threshold >> 20)M"
            # Armed as a PSI trigger before the drop (it does not fire here).
            [[guard.trigger]]
            node_pressure_above = "90%"
            pressure = "full"
            for = "10s"
            """)
        try daemon.started()
        let started = monotonicSeconds()
        // The PSI trigger's descriptor outlives the drop to the daemon's user.
        #expect(try daemon.openFiles().contains("/proc/pressure/memory"), "no PSI trigger armed")
        let before = try #require(meminfo("MemAvailable"))
        try #require(before > threshold + (96 << 20), "MemAvailable \(before >> 20) MiB is already near the threshold")
        let trace = AllocationTrace("node")
        defer { trace.remove() }
        let a = try allocate(g.dir + "/a", mib: aMiB, step: 8, intervalMillis: 40, trace: trace)
        let kill = try #require(daemon.waitFor("kill", seconds: 120), "no kill:\n\(daemon.log)")
        #expect(kill.cgroup == g.path + "/a", "\(kill)")
        #expect(kill["reason"]?.stringValue?.contains("ranked first by growth") == true, "\(kill)")
        #expect(a.wait(seconds: 30) == .signaled(SIGKILL))
        #expect(populated(g.dir + "/a") == false)
        // Nothing else, through the post-action delay and past it.
        let delayEnds = Double(kill.monotonicNanos) / 1e9 + 4.5
        while monotonicSeconds() < delayEnds { usleep(100_000) }
        #expect(daemon.events("kill").count == 1, "\(daemon.events("kill"))")
        #expect(b.isRunning && c.isRunning, "another group was killed")
        #expect(nodeOOMKills() == oomBefore, "the kernel's OOM killer acted")

        let crossed = trace.steps.first { $0.available >= 0 && UInt64($0.available) <= threshold }
        print("run e2e node: MemTotal \(total >> 20) MiB, MemAvailable \(available >> 20) MiB at the start, "
              + "\(before >> 20) MiB with b, c and the daemon; loads c \(cMiB) + b \(bMiB) + a up to \(aMiB) MiB; "
              + "threshold \(threshold >> 20) MiB crossed with a at \(crossed?.mib ?? -1) MiB -> a empty in "
              + "\(since(crossed, kill)) (kill \(millis(kill["duration_ns"]?.uint64Value ?? 0)), "
              + "a had \(mib(Int64(kill["memory_before"]?.uint64Value ?? 0)))); kills \(daemon.events("kill").count), "
              + "node oom_kill +\((nodeOOMKills() ?? 0) - oomBefore); loads ready after \(Int(loaded - t0)) s, "
              + "daemon started in \(Int((started - loaded) * 1000)) ms, kill \(Int((Double(kill.monotonicNanos) / 1e9 - started) * 1000)) ms later")
        #expect(daemon.stop().status == .exited(0))
    }

    @Test func onAKubernetesNodeTheBestEffortPodGoesFirst() throws {
        let g = try TestCgroup("run-k8s")
        let kp = "kubepods.slice"
        let besteffort = kp + "/kubepods-besteffort.slice/kubepods-besteffort-pod0b1c2d3e_4f50_4162_8374_8596a7b8c9d0.slice"
        let burstable = kp + "/kubepods-burstable.slice/kubepods-burstable-pod1c2d3e4f_5061_4273_8485_96a7b8c9d0e1.slice"
        let guaranteed = kp + "/kubepods-pod2d3e4f50_6172_4384_9596_a7b8c9d0e1f2.slice"
        let container = "/cri-containerd-3b9a0c4d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b.scope"
        for d in [kp, kp + "/kubepods-besteffort.slice", kp + "/kubepods-burstable.slice", besteffort, burstable, guaranteed] {
            try g.child(d, controllers: "+memory +pids")
        }
        for pod in [besteffort, burstable, guaranteed] { try g.child(pod + container) }
        try g.write(guaranteed + "/memory.max", "128M")
        // By usage alone the Guaranteed pod (96 MiB) or the growing Burstable
        // one would go; BestEffort (16 MiB) goes first.
        let be = try allocate(g.dir + "/" + besteffort + container, mib: 16)
        let gu = try allocate(g.dir + "/" + guaranteed + container, mib: 96)
        guard waitUntil(seconds: 60, { (g.number(besteffort + "/memory.current") ?? 0) >= 16 << 20
                                      && (g.number(guaranteed + "/memory.current") ?? 0) >= 96 << 20 }) else {
            throw KernelTestError("the pods did not reach their sizes")
        }
        // Node pressure: MemAvailable down by 128 MiB from here (the Burstable pod grows by 256).
        let available = try #require(meminfo("MemAvailable"))
        let threshold = available - (128 << 20)
        let daemon = try DaemonRun("k8s", config: """
            [[guard]]
            name = "pods"
            match = "\(g.path)/kubepods.slice"
            candidates = "pods"
            qos_order = true
            post_action_delay = "60s"
            [[guard.trigger]]
            node_available_below = "\(threshold >> 20)M"
            """)
        try daemon.started()
        let bu = try allocate(g.dir + "/" + burstable + container, mib: 256, step: 8, intervalMillis: 40)
        let kill = try #require(daemon.waitFor("kill", seconds: 90), "no kill:\n\(daemon.log)")
        #expect(kill.cgroup == g.path + "/" + besteffort, "\(kill)")
        #expect(be.wait(seconds: 30) == .signaled(SIGKILL))
        #expect(populated(g.dir + "/" + besteffort) == false)
        #expect(bu.isRunning && gu.isRunning)
        print("run e2e k8s: threshold \(threshold >> 20) MiB; killed \(kill.cgroup ?? "-") "
              + "(\(mib(Int64(kill["memory_before"]?.uint64Value ?? 0))), \(millis(kill["duration_ns"]?.uint64Value ?? 0))); "
              + "burstable at \(mib(Int64(g.number(burstable + "/memory.current") ?? 0))), guaranteed "
              + "\(mib(Int64(g.number(guaranteed + "/memory.current") ?? 0)))")
        // The post-action delay holds the next kill: stop before it ends.
        #expect(daemon.stop().status == .exited(0))
        #expect(daemon.events("kill").count == 1)
        #expect(bu.isRunning && gu.isRunning)
    }

    @Test func aForkBombingGroupOverItsLimitIsEmptiedCompletely() throws {
        let g = try TestCgroup("run-forks")
        try g.child("bomb")
        try g.child("quiet")
        try g.write("bomb/pids.max", "1000")
        let quiet = try sleepers(g.dir + "/quiet", 2)
        let daemon = try DaemonRun("forks", config: """
            [[guard]]
            name = "forks"
            match = "\(g.path)/*"
            post_action_delay = "5s"
            [[guard.trigger]]
            usage_above = "48M"
            """)
        try daemon.started()
        // Each process of the loop holds ~250 KiB: 48M is ~200 of them.
        let loop = try Child([testloadBinary, "forkloop", "--cgroup", g.dir + "/bomb", "--hold-s", "120"])
        let kill = try #require(daemon.waitFor("kill", seconds: 120) { $0.cgroup == g.path + "/bomb" }, "no kill:\n\(daemon.log)")
        #expect(kill["method"]?.stringValue == "cgroup.kill")
        #expect(populated(g.dir + "/bomb") == false)
        #expect(loop.wait(seconds: 30) == .signaled(SIGKILL))
        #expect(waitUntil(seconds: 30) { pidsCurrent(g.dir + "/bomb") == 0 }, "pids.current \(pidsCurrent(g.dir + "/bomb"))")
        #expect(quiet.isRunning && pids(g.dir + "/quiet").count == 2)
        #expect(daemon.events("incomplete").isEmpty && daemon.events("failed").isEmpty)
        print("run e2e forks: killed with \(kill["processes"]?.uint64Value ?? 0) processes in the snapshot, "
              + "\(mib(Int64(kill["memory_before"]?.uint64Value ?? 0))), in \(millis(kill["duration_ns"]?.uint64Value ?? 0)) "
              + "via \(kill["method"]?.stringValue ?? "?"); pids.max 1000")
        #expect(daemon.stop().status == .exited(0))
    }

    @Test func aDryRunAndAnObservingGuardReportTheSameVictimAndKillNothing() throws {
        let g = try TestCgroup("run-observe")
        try g.child("big")
        try g.child("small")
        let big = try allocate(g.dir + "/big", mib: 48)
        let small = try allocate(g.dir + "/small", mib: 8)
        guard waitUntil(seconds: 60, { (g.number("big/memory.current") ?? 0) >= 48 << 20 }) else {
            throw KernelTestError("big did not grow")
        }
        func config(_ extra: String) -> String {
            """
            [[guard]]
            name = "watch"
            match = "\(g.path)/*"
            \(extra)
            [[guard.trigger]]
            usage_above = "32M"
            """
        }
        let dry = try DaemonRun("dry", config: config(""), arguments: ["--dry-run"])
        let observing = try DaemonRun("observe", config: config("mode = \"observe\""))
        let d = try #require(dry.waitFor("observed"), "nothing observed in the dry run:\n\(dry.log)")
        let o = try #require(observing.waitFor("observed"), "nothing observed:\n\(observing.log)")
        #expect(d.cgroup == g.path + "/big")
        for key in ["cgroup", "id", "guard", "trigger"] { #expect(d[key] == o[key], "\(key): \(d) vs \(o)") }
        #expect(dry.events("started").first?["reason"]?.stringValue?.contains("dry run") == true)
        #expect(big.isRunning && small.isRunning)
        for (name, daemon) in [("--dry-run", dry), ("observe", observing)] {
            let stop = daemon.stop()
            #expect(stop.status == .exited(0), "\(name): \(daemon.log)")
            #expect(stop.seconds < 1, "\(name): SIGTERM took \(stop.seconds) s")
            #expect(daemon.events("kill").isEmpty && daemon.events("refused").isEmpty, "\(name)")
            print("run e2e observe: \(name) would kill \(d.cgroup ?? "-"); SIGTERM -> \(daemon.stopTimesText)")
        }
        #expect(big.isRunning && small.isRunning && pids(g.dir + "/big").count == 1)
    }

    @Test func aBrokenReloadAndAKilledHelperLeaveTheGuardWorking() throws {
        let g = try TestCgroup("run-reload")
        try g.child("job")
        let daemon = try DaemonRun("reload", config: """
            [[guard]]
            name = "jobs"
            match = "\(g.path)/*"
            post_action_delay = "2s"
            [[guard.trigger]]
            usage_above = "32M"
            """)
        try daemon.started()
        // kill -9 of the helper, found as an operator would (the launcher's child).
        let helper = try #require(daemon.helperPID, "no helper below \(daemon.pid): \(processTable().filter { $0.args.contains("kill-helper") })")
        #expect(kill(helper, SIGKILL) == 0)
        // A broken configuration: reported, the old one kept.
        writeFile(daemon.configPath, "[[guard]]\nname = \"jobs\"\nmatch = \"no-leading-slash\"\n")
        daemon.signal(SIGHUP)
        let failed = try #require(daemon.waitFor("reload_failed", seconds: 30), "\(daemon.log)")
        #expect(failed["reason"]?.stringValue?.contains(daemon.configPath) == true, "\(failed)")
        // The old guard still acts, through a new helper.
        let load = try allocate(g.dir + "/job", mib: 48)
        let kill = try #require(daemon.waitFor("kill", seconds: 60) { $0.cgroup == g.path + "/job" }, "no kill:\n\(daemon.log)")
        #expect(load.wait(seconds: 30) == .signaled(SIGKILL))
        let next = daemon.helperPID
        #expect(next != nil && next != helper)
        #expect(daemon.events("failed").isEmpty, "\(daemon.events("failed"))")
        let stop = daemon.stop()
        #expect(stop.status == .exited(0), "\(daemon.log)")
        #expect(stop.seconds < 1, "SIGTERM took \(stop.seconds) s")
        #expect(daemon.events("stopping").count == 1)
        print("run e2e reload: reload_failed kept the guard; helper \(helper) killed, \(next.map(String.init) ?? "none") "
              + "served the kill (\(millis(kill["duration_ns"]?.uint64Value ?? 0))); helper_restarted events: "
              + "\(daemon.events("helper_restarted").count); SIGTERM -> \(daemon.stopTimesText)")
    }

    /// The helper refuses a group that holds a protected one: the policy must
    /// not choose it, or a guard that keeps firing on it asks again and again.
    @Test func aGroupHoldingAProtectedGroupIsNeverChosen() throws {
        let g = try TestCgroup("run-protected")
        try g.child("acme", controllers: "+memory +pids")
        try g.child("acme/db")
        try g.child("acme/web")
        try g.child("beta")
        let db = try allocate(g.dir + "/acme/db", mib: 24)
        let web = try allocate(g.dir + "/acme/web", mib: 24)
        let beta = try allocate(g.dir + "/beta", mib: 24)
        guard waitUntil(seconds: 60, { (g.number("acme/memory.current") ?? 0) >= 48 << 20
                                      && (g.number("beta/memory.current") ?? 0) >= 24 << 20 }) else {
            throw KernelTestError("the loads did not grow")
        }
        let guardText = """
            [[guard]]
            name = "tenants"
            match = "\(g.path)/*"
            post_action_delay = "1s"
            [[guard.trigger]]
            usage_above = "16M"
            """
        let daemon = try DaemonRun("protected", config: "protect = [\"\(g.path)/acme/db\"]\n" + guardText)
        try daemon.started()
        // acme is the largest, but holds the protected db: beta goes.
        let kill = try #require(daemon.waitFor("kill", seconds: 60), "no kill:\n\(daemon.log)")
        #expect(kill.cgroup == g.path + "/beta")
        #expect(beta.wait(seconds: 30) == .signaled(SIGKILL))
        // acme still fires after the delay: it is never asked for.
        let until = Double(kill.monotonicNanos) / 1e9 + 3
        while monotonicSeconds() < until { usleep(100_000) }
        let refused = daemon.events("refused")
        #expect(refused.isEmpty, "\(refused.count) refusals, the first: \(refused.first?["message"]?.stringValue ?? "-")")
        #expect(db.isRunning && web.isRunning)

        // A reload that drops the pattern reaches the policy, not the helper:
        // it keeps the list it was started with (the unprivileged side cannot
        // loosen it). acme is chosen and refused once, not at every snapshot.
        writeFile(daemon.configPath, guardText)
        let mark = daemon.eventCount
        daemon.signal(SIGHUP)
        #expect(daemon.waitFor("reloaded", seconds: 30, after: mark) != nil, "\(daemon.log)")
        let first = try #require(daemon.waitFor("refused", seconds: 30, after: mark), "\(daemon.log)")
        #expect(first.cgroup == g.path + "/acme" && first["reason"]?.stringValue?.contains("acme/db is protected") == true)
        let later = Double(first.monotonicNanos) / 1e9 + 3
        while monotonicSeconds() < later { usleep(100_000) }
        #expect(daemon.events("refused").count == 1, "\(daemon.events("refused").count) refusals")
        #expect(db.isRunning && web.isRunning)
        #expect(daemon.events("kill").count == 1)
        #expect(daemon.stop().status == .exited(0))
    }

    /// The kill worker, driven directly: a victim replaced at the same path
    /// after the decision took its id is refused, the next candidate killed.
    @Test func theKillWorkerRefusesAReplacedVictimAndKillsTheNextCandidate() throws {
        let g = try TestCgroup("run-stale")
        try g.child("job")
        try g.child("next")
        let first = try sleepers(g.dir + "/job", 2)
        let old = try target(g, "job")
        try g.write("job/cgroup.kill", "1")
        #expect(first.wait(seconds: 30) == .signaled(SIGKILL))
        #expect(waitUntil(seconds: 10) { rmdir(g.dir + "/job") == 0 })
        try g.child("job")
        let replacement = try sleepers(g.dir + "/job", 3)
        let new = try target(g, "job")
        let next = try sleepers(g.dir + "/next", 2)
        let nextTarget = try target(g, "next")
        let killer = try HelperKiller(client: killHelper())
        defer { killer.shutdown() }
        killer.submit(.kill(KillJob(guardName: "jobs", targets: [old, nextTarget], timeout: .seconds(30))))
        var p = pollfd(fd: killer.wakeDescriptor, events: Int16(POLLIN), revents: 0)
        #expect(poll(&p, 1, 120_000) == 1, "the job did not finish")
        guard case .kill(let result)? = killer.finished() else { Issue.record("not a kill result"); return }
        #expect(result.attempts.count == 2)
        #expect(result.attempts.first?.outcome == .refused(.staleID(expected: old.id, found: new.id)))
        guard case .killed? = result.attempts.last?.outcome else { Issue.record("\(result.attempts)"); return }
        #expect(result.attempts.last?.target.id == nextTarget.id)
        #expect(next.wait(seconds: 30) == .signaled(SIGKILL))
        #expect(replacement.isRunning && pids(g.dir + "/job").count == 3, "the new group at the old path was touched")
        #expect(!killer.busy && result.respawns == 0)
    }

    /// The same race through the running daemon, made deterministic: the
    /// helper is stopped (SIGSTOP) before the decision, the victim replaced
    /// while the kill request waits, then the helper continues.
    @Test func theDaemonRefusesAVictimReplacedAfterTheDecisionAndKillsTheNext() throws {
        let g = try TestCgroup("run-replaced")
        try g.child("top", controllers: "+memory +pids")
        try g.child("top/a")
        try g.child("top/b")
        let top = g.path + "/top"
        // An observing twin of the acting guard says when the decision is taken.
        let daemon = try DaemonRun("replaced", config: """
            [[guard]]
            name = "act"
            match = "\(top)"
            candidates = "children"
            post_action_delay = "60s"
            [[guard.trigger]]
            usage_above = "64M"

            [[guard]]
            name = "witness"
            mode = "observe"
            match = "\(top)"
            candidates = "children"
            [[guard.trigger]]
            usage_above = "64M"
            """)
        try daemon.started()
        // Processes for the group made again at a's path, moved there in one write each.
        try g.child("spare")
        let spare = try sleepers(g.dir + "/spare", 2)
        let helper = try #require(daemon.helperPID)
        let bLoad = try allocate(g.dir + "/top/b", mib: 24)
        guard waitUntil(seconds: 60, { (g.number("top/b/memory.current") ?? 0) >= 24 << 20 }) else {
            throw KernelTestError("b did not grow")
        }
        #expect(kill(helper, SIGSTOP) == 0)
        let aLoad = try allocate(g.dir + "/top/a", mib: 64)
        let seen = try #require(daemon.waitFor("observed", seconds: 60), "no decision:\n\(daemon.log)")
        #expect(seen.cgroup == top + "/a")
        let oldID = try #require(seen["id"]?.uint64Value)
        // While the request waits in the stopped helper: a is removed and made again.
        try g.write("top/a/cgroup.kill", "1")
        #expect(aLoad.wait(seconds: 30) == .signaled(SIGKILL))
        #expect(waitUntil(seconds: 10) { rmdir(g.dir + "/top/a") == 0 })
        try g.child("top/a")
        for p in pids(g.dir + "/spare") { try g.write("top/a/cgroup.procs", String(p)) }
        #expect(kill(helper, SIGCONT) == 0)
        let refused = try #require(daemon.waitFor("refused", seconds: 60), "no refusal:\n\(daemon.log)")
        #expect(refused.cgroup == top + "/a" && refused["id"]?.uint64Value == oldID)
        #expect(refused["reason"]?.stringValue?.contains("replaced") == true, "\(refused)")
        let kill = try #require(daemon.waitFor("kill", seconds: 60), "no kill:\n\(daemon.log)")
        #expect(kill.cgroup == top + "/b")
        #expect(bLoad.wait(seconds: 30) == .signaled(SIGKILL))
        #expect(spare.isRunning && pids(g.dir + "/top/a").count == 2, "the new group at the old path was touched")
        #expect(daemon.events("kill").count == 1 && daemon.events("failed").isEmpty)
        print("run e2e replaced: \(refused["message"]?.stringValue ?? "-"); then \(kill["message"]?.stringValue ?? "-")")
        #expect(daemon.stop().status == .exited(0))
    }

    @Test func aHookThatHangsNeitherDelaysTheNextKillNorOutlivesItsTimeout() throws {
        let g = try TestCgroup("run-hooks")
        try g.child("a")
        try g.child("b")
        // Written by the hooks, which run as the daemon's unprivileged user.
        let out = "/tmp/cgwarden-hooks-\(getpid())"
        mkdir(out, 0o777)
        chmod(out, 0o777)
        defer { removeTree(out) }
        let daemon = try DaemonRun("hooks", config: """
            [[guard]]
            name = "pair"
            match = "\(g.path)/*"
            post_action_delay = "1s"
            [[guard.trigger]]
            usage_above = "32M"
            [[hook]]
            name = "hangs"
            command = ["/bin/sleep", "600"]
            timeout = "8s"
            [[hook]]
            name = "saves"
            command = ["/bin/sh", "-c", "id -u > \(out)/uid.$$; cat > \(out)/event.$$"]
            """)
        try daemon.started()
        let a = try allocate(g.dir + "/a", mib: 64)
        let b = try allocate(g.dir + "/b", mib: 48)
        let first = try #require(daemon.waitFor("kill", seconds: 90), "no kill:\n\(daemon.log)")
        let second = try #require(daemon.waitFor("kill", seconds: 30) { $0.cgroup != first.cgroup }, "no second kill:\n\(daemon.log)")
        #expect(Set([first.cgroup, second.cgroup]) == Set([g.path + "/a", g.path + "/b"]))
        #expect(a.wait(seconds: 30) == .signaled(SIGKILL) && b.wait(seconds: 30) == .signaled(SIGKILL))
        // The hanging hook of the first kill held nothing: the second came after the post-action delay.
        let gap = Double(second.monotonicNanos - first.monotonicNanos) / 1e9
        #expect(gap < 6, "second kill \(gap) s after the first:\n\(daemon.log)")
        // Each hanging hook is killed at its timeout, and that is an event.
        let failed = try #require(daemon.waitFor("hook_failed", seconds: 30), "no hook_failed:\n\(daemon.log)")
        #expect(failed["reason"]?.stringValue?.contains("hook 'hangs' (after a kill event) did not end within 8s: killed") == true,
                "\(failed)")
        let failedAfter = Double(failed.monotonicNanos - first.monotonicNanos) / 1e9
        #expect(failedAfter >= 7.5 && failedAfter < 20, "\(failedAfter) s")
        #expect(waitUntil(seconds: 30) { daemon.events("hook_failed").count == 2 }, "\(daemon.events("hook_failed"))")
        #expect(waitUntil(seconds: 10) { !processTable().contains { $0.args == ["/bin/sleep", "600"] && $0.state != "Z" } },
                "a hook outlived its timeout")
        // The other hook got each kill's JSON, as the unprivileged user.
        let saved = names(in: out)
        let events = saved.filter { $0.hasPrefix("event.") }.compactMap { readFile(out + "/" + $0) }
        #expect(events.count == 2, "\(saved)")
        #expect(events.allSatisfy { $0.contains("\"kind\":\"kill\"") && $0.contains("\"guard\":\"pair\"") })
        let uids = saved.filter { $0.hasPrefix("uid.") }.compactMap { readFile(out + "/" + $0) }
        #expect(!uids.isEmpty && uids.allSatisfy { $0 != "0\n" }, "\(uids)")
        print("run e2e hooks: second kill \((gap * 10).rounded() / 10) s after the first with a hook hanging; "
              + "hang killed \((failedAfter * 10).rounded() / 10) s after its event; hooks ran as uid \(uids.first ?? "?")")
        #expect(daemon.stop().status == .exited(0))
    }

    /// A tenant resting near its threshold is read between snapshots (its
    /// memory.current, at up to 10 Hz), not sampled with the whole tree ten
    /// times a second; when it runs away, a reading brings the snapshot and
    /// the tenant is emptied before the kernel's OOM killer acts.
    @Test func aTenantRestingNearItsThresholdIsReadThenEmptiedWhenItRunsAway() throws {
        let g = try tenantGroups("run-near")
        // a rests at 96 MiB and the allocator's own pages: over 94% of its
        // threshold (80% of 128M: 102.4 MiB), sampled by its distance at the floor before.
        let rest = try allocate(g.dir + "/a", mib: 96)
        #expect(waitUntil(seconds: 60) { (UInt64(g.read("a/memory.current")?.split(separator: "\n").first ?? "") ?? 0) >= 96 << 20 })
        let b = try allocate(g.dir + "/b", mib: 16)
        let port: UInt16 = 19465
        let daemon = try DaemonRun("near", config: tenantsGuard(g, before: """
            [daemon]
            interval = "1s"
            [metrics]
            listen = "127.0.0.1:\(port)"
            """))
        try daemon.started()
        func counter(_ name: String) -> Double? {
            TestHTTP.get(port: port, "/metrics")?.body.split(separator: "\n")
                .first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        #expect(waitUntil(seconds: 30) { counter("cgwarden_snapshots_total") != nil }, "no metrics:\n\(daemon.log)")
        sleep(2)
        let s0 = try #require(counter("cgwarden_snapshots_total"))
        let r0 = try #require(counter("cgwarden_near_readings_total"))
        sleep(6)
        let s1 = try #require(counter("cgwarden_snapshots_total"))
        let r1 = try #require(counter("cgwarden_near_readings_total"))
        // The interval's 6 snapshots (and a few the kernel's wake-ups bring),
        // not the 60 of whole snapshots at the floor; readings in between.
        #expect(s1 - s0 <= 15, "\(s1 - s0) snapshots in 6 s")
        #expect(r1 - r0 >= 24, "\(r1 - r0) readings in 6 s")
        #expect(daemon.events("kill").isEmpty, "killed while resting:\n\(daemon.log)")

        // It runs away: 4 MiB every 100 ms (~35 MiB/s) on top of what it holds.
        let load = try allocate(g.dir + "/a", mib: 64, step: 4, intervalMillis: 100)
        let kill = try #require(daemon.waitFor("kill", seconds: 60) { $0.cgroup == g.path + "/a" }, "no kill:\n\(daemon.log)")
        #expect(load.wait(seconds: 30) == .signaled(SIGKILL) && rest.wait(seconds: 30) == .signaled(SIGKILL))
        #expect(g.value("a/memory.events", "oom_kill") == 0, "the kernel's OOM killer acted first: \(g.read("a/memory.events") ?? "-")")
        #expect(b.isRunning, "a neighbour was touched")
        let moves = counter("cgwarden_near_moves_total") ?? 0
        #expect(moves >= 1, "no reading brought a snapshot forward")
        print("run e2e near: resting 6 s: \(Int(s1 - s0)) snapshots, \(Int(r1 - r0)) readings; runaway killed "
              + "(\(kill["measured"]?.stringValue ?? "?")), oom_kill \(g.value("a/memory.events", "oom_kill") ?? 99), "
              + "readings that brought a snapshot: \(Int(moves))")
        #expect(daemon.stop().status == .exited(0))
    }
}
