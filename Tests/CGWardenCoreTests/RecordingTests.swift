import Testing
@testable import CGWardenCore

@Suite struct RecordingTests {
    func sample(_ t: UInt64) -> Snapshot {
        let ev = MemoryEvents(KeyedCounters(["low": 0, "high": 3, "max": 61, "oom": 1, "oom_kill": 1, "oom_group_kill": 0, "sock_throttled": 2]))
        let g = CgroupSnapshot(
            path: CgroupPath("/tenants.slice/a b ü")!, id: 94,
            memory: MemoryState(current: 1 << 26, max: .bytes(1 << 26), high: .max, low: .bytes(0), min: .max, peak: nil,
                                swapCurrent: 0, swapMax: .bytes(0), events: ev, eventsLocal: ev,
                                stat: KeyedCounters(["anon": 5, "file": 6])),
            pressure: Pressure(some: PressureLine(avg10: 1.59, avg60: 0.35, avg300: 0.08, total: 140_941), full: nil),
            events: CgroupEvents(populated: true, frozen: nil), nrProcs: 3,
            attributes: CgroupAttributes(ownerUID: 1000, values: ["user.oomd_avoid": "1"]))
        let off = CgroupSnapshot(path: CgroupPath("/plain")!, id: 95, pressure: nil, events: CgroupEvents(populated: false, frozen: nil), nrProcs: 0)
        return Snapshot(root: "/sys/fs/cgroup", time: Timestamp(monotonicNanos: t, wallNanos: 1_795_747_813_000_000_000 + t),
                        system: SystemSnapshot(meminfo: MemInfo(memTotal: 2 << 30, memAvailable: 1 << 30, swapTotal: 0, swapFree: 0),
                                               pressure: Pressure(some: PressureLine(), full: PressureLine()), oomKill: 7),
                        cgroups: [CgroupSnapshot(path: .root, id: 1, pressure: nil, nrProcs: 40), g, off])
    }

    @Test func snapshotsRoundTrip() throws {
        let s = sample(1_000)
        let back = try Snapshot(json: try JSON.parse(s.recordJSON.serialized()))
        #expect(back == s)
    }

    @Test func namesThatAreNotUTF8RoundTripThroughARecording() throws {
        var s = sample(1_000)
        let odd = CgroupPath(names: [CgroupName("tenants.slice"), CgroupName(bytes: [0xff, 0x1b, 0x5c] + Array("\u{301}".utf8))])
        s.cgroups.append(CgroupSnapshot(path: odd, id: 96))
        let text = s.recordJSON.serialized()
        #expect(!text.unicodeScalars.contains { $0.value == 0x1b })
        let back = try Snapshot(json: try JSON.parse(text))
        #expect(back.cgroups.last?.path == odd)
    }

    @Test func aRecordingReadsBack() throws {
        let text = Recording.header(root: "/sys/fs/cgroup", intervalNanos: 1_000_000_000).serialized() + "\n"
            + sample(1_000).recordJSON.serialized() + "\n" + sample(2_000).recordJSON.serialized() + "\n"
        let r = try Recording.parse(text)
        #expect(r.snapshots.count == 2)
        #expect(r.intervalNanos == 1_000_000_000)
        #expect(!r.truncatedTail)
    }

    @Test func aCutShortLastLineIsSkipped() throws {
        let full = sample(2_000).recordJSON.serialized()
        let text = Recording.header(root: "/", intervalNanos: 1).serialized() + "\n"
            + sample(1_000).recordJSON.serialized() + "\n" + String(full.prefix(100))
        let r = try Recording.parse(text)
        #expect(r.snapshots.count == 1)
        #expect(r.truncatedTail)
    }

    @Test func badRecordingsNameTheLine() {
        #expect(throws: Recording.ReadError(line: 1, message: "not a cgwarden recording (no \"cgwarden_recording\" header)")) {
            try Recording.parse("{\"x\": 1}\n")
        }
        #expect(throws: Recording.ReadError(line: 1, message: "recording format 9; this cgwarden reads format 1")) {
            try Recording.parse("{\"cgwarden_recording\": 9}\n")
        }
        let header = Recording.header(root: "/", intervalNanos: 1).serialized()
        #expect(throws: Recording.ReadError(line: 2, message: "cgroups[0].id: is missing")) {
            try Recording.parse(header + "\n{\"time\": {\"monotonic_ns\": 1, \"wall_ns\": 1}, \"root\": \"/\", \"system\": {\"mem_total\": 1, \"mem_available\": 1, \"swap_total\": 0, \"swap_free\": 0}, \"cgroups\": [{\"path\": \"/\"}]}\n")
        }
        #expect(throws: Recording.ReadError(line: 3, message: "time goes backwards (monotonic_ns 1000 after 2000)")) {
            try Recording.parse(header + "\n" + sample(2_000).recordJSON.serialized() + "\n" + sample(1_000).recordJSON.serialized() + "\n")
        }
        #expect(throws: Recording.ReadError.self) { try Recording.parse(header + "\n{broken\n" + sample(1).recordJSON.serialized() + "\n") }
    }
}
