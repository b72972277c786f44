import Testing
@testable import CGWardenCore

// Kernel files hold any 64-bit value; a forged fixture tree or recording
// holds anything at all. None of it may trap (Docs/security.md counts these cases).

let max64 = "18446744073709551615"   // 2^64-1: valid text, the largest counter
let twoTo63 = "9223372036854775808"  // 2^63: one past Int64.max

@Suite struct SaturatingTests {
    @Test func doubleToUnsigned() {
        #expect(UInt64(saturating: Double.nan) == 0)
        #expect(UInt64(saturating: -Double.infinity) == 0)
        #expect(UInt64(saturating: -1.5) == 0)
        #expect(UInt64(saturating: 0.9) == 0)
        #expect(UInt64(saturating: Double(UInt64.max)) == .max)   // 2^64 as a Double: UInt64(_:) traps
        #expect(UInt64(saturating: 1e300) == .max)
        #expect(UInt64(saturating: Double.infinity) == .max)
        #expect(UInt64(saturating: 18_446_744_073_709_549_568.0) == 18_446_744_073_709_549_568)  // the largest Double below 2^64
        #expect(UInt32(saturating: 4_294_967_296.0) == .max)
    }

    @Test func doubleToSigned() {
        #expect(Int64(saturating: 9_223_372_036_854_775_808.0) == .max)  // 2^63
        #expect(Int64(saturating: -9_223_372_036_854_775_808.0) == .min)
        #expect(Int64(saturating: -1e300) == .min)
        #expect(Int64(saturating: -2.7) == -2)
        #expect(Int(saturating: Double.nan) == 0)
        #expect(Int32(saturating: 2_147_483_647.5) == .max)
        #expect(Int32(saturating: -2_147_483_649.0) == .min)
    }

    @Test func integerOperations() {
        #expect(UInt64.max.addingSaturated(1) == .max)
        #expect(UInt64(3).subtractingSaturated(5) == 0)
        #expect(UInt64.max.multipliedSaturated(by: 4096) == .max)
        #expect(UInt64(0).multipliedSaturated(by: .max) == 0)
        #expect(Int64.min.subtractingSaturated(1) == .min)
        #expect(Int64.max.subtractingSaturated(-1) == .max)
        #expect(Int64.min.addingSaturated(-1) == .min)
        #expect(Int64(-2).multipliedSaturated(by: .max) == .min)
        #expect(Int64(-2).multipliedSaturated(by: .min) == .max)
        #expect(UInt64(40).addingSaturated(2) == 42)
    }
}

@Suite struct HostileKernelNumberTests {
    @Test func countersAtTheBoundsParse() throws {
        #expect(try Parse.bytes(max64 + "\n", file: "memory.swap.current") == .max)
        #expect(try Parse.bytes(twoTo63 + "\n", file: "memory.current") == 1 << 63)
        #expect(try Parse.limit(max64 + "\n", file: "memory.max") == .bytes(.max))
        let e = try Parse.memoryEvents("low \(max64)\nhigh \(max64)\nmax \(max64)\noom \(max64)\noom_kill \(max64)\n")
        #expect(e.oomKill == .max)
        let p = try Parse.pressure("some avg10=100.00 avg60=0.00 avg300=0.00 total=\(max64)\n")
        #expect(p.some.total == .max)
    }

