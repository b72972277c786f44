#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenActions
import CGWardenCore
import CGWardenIO
import CGWardenSandbox
import CGWardenTestSupport

/// A kill helper spawned from this (root) test process, against the real
/// cgroup root, with the test hooks on.
func killHelper(root: String = KernelEnvironment.cgroupRoot, protected: [String] = [],
                launcher: Bool = false) throws -> KillHelperClient {
    var c = KillHelperClient.Configuration()
    c.executable = cgwardenBinary
    c.settings = KillHelperProcess.Settings(root: root, protected: protected.map { CgroupPattern($0) })
    c.environment = HelperProcess.defaultEnvironment + ["\(KillHelperProcess.testHooksVariable)=1"]
    c.useLauncher = launcher
    // Spawning under TCG emulation is slow; a loaded VM more so.
    c.requestTimeout = .seconds(60)
    return try KillHelperClient(c)
}

/// The target of a group directory below /sys/fs/cgroup.
func target(_ g: TestCgroup, _ child: String? = nil) throws -> CgroupTarget {
    let path = CgroupPath(g.path + (child.map { "/" + $0 } ?? ""))!
    switch CgroupResolution.target(path, root: KernelEnvironment.cgroupRoot) {
    case .success(let t): return t
    case .failure(let e): throw KernelTestError("resolve \(path): \(e)")
    }
}

func pids(_ dir: String) -> [Int32] {
    (readFile(dir + "/cgroup.procs") ?? "").split(separator: "\n").compactMap { Int32($0) }
}

func populated(_ dir: String) -> Bool? {
    guard let e = readFile(dir + "/cgroup.events") else { return nil }
    return e.contains("populated 1")
}

/// `n` sleeping processes in `dir` (one loader plus n - 1 children); waits until all are there.
func sleepers(_ dir: String, _ n: Int) throws -> Child {
    let c = try Child([testloadBinary, "spawn", "--cgroup", dir, "--count", String(n - 1), "--hold-s", "600"])
    guard waitUntil(seconds: 120, { pids(dir).count == n }) else {
        throw KernelTestError("\(dir) has \(pids(dir).count) processes, not \(n)")
    }
    return c
}

/// A group forking as fast as it can, up to `limit` processes (pids.max).
func forkLoop(_ g: TestCgroup, _ child: String, limit: Int, reach: Int) throws -> Child {
    try g.write(child + "/pids.max", String(limit))
    let c = try Child([testloadBinary, "forkloop", "--cgroup", g.dir + "/" + child, "--hold-s", "300"])
    guard waitUntil(seconds: 180, { pidsCurrent(g.dir + "/" + child) >= reach }) else {
        throw KernelTestError("the fork loop did not reach \(reach) processes")
    }
    return c
}

func pidsCurrent(_ dir: String) -> Int {
    Int(readFile(dir + "/pids.current")?.split(separator: "\n").first ?? "") ?? -1
}

@Suite(.serialized, .enabled(if: KernelEnvironment.shouldRun, Comment(rawValue: KernelEnvironment.skipReason)))
struct KillKernelTests {

    // MARK: killing

    @Test func aSleepingGroupIsEmptiedByCgroupKill() throws {
        let g = try TestCgroup("kill-sleep")
        try g.child("workers")
        try g.child("bystanders")
        let w = g.dir + "/workers"
        let loader = try sleepers(w, 20)
        let other = try sleepers(g.dir + "/bystanders", 2)
        let helper = try killHelper()
        let outcome = helper.kill(try target(g, "workers"))
        guard case .killed(let r) = outcome else { Issue.record("\(outcome)"); return }
        #expect(r.method == .cgroupKill && r.fallbackReason == nil && r.remaining == 0)
        #expect((r.memoryBefore ?? 0) > 0 && r.memoryAfter != nil)
        #expect(r.durationNanos > 0)
        // Their memory was reaped before each exit completed (process_mrelease, 6.1 has it).
        #expect(r.released > 0 && r.released <= 20, "released \(r.released)")
        #expect(populated(w) == false, "cgroup.events: \(readFile(w + "/cgroup.events") ?? "-")")
        #expect(pids(w).isEmpty)
        #expect(loader.wait(seconds: 30) == .signaled(SIGKILL))
        #expect(other.isRunning && pids(g.dir + "/bystanders").count == 2, "a sibling group is untouched")
    }

