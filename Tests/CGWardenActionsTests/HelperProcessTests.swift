#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
import CGWardenIO
import CGWardenSandbox
import CGWardenTestSupport
@testable import CGWardenActions

/// A fixture root: `real/` with a process list, `evil -> real`, and a file.
final class HelperFixture {
    let dir = TempDir("cgwarden-helper")
    var root: String { dir.path }

    init() {
        makeDirectories(root + "/real/child")
        writeFile(root + "/cgroup.procs", "1\n")
        writeFile(root + "/real/cgroup.procs", "4001\n4002\n")
        writeFile(root + "/real/child/cgroup.procs", "4003\n")
        writeFile(root + "/real/memory.current", "8192\n")
        _ = symlink(root + "/real", root + "/evil")
        _ = symlink("real", root + "/relative")
    }

    deinit { dir.remove() }

    func target(_ path: String) -> CgroupTarget {
        var st = stat()
        precondition(stat(root + path, &st) == 0)
        return CgroupTarget(path: CgroupPath(path)!, id: UInt64(st.st_ino))
    }
}

func helperConfiguration(_ root: String, testHooks: Bool = false, launcher: Bool = false) -> KillHelperClient.Configuration {
    var c = KillHelperClient.Configuration()
    c.executable = cgwardenBinary
    c.settings = KillHelperProcess.Settings(root: root, protected: [CgroupPattern("/protected")])
    c.environment = HelperProcess.defaultEnvironment + (testHooks ? ["\(KillHelperProcess.testHooksVariable)=1"] : [])
    c.useLauncher = launcher
    return c
}

/// Fields of /proc/PID/status.
func procStatus(_ pid: Int32) -> [String: String] {
    var out: [String: String] = [:]
    for line in (readFile("/proc/\(pid)/status") ?? "").split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        out[String(line[..<colon])] = line[line.index(after: colon)...].split(separator: "\t").joined(separator: " ")
            .trimmingCharacters(in: " ")
    }
    return out
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}

/// The real helper process (the built `cgwarden kill-helper`) on this host,
/// against a fixture root: spawning, confinement, respawn, bad input. Kills
/// are refused here (the root is not cgroup2); KernelTests kill for real.
@Suite(.serialized) struct HelperProcessTests {
    @Test func spawnsConfinedAndAnswersPing() throws {
        let f = HelperFixture()
        let c = try KillHelperClient(helperConfiguration(f.root))
        let info = try c.ping()
        #expect(info.seccomp && !info.rootIsCgroup2 && !info.testHooks)
        #expect(info.pid == c.helperPID && info.pid > 0)
        let status = procStatus(info.pid)
        #expect(status["Seccomp"] == "2")
        #expect(status["NoNewPrivs"] == "1")
        #expect(status["Seccomp_filters"] == "1")
        // Only what it needs is open: stdin (/dev/null), stdout, stderr, the channel, its root.
        let fds = (try? listDirectory("/proc/\(info.pid)/fd")) ?? []
        #expect(fds.sorted() == ["0", "1", "2", "3", "4"], "open descriptors: \(fds)")
        #expect(c.check(f.target("/real")) == .wouldKill(CheckReport(processes: 3, groups: 2, memoryCurrent: 8192)))
        c.shutdown()
        #expect(waitUntil(seconds: 5) { kill(info.pid, 0) != 0 }, "the helper left at end-of-file")
    }

    @Test func forbiddenSyscallKillsItWithSIGSYSAndANewHelperServes() throws {
        let f = HelperFixture()
        let c = try KillHelperClient(helperConfiguration(f.root, testHooks: true))
        let first = try #require(c.helperPID)
        #expect(c.info?.testHooks == true)
        let r = c.requestForbiddenSyscall()
        #expect(r == .failure(.helperDied(.signaled(SIGSYS))), "\(r)")
        #expect(c.respawns == 1 && c.lastTermination == .signaled(SIGSYS))
        let second = try c.ping()
        #expect(second.pid != first)
        #expect(procStatus(second.pid)["Seccomp"] == "2")
        #expect(c.check(f.target("/real")) == .wouldKill(CheckReport(processes: 3, groups: 2, memoryCurrent: 8192)))
    }

    @Test func theTestHookIsOffByDefault() throws {
        let f = HelperFixture()
        let c = try KillHelperClient(helperConfiguration(f.root))
        let pid = c.helperPID
        guard case .success(.error(let e)) = c.requestForbiddenSyscall() else { Issue.record("not an error reply"); return }
        #expect(e.kind == .disabled)
        #expect(try c.respawns == 0 && c.ping().pid == pid)
    }

