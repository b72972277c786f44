import Testing
@testable import CGWardenCore

private let MiB: UInt64 = 1 << 20

/// A node of `n` tenant groups below two slices, as the daemon reads it
/// (`.policy` fields: every key of memory.stat, events and events.local, peak).
func flightNode(_ n: Int, at seconds: Double, usage: (Int) -> UInt64 = { UInt64($0 + 1) * MiB },
                pressure: (Int) -> Double = { _ in 0 }, groups: Range<Int>? = nil) -> Snapshot {
    let stat = KeyedCounters(["anon": 7 * MiB, "file": 3 * MiB, "kernel": MiB, "kernel_stack": 65536, "pagetables": 131072,
                              "sec_pagetables": 0, "percpu": 0, "sock": 0, "vmalloc": 0, "shmem": 4096, "file_mapped": 1 << 20,
                              "file_dirty": 0, "file_writeback": 0, "swapcached": 0, "anon_thp": 0, "inactive_anon": 5 * MiB,
                              "active_anon": 2 * MiB, "inactive_file": MiB, "active_file": 2 * MiB, "unevictable": 0,
                              "slab_reclaimable": 200_000, "slab_unreclaimable": 100_000, "pgfault": 123_456, "pgmajfault": 12])
    let events = MemoryEvents(KeyedCounters(["low": 0, "high": 0, "max": 3, "oom": 0, "oom_kill": 0, "oom_group_kill": 0]))
    var cgroups = [CgroupSnapshot(path: .root, id: 1, pressure: Pressure(some: PressureLine(avg10: 0.5, total: 999), full: nil)),
                   CgroupSnapshot(path: CgroupPath("/tenants.slice")!, id: 2,
                                  memory: MemoryState(current: 100 * MiB, max: .max, high: .max, low: .bytes(0), min: .bytes(0)))]
    for i in groups ?? 0..<n {
        let m = MemoryState(current: usage(i), max: i % 3 == 0 ? .max : .bytes(512 * MiB), high: .max, low: .bytes(0), min: .bytes(0),
                            peak: 900 * MiB, swapCurrent: 0, swapMax: .max, events: events, eventsLocal: events, stat: stat)
        // As the kernel writes them: two decimals (a pressure that is not, as its bits).
        let p = pressure(i)
        func two(_ d: Double) -> Double { p == (p * 100).rounded() / 100 ? (d * 100).rounded() / 100 : d }
        cgroups.append(CgroupSnapshot(path: CgroupPath("/tenants.slice/tenant-\(i).service")!, id: UInt64(1000 + i), memory: m,
                                      pressure: Pressure(some: PressureLine(avg10: p, avg60: two(p / 2), avg300: two(p / 4), total: UInt64(p * 1000)),
                                                         full: PressureLine(avg10: two(p / 2), total: UInt64(p * 500))),
                                      events: CgroupEvents(populated: true, frozen: false), nrProcs: 3,
                                      attributes: i == 5 ? CgroupAttributes(ownerUID: 1000, values: ["user.oomd_avoid": "1"]) : nil))
    }
    let ns = UInt64(seconds * 1e9)
    return Snapshot(root: "/sys/fs/cgroup", time: Timestamp(monotonicNanos: ns, wallNanos: 1_700_000_000_000_000_000 + ns),
                    system: SystemSnapshot(meminfo: MemInfo(memTotal: 8 << 30, memAvailable: 4 << 30 - UInt64(seconds * 1e6),
                                                            swapTotal: 0, swapFree: 0,
                                                            all: KeyedCounters(["MemTotal": 8 << 30])),
                                           pressure: Pressure(some: PressureLine(avg10: 1.25, total: 77), full: PressureLine()),
                                           oomKill: 2),
                    cgroups: cgroups)
}

@Suite struct FlightRecorderTests {
    /// Every field a replay reads comes back exactly: limits `max`, absent
    /// fields, a group without memory accounting, pressure without `full`,
    /// attributes set and unset, groups made and removed, time going on.
    @Test func whatAReplayReadsComesBackExactly() {
        var r = FlightRecorder(window: .seconds(600), maxBytes: 64 << 20)
        var kept: [Snapshot] = []
        for t in 0..<10 {
            var s = flightNode(20, at: Double(t), usage: { UInt64($0 + t) * MiB }, pressure: { Double(($0 + t) % 7) * 1.37 },
                               groups: t < 5 ? 0..<20 : 3..<25)
            if t == 3 { s.cgroups[4].attributes = CgroupAttributes(ownerUID: 0, values: ["trusted.oomd_prefer": "1"]) }
            if t == 6 { s.cgroups[5].memory = nil; s.cgroups[6].pressure?.full = nil; s.cgroups[7].events = nil; s.cgroups[8].nrProcs = nil }
            if t == 7 { s.cgroups[9].memory?.max = nil; s.cgroups[9].memory?.stat = nil; s.cgroups[9].memory?.events = nil }
            if t == 8 { s.system.pressure = nil; s.system.oomKill = nil; s.cgroups[10].memory?.low = .bytes(.max) }
            r.append(s)
            kept.append(FlightRecorder.projected(s))
        }
        let back = r.snapshots()
        #expect(back.count == 10)
        for (a, b) in zip(back, kept) {
            #expect(a == b, "\(a.time.monotonicNanos): \(a.cgroups.first { g in !b.cgroups.contains(g) }.map { "\($0)" } ?? "system")")
        }
        // What is dropped: not read by the policy.
        #expect(back[0].cgroups[3].memory?.peak == nil && back[0].cgroups[3].memory?.eventsLocal == nil)
        #expect(back[0].cgroups[3].memory?.stat?.keys == ["anon", "shmem", "kernel"])
        #expect(back[0].cgroups[3].memory?.unreclaimable == flightNode(20, at: 0).cgroups[3].memory?.unreclaimable)
    }

