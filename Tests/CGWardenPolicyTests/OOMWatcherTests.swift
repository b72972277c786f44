import Testing
import CGWardenCore
@testable import CGWardenPolicy

/// A group with its own (`local`) and hierarchical counters: oom, oom_kill, max, high (oom_group_kill last, optional).
private func counted(_ path: String, id: UInt64, local: [UInt64], hierarchical: [UInt64]? = nil, hasLocal: Bool = true) -> CgroupSnapshot {
    func events(_ c: [UInt64]) -> MemoryEvents {
        MemoryEvents(KeyedCounters(["low": 0, "high": c[3], "max": c[2], "oom": c[0], "oom_kill": c[1],
                                    "oom_group_kill": c.count > 4 ? c[4] : 0]))
    }
    var g = group(path, id: id)
    g.memory?.eventsLocal = hasLocal ? events(local) : nil
    g.memory?.events = events(hierarchical ?? local)
    return g
}

private func at(_ seconds: Double) -> Timestamp {
    Timestamp(monotonicNanos: UInt64(seconds * 1e9), wallNanos: 1_800_000_000_000_000_000 + UInt64(seconds * 1e9))
}

private func report(_ path: String, pid: Int32, command: String = "alloc", anon: UInt64 = 30 * MiB) -> KernelOOMReport {
    KernelOOMReport(sequence: UInt64(pid), timestampMicros: 0,
                    task: .init(command: command, pid: pid, uid: 0, constraint: "CONSTRAINT_MEMCG", oomGroup: CgroupPath(path),
                                taskGroup: CgroupPath(path), anonRSS: anon, fileRSS: MiB, shmemRSS: 0))
}

private func names(_ e: [GuardEvent]) -> [String] {
    e.map { "\($0.kind.rawValue) \($0.cgroup?.description ?? "-") \($0.counters.map { "\($0.name)+\($0.delta)" }.joined(separator: ",")) \($0.task?.command ?? "-")" }
}

@Suite struct OOMWatcherTests {
    @Test func theFirstSnapshotIsTheBaseline() {
        var w = OOMWatcher()
        #expect(w.observe(snapshot(at: 1, [counted("/a", id: 10, local: [3, 3, 500, 9000])])).isEmpty)
        #expect(w.observe(snapshot(at: 2, [counted("/a", id: 10, local: [3, 3, 500, 9000])])).isEmpty)
        #expect(w.trackedGroups == 1)
    }

    @Test func aKillWithItsReportIsOneEventWithTheTask() {
        var w = OOMWatcher()
        _ = w.observe(snapshot(at: 1, [counted("/t/a", id: 10, local: [0, 0, 0, 0])]))
        // The log is read first, the counters at the next snapshot.
        #expect(w.kernelReport(report("/t/a", pid: 42), at: at(1.2)).isEmpty)
        let e = w.observe(snapshot(at: 2, [counted("/t/a", id: 10, local: [1, 1, 3, 0])]))
        #expect(names(e) == ["oom /t/a oom+1,oom_kill+1 alloc"])
        #expect(e.first?.cgroupID == 10 && e.first?.task?.pid == 42 && e.first?.task?.rss == 31 * MiB)
        #expect(e.first?.time == at(1.2), "the earlier of the report and the rise")
        #expect(e.first?.kind.actor == "kernel")
        #expect(w.held == (0, 0, 0))
    }

    @Test func aRiseWaitsForItsReportThenGoesWithoutIt() {
        var w = OOMWatcher()
        _ = w.observe(snapshot(at: 1, [counted("/a", id: 10, local: [0, 0, 0, 0])]))
        #expect(w.observe(snapshot(at: 2, [counted("/a", id: 10, local: [2, 2, 0, 0])])).isEmpty)
        #expect(w.nextDeadline == 4_000_000_000)
        #expect(names(w.kernelReport(report("/a", pid: 7), at: at(2.5))) == ["oom /a oom+1,oom_kill+1 alloc"])
        #expect(w.expire(at: at(3.9)).isEmpty)
        #expect(names(w.expire(at: at(4))) == ["oom /a oom+1,oom_kill+1 -"])
        #expect(w.nextDeadline == nil)
    }