    @Test func aPressureTriggerArmedByTheHelperWakesItsHolder() throws {
        let g = try TestCgroup("psi-trigger")
        try g.child("tight")
        try g.write("tight/memory.high", "16M")
        try g.write("tight/memory.swap.max", "0")
        let helper = try killHelper()
        // The file is root's (0644): the helper arms the trigger and passes the descriptor.
        let fd = try helper.armPressure(on: target(g, "tight"), PressureTriggerSpec(full: false, stallMicros: 50_000, windowMicros: 1_000_000))
        defer { close(fd) }
        var quiet = pollfd(fd: fd, events: Int16(POLLPRI), revents: 0)
        #expect(poll(&quiet, 1, 0) == 0, "no stall yet")
        // Throttled at memory.high: the allocator stalls on reclaim (bounded: 64 MiB).
        let load = try Child([testloadBinary, "alloc", "--cgroup", g.dir + "/tight", "--mib", "64", "--step-mib", "8",
                              "--interval-ms", "50", "--hold-s", "30"])
        defer { _ = load }
        var p = pollfd(fd: fd, events: Int16(POLLPRI), revents: 0)
        let woke = poll(&p, 1, 30_000)
        #expect(woke == 1 && p.revents & Int16(POLLPRI) != 0, "poll \(woke), revents \(p.revents), memory.pressure: \(g.read("tight/memory.pressure") ?? "-")")
    }

    @Test func aForkLoopIsEmptiedByCgroupKill() throws {
        let g = try TestCgroup("kill-forks")
        try g.child("bomb")
        let loop = try forkLoop(g, "bomb", limit: 1000, reach: 900)
        let helper = try killHelper()
        let outcome = helper.kill(try target(g, "bomb"), timeout: .seconds(60))
        guard case .killed(let r) = outcome else { Issue.record("\(outcome)"); return }
        #expect(r.method == .cgroupKill)
        #expect(populated(g.dir + "/bomb") == false)
        #expect(loop.wait(seconds: 30) == .signaled(SIGKILL))
        // pids.current drops as the dead are reaped (the loader by this test), after populated 0.
        #expect(waitUntil(seconds: 30) { pidsCurrent(g.dir + "/bomb") == 0 }, "pids.current \(pidsCurrent(g.dir + "/bomb"))")
    }

    @Test func theFallbackAlsoEmptiesAForkLoop() throws {
        let g = try TestCgroup("kill-fallback")
        try g.child("bomb")
        let loop = try forkLoop(g, "bomb", limit: 1000, reach: 900)
        let helper = try killHelper()
        let outcome = helper.kill(try target(g, "bomb"), timeout: .seconds(120), forceFallback: true)
        guard case .killed(let r) = outcome else { Issue.record("\(outcome)"); return }
        #expect(r.method == .freezeAndSignal && r.fallbackReason == .forced)
        #expect(r.signalled >= 900 && r.rounds >= 1)
        print("fallback on a fork loop: \(r.rounds) rounds, \(r.signalled) signals, \(r.durationNanos / 1_000_000) ms")
        #expect(populated(g.dir + "/bomb") == false)
        #expect(readFile(g.dir + "/bomb/cgroup.events")?.contains("frozen 0") == true, "thawed")
        #expect(readFile(g.dir + "/bomb/cgroup.freeze")?.hasPrefix("0") == true)
        #expect(loop.wait(seconds: 30) == .signaled(SIGKILL))
    }

    @Test func theFallbackWalksTheSubtree() throws {
        let g = try TestCgroup("kill-tree")
        try g.child("top", controllers: "+pids")
        try g.child("top/a")
        try g.child("top/b")
        let a = try sleepers(g.dir + "/top/a", 3)
        let b = try sleepers(g.dir + "/top/b", 4)
        let helper = try killHelper()
        let outcome = helper.kill(try target(g, "top"), forceFallback: true)
        guard case .killed(let r) = outcome else { Issue.record("\(outcome)"); return }
        #expect(r.signalled == 7)
        #expect(populated(g.dir + "/top") == false)
        #expect(a.wait(seconds: 30) == .signaled(SIGKILL) && b.wait(seconds: 30) == .signaled(SIGKILL))
    }

