#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
import CGWardenTestSupport

/// The hostile families of Docs/security.md on the real kernel: a private
/// cgroup namespace, names that are bytes, a tenant's deep subtree, a mount
/// below a target. Nothing protected or own is killed; nothing escapes.
@Suite(.serialized, .enabled(if: KernelEnvironment.shouldRun, Comment(rawValue: KernelEnvironment.skipReason)))
struct HostileKernelTests {

    /// Moves every process of `from` into the group at the bytes `to`.
    func move(_ from: String, to: [UInt8]) throws {
        for pid in pids(from) { try writeFile(bytes: to + Array("/cgroup.procs".utf8), String(pid)) }
    }

    func pidsAt(bytes dir: [UInt8]) -> [Int32] {
        (readFile(bytes: dir + Array("/cgroup.procs".utf8)) ?? "").split(separator: "\n").compactMap { Int32($0) }
    }

    // MARK: namespaces

    @Test func inAPrivateCgroupNamespaceTheOwnCgroupIsStillFound() throws {
        let g = try TestCgroup("ns")
        try g.child("agent")
        try g.child("other")
        let other = try sleepers(g.dir + "/other", 2)
        // cgwarden joins agent, then unshares its cgroup namespace: /proc/self/cgroup says 0::/.
        func inNamespace(_ args: [String]) throws -> (status: Termination, stdout: String, stderr: String) {
            try run([testloadBinary, "exec", "--cgroup", g.dir + "/agent", "--", "/usr/bin/unshare", "--cgroup", "--"] + args)
        }
        let seen = try inNamespace(["/bin/cat", "/proc/self/cgroup"])
        #expect(seen.stdout == "0::/\n", "\(seen)")
        for path in [g.path, g.path + "/agent"] {
            let cmd = try inNamespace([cgwardenBinary, "kill", path, "--json"])
            #expect(cmd.status == .exited(3), "\(path): \(cmd.stderr)")
            let doc = try JSON.parse(cmd.stdout)
            #expect(doc["helper"]?["own_cgroup"]?.stringValue == g.path + "/agent")
            #expect(doc["refusal"]?["reason"]?.stringValue == (path == g.path ? "ancestor_of_own" : "own_cgroup"))
        }
        // explain, without a helper, finds it the same way: the ancestor is excluded as holding it.
        let config = "/tmp/cgwarden-ns-\(getpid()).toml"
        writeFile(config, """
            [[guard]]
            name = "all"
            match = ["\(g.path)", "\(g.path)/*"]
            [[guard.trigger]]
            usage_above = "0"
            """)
        let explain = try inNamespace([cgwardenBinary, "explain", "--config", config, "--json"])
        #expect(explain.status == .exited(0), "\(explain.stderr)")
        let excluded = try JSON.parse(explain.stdout)["decision"]?["guards"]?[0]?["candidates"]?.arrayValue?
            .filter { $0["excluded"]?.stringValue?.contains("cgwarden") == true }.compactMap { $0["path"]?.stringValue }
        #expect(Set(excluded ?? []) == [g.path, g.path + "/agent"], "\(explain.stdout)")
        let cmd = try inNamespace([cgwardenBinary, "kill", g.path + "/other"])
        #expect(cmd.status == .exited(0), "\(cmd.stderr)")
        #expect(other.wait(seconds: 30) == .signaled(SIGKILL))
    }

    // MARK: names