    @Test func oneMoreIsAnOverflowNamingFileLineAndField() throws {
        #expect(throws: ParseError(file: "memory.stat", line: 2, field: "file", reason: .overflow("18446744073709551616"))) {
            try Parse.memoryStat("anon 0\nfile 18446744073709551616\n")
        }
        #expect(throws: ParseError(file: "memory.pressure", line: 1, field: "avg10", reason: .overflow("184467440737095516.16"))) {
            try Parse.pressure("some avg10=184467440737095516.16 avg60=0.00 avg300=0.00 total=0\n")
        }
        #expect(throws: ParseError(file: "statm", line: 1, field: "resident", reason: .overflow("18446744073709551616"))) {
            try Parse.statmResidentPages("1 18446744073709551616 0 0 0 0 0\n")
        }
        #expect(throws: ParseError(file: "cgroup.procs", line: 2, field: "pid", reason: .overflow("2147483648"))) {
            try Parse.pids("1\n2147483648\n")
        }
        #expect(throws: ParseError(file: "oom_score_adj", line: 1, reason: .overflow(twoTo63))) {
            try Parse.integer(twoTo63, file: "oom_score_adj")
        }
        #expect(try Parse.integer("-9223372036854775807", file: "oom_score_adj") == -Int64.max)
    }

    @Test func meminfoKilobytesBeyond64BitsAreAnOverflow() throws {
        // 2^54 kB is 2^64 bytes: one past; 2^54-1 kB fits.
        let fits = "MemTotal: 18014398509481983 kB\nMemAvailable: 0 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n"
        #expect(try Parse.meminfo(fits).memTotal == 18_446_744_073_709_550_592)
        #expect(throws: ParseError(file: "/proc/meminfo", line: 1, field: "MemTotal", reason: .overflow("18014398509481984"))) {
            try Parse.meminfo("MemTotal: 18014398509481984 kB\n")
        }
    }

    @Test func statmResidentAtTheBound() throws {
        #expect(try Parse.statmResidentPages("0 \(max64) 0 0 0 0 0\n") == .max)
        #expect(throws: ParseError.self) { try Parse.statmResidentPages("2657\n") }
    }

    /// The shipped default configuration crashed here: anon + shmem + kernel.
    @Test func unreclaimableSaturates() throws {
        let stat = try Parse.memoryStat("anon \(max64)\nfile 0\nshmem 4096\nkernel 1\n")
        #expect(MemoryState(stat: stat).unreclaimable == .max)
        let old = try Parse.memoryStat("anon 1\nfile 0\nkernel_stack \(max64)\npagetables \(max64)\nslab_unreclaimable 1\n")
        #expect(MemoryState(stat: old).unreclaimable == .max)
        let zero = try Parse.memoryStat("anon 0\nfile 0\nshmem 0\nkernel 0\n")
        #expect(MemoryState(stat: zero).unreclaimable == 0)
        let half = try Parse.memoryStat("anon \(twoTo63)\nfile 0\nshmem \(twoTo63)\nkernel 0\n")
        #expect(MemoryState(stat: half).unreclaimable == .max)
    }

    @Test func sharesOfHugeValues() {
        #expect(MemoryState(current: .max, max: .bytes(1)).fractionOfMax == 18_446_744_073_709_551_616.0)
        #expect(MemoryState(current: .max, max: .bytes(0)).fractionOfMax == nil)
        #expect(MemoryState(current: 0, max: .bytes(.max)).fractionOfMax == 0)
        #expect(Units.percent(MemoryState(current: .max, max: .bytes(1)).fractionOfMax!) == ">10x")
        #expect(Units.percent(.nan) == ">10x")
    }

    @Test func formattingOfHugeValues() {
        #expect(Units.size(.max) == "16.0E")
        #expect(Units.size(1 << 63) == "8.0E")
        #expect(Units.size(0) == "0")
        #expect(Units.decimal(1e300, decimals: 2) == "1e+300")
        #expect(Units.decimal(Double(UInt64.max) * 100, decimals: 1) == "1.8446744073709552e+21")
        #expect(Units.decimal(.infinity, decimals: 1) == "inf")
        #expect(Units.decimal(-.infinity, decimals: 1) == "-inf")
        #expect(Units.decimal(.nan, decimals: 1) == "nan")
        #expect(Units.isoTime(wallNanos: .max) == "2554-07-21T23:34:33.709Z")
    }
}

