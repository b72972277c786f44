#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
@testable import CGWardenCommands
import CGWardenTestSupport

/// `cgwarden kill` as an operator runs it: arguments, refusals, output. The
/// helper needs the real binary, so those cases run `cgwarden` itself, on a
/// fixture root (kills are refused there: not cgroup2; KernelTests kill).
@Suite(.serialized) struct KillCommandTests {
    @Test func badArguments() {
        let cases: [([String], String)] = [
            (["kill"], "cgwarden: Missing expected argument '<cgroup>' (see 'cgwarden kill --help')"),
            (["kill", "/a", "--protect", "a/b"], "cgwarden: --protect a/b: a cgroup pattern starts with '/' (a path below the cgroup root) (see 'cgwarden kill --help')"),
            (["kill", "/a", "--timeout", "0s"], "cgwarden: --timeout must be between 1ms and 600s (see 'cgwarden kill --help')"),
            (["kill", "/a", "--timeout", "soon"], "cgwarden: The value 'soon' is invalid for '--timeout <timeout>' (see 'cgwarden kill --help')"),
            (["kill", "/a", "--dry-run", "--fallback"], "cgwarden: --fallback has no meaning with --dry-run (see 'cgwarden kill --help')"),
        ]
        for (args, message) in cases {
            let r = runCLI(args)
            #expect(r.code == 64, "\(args)")
            #expect(r.err == message + "\n", "\(args)")
            #expect(r.out == "")
        }
    }

    @Test func escapesAreRefusedBeforeAnythingStarts() throws {
        let r = runCLI(["kill", "/a/../../etc"])
        #expect(r.code == 3)
        #expect(r.err == "cgwarden: refused to kill /a/../../etc: not a path below the cgroup root: the path has a '..' component\n")
        let j = runCLI(["kill", "//etc", "--json", "--dry-run"])
        #expect(j.code == 3)
        let doc = try JSON.parse(j.out)
        #expect(doc["outcome"]?.stringValue == "refused" && doc["action"]?.stringValue == "check")
        #expect(doc["refusal"]?["reason"]?.stringValue == "invalid_path")
        #expect(doc["id"]?.isNull == true && doc["helper"]?.isNull == true)
        #expect(j.err == "cgwarden: refused to kill (dry run) //etc: not a path below the cgroup root: an absolute path (it must be relative to the cgroup root)\n")
    }

    @Test func aBrokenConfigurationIsReportedBeforeAnythingStarts() {
        let dir = TempDir()
        defer { dir.remove() }
        writeFile(dir.path + "/bad.toml", "protect = [\"a\"]\n")
        let broken = runCLI(["kill", "/a/b", "--config", dir.path + "/bad.toml"])
        #expect(broken.code == 1)
        #expect(broken.err.hasPrefix("\(dir.path)/bad.toml:1:12: protect: 'a' can never match"))
    }

    @Test func helpListsKillButNotTheHelper() {
        let r = runCLI(["--help"])
        #expect(r.out.contains("kill") && r.out.contains("Kill every process of a cgroup"))
        #expect(!r.out.contains("kill-helper"))
        let k = runCLI(["kill", "--help"])
        for option in ["--root", "--dry-run", "--json", "--protect", "--user", "--group", "--timeout", "--fallback"] {
            #expect(k.out.contains(option), "\(option)")
        }
    }

    /// A fixture root the command can read after dropping to nobody.
    func fixture() -> TempDir {
        let t = TempDir("cgwarden-killcmd")
        chmod(t.path, 0o755)
        makeDirectories(t.path + "/real/child")
        writeFile(t.path + "/cgroup.procs", "1\n")
        writeFile(t.path + "/real/cgroup.procs", "4001\n4002\n")
        writeFile(t.path + "/real/child/cgroup.procs", "4003\n")
        writeFile(t.path + "/real/memory.current", "8192\n")
        _ = symlink(t.path + "/real", t.path + "/evil")
        return t
    }

    @Test func dryRunOnAFixture() throws {
        let t = fixture()
        defer { t.remove() }
        var st = stat()
        #expect(stat(t.path + "/real", &st) == 0)
        let r = try run([cgwardenBinary, "kill", "/real", "--root", t.path, "--dry-run"])
        #expect(r.status == .exited(0), "\(r.stderr)")
        #expect(r.stdout == """
            dry run: would kill /real (id \(st.st_ino)): 3 processes in 2 groups, memory.current 8.0K; every check passed
              owner uid 0

            """)
        let j = try run([cgwardenBinary, "kill", "/real", "--root", t.path, "--dry-run", "--json"])
        let doc = try JSON.parse(j.stdout)
        #expect(doc["outcome"]?.stringValue == "would_kill")
        #expect(doc["check"]?["processes"]?.uint64Value == 3 && doc["check"]?["groups"]?.uint64Value == 2)
        #expect(doc["helper"]?["seccomp"]?.boolValue == true && doc["helper"]?["root_is_cgroup2"]?.boolValue == false)
        if geteuid() == 0 {
            // Run as root, the command's own side drops to its own user, with no capabilities.
            #expect(doc["unprivileged"]?["uid"]?.uint64Value == UInt64(getpwnam("cgwarden")?.pointee.pw_uid ?? 0))
            #expect(doc["unprivileged"]?["cap_eff"]?.stringValue == "0000000000000000")
            #expect(doc["unprivileged"]?["no_new_privs"]?.boolValue == true)
        }
    }

    @Test func refusalsOnAFixture() throws {
        let t = fixture()
        defer { t.remove() }
        let cases: [([String], String)] = [
            (["/real"], "cgwarden: refused to kill /real: the cgroup root is not a cgroup v2 mount\n"),
            (["/evil"], "cgwarden: refused to kill /evil: the path goes through a symbolic link\n"),
            (["/nope"], "cgwarden: refused to kill /nope: no such cgroup\n"),
            (["/real", "--protect", "/real/child"], "cgwarden: refused to kill /real: /real/child is protected (/real/child)\n"),
            (["/real/cgroup.procs"], "cgwarden: refused to kill /real/cgroup.procs: the path goes through something that is not a directory\n"),
        ]
        for (args, message) in cases {
            let r = try run([cgwardenBinary, "kill", "--root", t.path] + args)
            #expect(r.status == .exited(3), "\(args): \(r.stderr)")
            #expect(r.stderr == message, "\(args)")
            #expect(r.stdout == "")
        }
        let u = try run([cgwardenBinary, "kill", "/real", "--root", t.path, "--user", "no-such-user-x"])
        if geteuid() == 0 {
            #expect(u.status == .exited(1), "\(u.stderr)")
            #expect(u.stderr == "cgwarden: no user no-such-user-x to drop privileges to (create it: scripts/setup and the package do; or --user)\n")
            // nobody is shared by other services: refused unless allowed.
            let shared = try run([cgwardenBinary, "kill", "/real", "--root", t.path, "--dry-run", "--user", "nobody", "--group", "nogroup"])
            #expect(shared.status == .exited(1) && shared.stderr.contains("is shared with other services"), "\(shared.stderr)")
            let allowed = try run([cgwardenBinary, "kill", "/real", "--root", t.path, "--dry-run", "--user", "nobody",
                                   "--group", "nogroup", "--allow-shared-user", "--json"])
            #expect(allowed.status == .exited(0), "\(allowed.stderr)")
            #expect(try JSON.parse(allowed.stdout)["unprivileged"]?["uid"]?.uint64Value == 65534)
        }
    }
}
