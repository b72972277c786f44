import Testing
@testable import CGWardenCore

// Real kernel output (Debian 6.1.0-56 in the test VM) and broken variants of it.

@Suite struct SingleValueTests {
    @Test func currentReadsBytes() throws {
        #expect(try Parse.bytes("19726336\n", file: "memory.current") == 19_726_336)
        #expect(try Parse.bytes("0\n", file: "memory.current") == 0)
        #expect(try Parse.bytes("18446744073709551615\n", file: "memory.current") == UInt64.max)
    }

    @Test func limitMaxIsADistinctValue() throws {
        #expect(try Parse.limit("max\n", file: "memory.max") == .max)
        #expect(try Parse.limit("67108864\n", file: "memory.max") == .bytes(67_108_864))
        #expect(try Parse.limit("max\n", file: "memory.max").bytes == nil)
        #expect(try Parse.limit("9223372036854771712\n", file: "memory.max") == .bytes(9_223_372_036_854_771_712))
    }

    @Test(arguments: [
        ("", ParseError.Reason.empty),
        ("\n", .empty),
        ("abc\n", .notANumber("abc")),
        ("12a\n", .notANumber("12a")),
        ("-1\n", .negative("-1")),
        ("18446744073709551616\n", .overflow("18446744073709551616")),
        ("1 2\n", .notANumber("1 2")),
        ("maximum\n", .notANumber("maximum")),
        ("MAX\n", .notANumber("MAX")),
    ])
    func badLimits(text: String, reason: ParseError.Reason) {
        #expect(throws: ParseError(file: "memory.max", line: text.isEmpty || text == "\n" ? nil : 1, reason: reason)) {
            try Parse.limit(text, file: "memory.max")
        }
    }

    @Test func errorNamesTheFile() {
        do {
            _ = try Parse.bytes("12x\n", file: "/a.slice/memory.current")
            Issue.record("no error")
        } catch {
            #expect(error.description == "/a.slice/memory.current line 1: value is not a number: \"12x\"")
        }
    }

    @Test func signedIntegers() throws {
        #expect(try Parse.integer("-1000\n", file: "oom_score_adj") == -1000)
        #expect(try Parse.integer("667\n", file: "oom_score") == 667)
        #expect(throws: ParseError.self) { try Parse.integer("--1\n", file: "oom_score_adj") }
        #expect(throws: ParseError.self) { try Parse.integer("", file: "oom_score_adj") }
    }

    @Test func statm() throws {
        #expect(try Parse.statmResidentPages("2657 1664 1386 244 0 312 0\n") == 1664)
        #expect(throws: ParseError.self) { try Parse.statmResidentPages("2657\n") }
    }
}

@Suite struct MemoryEventsTests {
    static let kernel61 = """
        low 0
        high 1204
        max 61
        oom 1
        oom_kill 1
        oom_group_kill 0

        """

    @Test func readsEveryCounter() throws {
        let e = try Parse.memoryEvents(MemoryEventsTests.kernel61)
        #expect(e.low == 0)
        #expect(e.high == 1204)
        #expect(e.max == 61)
        #expect(e.oom == 1)
        #expect(e.oomKill == 1)
        #expect(e.oomGroupKill == 0)
        #expect(e.all.keys == ["low", "high", "max", "oom", "oom_kill", "oom_group_kill"])
    }

    @Test func keepsKeysOfNewerKernels() throws {
        let e = try Parse.memoryEvents(MemoryEventsTests.kernel61 + "sock_throttled 7\n")
        #expect(e.all["sock_throttled"] == 7)
        #expect(e.all.keys.last == "sock_throttled")
    }

    @Test func olderKernelWithoutGroupKill() throws {
        let e = try Parse.memoryEvents("low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n")
        #expect(e.oomGroupKill == 0)
        #expect(!e.all.contains("oom_group_kill"))
    }

