#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
import CGWardenTestSupport

/// `cgwarden explain` (or any command) run as an operator would.
func cgwarden(_ args: [String]) throws -> (status: Termination, stdout: String, stderr: String) {
    try run([cgwardenBinary] + args)
}

@Suite(.serialized, .enabled(if: KernelEnvironment.shouldRun, Comment(rawValue: KernelEnvironment.skipReason)))
struct PolicyKernelTests {
    /// Three tenants with 128M limits; `a` grows toward its limit.
    struct Tenants {
        let g: TestCgroup
        let loads: [Child]
        let config: String

        /// A guard over the tenants of `top`: 75% of memory.max for 1 s.
        static func nearLimit(_ top: String) -> String {
            """
            [[guard]]
            name = "tenants"
            match = "\(top)/*"
            [[guard.trigger]]
            usage_of_limit = "75%"
            for = "1s"
            """
        }

        init(_ name: String, guardText: (String) -> String) throws {
            g = try TestCgroup(name)
            var loads: [Child] = []
            for (t, mib, step) in [("a", 104, 8), ("b", 48, 48), ("c", 24, 24)] {
                let d = try g.child(t)
                try g.write("\(t)/memory.max", "128M")
                try g.write("\(t)/memory.swap.max", "0")
                loads.append(try Child([testloadBinary, "alloc", "--cgroup", d, "--mib", String(mib), "--step-mib", String(step),
                                        "--interval-ms", "150", "--hold-s", "120"]))
            }
            self.loads = loads
            config = "/tmp/cgwarden-\(name)-\(getpid()).toml"
            writeFile(config, guardText(g.path))
            // a grows in 8 MiB steps every 150 ms to 104 MiB (81% of its limit).
            guard waitUntil(seconds: 60, { (g.number("a/memory.current") ?? 0) >= 100 << 20 }),
                  waitUntil(seconds: 30, { (g.number("b/memory.current") ?? 0) >= 46 << 20 }) else {
                throw KernelTestError("the tenants did not grow (a: \(g.number("a/memory.current") ?? 0), b: \(g.number("b/memory.current") ?? 0))")
            }
        }
    }

    @Test func explainChoosesTheTenantNearItsLimit() throws {
        let t = try Tenants("explain", guardText: Tenants.nearLimit)
        let r = try cgwarden(["explain", "--config", t.config, "--samples", "4", "--every", "500ms", "--json"])
        #expect(r.status == .exited(0), "\(r.stderr)")
        let d = try #require(try JSON.parse(r.stdout)["decision"])
        #expect(d["victim"]?["path"]?.stringValue == t.g.path + "/a")
        #expect(d["victim"]?["id"]?.uint64Value != nil)
        let reason = try #require(d["victim"]?["reason"]?.stringValue)
        #expect(reason.hasPrefix("guard 'tenants' fired on \(t.g.path)/a: usage >= 75% of memory.max for 1s ("))
        // b and c are far from their limits: counted as quiet, not listed.
        let watched = try #require(d["guards"]?[0]?["watched"]?.arrayValue)
        #expect(watched.map { $0["path"]?.stringValue } == [t.g.path + "/a"])
        #expect(d["guards"]?[0]?["quiet"]?.int64Value == 2)
        // Nothing was killed: explain never acts.
        let alive = t.loads.allSatisfy { $0.isRunning }
        #expect(alive)
        // The human report says the same.
        let text = try cgwarden(["explain", "--config", t.config, "--samples", "3", "--every", "600ms"])
        #expect(text.stdout.contains("decision: kill \(t.g.path)/a (id "))
    }

    @Test func anAvoidAttributeMovesTheChoiceToTheNextGroup() throws {
        let t = try Tenants("avoid") { top in """
            [[guard]]
            name = "parent"
            match = "\(top)"
            candidates = "children"
            [[guard.trigger]]
            usage_above = "150M"
            """ }
        func victim() throws -> String? {
            let r = try cgwarden(["explain", "--config", t.config, "--json"])
            return try JSON.parse(r.stdout)["decision"]?["victim"]?["path"]?.stringValue
        }
        #expect(try victim() == t.g.path + "/a")
        try t.g.setAttribute("user.oomd_avoid", "1", on: "a")
        #expect(try victim() == t.g.path + "/b")
        // oomd's trusted.* attribute (root only) works the same way.
        try t.g.setAttribute("trusted.oomd_avoid", "1", on: "b")
        #expect(try victim() == t.g.path + "/c")
        let text = try cgwarden(["explain", "--config", t.config])
        #expect(text.stdout.contains("\(t.g.path)/a  usage "))
        #expect(text.stdout.contains("[avoid: user.oomd_avoid]"))
    }

    @Test func recordThenReplayReachesTheSameDecision() throws {
        let t = try Tenants("replay", guardText: Tenants.nearLimit)
        let live = try cgwarden(["explain", "--config", t.config, "--samples", "4", "--every", "500ms", "--json"])
        let liveVictim = try JSON.parse(live.stdout)["decision"]?["victim"]?["path"]?.stringValue
        let out = "/tmp/cgwarden-replay-\(getpid()).jsonl"
        let rec = try cgwarden(["record", "--out", out, "--every", "500ms", "--duration", "2s"])
        #expect(rec.status == .exited(0), "\(rec.stderr)")
        let replay = try cgwarden(["explain", "--replay", out, "--config", t.config, "--json"])
        #expect(replay.status == .exited(0), "\(replay.stderr)")
        let doc = try JSON.parse(replay.stdout)
        #expect(doc["snapshots"]?.int64Value == 5)
        let first = try #require(doc["decisions"]?[0])
        #expect(first["victim"]?["path"]?.stringValue == liveVictim)
        #expect(liveVictim == t.g.path + "/a")
        // Sustained for 1 s: not at the first snapshot, at the third (+1s).
        let firstTime = try #require(first["time"]?["monotonic_ns"]?.uint64Value)
        let recording = try #require(readFile(out)).split(separator: "\n")
        let start = try #require(try JSON.parse(String(recording[1]))["time"]?["monotonic_ns"]?.uint64Value)
        #expect(firstTime - start >= 1_000_000_000)
        #expect(firstTime - start < 1_600_000_000)
    }
}
