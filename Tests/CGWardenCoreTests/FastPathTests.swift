import Testing
@testable import CGWardenCore

/// The parsers' fast paths read the common shape of a file and leave any
/// other to the general parsers: for every input, the result (value or
/// error) must be the general parser's. Checked on real files and on every
/// one-byte change and truncation of them.
@Suite struct FastPathTests {
    static let mutations: [UInt8] = Array(" \t\r\nx-9=.0".utf8)

    /// The base texts, each changed at every byte (replaced by each of
    /// `mutations`, or removed) and cut at every length.
    static func neighbours(_ bases: [String]) -> [String] {
        var out: [String] = []
        for base in bases {
            let b = Array(base.utf8)
            out.append(base)
            for i in 0..<b.count {
                out.append(String(decoding: b[..<i], as: UTF8.self))
                var removed = b
                removed.remove(at: i)
                out.append(String(decoding: removed, as: UTF8.self))
                for m in mutations where m != b[i] {
                    var changed = b
                    changed[i] = m
                    out.append(String(decoding: changed, as: UTF8.self))
                }
            }
        }
        return out
    }

    static let keyedBases = [
        MemoryEventsTests.kernel61,
        MemoryEventsTests.kernel61 + "sock_throttled 7\n",
        "low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n",
        "high 1\nlow 2\nmax 3\noom 4\noom_kill 5\noom_group_kill 6",
        "low 9999999999999999999\nhigh 18446744073709551615\nmax 0\noom 0\noom_kill 0\n",
        "populated 1\nfrozen 0\n", "frozen 1\npopulated 0\n", "populated 1\nfrozen 0\nnew 3\n",
        "anon 1\nfile 2\nkernel 3\nnew_key 4\nanon_thp 5\n",
    ]

    func result<T>(_ body: () throws(ParseError) -> T) -> Result<T, ParseError> {
        Result { () throws(ParseError) -> T in try body() }
    }