    @Test func truncatedFileIsAnError() {
        #expect(throws: ParseError(file: "memory.events", reason: .missingKey("oom"))) {
            try Parse.memoryEvents("low 0\nhigh 1204\nmax 61\n")
        }
        #expect(throws: ParseError(file: "memory.events", reason: .empty)) { try Parse.memoryEvents("") }
    }

    @Test func badLinesNameTheLineAndKey() {
        #expect(throws: ParseError(file: "memory.events.local", line: 4, field: "oom", reason: .notANumber("x1"))) {
            try Parse.memoryEvents("low 0\nhigh 0\nmax 0\noom x1\noom_kill 0\n", file: "memory.events.local")
        }
        #expect(throws: ParseError(file: "memory.events", line: 2, reason: .malformedLine("high"))) {
            try Parse.memoryEvents("low 0\nhigh\nmax 0\noom 0\noom_kill 0\n")
        }
        #expect(throws: ParseError(file: "memory.events", line: 5, field: "oom_kill", reason: .negative("-1"))) {
            try Parse.memoryEvents("low 0\nhigh 0\nmax 0\noom 0\noom_kill -1\n")
        }
        #expect(throws: ParseError(file: "memory.events", line: 2, field: "low", reason: .duplicateKey("low"))) {
            try Parse.memoryEvents("low 0\nlow 0\nmax 0\noom 0\noom_kill 0\n")
        }
        #expect(throws: ParseError(file: "memory.events", line: 1, field: "low", reason: .overflow("99999999999999999999"))) {
            try Parse.memoryEvents("low 99999999999999999999\n")
        }
    }
}

@Suite struct PressureTests {
    @Test func readsSomeAndFull() throws {
        let p = try Parse.pressure("""
            some avg10=1.59 avg60=0.35 avg300=0.08 total=140941
            full avg10=0.90 avg60=0.20 avg300=0.04 total=98210

            """)
        #expect(p.some == PressureLine(avg10: 1.59, avg60: 0.35, avg300: 0.08, total: 140_941))
        #expect(p.full == PressureLine(avg10: 0.90, avg60: 0.20, avg300: 0.04, total: 98_210))
    }

    @Test func hundredPercent() throws {
        let p = try Parse.pressure("some avg10=100.00 avg60=99.99 avg300=12.50 total=18446744073709551615\n")
        #expect(p.some.avg10 == 100)
        #expect(p.some.avg60 == 99.99)
        #expect(p.some.total == UInt64.max)
        #expect(p.full == nil)
    }

    @Test func ignoresUnknownPairs() throws {
        let p = try Parse.pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=0 avg3600=1.00\n")
        #expect(p.some.total == 0)
    }

    @Test(arguments: [
        ("", ParseError(file: "memory.pressure", reason: .empty)),
        ("full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", ParseError(file: "memory.pressure", reason: .missingKey("some"))),
        ("some avg10=0.00 avg60=0.00 avg300=0.00\n", ParseError(file: "memory.pressure", line: 1, reason: .missingKey("total"))),
        ("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.0", ParseError(file: "memory.pressure", line: 2, reason: .missingKey("avg60"))),
        ("some avg10=x avg60=0.00 avg300=0.00 total=0\n", ParseError(file: "memory.pressure", line: 1, field: "avg10", reason: .notANumber("x"))),
        ("some avg10=-1.00 avg60=0.00 avg300=0.00 total=0\n", ParseError(file: "memory.pressure", line: 1, field: "avg10", reason: .negative("-1.00"))),
        ("some avg10=1. avg60=0.00 avg300=0.00 total=0\n", ParseError(file: "memory.pressure", line: 1, field: "avg10", reason: .notANumber("1."))),
        ("some avg10 avg60=0.00\n", ParseError(file: "memory.pressure", line: 1, reason: .malformedLine("some avg10 avg60=0.00"))),
        ("other avg10=0.00\n", ParseError(file: "memory.pressure", line: 1, reason: .malformedLine("other avg10=0.00"))),
        ("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nsome avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
         ParseError(file: "memory.pressure", line: 2, reason: .duplicateKey("some"))),
    ])
    func brokenPressure(text: String, expected: ParseError) {
        #expect(throws: expected) { try Parse.pressure(text) }
    }
}

@Suite struct KeyedFileTests {
    @Test func memoryStatKeepsEveryKey() throws {
        let s = try Parse.memoryStat("""
            anon 18874368
            file 811008
            kernel 602112
            kernel_stack 32768
            pagetables 118784
            sec_pagetables 0
            percpu 0
            sock 0
            vmalloc 0
            shmem 0
            workingset_refault_anon 0
            pgscan 4417
            pgsteal 4417

            """)
        #expect(s.count == 13)
        #expect(s["anon"] == 18_874_368)
        #expect(s["pgscan"] == 4417)
        #expect(s["nonexistent"] == nil)
    }