    /// Removed before its counters were read: the report alone, with the
    /// group's last id; a late rise in that group is not a second event.
    @Test func aReportWhoseGroupWasRemovedIsToldAlone() {
        var w = OOMWatcher()
        _ = w.observe(snapshot(at: 1, [counted("/t/a", id: 10, local: [0, 0, 0, 0])]))
        #expect(w.kernelReport(report("/t/a", pid: 42), at: at(1.5)).isEmpty)
        #expect(w.observe(snapshot(at: 2, [])).isEmpty)
        #expect(w.expire(at: at(4.4)).isEmpty)
        let alone = w.expire(at: at(4.5))
        #expect(names(alone) == ["oom /t/a  alloc"])
        #expect(alone.first?.cgroupID == 10 && alone.first?.reason?.contains("kernel log") == true)
        #expect(w.held.told == 1)
        #expect(w.trackedGroups == 0)
        // A group at that path whose counters show it late (read at a long interval): absorbed.
        _ = w.observe(snapshot(at: 5, [counted("/t/b", id: 11, local: [0, 0, 0, 0])]))
        var w2 = w
        _ = w2.observe([.init(path: CgroupPath("/t/b")!, id: 11, local: MemoryEvents(KeyedCounters(["oom": 1, "oom_kill": 1])))], at: at(6))
        #expect(w2.held.rises == 1 && w2.held.told == 1, "another group's rise is its own")
        #expect(w.expire(at: at(70)).isEmpty && w.held.told == 0, "told reports are forgotten after a minute")
    }

    @Test func aLateRiseInAGroupToldAloneIsAbsorbed() {
        var w = OOMWatcher()
        _ = w.observe(snapshot(at: 1, [counted("/a", id: 10, local: [0, 0, 0, 0])]))
        _ = w.kernelReport(report("/a", pid: 1), at: at(1))
        #expect(names(w.expire(at: at(5))) == ["oom /a  alloc"])
        #expect(w.observe(snapshot(at: 6, [counted("/a", id: 10, local: [1, 1, 0, 0])])).isEmpty)
        #expect(w.held.told == 0)
    }

    /// A parent's hierarchical counters count its children's events: only
    /// the group's own make an event, in the group where it happened.
    @Test func eventsAreTheGroupsOwn() {
        var w = OOMWatcher()
        _ = w.observe(snapshot(at: 1, [counted("/t", id: 5, local: [0, 0, 0, 0]), counted("/t/a", id: 10, local: [0, 0, 0, 0])]))
        _ = w.kernelReport(report("/t/a", pid: 9), at: at(1.5))
        let e = w.observe(snapshot(at: 2, [counted("/t", id: 5, local: [0, 0, 0, 0], hierarchical: [1, 1, 40, 0]),
                                           counted("/t/a", id: 10, local: [1, 1, 40, 0])]))
        #expect(names(e) == ["oom /t/a oom+1,oom_kill+1 alloc", "max /t/a max+40 -"])
    }

    /// The limit of the parent was hit, a task of the child was killed:
    /// `oom` in the parent, `oom_kill` in the child.
    @Test func anOOMAtAParentsLimitAndAKillInItsChild() {
        var w = OOMWatcher()
        _ = w.observe(snapshot(at: 1, [counted("/t", id: 5, local: [0, 0, 0, 0]), counted("/t/a", id: 10, local: [0, 0, 0, 0])]))
        var r = report("/t/a", pid: 9)
        r.task.oomGroup = CgroupPath("/t")
        _ = w.kernelReport(r, at: at(1.5))
        let e = w.observe(snapshot(at: 2, [counted("/t", id: 5, local: [1, 0, 2, 0], hierarchical: [1, 1, 2, 0]),
                                           counted("/t/a", id: 10, local: [0, 1, 0, 0])]))
        #expect(names(e) == ["oom /t oom+1 -", "oom /t/a oom_kill+1 alloc"])
    }

