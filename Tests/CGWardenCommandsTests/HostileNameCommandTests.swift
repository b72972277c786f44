#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCommands
import CGWardenCore
import CGWardenTestSupport

/// What an operator sees of hostile trees: every name escaped in every
/// text, nothing dropped without a word, any depth (families "names",
/// "depth" and reports in Docs/security.md).
@Suite struct HostileNameCommandTests {
    /// A tenant at its limit whose name is a terminal escape sequence, and a
    /// group whose name is not UTF-8.
    func node() -> FixtureTree {
        let t = tenantNode()
        var evil = FixtureGroup()
        evil.current = String(99 << 20)
        evil.max = String(100 << 20)
        evil.procs = [503]
        t.add("/tenants.slice/\u{1b}]0;owned\u{7}\u{1b}[2J", evil)
        t.add(bytes: [0xff, 0xfe], below: "/tenants.slice", procs: [504])
        return t
    }

    func noRawControls(_ s: String) -> Bool {
        !s.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n") || ($0.value >= 0x7f && $0.value < 0xa0) }
    }

    @Test func statusShowsEveryNameEscaped() {
        let t = node()
        let r = runCLI(["status", "--root", t.root, "--proc", t.proc])
        #expect(r.code == 0, "\(r.err)")
        #expect(noRawControls(r.out) && noRawControls(r.err))
        #expect(r.out.contains("\\x1b]0;owned\\x07\\x1b[2J") || r.out.contains("\\x1b]0;ow…"))
        #expect(r.out.contains("\\xff\\xfe"))
        let json = runCLI(["status", "--root", t.root, "--proc", t.proc, "--json"])
        #expect(json.out.contains("\"/tenants.slice/\\\\xff\\\\xfe\""))
    }

    @Test func explainAndItsReplayShowNamesEscaped() throws {
        let t = node(), dir = TempDir()
        defer { dir.remove() }
        let r = runCLI(["explain", "--config", tenantConfig(dir), "--root", t.root, "--proc", t.proc, "--verbose"])
        #expect(r.code == 0, "\(r.err)")
        #expect(noRawControls(r.out) && noRawControls(r.err))
        #expect(r.out.contains("decision: kill /tenants.slice/\\x1b]0;owned\\x07\\x1b[2J (id "))
        let recording = dir.path + "/r.jsonl"
        let rec = runCLI(["record", "--out", recording, "--root", t.root, "--proc", t.proc, "--every", "100ms", "--duration", "250ms"])
        #expect(rec.code == 0, "\(rec.err)")
        let replay = runCLI(["explain", "--replay", recording, "--config", tenantConfig(dir)])
        #expect(replay.code == 0, "\(replay.err)")
        #expect(noRawControls(replay.out) && replay.out.contains("/tenants.slice/\\x1b]0;owned\\x07\\x1b[2J"))
    }

    @Test func aNameIsGivenOnTheCommandLineAsItIsShown() {
        let t = node()
        let r = runCLI(["status", "/tenants.slice/\\xff\\xfe", "--root", t.root, "--proc", t.proc])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("/tenants.slice/\\xff\\xfe"))
        let bad = runCLI(["status", "/tenants.slice/\\q", "--root", t.root, "--proc", t.proc])
        #expect(bad.code == 64 && bad.err.contains("must start"), "\(bad.err)")
        // A refusal names the group escaped too.
        let kill = runCLI(["kill", "/tenants.slice/\u{1b}[2J/../x", "--root", t.root, "--dry-run"])
        #expect(kill.code == 3 && noRawControls(kill.err) && kill.err.contains("\\x1b[2J"))
    }

    @Test func aTreeDeeperThanTheOldBoundIsListedWhole() {
        let t = FixtureTree()
        var path = ""
        for _ in 0..<400 {
            path += "/n"
            t.add(path)
        }
        let r = runCLI(["status", "--root", t.root, "--proc", t.proc, "--json"])
        #expect(r.code == 0)
        #expect(r.out.components(separatedBy: "\"path\"").count - 1 == 401)
        let text = runCLI(["status", "--root", t.root, "--proc", t.proc])
        #expect(text.code == 0 && text.out.split(separator: "\n").count > 400)
    }

    @Test func pathsLongerThanPathMaxAreCutAndSaid() {
        let t = FixtureTree()
        // 20 × 251 bytes: past 4,095 after 16 levels.
        t.addChain(Array(repeating: String(repeating: "x", count: 250), count: 20), below: "")
        let r = runCLI(["status", "--root", t.root, "--proc", t.proc])
        #expect(r.code == 1)
        #expect(r.err.contains("are not listed: their paths would be longer than 4095 bytes"), "\(r.err)")
    }
}