    @Test func cgroupEvents() throws {
        #expect(try Parse.cgroupEvents("populated 1\nfrozen 0\n") == CgroupEvents(populated: true, frozen: false))
        #expect(try Parse.cgroupEvents("populated 0\n") == CgroupEvents(populated: false, frozen: nil))
        #expect(throws: ParseError(file: "cgroup.events", reason: .missingKey("populated"))) {
            try Parse.cgroupEvents("frozen 0\n")
        }
    }

    @Test func cgroupStat() throws {
        let s = try Parse.cgroupStat("nr_descendants 3\nnr_dying_descendants 1\nnr_subsys_memory 4\n")
        #expect(s["nr_dying_descendants"] == 1)
        #expect(s["nr_subsys_memory"] == 4)
        #expect(throws: ParseError.self) { try Parse.cgroupStat("nr_descendants 3\n") }
    }

    @Test func vmstat() throws {
        let v = try Parse.vmstat("nr_free_pages 451234\nnr_zone_inactive_anon 0\noom_kill 3\n")
        #expect(v["oom_kill"] == 3)
        #expect(throws: ParseError(file: "/proc/vmstat", line: 2, field: "oom_kill", reason: .notANumber("many"))) {
            try Parse.vmstat("nr_free_pages 1\noom_kill many\n")
        }
    }
}

@Suite struct MeminfoTests {
    static let sample = """
        MemTotal:        2010028 kB
        MemFree:         1743992 kB
        MemAvailable:    1879532 kB
        Buffers:               0 kB
        Cached:           150156 kB
        SwapTotal:        262140 kB
        SwapFree:         131072 kB
        HugePages_Total:       0
        Hugepagesize:       2048 kB

        """

    @Test func convertsToBytes() throws {
        let m = try Parse.meminfo(MeminfoTests.sample)
        #expect(m.memTotal == 2_010_028 * 1024)
        #expect(m.memAvailable == 1_879_532 * 1024)
        #expect(m.swapTotal == 262_140 * 1024)
        #expect(m.swapFree == 131_072 * 1024)
        #expect(m.all["HugePages_Total"] == 0)
        #expect(m.all["Hugepagesize"] == 2048 * 1024)
    }

    @Test func missingLinesAreErrors() {
        #expect(throws: ParseError(file: "/proc/meminfo", reason: .missingKey("MemAvailable"))) {
            try Parse.meminfo("MemTotal: 1 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n")
        }
        #expect(throws: ParseError(file: "/proc/meminfo", reason: .empty)) { try Parse.meminfo("") }
    }

    @Test func malformed() {
        #expect(throws: ParseError(file: "/proc/meminfo", line: 1, reason: .malformedLine("MemTotal 1 kB"))) {
            try Parse.meminfo("MemTotal 1 kB\n")
        }
        #expect(throws: ParseError(file: "/proc/meminfo", line: 1, reason: .malformedLine("MemTotal: 1 MB"))) {
            try Parse.meminfo("MemTotal: 1 MB\n")
        }
        #expect(throws: ParseError(file: "/proc/meminfo", line: 1, field: "MemTotal", reason: .overflow("18014398509481984"))) {
            try Parse.meminfo("MemTotal: 18014398509481984 kB\n")
        }
    }
}

@Suite struct ListTests {
    @Test func pids() throws {
        #expect(try Parse.pids("130\n131\n4194304\n") == [130, 131, 4_194_304])
        #expect(try Parse.pids("") == [])
        #expect(throws: ParseError(file: "cgroup.procs", line: 2, field: "pid", reason: .notANumber("x"))) {
            try Parse.pids("1\nx\n")
        }
        #expect(throws: ParseError(file: "cgroup.procs", line: 1, field: "pid", reason: .overflow("0"))) {
            try Parse.pids("0\n")
        }
    }

    @Test func pidCountMatchesTheList() throws {
        #expect(try Parse.pidCount("") == 0)
        #expect(try Parse.pidCount("1\n2\n3\n") == 3)
        #expect(try Parse.pidCount("1\n2\n3") == 3)
        #expect(throws: ParseError.self) { try Parse.pidCount("1\nbad\n") }
    }

    @Test func controllers() throws {
        #expect(try Parse.controllers("cpuset cpu io memory hugetlb pids rdma misc\n")
                == ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"])
        #expect(try Parse.controllers("\n") == [])
        #expect(throws: ParseError.self) { try Parse.controllers("memory +cpu\n") }
    }
}

@Suite struct ProcCgroupTests {
    @Test func findsTheV2Line() throws {
        #expect(try Parse.procCgroup("0::/system.slice/cgwarden.service\n") == CgroupPath("/system.slice/cgwarden.service"))
        #expect(try Parse.procCgroup("12:memory:/user.slice\n1:name=systemd:/x\n0::/\n") == .root)
        #expect(try Parse.procCgroup("12:memory:/user.slice\n") == nil)
        #expect(throws: ParseError.self) { try Parse.procCgroup("0::/../outside\n") }
    }
}