    @Test func namesThatAreNotUTF8AreProtectedKilledAndShown() throws {
        let g = try TestCgroup("bytes", controllers: "+pids")
        let odd: [UInt8] = Array(g.dir.utf8) + [0x2f, 0xff, 0xfe, 0x1b]   // "\xff\xfe\x1b"
        try makeDirectory(bytes: odd)
        try makeDirectory(bytes: odd + Array("/db".utf8))
        let marked: [UInt8] = Array(g.dir.utf8) + [0x2f] + Array("\u{301}x".utf8)
        try makeDirectory(bytes: marked)
        try g.child("staging")
        let db = try sleepers(g.dir + "/staging", 2)
        try move(g.dir + "/staging", to: odd + Array("/db".utf8))
        let m = try sleepers(g.dir + "/staging", 2)
        try move(g.dir + "/staging", to: marked)
        #expect(pidsAt(bytes: odd + Array("/db".utf8)).count == 2 && pidsAt(bytes: marked).count == 2)

        // The protected group below the odd name refuses the kill of its ancestors.
        let refused = try run([cgwardenBinary, "kill", g.path, "--protect", g.path + "/*/db"])
        #expect(refused.status == .exited(3), "\(refused.stderr)")
        #expect(refused.stderr == "cgwarden: refused to kill \(g.path): \(g.path)/\\xff\\xfe\\x1b/db is protected (\(g.path)/*/db)\n")
        // status lists both, escaped, and exits 0.
        let status = try run([cgwardenBinary, "status", g.path])
        #expect(status.status == .exited(0), "\(status.stderr)")
        #expect(status.stdout.contains("\\xff\\xfe\\x1b") && status.stdout.contains("\\xcc\\x81x") && !status.stdout.contains("\u{1b}"))
        #expect(db.isRunning && m.isRunning)

        // Named as status shows them, each is killed: the fallback reaches them too.
        let byEscape = try run([cgwardenBinary, "kill", g.path + "/\\xff\\xfe\\x1b", "--fallback"])
        #expect(byEscape.status == .exited(0), "\(byEscape.stderr)")
        #expect(db.wait(seconds: 30) == .signaled(SIGKILL) && pidsAt(bytes: odd + Array("/db".utf8)).isEmpty)
        let marks = try run([cgwardenBinary, "kill", g.path + "/\\xcc\\x81x"])
        #expect(marks.status == .exited(0), "\(marks.stderr)")
        #expect(m.wait(seconds: 30) == .signaled(SIGKILL))
    }

    // MARK: depth

    @Test func aDeepSubtreeIsListedAndKilledWhole() throws {
        let g = try TestCgroup("deep", controllers: "+pids")
        try g.child("tenant")
        var bottom = Array((g.dir + "/tenant").utf8)
        let depth = 300
        for _ in 0..<depth {
            bottom += Array("/n".utf8)
            try makeDirectory(bytes: bottom)
        }
        try g.child("staging")
        let v = try sleepers(g.dir + "/staging", 2)
        try move(g.dir + "/staging", to: bottom)
        let status = try run([cgwardenBinary, "status", g.path + "/tenant", "--json"])
        #expect(status.status == .exited(0), "\(status.stderr)")
        let doc = try JSON.parse(status.stdout)
        #expect(doc["cgroups"]?.arrayValue?.count == depth + 1)
        let check = try run([cgwardenBinary, "kill", g.path + "/tenant", "--dry-run", "--json"])
        #expect(try JSON.parse(check.stdout)["check"]?["groups"]?.uint64Value == UInt64(depth + 1), "\(check.stdout)")
        let kill = try run([cgwardenBinary, "kill", g.path + "/tenant", "--fallback"])
        #expect(kill.status == .exited(0), "\(kill.stderr)")
        #expect(v.wait(seconds: 30) == .signaled(SIGKILL) && pidsAt(bytes: bottom).isEmpty)
    }

    // MARK: mounts

    @Test func aMountBelowATargetRefusesItsKill() throws {
        let g = try TestCgroup("mount", controllers: "+pids")
        try g.child("tenant")
        try g.child("tenant/covered")
        let hidden = try sleepers(g.dir + "/tenant/covered", 2)
        let seen = try sleepers(g.dir + "/tenant", 2)
        let covered = g.dir + "/tenant/covered"
        let m = try run(["/bin/mount", "-t", "tmpfs", "cgw-test", covered])
        #expect(m.status == .exited(0), "\(m.stderr)")
        defer { _ = try? run(["/bin/umount", covered]) }
        let cmd = try run([cgwardenBinary, "kill", g.path + "/tenant", "--json"])
        #expect(cmd.status == .exited(3), "\(cmd.stderr)")
        #expect(try JSON.parse(cmd.stdout)["refusal"]?["reason"]?.stringValue == "unseen_subtree")
        #expect(hidden.isRunning && seen.isRunning)
    }
}