    @Test func aThreadedGroupFallsBackOnItsOwn() throws {
        // cgroup.kill fails with EOPNOTSUPP in a threaded cgroup.
        let g = try TestCgroup("kill-threaded", controllers: "")
        try g.child("dom")
        try g.child("dom/t")
        try g.write("dom/t/cgroup.type", "threaded")
        let c = try sleepers(g.dir + "/dom", 1)
        try g.write("dom/t/cgroup.threads", String(c.pid))
        #expect(populated(g.dir + "/dom/t") == true)
        let helper = try killHelper()
        let outcome = helper.kill(try target(g, "dom/t"))
        guard case .killed(let r) = outcome else { Issue.record("\(outcome)"); return }
        #expect(r.method == .freezeAndSignal && r.fallbackReason == .notSupported)
        #expect(c.wait(seconds: 30) == .signaled(SIGKILL))
    }

    // MARK: refusals: nothing is killed

    @Test func escapesAreRefused() throws {
        let g = try TestCgroup("refuse-escape")
        try g.child("victims")
        let v = try sleepers(g.dir + "/victims", 3)
        let helper = try killHelper()
        let t = try target(g, "victims")
        let rel = String(decoding: t.path.bytes, as: UTF8.self)
        for (path, expected) in [(rel + "/../victims", HelperRefusal.invalidPath(.dotDot)),
                                 ("../" + rel, .invalidPath(.dotDot)),
                                 (KernelEnvironment.cgroupRoot + "/" + rel, .invalidPath(.absolute)),
                                 ("/" + rel, .invalidPath(.absolute))] {
            let r = helper.exchangeRaw(HelperRequest(requestID: 1, action: .kill, path: Array(path.utf8), cgroupID: t.id, timeoutMillis: 1000).encoded())
            guard case .success((_, let reply)) = r else { Issue.record("\(path): \(r)"); continue }
            #expect(reply == .refused(expected), "\(path)")
        }
        // The operator's command refuses the same, with one line and status 3.
        let cmd = try run([cgwardenBinary, "kill", g.path + "/victims/../victims"])
        #expect(cmd.status == .exited(3))
        #expect(cmd.stderr == "cgwarden: refused to kill \(g.path)/victims/../victims: not a path below the cgroup root: the path has a '..' component\n")
        #expect(v.isRunning && pids(g.dir + "/victims").count == 3)
    }

    @Test func aSymlinkPlantedInAFixtureDirectoryIsRefused() throws {
        let g = try TestCgroup("refuse-symlink")
        try g.child("victims")
        let v = try sleepers(g.dir + "/victims", 3)
        let fixture = TempDir("cgwarden-symlink")
        defer { fixture.remove() }
        chmod(fixture.path, 0o755)   // the command resolves it after dropping to nobody
        _ = symlink(g.dir + "/victims", fixture.path + "/evil")
        makeDirectories(fixture.path + "/dir")
        _ = symlink(g.dir, fixture.path + "/dir/up")
        let t = try target(g, "victims")
        let helper = try killHelper(root: fixture.path)
        for path in ["evil", "dir/up/victims"] {
            let r = helper.exchangeRaw(HelperRequest(requestID: 1, action: .kill, path: Array(path.utf8), cgroupID: t.id, timeoutMillis: 1000).encoded())
            guard case .success((_, let reply)) = r else { Issue.record("\(path): \(r)"); continue }
            #expect(reply == .refused(.symlink), "\(path)")
        }
        let cmd = try run([cgwardenBinary, "kill", "/evil", "--root", fixture.path])
        #expect(cmd.status == .exited(3) && cmd.stderr.contains("symbolic link"), "\(cmd.stderr)")
        // Where the kernel has openat2 the walk is never used; it is tested on the host.
        #expect(v.isRunning && pids(g.dir + "/victims").count == 3)
    }