    @Test func threeKillsAreThreeEventsAndTwoInOneSnapshotAreTwo() {
        var w = OOMWatcher()
        _ = w.observe(snapshot(at: 1, [counted("/a", id: 10, local: [0, 0, 0, 0])]))
        var events: [GuardEvent] = []
        for k in 1...3 {
            events += w.kernelReport(report("/a", pid: Int32(100 + k), anon: UInt64(k) * MiB), at: at(Double(k) + 0.5))
            events += w.observe(snapshot(at: Double(k) + 1, [counted("/a", id: 10, local: [UInt64(k), UInt64(k), 0, 0])]))
        }
        #expect(events.map { $0.task?.pid } == [101, 102, 103])
        #expect(events.map { $0.task?.anonRSS } == [MiB, 2 * MiB, 3 * MiB])
        // Two at once, one report: one event with the task, the other after the wait.
        _ = w.kernelReport(report("/a", pid: 200), at: at(5.5))
        let two = w.observe(snapshot(at: 6, [counted("/a", id: 10, local: [5, 5, 0, 0, 1])]))
        #expect(names(two) == ["oom /a oom+1,oom_kill+1,oom_group_kill+1 alloc"])
        #expect(names(w.expire(at: at(8))) == ["oom /a oom+1,oom_kill+1 -"])
    }

    @Test func countersGoingBackwardsAreANewBaselineNotEvents() {
        var w = OOMWatcher()
        _ = w.observe(snapshot(at: 1, [counted("/a", id: 10, local: [4, 4, 900, 9000])]))
        #expect(w.observe(snapshot(at: 2, [counted("/a", id: 10, local: [0, 0, 0, 0])])).isEmpty)
        #expect(w.expire(at: at(100)).isEmpty)
        let e = w.observe(snapshot(at: 101, [counted("/a", id: 10, local: [1, 1, 0, 0])]))
        #expect(e.isEmpty && w.held.rises == 1, "a rise from the new baseline waits for its report")
    }

    /// A group made (and OOM-killed) since the last snapshot counts from
    /// zero; one merely not seen before (an older id) is a baseline.
    @Test func newGroupsCountFromZeroUnseenOldOnesAreABaseline() {
        var w = OOMWatcher()
        _ = w.observe(snapshot(at: 1, [counted("/a", id: 10, local: [0, 0, 0, 0])]))
        let made = w.observe(snapshot(at: 2, [counted("/a", id: 10, local: [0, 0, 0, 0]), counted("/old", id: 7, local: [2, 2, 0, 0]),
                                              counted("/new", id: 30, local: [0, 0, 12, 0])]))
        #expect(names(made) == ["max /new max+12 -"] && w.held.rises == 0)
        let e = w.observe(snapshot(at: 3, [counted("/newer", id: 31, local: [1, 1, 0, 0])]))
        #expect(e.isEmpty && w.held.rises == 1)
        #expect(w.trackedGroups == 1)
    }

    @Test func burstsOfMaxAndHighAreEventsAtMostOnceAMinute() {
        var w = OOMWatcher()
        _ = w.observe(snapshot(at: 0, [counted("/a", id: 10, local: [0, 0, 0, 0])]))
        // 5 reclaims at the limit: not yet a burst; 5 more within 10 s: one.
        #expect(w.observe(snapshot(at: 1, [counted("/a", id: 10, local: [0, 0, 5, 60])])).isEmpty)
        let first = w.observe(snapshot(at: 2, [counted("/a", id: 10, local: [0, 0, 10, 120])]))
        #expect(names(first) == ["max /a max+10 -", "high /a high+120 -"])
        #expect(first.first?.reason == "at its memory.max: reclaim ran 10 times within 2s")
        // Still at it: nothing for a minute, then one event with what the last window counted.
        var later: [GuardEvent] = []
        for s in 3...62 { later += w.observe(snapshot(at: Double(s), [counted("/a", id: 10, local: [0, 0, UInt64(10 + 10 * (s - 2)), 120])])) }
        // The window restarts when it passes 10 s (from the reading before): 10 a second since 52.
        #expect(names(later) == ["max /a max+100 -"], "\(names(later))")
        #expect(later.first?.reason == "at its memory.max: reclaim ran 100 times within 10s")
        #expect(later.first?.time == at(62))
    }

