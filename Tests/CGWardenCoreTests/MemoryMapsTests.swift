import Testing
@testable import CGWardenCore

@Suite struct MemoryMapsTests {
    /// The shape of a static cgwarden's smaps on 6.1: text, the relocated
    /// `.data.rel.ro` (read-only after the loader wrote it), data, heap, a
    /// shared library's text, the vdso, a locked mapping. Keys shortened.
    static let smaps = """
        55d0c6a00000-55d0c6f6b000 r-xp 00200000 fe:01 1319                       /usr/bin/cgwarden
        Size:               5548 kB
        Rss:                1204 kB
        Anonymous:             0 kB
        VmFlags: rd ex mr mw me dw
        55d0c7100000-55d0c7160000 r--p 00900000 fe:01 1319                       /usr/bin/cgwarden
        Rss:                 384 kB
        Anonymous:           384 kB
        VmFlags: rd mr mw me dw ac
        55d0c7160000-55d0c7170000 rw-p 00960000 fe:01 1319                       /usr/bin/cgwarden
        Rss:                  64 kB
        Anonymous:            16 kB
        VmFlags: rd wr mr mw me dw ac
        55d0c8000000-55d0c8200000 rw-p 00000000 00:00 0                          [heap]
        Rss:                2488 kB
        Anonymous:          2488 kB
        VmFlags: rd wr mr mw me ac
        7f1c2a228000-7f1c2a3bd000 r-xp 00028000 fe:01 2400                       /usr/lib/x86_64-linux-gnu/libc.so.6
        Rss:                1384 kB
        Anonymous:             0 kB
        VmFlags: rd ex mr mw me lo sd
        7f1c2a400000-7f1c2a401000 r--s 00000000 00:19 77                         /tmp/state/events.db-shm
        Rss:                   4 kB
        Anonymous:             0 kB
        VmFlags: rd sh mr mw me ms sd
        7ffd1e5f0000-7ffd1e5f2000 r-xp 00000000 00:00 0                          [vdso]
        Rss:                   8 kB
        Anonymous:             0 kB
        VmFlags: rd ex mr mw me de sd
        7f1c2a500000-7f1c2a501000 r--p 00000000 fe:01 99                         /opt/a path with spaces.so
        Rss:                   4 kB
        Anonymous:             0 kB
        VmFlags: rd mr mw me
        """

    @Test func parsesMappings() throws {
        let maps = try Parse.smaps(Self.smaps)
        #expect(maps.count == 8)
        let text = maps[0]
        #expect(text.start == 0x55d0c6a00000 && text.end == 0x55d0c6f6b000)
        #expect(text.readable && !text.writable && text.executable && !text.shared)
        #expect(text.inode == 1319 && text.path == Array("/usr/bin/cgwarden".utf8))
        #expect(text.residentKiB == 1204 && text.anonymousKiB == 0 && !text.locked)
        #expect(maps[4].locked)
        #expect(maps[5].shared)
        #expect(maps[7].path == Array("/opt/a path with spaces.so".utf8))
    }

    @Test func onlyUnwrittenPrivateFilePagesAreCleanCopies() throws {
        let clean = try Parse.smaps(Self.smaps).map(\.isCleanFileCopy)
        // text; relocated (a copy: dropping would bring back unrelocated
        // bytes); writable data; heap; locked library text; shared; vdso; spaces.
        #expect(clean == [true, false, false, false, true, false, false, true])
    }

    @Test func withoutAnonymousFigureNothingIsClean() throws {
        let maps = try Parse.smaps("00400000-00401000 r-xp 00000000 08:01 12 /bin/x\nRss: 4 kB\n")
        #expect(maps.count == 1 && maps[0].anonymousKiB == nil && !maps[0].isCleanFileCopy)
        // Device and PFN mappings never are.
        let io = try Parse.smaps("00400000-00401000 r--p 00000000 00:06 12 /dev/x\nAnonymous: 0 kB\nVmFlags: rd io pf\n")
        #expect(!io[0].isCleanFileCopy)
    }

    @Test func badInputIsAnErrorWithItsLine() {
        #expect(throws: ParseError(file: "smaps", line: 1, reason: .malformedLine("Rss: 4 kB"))) {
            try Parse.smaps("Rss: 4 kB\n")
        }
        #expect(throws: ParseError(file: "smaps", line: 1, reason: .malformedLine("0040000g-00401000 r-xp 0 08:01 12 /x"))) {
            try Parse.smaps("0040000g-00401000 r-xp 0 08:01 12 /x\n")
        }
        #expect(throws: ParseError(file: "smaps", line: 1, reason: .malformedLine("00402000-00401000 r-xp 0 08:01 12 /x"))) {
            try Parse.smaps("00402000-00401000 r-xp 0 08:01 12 /x\n")
        }
        #expect(throws: ParseError(file: "smaps", line: 1, reason: .malformedLine("00400000-00401000 rqxp 0 08:01 12 /x"))) {
            try Parse.smaps("00400000-00401000 rqxp 0 08:01 12 /x\n")
        }
        #expect(throws: ParseError(file: "smaps", line: 2, field: "Anonymous", reason: .negative("-4"))) {
            try Parse.smaps("00400000-00401000 r-xp 0 08:01 12 /x\nAnonymous: -4 kB\n")
        }
        #expect(throws: ParseError(file: "smaps", line: 1, reason: .malformedLine("00400000-00401000 r-xp 0 08:01"))) {
            try Parse.smaps("00400000-00401000 r-xp 0 08:01\n")
        }
        #expect(throws: ParseError(file: "smaps", line: 1, reason: .malformedLine("10000000000000000-10000000000000001 r-xp 0 08:01 1 /x"))) {
            try Parse.smaps("10000000000000000-10000000000000001 r-xp 0 08:01 1 /x\n")
        }
    }

    @Test func statSummaryKeepsWhatUnreclaimableReads() throws {
        let full = try Parse.memoryStat("anon 100\nfile 5000\nkernel 30\nkernel_stack 10\nshmem 7\npgfault 9\n")
        let summary = try Parse.memoryStatSummary("anon 100\nfile 5000\nkernel 30\nkernel_stack 10\nshmem 7\npgfault 9\n")
        #expect(Array(summary.keys) == ["anon", "shmem", "kernel"] && Array(summary.values) == [100, 7, 30])
        #expect(MemoryState(stat: summary).unreclaimable == MemoryState(stat: full).unreclaimable)
        // Before 5.18: `kernel` summed from its parts, as `unreclaimable` does.
        let old = "anon 1\nfile 2\nkernel_stack 10\npagetables 20\nslab_unreclaimable 40\nshmem 3\n"
        let oldSummary = try Parse.memoryStatSummary(old)
        #expect(oldSummary["kernel"] == 70)
        #expect(MemoryState(stat: oldSummary).unreclaimable == MemoryState(stat: try Parse.memoryStat(old)).unreclaimable)
        // Saturating, never trapping.
        let huge = try Parse.memoryStatSummary("anon 1\nfile 0\nkernel_stack 18446744073709551615\npagetables 1\n")
        #expect(huge["kernel"] == UInt64.max)
        // The same errors as the full parser.
        #expect(throws: ParseError(file: "memory.stat", reason: .missingKey("file"))) {
            try Parse.memoryStatSummary("anon 1\n")
        }
    }
}
