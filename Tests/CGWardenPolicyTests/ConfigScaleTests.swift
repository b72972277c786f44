import Testing
import CGWardenCore
@testable import CGWardenPolicy

/// Large configurations load in time linear in their size (CPU time of the thread): many guards, long pattern lists,
/// long unknown keys. The bound is generous: each case takes 0.5-2 s in a debug build on a
/// loaded 2-core machine (most of it parsing the TOML). The quadratic steps it guards against
/// were measured, debug build, three tests at once: 23 s for these 10,000 guards (a linear
/// search per guard name), 71 s for lists twice these (`avoid.contains` per preferred pattern,
/// so about 18 s here), 46 s for twice these keys (an edit distance against every known key).
@Suite struct ConfigScaleTests {
    static let timeBound = Duration.seconds(10)

    func load(_ text: String) -> (errors: [String], elapsed: Duration) {
        var errors: [String] = []
        let elapsed = threadCPUTime {
            do throws(ConfigErrors) {
                _ = try ConfigLoader.load([(name: "test.toml", text: text)])
            } catch {
                errors = error.errors.map(\.description)
            }
        }
        return (errors, elapsed)
    }

    @Test func tenThousandGuards() {
        let guards = (0..<10_000).map { "[[guard]]\nname = \"g\($0)\"\nmatch = \"/a\"\n[[guard.trigger]]\noom_kill = true\n" }
        let result = load(guards.joined() + "[[guard]]\nname = \"g0\"\nmatch = \"/a\"\n[[guard.trigger]]\noom_kill = true\n")
        #expect(result.errors == ["test.toml:50001:1: guard 'g0': a second guard with this name (the first is at line 1); in a drop-in it would replace it"])
        #expect(result.elapsed < ConfigScaleTests.timeBound)
    }

    @Test func longPreferAndAvoidLists() {
        let prefer = (0..<10_000).map { "\"/a/p\($0)\"" }.joined(separator: ", ")
        let avoid = (0..<10_000).map { "\"/a/v\($0)\"" }.joined(separator: ", ") + ", \"/a/p7\""
        let result = load("""
            [[guard]]
            name = "g"
            match = "/a"
            prefer = [\(prefer)]
            avoid = [\(avoid)]
            [[guard.trigger]]
            oom_kill = true
            """)
        #expect(result.errors == ["test.toml:5:9: guard 'g': avoid: '/a/p7' is both preferred and avoided"])
        #expect(result.elapsed < ConfigScaleTests.timeBound)
    }

    @Test func longUnknownKeys() {
        let key = String(repeating: "x", count: 100_000)
        let result = load((0..<10).map { "\(key)\($0) = 1\n" }.joined())
        #expect(result.errors.count == 10)
        #expect(result.errors.first?.hasSuffix(": unknown key (known here: daemon, events, protect, honor_xattrs, guard, hook, metrics, min_kill_size, post_action_delay)") == true)
        #expect(result.elapsed < ConfigScaleTests.timeBound)
        // A near miss is still caught.
        #expect(load("protect = []\nguard_ = 1\n").errors == ["test.toml:2:1: guard_: unknown key (did you mean 'guard'?)"])
    }
}