    @Test func keyedFilesReadAsTheGeneralParserReadsThem() {
        var fastOnes = 0
        for text in Self.neighbours(Self.keyedBases) {
            text.withBytes { b in
                if Parse.simpleKeyed(b) != nil { fastOnes += 1 }
                for required in [[], ["anon", "file"], ["populated"]] {
                    let fast = result { () throws(ParseError) in try Parse.keyed(b, file: "f", required: required) }
                    let general = result { () throws(ParseError) in try Parse.generalKeyed(b, file: "f", required: required) }
                    #expect(fast == general, "\(text.debugDescription)")
                }
                let events = result { () throws(ParseError) in try Parse.memoryEvents(b) }
                let eventsGeneral = result { () throws(ParseError) in
                    MemoryEvents(try Parse.generalKeyed(b, file: "memory.events", required: Parse.memoryEventsKeys))
                }
                #expect(events == eventsGeneral, "\(text.debugDescription)")
                if case .success(let e) = events, case .success(let g) = eventsGeneral {
                    #expect([e.low, e.high, e.max, e.oom, e.oomKill, e.oomGroupKill]
                            == [g.low, g.high, g.max, g.oom, g.oomKill, g.oomGroupKill], "\(text.debugDescription)")
                }
                let cgroup = result { () throws(ParseError) in try Parse.cgroupEvents(b) }
                let cgroupGeneral = result { () throws(ParseError) -> CgroupEvents in
                    let k = try Parse.generalKeyed(b, file: "cgroup.events", required: ["populated"])
                    return CgroupEvents(populated: k["populated"]! != 0, frozen: k["frozen"].map { $0 != 0 })
                }
                #expect(cgroup == cgroupGeneral, "\(text.debugDescription)")
            }
        }
        // The fast path is taken, not only the fallback.
        #expect(fastOnes > 100)
    }

    /// memory.stat's summary read in place is the whole parse's, reduced.
    @Test func memoryStatSummariesReadAsTheWholeParseReadsThem() throws {
        let kernel61 = "anon 1052672\nfile 4096\nkernel 311296\nkernel_stack 16384\npagetables 40960\nsec_pagetables 0\n"
            + "percpu 0\nsock 0\nvmalloc 0\nshmem 8192\nfile_mapped 0\nfile_dirty 0\nslab_reclaimable 1000\n"
            + "slab_unreclaimable 2000\nslab 3000\npgfault 12345\n"
        let old = "anon 100\nfile 200\nkernel_stack 10\npagetables 20\nslab_unreclaimable 30\nshmem 5\n"
        var inPlace = 0
        for text in Self.neighbours([kernel61, old]) {
            text.withBytes { b in
                if Parse.statSummaryInPlace(b) != nil { inPlace += 1 }
                let fast = result { () throws(ParseError) in try Parse.memoryStatSummary(b) }
                let whole = result { () throws(ParseError) in MemoryState.statSummary(try Parse.memoryStat(b)) }
                #expect(fast == whole, "\(text.debugDescription)")
            }
        }
        #expect(inPlace > 100)
        #expect(try Parse.memoryStatSummary(old).values == [100, 5, 60])
        #expect(try Parse.memoryStatSummary(kernel61).values == [1052672, 8192, 311296])
    }

    /// memory.events as 4.13, 5.17 and later kernels write it takes the
    /// in-place path; anything else is left to the others.
    @Test func memoryEventsAsTheKernelWritesThemAreReadInPlace() {
        let taken = [
            "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
            "low 1\nhigh 22\nmax 333\noom 4\noom_kill 5\noom_group_kill 6\n",
            "low 0\nhigh 9999999999999999999\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\nsock_throttled 7\n",
        ]
        for text in taken {
            text.withBytes { b in
                let values = Parse.standardEvents(b)?.all.values
                #expect(values == (try? Parse.generalKeyed(b, file: "memory.events", required: []))?.values, "\(text.debugDescription)")
                #expect(values != nil, "\(text.debugDescription)")
            }
        }
        let left = [
            "", "low 0\nhigh 0\nmax 0\noom 0\n", "high 0\nlow 0\nmax 0\noom 0\noom_kill 0\n",
            "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0", "low  0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
            "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\nsock_throttled 0\nnext 0\n",
            "low 0\nhigh 10000000000000000000\nmax 0\noom 0\noom_kill 0\n", "low \nhigh 0\nmax 0\noom 0\noom_kill 0\n",
            "low 0\nhigh 0\nmax 0\noom 0\noom_kilL 0\n", "low 0\r\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
        ]
        for text in left {
            text.withBytes { b in #expect(Parse.standardEvents(b) == nil, "\(text.debugDescription)") }
        }
    }

    @Test func pressureFilesReadAsTheGeneralParserReadsThem() {
        let bases = [
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=1.59 avg60=0.35 avg300=0.08 total=140941\n",
            "some avg10=100.00 avg60=99.99 avg300=12.50 total=18446744073709551615\n",
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=0 avg3600=1.00\n",
            "full avg10=0.10 avg60=0.20 avg300=0.30 total=4\nsome avg10=1.5 avg60=2 avg300=0.333333 total=5",
        ]
        var fastOnes = 0
        for text in Self.neighbours(bases) {
            text.withBytes { b in
                let fast = result { () throws(ParseError) in try Parse.pressure(b) }
                let general = result { () throws(ParseError) in try Parse.generalPressure(b, file: "memory.pressure") }
                #expect(fast == general, "\(text.debugDescription)")
                if Parse.simplePressure(b) != nil { fastOnes += 1 }
            }
        }
        // The fast path is taken, not only the fallback.
        #expect(fastOnes > 100)
    }

    @Test func numbersReadAsTheGeneralParserReadsThem() {
        let bases = ["0\n", "8470528\n", "max\n", "9999999999999999999\n", "18446744073709551615\n", "007", " 12 \n"]
        var fastOnes = 0
        for text in Self.neighbours(bases) {
            text.withBytes { b in
                let t = trimmed(b)
                let bytes = result { () throws(ParseError) in try Parse.bytes(b, file: "f") }
                let bytesGeneral = result { () throws(ParseError) -> UInt64 in
                    if t.isEmpty { throw ParseError(file: "f", reason: .empty) }
                    return try parseUInt64(t, file: "f", line: 1, field: nil)
                }
                #expect(bytes == bytesGeneral, "\(text.debugDescription)")
                let limit = result { () throws(ParseError) in try Parse.limit(b, file: "f") }
                let limitGeneral = result { () throws(ParseError) -> Limit in
                    if t.isEmpty { throw ParseError(file: "f", reason: .empty) }
                    if equals(t, "max") { return .max }
                    return .bytes(try parseUInt64(t, file: "f", line: 1, field: nil))
                }
                #expect(limit == limitGeneral, "\(text.debugDescription)")
                if Parse.simpleNumber(b) != nil { fastOnes += 1 }
            }
        }
        #expect(fastOnes > 20)
    }

    @Test func controllerListsReadAsTheGeneralParserReadsThem() {
        let bases = ["memory pids\n", "cpuset cpu io memory hugetlb pids rdma misc\n", "pids\n", "", "memory\n", "memoryx memor\n"]
        for text in Self.neighbours(bases) {
            text.withBytes { b in
                let fast = result { () throws(ParseError) in try Parse.listsController(b, "memory") }
                let general = result { () throws(ParseError) in try Parse.controllers(b).contains("memory") }
                #expect(fast == general, "\(text.debugDescription)")
            }
        }
    }
}