    @Test func garbageTruncatedAndOversizeRequestsGetErrorRepliesAndTheHelperServesOn() throws {
        let f = HelperFixture()
        let c = try KillHelperClient(helperConfiguration(f.root))
        let pid = c.helperPID
        let good = HelperRequest.check(f.target("/real"), id: 500).encoded()
        var unknownVersion = good
        unknownVersion[0] = 9
        var unknownAction = good
        unknownAction[1] = 0x55
        let packets: [([UInt8], WireError.Kind)] = [
            (Array("hello helper".utf8), .unsupportedVersion),
            ([1], .truncated),
            (Array(good.prefix(good.count - 2)), .truncated),
            (Array(good.prefix(10)), .truncated),
            (good + [0, 0], .malformed),
            (unknownVersion, .unsupportedVersion),
            (unknownAction, .unknownAction),
            ([UInt8](repeating: 1, count: HelperWire.maxRequestSize + 1), .oversize),
            ([UInt8](repeating: 0xAB, count: 60_000), .oversize),
        ]
        for (p, kind) in packets {
            let r = c.exchangeRaw(p)
            guard case .success((_, .error(let e))) = r else { Issue.record("\(p.prefix(8)): \(r)"); continue }
            #expect(e.kind == kind, "\(p.prefix(8))...: \(e)")
        }
        #expect(try c.respawns == 0 && c.ping().pid == pid)
        #expect(c.check(f.target("/real")) == .wouldKill(CheckReport(processes: 3, groups: 2, memoryCurrent: 8192)))
    }

    @Test func aHelperKilledWhileIdleIsReplacedAndTheRequestServed() throws {
        let f = HelperFixture()
        let c = try KillHelperClient(helperConfiguration(f.root))
        let pid = try #require(c.helperPID)
        kill(pid, SIGKILL)
        #expect(waitUntil(seconds: 5) { procStatus(pid)["State"]?.hasPrefix("Z") ?? true })
        // It never saw the request, so the new helper serves it.
        #expect(c.check(f.target("/real")) == .wouldKill(CheckReport(processes: 3, groups: 2, memoryCurrent: 8192)))
        #expect(c.respawns == 1 && c.lastTermination == .signaled(SIGKILL) && c.helperPID != pid)
    }

    @Test func aSilentHelperTimesOutAndIsReplaced() throws {
        let f = HelperFixture()
        var conf = helperConfiguration(f.root)
        conf.requestTimeout = .milliseconds(300)
        let c = try KillHelperClient(conf)
        let pid = try #require(c.helperPID)
        kill(pid, SIGSTOP)
        let r = c.check(f.target("/real"))
        #expect(r == .failed(.timedOut(milliseconds: 300)), "\(r)")
        #expect(c.respawns == 1 && c.lastTermination == .signaled(SIGKILL) && c.helperPID != pid)
        #expect(c.check(f.target("/real")) == .wouldKill(CheckReport(processes: 3, groups: 2, memoryCurrent: 8192)))
    }

    @Test func symlinksEscapesAndStaleIDsAreRefusedByTheHelper() throws {
        let f = HelperFixture()
        let c = try KillHelperClient(helperConfiguration(f.root))
        let real = f.target("/real")
        func raw(_ path: String, id: UInt64) -> HelperReply? {
            guard case .success((_, let reply)) = c.exchangeRaw(HelperRequest(requestID: 1, action: .check, path: Array(path.utf8), cgroupID: id).encoded())
            else { return nil }
            return reply
        }
        #expect(raw("evil", id: real.id) == .refused(.symlink))
        #expect(raw("evil/child", id: real.id) == .refused(.symlink))
        #expect(raw("relative", id: real.id) == .refused(.symlink))
        #expect(raw("../real", id: real.id) == .refused(.invalidPath(.dotDot)))
        #expect(raw(f.root + "/real", id: real.id) == .refused(.invalidPath(.absolute)))
        #expect(raw("real", id: real.id + 1) == .refused(.staleID(expected: real.id + 1, found: real.id)))
        #expect(raw("", id: 1) == .refused(.root))
        #expect(raw("real/cgroup.procs", id: 1) == .refused(.notADirectory))
        #expect(raw("protected", id: 1) == .refused(.protected(CgroupPath("/protected")!, pattern: "/protected")))
        #expect(raw("real", id: real.id) == .checked(CheckReport(processes: 3, groups: 2, memoryCurrent: 8192)))
        #expect(c.kill(real) == .refused(.notCgroup2))
        #expect(c.respawns == 0)
    }

