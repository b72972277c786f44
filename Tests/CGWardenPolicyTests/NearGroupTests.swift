import Testing
import CGWardenCore
@testable import CGWardenPolicy

/// The groups near a threshold a decision lists, with the one figure the
/// daemon reads of each between snapshots (`GuardDecision.near`).
@Suite struct NearGroupTests {
    func evaluate(_ text: String, _ groups: [CgroupSnapshot], system s: SystemSnapshot = system(),
                  near: Double = 0.5, limit: Int = 256) throws -> GuardDecision {
        var e = Evaluator(config: try config(text), ownCgroup: nil)
        e.nearHeadroom = near
        e.nearLimit = limit
        return e.evaluate(snapshot(at: 1, groups, system: s), state: PolicyState()).0.guards[0]
    }

    static let tenants = """
        [[guard]]
        name = "tenants"
        match = "/t/*"
        [[guard.trigger]]
        usage_of_limit = "80%"
        """

    @Test func usageGroupsNearTheirThresholdAreListedNearestFirstWithTheirFigure() throws {
        let g = try evaluate(Self.tenants, [
            group("/t/far", id: 10, current: 10 * MiB, max: .bytes(100 * MiB)),      // 0.875 left
            group("/t/resting", id: 11, current: 75 * MiB, max: .bytes(100 * MiB)),  // 0.0625 left
            group("/t/half", id: 12, current: 50 * MiB, max: .bytes(100 * MiB)),     // 0.375 left
            group("/t/over", id: 13, current: 90 * MiB, max: .bytes(100 * MiB)),     // holds: nothing to read for
            group("/t/nolimit", id: 14, current: 90 * MiB),
        ])
        #expect(g.near.map(\.id) == [11, 12])
        let r = try #require(g.near.first)
        #expect(r.reading == .current && r.path == CgroupPath("/t/resting") && r.trigger == 0 && r.rising)
        #expect(r.value == Double(75 * MiB) && r.threshold == 0.8 * Double(100 * MiB))
        #expect(abs(r.headroom - 0.0625) < 1e-9)
        #expect(g.nearUnread == nil)
    }

    @Test func explainListsNothing() throws {
        let g = try evaluate(Self.tenants, [group("/t/resting", id: 11, current: 75 * MiB, max: .bytes(100 * MiB))], near: 0)
        #expect(g.near.isEmpty && g.nearUnread == nil)
    }

    @Test func unreclaimableUsageIsReadFromMemoryStat() throws {
        let g = try evaluate("""
            [[guard]]
            name = "tenants"
            match = "/t/*"
            [[guard.trigger]]
            usage_above = "100M"
            count = "unreclaimable"
            """, [group("/t/a", id: 10, current: 120 * MiB, anon: 90 * MiB)])
        #expect(g.near.map(\.reading) == [.unreclaimable])
        #expect(g.near.first?.value == Double(90 * MiB) && g.near.first?.threshold == Double(100 * MiB))
    }

    @Test func aNodeWideFigureIsListedOnceAndFallsTowardItsThreshold() throws {
        let g = try evaluate("""
            [[guard]]
            name = "node"
            match = "/t/*"
            [[guard.trigger]]
            node_available_below = "10%"
            [[guard.trigger]]
            node_pressure_above = "20%"
            pressure = "some"
            """, [group("/t/a", id: 10), group("/t/b", id: 11)],
            system: system(total: 1000 * MiB, available: 120 * MiB, some: 15))
        #expect(g.near.count == 2)
        let available = try #require(g.near.first { $0.reading == .nodeAvailable })
        #expect(available.id == 0 && available.path == .root && !available.rising)
        #expect(available.value == Double(120 * MiB) && available.threshold == Double(100 * MiB))
        let psi = try #require(g.near.first { $0.reading == .nodePressure(.some, .avg10) })
        #expect(psi.value == 15 && psi.threshold == 20 && psi.rising)
    }

    @Test func aRateHasNothingToReadAndIsLeftToSnapshots() throws {
        // A rate needs two readings: its distance counts in `nearUnread`.
        let cfg = try config("""
            [[guard]]
            name = "throttled"
            match = "/t/*"
            [[guard.trigger]]
            events_per_second_above = 100
            event = "high"
            """)
        var e = Evaluator(config: cfg, ownCgroup: nil)
        e.nearHeadroom = 0.5
        let first = e.evaluate(snapshot(at: 1, [group("/t/a", id: 10, events: (high: 0, max: 0, oomKill: 0))]), state: PolicyState())
        let second = e.evaluate(snapshot(at: 2, [group("/t/a", id: 10, events: (high: 80, max: 0, oomKill: 0))]), state: first.1).0
        #expect(second.guards[0].near.isEmpty)
        #expect(abs((second.guards[0].nearUnread ?? 0) - 0.2) < 1e-9)
    }

    @Test func pastItsLimitTheNearestLeftOutIsUnread() throws {
        let groups = (0..<40).map { i in
            group("/t/\(i)", id: UInt64(100 + i), current: UInt64(40 + i) * MiB, max: .bytes(100 * MiB))
        }
        let g = try evaluate(Self.tenants, groups, limit: 3)
        // The three nearest: 79, 78, 77 MiB of an 80 MiB threshold.
        #expect(g.near.map(\.id) == [139, 138, 137])
        #expect(abs((g.nearUnread ?? 0) - 4.0 / 80) < 1e-9)
    }

    @Test func aReadingTellsAMoveTowardTheThreshold() {
        let rising = NearGroup(trigger: 0, headroom: 0.1, path: .root, id: 1, reading: .current,
                               value: 72, threshold: 80, rising: true)
        #expect(!rising.moved(to: 72, step: 0.05))
        #expect(!rising.moved(to: 75.9, step: 0.05))   // 3.9 < 4 (5% of 80)
        #expect(rising.moved(to: 76, step: 0.05))
        #expect(!rising.moved(to: 10, step: 0.05))     // freed
        let close = NearGroup(trigger: 0, headroom: 0.01, path: .root, id: 1, reading: .current,
                              value: 79.2, threshold: 80, rising: true)
        #expect(close.moved(to: 80, step: 0.05))       // reached, by less than the step
        let falling = NearGroup(trigger: 0, headroom: 0.2, path: .root, id: 0, reading: .nodeAvailable,
                                value: 120, threshold: 100, rising: false)
        #expect(!falling.moved(to: 116, step: 0.05))
        #expect(falling.moved(to: 115, step: 0.05))
        #expect(falling.moved(to: 100, step: 0.05))
        #expect(!falling.moved(to: 500, step: 0.05))
        #expect(rising.moved(to: .nan, step: 0.05) && falling.moved(to: .infinity, step: 0.05))
    }
}
