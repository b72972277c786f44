#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
@testable import CGWardenCommands
import CGWardenTestSupport

@Suite struct CheckConfigTests {
    @Test func summaryOfAGoodConfig() {
        let dir = TempDir()
        defer { dir.remove() }
        writeFile(dir.path + "/cgwarden.toml", """
            protect = ["/init.scope"]
            [[guard]]
            name = "tenants"
            match = "/tenants.slice/*"
            [[guard.trigger]]
            usage_of_limit = "90%"
            """)
        makeDirectories(dir.path + "/cgwarden.d")
        writeFile(dir.path + "/cgwarden.d/10-dry.toml", "[daemon]\ndry_run = true\n")
        writeFile(dir.path + "/cgwarden.d/README", "not a drop-in\n")
        let r = runCLI(["check-config", dir.path + "/cgwarden.toml"])
        #expect(r.code == 0)
        #expect(r.out == "\(dir.path)/cgwarden.toml (+1 drop-in): OK: 1 guard: tenants (/tenants.slice/*); 1 protected pattern; interval 1s; dry run\n")
    }

    @Test func everyErrorOnItsOwnLineAndNonZeroExit() {
        let dir = TempDir()
        defer { dir.remove() }
        writeFile(dir.path + "/cgwarden.toml", """
            [[guard]]
            name = "tenants"
            match = "tenants.slice"
            [[guard.trigger]]
            usage_of_limit = "90"
            for = "ten seconds"
            """)
        let r = runCLI(["check-config", dir.path + "/cgwarden.toml"])
        #expect(r.code == 1)
        #expect(r.out == "")
        #expect(r.err == """
            \(dir.path)/cgwarden.toml:3:9: guard 'tenants': match: 'tenants.slice' can never match: a cgroup pattern starts with '/' (a path below the cgroup root)
            \(dir.path)/cgwarden.toml:5:18: guard 'tenants' trigger 1: usage_of_limit: '90' is not a percentage (write e.g. "90%")
            \(dir.path)/cgwarden.toml:6:7: guard 'tenants' trigger 1: for: 'ten seconds' is not a duration (write e.g. "500ms", "10s", "5m")
            cgwarden: the configuration has 3 errors

            """)
    }

    @Test func badUTF8AndAFIFOAreErrorsNotSilence() throws {
        let dir = TempDir()
        defer { dir.remove() }
        writeFile(dir.path + "/cgwarden.toml", "protect = [\"/a\"]\n# ok\n")
        // A byte that is not UTF-8 on line 2: named with its place, not replaced.
        let fd = open(dir.path + "/cgwarden.toml", O_WRONLY | O_APPEND)
        _ = [UInt8]([0x23, 0x20, 0xff, 0x0a]).withUnsafeBytes { write(fd, $0.baseAddress, 4) }
        close(fd)
        let r = runCLI(["check-config", dir.path + "/cgwarden.toml"])
        #expect(r.code == 1 && r.err.hasPrefix("\(dir.path)/cgwarden.toml:3:3: "), "\(r.err)")
        mkfifo(dir.path + "/fifo.toml", 0o644)
        let fifo = runCLI(["check-config", dir.path + "/fifo.toml"])
        #expect(fifo.code == 1 && fifo.err.contains("fifo.toml"))
    }

    @Test func missingFile() {
        let r = runCLI(["check-config", "/nonexistent/cgwarden.toml"])
        #expect(r.code == 1)
        #expect(r.err == "cgwarden: cannot read the configuration: /nonexistent/cgwarden.toml: No such file or directory (open)\n")
    }
}

/// A tenant at 95% of its limit for as long as the fixture stands still.
func tenantNode() -> FixtureTree {
    let t = FixtureTree()
    t.add("/tenants.slice")
    var a = FixtureGroup()
    a.current = String(95 << 20)
    a.max = String(100 << 20)
    a.procs = [501]
    t.add("/tenants.slice/a.slice", a)
    var b = FixtureGroup()
    b.current = String(20 << 20)
    b.max = String(100 << 20)
    b.procs = [502]
    t.add("/tenants.slice/b.slice", b)
    return t
}

func tenantConfig(_ dir: TempDir, sustain: String = "0s") -> String {
    writeFile(dir.path + "/cgwarden.toml", """
        [[guard]]
        name = "tenants"
        match = "/tenants.slice/*"
        [[guard.trigger]]
        usage_of_limit = "90%"
        for = "\(sustain)"
        """)
    return dir.path + "/cgwarden.toml"
}

@Suite struct ExplainCommandTests {
    @Test func choosesTheTenantAtItsLimit() {
        let t = tenantNode(), dir = TempDir()
        defer { dir.remove() }
        let r = runCLI(["explain", "--config", tenantConfig(dir), "--root", t.root, "--proc", t.proc])
        #expect(r.code == 0)
        #expect(r.err == "")
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines[1].hasPrefix("decision: kill /tenants.slice/a.slice (id "))
        #expect(lines[2] == "  why: guard 'tenants' fired on /tenants.slice/a.slice: usage >= 90% of memory.max (95.0M of 100.0M (95.0%)); ranked first by usage 95.0M")
        #expect(r.out.contains("    1. /tenants.slice/a.slice  usage 95.0M"))
    }

    @Test func sustainedTriggersNeedSamples() throws {
        let t = tenantNode(), dir = TempDir()
        defer { dir.remove() }
        let cfg = tenantConfig(dir, sustain: "200ms")
        let once = runCLI(["explain", "--config", cfg, "--root", t.root, "--proc", t.proc])
        #expect(once.out.contains("decision: no kill (no guard fired)"))
        #expect(once.out.contains("… usage >= 90% of memory.max for 200ms: 95.0M of 100.0M (95.0%), holding for 0s"))
        let three = runCLI(["explain", "--config", cfg, "--root", t.root, "--proc", t.proc, "--samples", "3", "--every", "120ms", "--json"])
        #expect(three.code == 0)
        let doc = try JSON.parse(three.out)
        #expect(doc["samples"]?.int64Value == 3)
        #expect(doc["decision"]?["victim"]?["path"]?.stringValue == "/tenants.slice/a.slice")
        let held = try #require(doc["decision"]?["guards"]?[0]?["watched"]?[0]?["triggers"]?[0]?["held_for_s"]?.numberValue)
        #expect(held >= 0.2)
    }

    @Test func badOptions() {
        #expect(runCLI(["explain", "--samples", "0"]).err.hasPrefix("cgwarden: --samples must be 1 or more"))
        #expect(runCLI(["explain", "--every", "soon"]).code == 64)
    }

    @Test func noCgroup2() {
        let dir = TempDir()
        defer { dir.remove() }
        let r = runCLI(["explain", "--config", tenantConfig(dir), "--root", dir.path])
        #expect(r.code == 2)
        #expect(r.err.hasPrefix("cgwarden: \(dir.path) is not a cgroup v2 hierarchy"))
    }
}

@Suite struct RecordAndReplayTests {
    @Test func thePolicyDiffPrintsOnlyTheKillsThatDiffer() throws {
        let t = tenantNode(), dir = TempDir()
        defer { dir.remove() }
        let out = dir.path + "/incident.jsonl"
        #expect(runCLI(["record", "--out", out, "--every", "100ms", "--duration", "500ms", "--root", t.root, "--proc", t.proc]).code == 0)
        let now = tenantConfig(dir, sustain: "0s")                 // kills a.slice at once
        let later = dir.path + "/later.toml"
        writeFile(later, """
            [[guard]]
            name = "tenants"
            match = "/tenants.slice/*"
            [[guard.trigger]]
            usage_of_limit = "90%"
            for = "250ms"
            """)                                                    // the same group, 0.3 s later
        let strict = dir.path + "/strict.toml"
        writeFile(strict, "[[guard]]\nname = \"strict\"\nmatch = \"/tenants.slice/*\"\n[[guard.trigger]]\nusage_of_limit = \"99%\"\n")
        let same = runCLI(["explain", "--replay", out, "--config", now, "--against", now])
        #expect(same.code == 0 && same.out.contains("no difference"))
        let moved = runCLI(["explain", "--replay", out, "--config", now, "--against", later])
        #expect(moved.code == 0, "\(moved.err)")
        #expect(moved.out.contains("+0s A, +0.3s B: both kill /tenants.slice/a.slice (id "), "\(moved.out)")
        let never = runCLI(["explain", "--replay", out, out, "--config", now, "--against", strict])
        let lines = never.out.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("+0s only A: kill /tenants.slice/a.slice (id ") }.count == 2, "\(never.out)")
        #expect(!never.out.contains("only B"))
        let j = try JSON.parse(runCLI(["explain", "--replay", out, "--config", now, "--against", strict, "--json"]).out)
        #expect(j["recordings"]?[0]?["only_a"]?.arrayValue?.count == 1 && j["recordings"]?[0]?["only_b"]?.arrayValue?.isEmpty == true)
        #expect(runCLI(["explain", "--against", strict]).code == 64)
    }

    @Test func recordThenReplayReachesTheSameDecision() throws {
        let t = tenantNode(), dir = TempDir()
        defer { dir.remove() }
        let cfg = tenantConfig(dir, sustain: "250ms")
        let out = dir.path + "/incident.jsonl"
        let rec = runCLI(["record", "--out", out, "--every", "100ms", "--duration", "500ms", "--root", t.root, "--proc", t.proc])
        #expect(rec.code == 0)
        #expect(rec.err == "cgwarden: recorded 6 snapshots to \(out)\n")
        let lines = try #require(readFile(out)).split(separator: "\n")
        #expect(lines.count == 7)
        #expect(lines[0] == "{\"cgwarden_recording\":1,\"root\":\"\(t.root)\",\"interval_ns\":100000000}")

        let replay = runCLI(["explain", "--replay", out, "--config", cfg])
        #expect(replay.code == 0)
        let r = replay.out.split(separator: "\n").map(String.init)
        #expect(r[0].hasPrefix("cgwarden explain --replay \(out): 6 snapshots, "))
        // The trigger holds from the first snapshot; it has held 250 ms at the fourth (+0.3s).
        #expect(r.count == 3)
        #expect(r[1].contains(" (+0.3s): kill /tenants.slice/a.slice (id "))
        #expect(r[1].hasSuffix("), guard 'tenants'"))
        #expect(r[2].hasPrefix("  why: guard 'tenants' fired on /tenants.slice/a.slice: usage >= 90% of memory.max for 250ms"))

        let j = try JSON.parse(runCLI(["explain", "--replay", out, "--config", cfg, "--json"]).out)
        #expect(j["snapshots"]?.int64Value == 6)
        #expect(j["decisions"]?.arrayValue?.count == 1)
    }

    @Test func replayOfAForeignFileFails() {
        let dir = TempDir()
        defer { dir.remove() }
        writeFile(dir.path + "/x.jsonl", "{\"hello\": 1}\n")
        let r = runCLI(["explain", "--replay", dir.path + "/x.jsonl", "--config", tenantConfig(dir)])
        #expect(r.code == 1)
        #expect(r.err == "cgwarden: \(dir.path)/x.jsonl: line 1: not a cgwarden recording (no \"cgwarden_recording\" header)\n")
    }
}