    @Test func sparseMaxEventsAreNoBurst() {
        var w = OOMWatcher()
        _ = w.observe(snapshot(at: 0, [counted("/a", id: 10, local: [0, 0, 0, 0])]))
        var events: [GuardEvent] = []
        // 3 every 11 s: never 10 within a window.
        for k in 1...20 { events += w.observe(snapshot(at: Double(k * 11), [counted("/a", id: 10, local: [0, 0, UInt64(3 * k), 0])])) }
        #expect(events.isEmpty)
    }

    /// Read when the group emptied, before it was removed: its rise is
    /// counted then, and the next snapshot (without it) forgets it.
    @Test func countersReadWhenAGroupEmptiesAreCounted() {
        var w = OOMWatcher()
        _ = w.observe(snapshot(at: 1, [counted("/a", id: 10, local: [0, 0, 0, 0])]))
        _ = w.kernelReport(report("/a", pid: 3), at: at(1.1))
        let e = w.observe([.init(path: CgroupPath("/a")!, id: 10,
                                 local: MemoryEvents(KeyedCounters(["low": 0, "high": 0, "max": 1, "oom": 1, "oom_kill": 1])))],
                          at: at(1.2))
        #expect(names(e) == ["oom /a oom+1,oom_kill+1 alloc"])
        #expect(w.observe([.init(path: CgroupPath("/b")!, id: 99, local: MemoryEvents(KeyedCounters(["oom_kill": 5])))], at: at(1.3)).isEmpty)
        #expect(w.observe(snapshot(at: 2, [])).isEmpty)
        #expect(w.trackedGroups == 0 && w.held == (0, 0, 0))
    }

    @Test func beforeKernel52ALeafsHierarchicalCountersAreItsOwn() {
        var w = OOMWatcher()
        let before = [counted("/t", id: 5, local: [0, 0, 0, 0], hasLocal: false), counted("/t/a", id: 10, local: [0, 0, 0, 0], hasLocal: false)]
        _ = w.observe(snapshot(at: 1, before))
        _ = w.kernelReport(report("/t/a", pid: 4), at: at(1.5))
        let e = w.observe(snapshot(at: 2, [counted("/t", id: 5, local: [1, 1, 0, 0], hasLocal: false),
                                           counted("/t/a", id: 10, local: [1, 1, 0, 0], hasLocal: false)]))
        #expect(names(e) == ["oom /t/a oom+1,oom_kill+1 alloc"])
    }

    /// Memory follows the groups: 1,000 groups then 10 keep 10; an OOM
    /// storm holds at most `maximumHeld` of anything.
    @Test func memoryIsBoundedByTheGroupsAndTheHeldLimits() {
        var w = OOMWatcher()
        let many = (0..<1000).map { counted("/g\($0)", id: UInt64(100 + $0), local: [0, 0, 0, 0]) }
        _ = w.observe(snapshot(at: 1, many))
        #expect(w.trackedGroups == 1000)
        var told = 0
        for i in 0..<1000 { told += w.kernelReport(report("/gone\(i)", pid: Int32(i + 1)), at: at(1.5)).count }
        #expect(w.held.reports == 256 && told == 744)
        let storm = (0..<1000).map { counted("/g\($0)", id: UInt64(100 + $0), local: [1, 1, 0, 0]) }
        let e = w.observe(snapshot(at: 2, storm))
        #expect(w.held.rises == 256 && e.count == 744)
        _ = w.observe(snapshot(at: 3, Array(storm.prefix(10))))
        #expect(w.trackedGroups == 10)
        _ = w.expire(at: at(1000))
        #expect(w.held.rises == 0 && w.held.reports == 0 && w.held.told <= 256)
    }
}