    @Test func theRootIsRefused() throws {
        let helper = try killHelper()
        let rootID = try #require(try? CgroupResolution.target(.root, root: KernelEnvironment.cgroupRoot).get())
        #expect(helper.kill(rootID) == .refused(.root))
        #expect(helper.check(rootID) == .refused(.root))
        let cmd = try run([cgwardenBinary, "kill", "/"])
        #expect(cmd.status == .exited(3) && cmd.stderr == "cgwarden: refused to kill /: it is the root cgroup\n")
    }

    @Test func cgwardensOwnCgroupAndItsAncestorsAreRefused() throws {
        let g = try TestCgroup("refuse-own")
        try g.child("svc", controllers: "+pids")
        try g.child("svc/own")
        let own = g.dir + "/svc/own"
        let v = try sleepers(own, 3)
        // cgwarden runs inside svc/own (testload joins it, then execs cgwarden).
        for (path, reason) in [(g.path + "/svc/own", "it is cgwarden's own cgroup"),
                               (g.path + "/svc", "it contains cgwarden's own cgroup \(g.path)/svc/own"),
                               (g.path, "it contains cgwarden's own cgroup \(g.path)/svc/own")] {
            let cmd = try run([testloadBinary, "exec", "--cgroup", own, "--", cgwardenBinary, "kill", path, "--json"])
            #expect(cmd.status == .exited(3), "\(path): \(cmd.stderr)")
            #expect(cmd.stderr == "cgwarden: refused to kill \(path): \(reason)\n")
            let doc = try JSON.parse(cmd.stdout)
            #expect(doc["helper"]?["own_cgroup"]?.stringValue == g.path + "/svc/own")
            #expect(doc["refusal"]?["reason"]?.stringValue == (path.hasSuffix("/own") ? "own_cgroup" : "ancestor_of_own"))
        }
        #expect(v.isRunning && pids(own).count == 3)
    }

    @Test func protectedGroupsAndTheirAncestorsAreRefused() throws {
        let g = try TestCgroup("refuse-protected")
        try g.child("tenants", controllers: "+pids")
        try g.child("tenants/db")
        try g.child("tenants/web")
        let db = try sleepers(g.dir + "/tenants/db", 2)
        let web = try sleepers(g.dir + "/tenants/web", 2)
        let pattern = "/cgw-test-refuse-protected-*/tenants/db"
        let helper = try killHelper(protected: [pattern])
        #expect(helper.kill(try target(g, "tenants/db")) == .refused(.protected(CgroupPath(g.path + "/tenants/db")!, pattern: pattern)))
        #expect(helper.kill(try target(g, "tenants")) == .refused(.protected(CgroupPath(g.path + "/tenants/db")!, pattern: pattern)))
        #expect(helper.check(try target(g, "tenants")) == .refused(.protected(CgroupPath(g.path + "/tenants/db")!, pattern: pattern)))
        let cmd = try run([cgwardenBinary, "kill", g.path + "/tenants", "--protect", "/**/db"])
        #expect(cmd.status == .exited(3) && cmd.stderr.contains("is protected (/**/db)"), "\(cmd.stderr)")
        // The configuration's protect list is the same refusal.
        let config = "/tmp/cgwarden-protect-\(getpid()).toml"
        writeFile(config, "protect = [\"/**/tenants/db\"]\n")
        let viaConfig = try run([cgwardenBinary, "kill", g.path + "/tenants/db", "--config", config])
        #expect(viaConfig.status == .exited(3) && viaConfig.stderr.contains("is protected (/**/tenants/db)"), "\(viaConfig.stderr)")
        #expect(db.isRunning && web.isRunning && pids(g.dir + "/tenants/db").count == 2 && pids(g.dir + "/tenants/web").count == 2)
        // Attributes are read-only: a protected group is still read.
        #expect(try helper.attributes(of: target(g, "tenants/db")).ownerUID == 0)
        // The unprotected sibling is killed.
        guard case .killed = helper.kill(try target(g, "tenants/web")) else { Issue.record("web not killed"); return }
        #expect(db.isRunning && web.wait(seconds: 30) == .signaled(SIGKILL))
    }

