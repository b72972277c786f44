import Testing
import CGWardenCore
@testable import CGWardenPolicy

/// What the flight recorder keeps is what the policy reads: every decision
/// on the recorder's snapshots is the decision on the snapshots themselves.
@Suite struct FlightRecorderReplayTests {
    @Test func theRecordersSnapshotsDecideAsTheOriginals() throws {
        let cfg = try config("""
            [[guard]]
            name = "tenants"
            match = "/t/*"
            rank = "growth"
            post_action_delay = "3s"
            [[guard.trigger]]
            usage_of_limit = "70%"
            count = "unreclaimable"
            for = "2s"
            [[guard.trigger]]
            events_per_second_above = 5
            event = "max"

            [[guard]]
            name = "node"
            match = "/"
            candidates = "leaves"
            rank = "pressure"
            mode = "observe"
            [[guard.trigger]]
            node_available_below = "30%"
            [[guard.trigger]]
            node_pressure_above = "20%"
            pressure = "full"

            [[guard]]
            name = "protected"
            match = "/p"
            candidates = "children"
            rank = "usage_above_protection"
            prefer = ["/p/b"]
            [[guard.trigger]]
            pressure_above = "30%"
            """)
        var snapshots: [Snapshot] = []
        for k in 0..<60 {
            let t = Double(k) / 2
            var groups = [group("/t", id: 2, current: 900 * MiB)]
            for i in 0..<5 {
                let grow = UInt64(i) * UInt64(k) * 3 * MiB
                var g = group("/t/x\(i)", id: UInt64(10 + i), current: 60 * MiB + grow, max: .bytes(256 * MiB),
                              events: (high: 0, max: UInt64(i == 2 ? k * k : k), oomKill: 0),
                              some: Double((k * (i + 1)) % 40), anon: 40 * MiB + grow / 2)
                g.memory?.stat = KeyedCounters(["anon": 40 * MiB + grow / 2, "file": 9 * MiB, "kernel_stack": 65536, "pagetables": 8192,
                                                "slab_unreclaimable": 4096, "shmem": MiB, "pgfault": UInt64(k * 1000)])
                groups.append(g)
            }
            groups.append(group("/p", id: 3, low: .bytes(64 * MiB), some: Double(k % 50)))
            groups.append(group("/p/a", id: 30, current: 80 * MiB, low: .bytes(70 * MiB), some: 31))
            groups.append(group("/p/b", id: 31, current: 20 * MiB, min: .max, some: 35, xattrs: ["user.oomd_avoid": "1"]))
            let available = UInt64(2048 - 30 * k) * MiB
            snapshots.append(snapshot(at: t, groups, system: system(available: available, full: Double(k % 30))))
        }
        var recorder = FlightRecorder(window: .seconds(300), maxBytes: 16 << 20)
        for s in snapshots { recorder.append(s) }
        let kept = recorder.snapshots()
        #expect(kept.count == snapshots.count)
        let original = run(cfg, snapshots), replayed = run(cfg, kept)
        var victims = 0
        for (a, b) in zip(original, replayed) {
            #expect(a.victim == b.victim && a.observed == b.observed && a.noVictimReason == b.noVictimReason)
            #expect(a.guards.map { $0.candidates.map(\.path) } == b.guards.map { $0.candidates.map(\.path) })
            #expect(a.guards.map(\.fired) == b.guards.map(\.fired))
            if a.victim != nil { victims += 1 }
        }
        #expect(victims > 0, "the scenario must make a victim")
        #expect(Replay.victims(original) == Replay.victims(replayed))
    }
}

private enum Replay {
    static func victims(_ d: [Decision]) -> [String] { d.compactMap { $0.victim.map { "\($0.path) \($0.id)" } } }
}