    @Test func theRecordingReadsBackAsTheSnapshots() throws {
        var r = FlightRecorder(window: .seconds(60), maxBytes: 8 << 20)
        for t in 0..<5 { r.append(flightNode(4, at: Double(t))) }
        var text = ""
        r.recordingLines(intervalNanos: 1_000_000_000) { text += $0 + "\n" }
        let rec = try Recording.parse(text)
        #expect(rec.root == "/sys/fs/cgroup" && rec.intervalNanos == 1_000_000_000 && !rec.truncatedTail)
        // As documents: JSON reads an absent memory.swap.max as `max` (the replay reads neither).
        #expect(rec.snapshots.map { $0.recordJSON } == r.snapshots().map { $0.recordJSON })
        #expect(rec.snapshots.count == 5)
    }

    @Test func theWindowKeepsTheLastMinutes() {
        var r = FlightRecorder(window: .seconds(30), maxBytes: 64 << 20)
        for t in 0..<200 { r.append(flightNode(3, at: Double(t))) }
        let times = r.snapshots().map { $0.time.monotonicNanos / 1_000_000_000 }
        #expect(times.first == 169 && times.last == 199 && times.count == 31)
        // Held: whole segments of 64, the oldest partly outside the window.
        #expect(r.count <= 31 + FlightRecorder.snapshotsPerSegment)
    }

    @Test func theByteCapHoldsAndDisabledKeepsNothing() {
        var r = FlightRecorder(window: .seconds(3600), maxBytes: 256 << 10)
        var most = 0
        for t in 0..<300 {
            r.append(flightNode(200, at: Double(t), usage: { UInt64($0 * 4096 + t * 65536) }, pressure: { Double(($0 * 7 + t) % 100) }))
            most = max(most, r.bytes)
        }
        #expect(most <= 256 << 10, "\(most) bytes")
        let kept = r.snapshots()
        #expect(kept.count > 10 && kept.last?.time.monotonicNanos == 299_000_000_000)
        var off = FlightRecorder(window: .zero, maxBytes: 1 << 20)
        off.append(flightNode(3, at: 0))
        #expect(off.bytes == 0 && off.snapshots().isEmpty)
    }

    /// A time before the last (never on CLOCK_MONOTONIC): what is held goes,
    /// a recording's times only go forward.
    @Test func aSnapshotOlderThanTheLastStartsAfresh() {
        var r = FlightRecorder(window: .seconds(600), maxBytes: 1 << 20)
        r.append(flightNode(2, at: 10))
        r.append(flightNode(2, at: 5))
        #expect(r.count == 1 && r.snapshots().map(\.time.monotonicNanos) == [5_000_000_000])
    }

    /// The figures for the report: a node of 1,000 groups, sampled each
    /// second, a third of them moving each time (usage and PSI).
    @Test func bytesPerSnapshotAtAThousandGroups() throws {
        var r = FlightRecorder(window: .seconds(300), maxBytes: 512 << 20)
        let clock = ContinuousClock()
        var encode = Duration.zero
        for t in 0..<128 {
            // Group i moves at the times t = i (mod 3): how many times so far.
            func moves(_ i: Int) -> Int { t < i % 3 ? 0 : (t - i % 3) / 3 + 1 }
            let s = flightNode(1000, at: Double(t), usage: { i in UInt64(i + 1) * MiB + UInt64(moves(i)) * 40960 },
                               pressure: { i in Double((i + moves(i)) % 50) / 4 })
            encode += clock.measure { r.append(s) }
        }
        let first = r.bytes  // two segments: 64 + 64
        var one = FlightRecorder(window: .seconds(300), maxBytes: 512 << 20)
        one.append(flightNode(1000, at: 0))
        let full = one.bytes
        let perDelta = (first - 2 * full) / 126
        let json = flightNode(1000, at: 0).recordJSON.serialized().utf8.count
        let projectedJSON = FlightRecorder.projected(flightNode(1000, at: 0)).recordJSON.serialized().utf8.count
        print("flight recorder at 1,000 groups: full snapshot \(full) B, a snapshot with a third of the groups moving \(perDelta) B "
              + "(\(r.bytes) B for 128 snapshots), encode \(encode / 128) each (debug build); as a recording line \(projectedJSON) B "
              + "(\(json) B with every field)")
        #expect(full < 80 * 1000, "\(full) bytes for a full snapshot")
        #expect(perDelta < 25 * 334, "\(perDelta) bytes for 334 changed groups")
    }
}