    @Test func aStaleIDIsRefused() throws {
        let g = try TestCgroup("refuse-stale")
        try g.child("job")
        let first = try sleepers(g.dir + "/job", 2)
        let old = try target(g, "job")
        // The group is removed and another is made at the same path.
        try g.write("job/cgroup.kill", "1")
        #expect(first.wait(seconds: 30) == .signaled(SIGKILL))
        #expect(waitUntil(seconds: 10) { rmdir(g.dir + "/job") == 0 })
        try g.child("job")
        let second = try sleepers(g.dir + "/job", 3)
        let new = try target(g, "job")
        #expect(new.id != old.id)
        let helper = try killHelper()
        #expect(helper.kill(old) == .refused(.staleID(expected: old.id, found: new.id)))
        #expect(throws: HelperRequestError.refused(.staleID(expected: old.id, found: new.id))) { try helper.attributes(of: old) }
        #expect(second.isRunning && pids(g.dir + "/job").count == 3)
    }

    // MARK: the helper itself

    @Test func theHelperIsConfinedAndAForbiddenCallKillsItAndANewOneServes() throws {
        let g = try TestCgroup("confined")
        try g.child("victims")
        let helper = try killHelper()
        let pid = try #require(helper.helperPID)
        let status = readFile("/proc/\(pid)/status") ?? ""
        #expect(status.contains("Seccomp:\t2\n"), "\(status)")
        #expect(status.contains("NoNewPrivs:\t1\n"))
        #expect(status.contains("Uid:\t0\t0\t0\t0\n"), "the helper keeps root")
        #expect(helper.info?.rootIsCgroup2 == true && helper.info?.testHooks == true)

        #expect(helper.requestForbiddenSyscall() == .failure(.helperDied(.signaled(SIGSYS))))
        #expect(helper.lastTermination == .signaled(SIGSYS) && helper.respawns == 1)
        let next = try #require(helper.helperPID)
        #expect(next != pid && readFile("/proc/\(next)/status")?.contains("Seccomp:\t2\n") == true)
        let v = try sleepers(g.dir + "/victims", 3)
        guard case .killed = helper.kill(try target(g, "victims")) else { Issue.record("not served after the respawn"); return }
        #expect(v.wait(seconds: 30) == .signaled(SIGKILL))
    }

    @Test func garbageOnTheHelperSocketGetsErrorRepliesAndTheHelperServesOn() throws {
        let g = try TestCgroup("garbage")
        try g.child("victims")
        let v = try sleepers(g.dir + "/victims", 2)
        let helper = try killHelper()
        let pid = helper.helperPID
        let t = try target(g, "victims")
        let good = HelperRequest.kill(t, id: 900, timeoutMillis: 10_000).encoded()
        var badVersion = good
        badVersion[0] = 0
        var badAction = good
        badAction[1] = 200
        var badFlags = good
        badFlags[3] = 0x80
        let packets: [([UInt8], WireError.Kind)] = [
            (Array("\u{1b}[2J garbage".utf8), .unsupportedVersion),
            ([1, 2], .truncated),
            (Array(good.dropLast(5)), .truncated),
            (good + [7], .malformed),
            (badVersion, .unsupportedVersion),
            (badAction, .unknownAction),
            (badFlags, .malformed),
            ([UInt8](repeating: 1, count: 70_000), .oversize),
        ]
        for (p, kind) in packets {
            guard case .success((_, .error(let e))) = helper.exchangeRaw(p) else { Issue.record("no error reply to \(p.prefix(6))"); continue }
            #expect(e.kind == kind, "\(e)")
        }
        #expect(v.isRunning, "nothing was killed by garbage")
        #expect(helper.respawns == 0 && helper.helperPID == pid)
        guard case .success((900, .killed)) = helper.exchangeRaw(good) else { Issue.record("the good request was not served"); return }
        #expect(v.wait(seconds: 30) == .signaled(SIGKILL))
    }