@Suite struct LinearParsingTests {
    /// A linear search per key made this take over 30 s (quadratic); the
    /// bound leaves a debug build on a loaded 2-core machine ample room.
    @Test func twoHundredThousandKeysParseInLinearTime() throws {
        var s = "anon 1\nfile 2\n"
        s.reserveCapacity(4 << 20)
        for i in 0..<200_000 { s += "key\(i) \(i)\n" }
        let clock = ContinuousClock()
        let start = clock.now
        let k = try Parse.memoryStat(s)
        #expect(clock.now - start < .seconds(10))
        #expect(k.count == 200_002)
        #expect(k["key199999"] == 199_999)
        // A duplicate at the very end is still found.
        #expect(throws: ParseError(file: "memory.stat", line: 200_003, field: "key7", reason: .duplicateKey("key7"))) {
            try Parse.memoryStat(s + "key7 0\n")
        }
        var m = "MemTotal: 1 kB\nMemAvailable: 1 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n"
        for i in 0..<200_000 { m += "Key\(i): \(i) kB\n" }
        let t2 = clock.now
        #expect(try Parse.meminfo(m).all.count == 200_004)
        #expect(clock.now - t2 < .seconds(10))
    }

    @Test func knownAndOtherKeysAreBothCheckedForDuplicates() {
        #expect(throws: ParseError(file: "memory.stat", line: 3, field: "anon", reason: .duplicateKey("anon"))) {
            try Parse.memoryStat("anon 1\nfile 2\nanon 3\n")
        }
        #expect(throws: ParseError(file: "memory.stat", line: 4, field: "hugetlb", reason: .duplicateKey("hugetlb"))) {
            try Parse.memoryStat("anon 1\nfile 2\nhugetlb 3\nhugetlb 3\n")
        }
        #expect(throws: ParseError(file: "memory.stat", line: 4, field: "new_key", reason: .duplicateKey("new_key"))) {
            try Parse.memoryStat("anon 1\nfile 2\nnew_key 3\nnew_key 3\n")
        }
        #expect(throws: ParseError(file: "/proc/meminfo", line: 2, field: "MemTotal", reason: .duplicateKey("MemTotal"))) {
            try Parse.meminfo("MemTotal: 1 kB\nMemTotal: 1 kB\n")
        }
        #expect(KnownKeys.all.count <= SeenKeys.knownCapacity)
        #expect(Set(KnownKeys.all).count == KnownKeys.all.count)
    }
}

@Suite struct HostileRecordingTests {
    func line(nrProcs: String = "1", stat: String = "{\"anon\": 1, \"file\": 2}") -> String {
        """
        {"time": {"monotonic_ns": \(max64), "wall_ns": \(max64)}, "root": "/sys/fs/cgroup",
         "system": {"mem_total": \(max64), "mem_available": 0, "swap_total": \(max64), "swap_free": \(max64), "oom_kill": \(max64)},
         "cgroups": [{"path": "/a", "id": \(max64), "nr_procs": \(nrProcs),
           "memory": {"current": \(max64), "max": \(max64), "high": null, "low": \(max64), "min": 0, "peak": \(max64),
                      "swap_current": \(max64), "swap_max": \(max64)},
           "events": {"low": 0, "high": \(max64), "max": \(max64), "oom": 0, "oom_kill": \(max64)},
           "stat": \(stat),
           "pressure": {"some": {"avg10": 1e308, "avg60": 0, "avg300": 0, "total": \(max64)}, "full": null}}]}
        """.split(separator: "\n").joined()
    }

    @Test func countersAtTheBoundsDecode() throws {
        let s = try Snapshot(json: JSON.parse(line()))
        #expect(s.cgroups[0].memory?.current == .max)
        #expect(s.cgroups[0].memory?.events?.oomKill == .max)
        #expect(s.cgroups[0].pressure?.some.avg10 == 1e308)
        #expect(s.time.monotonicNanos == .max)
    }

    @Test func aProcessCountBeyondIntIsAnErrorNotATrap() throws {
        #expect(throws: SnapshotDecodingError(field: "cgroups[0].nr_procs", message: "\(max64) is not a process count")) {
            try Snapshot(json: JSON.parse(line(nrProcs: max64)))
        }
        #expect(throws: SnapshotDecodingError(field: "cgroups[0].nr_procs", message: "\(twoTo63) is not a process count")) {
            try Snapshot(json: JSON.parse(line(nrProcs: twoTo63)))
        }
    }

    @Test func aKeyTwiceInCountersIsAnError() throws {
        #expect(throws: SnapshotDecodingError(field: "cgroups[0].stat.anon", message: "appears twice")) {
            try Snapshot(json: JSON.parse(line(stat: "{\"anon\": 1, \"file\": 2, \"anon\": 3}")))
        }
    }

    @Test func numbersBeyondEveryType() throws {
        // Parsed as Doubles (1e400 is +inf): never converted with a trap.
        let j = try JSON.parse("[1e400, -1e400, 18446744073709551616, -9223372036854775809, 1.5]")
        #expect(j[0]?.uint64Value == nil)
        #expect(j[0]?.int64Value == nil)
        #expect(j[1]?.int64Value == nil)
        #expect(j[2]?.uint64Value == nil)
        #expect(j[3]?.int64Value == nil)
        #expect(j[4]?.uint64Value == nil)
        #expect(JSON.double(.infinity).serialized() == "null")
    }
}