    @Test func theLauncherSpawnsHelpersAndReportsHowTheyEnded() throws {
        let f = HelperFixture()
        let c = try KillHelperClient(helperConfiguration(f.root, testHooks: true, launcher: true))
        let launcher = try #require(c.launcherPID)
        let first = try #require(c.helperPID)
        #expect(procStatus(first)["PPid"] == String(launcher))
        #expect(procStatus(launcher)["NoNewPrivs"] == "1")
        #expect(procStatus(first)["Seccomp"] == "2")
        #expect(c.requestForbiddenSyscall() == .failure(.helperDied(.signaled(SIGSYS))))
        let second = try #require(c.helperPID)
        #expect(second != first && procStatus(second)["PPid"] == String(launcher))
        #expect(c.check(f.target("/real")) == .wouldKill(CheckReport(processes: 3, groups: 2, memoryCurrent: 8192)))
        c.shutdown()
        #expect(waitUntil(seconds: 5) { kill(second, 0) != 0 && kill(launcher, 0) != 0 })
    }

    @Test func aHelperThatCannotStartIsReported() {
        var conf = helperConfiguration("/nonexistent/cgroup-root")
        conf.requestTimeout = .seconds(5)
        #expect(throws: HelperRequestError.self) { try KillHelperClient(conf) }
        conf.executable = "/nonexistent/cgwarden"
        #expect(throws: HelperRequestError.self) { try KillHelperClient(conf) }
    }

    @Test func allowListIsSmallAndExplained() throws {
        let list = HelperAllowList.permissions
        #expect(list.count == Set(list.map(\.name)).count)
        #expect(list.allSatisfy { !$0.reason.isEmpty })
        #expect(list.contains { $0.name == "fgetxattr" } && list.contains { $0.name == "kill" && !$0.alternatives.isEmpty })
        for forbidden in ["execve", "getppid", "socket", "ptrace", "setuid", "read", "open", "getrandom", "mprotect"] {
            #expect(!list.contains { $0.name == forbidden }, "\(forbidden)")
        }
        _ = try HelperAllowList.filter()
        // Every positive pid matches exactly one of the kill rules; nothing else matches any.
        let rules = SyscallPermission.positivePIDWithSIGKILL
        func matches(_ pid: Int64) -> Int {
            let value = UInt64(bitPattern: pid)   // as glibc passes it: sign-extended
            return rules.filter { r in
                guard case .maskedEqual(let mask) = r[0].comparison else { return false }
                return value & mask == r[0].value
            }.count
        }
        for pid: Int64 in [1, 2, 3, 100, 4_194_304, 65_535, Int64(Int32.max)] { #expect(matches(pid) == 1, "\(pid)") }
        for pid: Int64 in [0, -1, -2, -100, Int64(Int32.min), 1 << 31, 1 << 40] { #expect(matches(pid) == 0, "\(pid)") }
        #expect(throws: SeccompError.unknownSyscall("no_such_call")) {
            var f = SeccompFilter()
            try f.allow(["no_such_call"])
        }
    }
}

/// The helper's real filter in a process of its own (the test client):
/// kill() with a pid that names no process is harmless when allowed.
@Suite struct HelperFilterTests {
    func killUnderFilter(_ pid: Int32, _ signal: Int32) throws -> (Termination, String) {
        let r = try run([productsDirectory() + "/cgwarden-testclient", "--seccomp-kill", String(pid), String(signal)])
        return (r.status, r.stdout)
    }

    @Test func killIsAllowedOnlyWithSIGKILLToAPositivePid() throws {
        // Allowed: SIGKILL to a pid that does not exist (ESRCH).
        #expect(try killUnderFilter(4_000_000, SIGKILL) == (.exited(0), "\(ESRCH)\n"))
        // Refused by the filter: the process dies of SIGSYS before the call.
        #expect(try killUnderFilter(-2_000_000_000, SIGKILL).0 == .signaled(SIGSYS))   // a process group
        #expect(try killUnderFilter(Int32.min, SIGKILL).0 == .signaled(SIGSYS))
        #expect(try killUnderFilter(4_000_000, SIGTERM).0 == .signaled(SIGSYS))
    }
}

func listDirectory(_ path: String) throws -> [String] {
    guard let d = opendir(path) else { throw KernelTestError("opendir \(path)") }
    defer { closedir(d) }
    var out: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { out.append(name) }
    }
    return out
}