    @Test func attributesAreReadByTheHelper() throws {
        let g = try TestCgroup("attrs")
        try g.child("svc")
        let dir = g.dir + "/svc"
        let py = try run(["/usr/bin/python3", "-c", """
            import os
            os.setxattr('\(dir)', 'user.oomd_avoid', b'1')
            os.setxattr('\(dir)', 'trusted.oomd_prefer', b'1')
            os.setxattr('\(dir)', 'trusted.other', b'x')
            os.chown('\(dir)', 1000, 1000)
            """])
        #expect(py.status == .exited(0), "\(py.stderr)")
        let helper = try killHelper(protected: ["/**"])
        let a = try helper.attributes(of: target(g, "svc"))
        #expect(a == CgroupAttributes(ownerUID: 1000, values: ["user.oomd_avoid": "1", "trusted.oomd_prefer": "1"]))
        #expect(try helper.attributes(of: target(g)) == CgroupAttributes(ownerUID: 0, values: [:]))
        // The dry run shows them.
        let cmd = try run([cgwardenBinary, "kill", g.path + "/svc", "--dry-run", "--json"])
        let doc = try JSON.parse(cmd.stdout)
        #expect(doc["check"]?["owner_uid"]?.uint64Value == 1000)
        #expect(doc["check"]?["xattrs"]?["trusted.oomd_prefer"]?.stringValue == "1")
    }

    // MARK: privilege separation

    @Test func theCommandDropsToItsOwnUserWithNoCapabilitiesAndTheHelperStillKills() throws {
        let g = try TestCgroup("nobody")
        try g.child("victims")
        let v = try sleepers(g.dir + "/victims", 4)
        let cmd = try run([cgwardenBinary, "kill", g.path + "/victims", "--json"])
        #expect(cmd.status == .exited(0), "\(cmd.stderr)")
        let doc = try JSON.parse(cmd.stdout)
        #expect(doc["outcome"]?.stringValue == "killed")
        #expect(doc["kill"]?["method"]?.stringValue == "cgroup.kill")
        let u = doc["unprivileged"]
        let own = try #require(getpwnam("cgwarden")?.pointee)
        #expect(u?["uid"]?.uint64Value == UInt64(own.pw_uid) && u?["gid"]?.uint64Value == UInt64(own.pw_gid))
        #expect(u?["groups"]?.arrayValue?.isEmpty == true)
        #expect(u?["cap_eff"]?.stringValue == "0000000000000000")
        #expect(u?["no_new_privs"]?.boolValue == true)
        #expect(v.wait(seconds: 30) == .signaled(SIGKILL))
        #expect(populated(g.dir + "/victims") == false)
        // Human output: one line.
        try g.child("more")
        let w = try sleepers(g.dir + "/more", 2)
        let human = try run([cgwardenBinary, "kill", g.path + "/more"])
        #expect(human.status == .exited(0))
        #expect(human.stdout.hasPrefix("killed \(g.path)/more (id ") && human.stdout.contains(" via cgroup.kill"), "\(human.stdout)")
        #expect(w.wait(seconds: 30) == .signaled(SIGKILL))
    }

    @Test func afterTheDropTheLauncherRespawnsARootHelper() throws {
        let g = try TestCgroup("launcher")
        try g.child("victims")
        let v = try sleepers(g.dir + "/victims", 3)
        let r = try run([productsDirectory() + "/cgwarden-testclient", "--cgwarden", cgwardenBinary, "--target", g.path + "/victims"])
        #expect(r.status == .exited(0), "\(r.stderr)")
        let doc = try JSON.parse(r.stdout)
        #expect(doc["unprivileged"]?["uid"]?.uint64Value == 65534)
        #expect(doc["unprivileged"]?["cap_eff"]?.stringValue == "0000000000000000")
        #expect(doc["launcher"]?["uid"]?.uint64Value == 0)
        #expect(doc["first_helper"]?["status"]?["uid"]?.uint64Value == 0)
        #expect(doc["forbidden"]?.stringValue?.contains("died (killed by SIGSYS") == true, "\(doc)")
        #expect(doc["last_termination"]?.stringValue?.contains("SIGSYS") == true)
        #expect(doc["second_helper"]?["status"]?["uid"]?.uint64Value == 0)
        #expect(doc["second_helper"]?["pid"] != doc["first_helper"]?["pid"])
        #expect(doc["respawns"]?.int64Value == 1)
        #expect(doc["kill"]?.stringValue == "killed")
        #expect(v.wait(seconds: 30) == .signaled(SIGKILL))
    }
}
