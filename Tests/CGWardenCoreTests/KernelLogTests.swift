import Testing
@testable import CGWardenCore

// /dev/kmsg records as Debian's 6.1 kernel writes them for a memory cgroup
// OOM (the test VM), the node's OOM, older kernels' forms, and broken ones.

func record(_ s: String) throws -> KernelLogRecord {
    try s.withBytes { b throws(ParseError) in try Parse.kernelLogRecord(b) }
}

@Suite struct KernelLogRecordTests {
    static let summary = "6,1234,5140900,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
        + "oom_memcg=/cgwarden-test/oom/a,task_memcg=/cgwarden-test/oom/a,task=cgwarden-testlo,pid=4242,uid=0\n"
    static let kill = "3,1235,5140950,-;Memory cgroup out of memory: Killed process 4242 (cgwarden-testlo) total-vm:70084kB, "
        + "anon-rss:32412kB, file-rss:1280kB, shmem-rss:0kB, UID:0 pgtables:120kB oom_score_adj:0\n"

    @Test func headerAndMessage() throws {
        let r = try record(KernelLogRecordTests.summary)
        #expect(r.priority == 6 && r.level == 6 && r.facility == 0 && r.fromKernel)
        #expect(r.sequence == 1234 && r.timestampMicros == 5_140_900 && r.fragment == .whole)
        #expect(String(decoding: r.message, as: UTF8.self).hasPrefix("oom-kill:constraint=CONSTRAINT_MEMCG,"))
        #expect(r.properties.isEmpty)
    }

    @Test func continuationLinesAreTheDictionaryAndExtraHeaderFieldsAreSkipped() throws {
        let r = try record("12,7,99,-,caller=T1;usb 1-1: new device\n SUBSYSTEM=usb\n DEVICE=c189:1\n")
        #expect(r.facility == 1 && r.level == 4 && !r.fromKernel)
        #expect(String(decoding: r.message, as: UTF8.self) == "usb 1-1: new device")
        #expect(r.properties == [.init(key: "SUBSYSTEM", value: Array("usb".utf8)), .init(key: "DEVICE", value: Array("c189:1".utf8))])
    }

    @Test func escapesAreUndone() throws {
        let r = try record("6,1,2,-;a\\x0ab\\x5c\\xff\\x\\x4\n")
        #expect(r.message == Array("a\nb\\".utf8) + [0xff] + Array("\\x\\x4".utf8))
    }

    @Test func fragmentsOfOlderKernels() throws {
        #expect(try record("6,1,2,c;oom-kill:constraint=").fragment == .first)
        #expect(try record("6,2,2,+;CONSTRAINT_NONE").fragment == .continued)
        #expect(try record("6,3,2,-;").message.isEmpty)
    }

    @Test(arguments: ["", "6,1,2,-", "6,1,2;x", "x,1,2,-;m", "6,-1,2,-;m", "6,1,99999999999999999999,-;m", "6,1,2,;m",
                      "6,1,2,-;m\nnot a property\n", "6,1,2,-;m\n =x\n"])
    func malformedRecordsAreErrors(_ text: String) {
        #expect(throws: ParseError.self) { try record(text) }
    }
}

@Suite struct KernelOOMLineTests {
    func summary(_ s: String, command: String? = nil) throws -> KernelOOMSummary? {
        try Parse.kernelOOMSummary(Array(s.utf8), command: command)
    }

    func kill(_ s: String) throws -> KernelOOMKill? { try Parse.kernelOOMKill(Array(s.utf8)) }

    @Test func theSummaryOfAGroupsOOM() throws {
        let s = try #require(try summary(String(KernelLogRecordTests.summary.split(separator: ";", maxSplits: 1)[1].dropLast())))
        #expect(s.constraint == "CONSTRAINT_MEMCG")
        #expect(s.oomGroup == CgroupPath("/cgwarden-test/oom/a") && s.taskGroup == CgroupPath("/cgwarden-test/oom/a"))
        #expect(s.command == "cgwarden-testlo" && s.pid == 4242 && s.uid == 0)
    }

    @Test func theNodesOOMHasNoOOMGroup() throws {
        let s = try #require(try summary("oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0-1,global_oom,"
                                         + "task_memcg=/system.slice/x.service,task=java,pid=77,uid=1000"))
        #expect(s.oomGroup == nil && s.taskGroup == CgroupPath("/system.slice/x.service"))
        #expect(s.command == "java" && s.pid == 77 && s.uid == 1000 && s.constraint == "CONSTRAINT_NONE")
    }

    @Test func theVictimInAChildOfTheLimitedGroupAndARootTask() throws {
        let s = try #require(try summary("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=0-3,5,cpuset=a,mems_allowed=0,2,"
                                         + "oom_memcg=/t,task_memcg=/t/a/b,task=sh,pid=1,uid=0"))
        #expect(s.oomGroup == CgroupPath("/t") && s.taskGroup == CgroupPath("/t/a/b"))
        let r = try #require(try summary("oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
                                         + "task_memcg=/,task=init,pid=1,uid=0"))
        #expect(r.taskGroup == .root)
    }

    /// Names and commands may hold the markers: the split that keeps the
    /// victim's group within the limited one wins, and the kill line's
    /// command settles a command holding `,task=`.
    @Test func hostileNamesDoNotMoveTheVictim() throws {
        let a = try #require(try summary("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=x,oom_memcg=/evil,mems_allowed=0,"
                                         + "oom_memcg=/t/a,task_memcg=/t/a/x,task_memcg=/other,task=p,pid=5,uid=0"))
        #expect(a.oomGroup == CgroupPath("/t/a") && a.taskGroup == CgroupPath("/t/a/x,task_memcg=/other"))
        let b = try #require(try summary("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
                                         + "oom_memcg=/t/a,task_memcg=/t/a,task=x,task=y,pid=5,uid=0", command: "x,task=y"))
        #expect(b.taskGroup == CgroupPath("/t/a") && b.command == "x,task=y")
        // Without the kill line's command: the shortest command, still within the limited group.
        let c = try #require(try summary("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
                                         + "oom_memcg=/t/a,task_memcg=/t/a,task=x,task=y,pid=5,uid=0"))
        #expect(c.command == "y" || c.command == "x,task=y")
        #expect(c.taskGroup.isWithin(CgroupPath("/t/a")!))
    }

    @Test func otherLinesAreNotSummaries() throws {
        #expect(try summary("oom_reaper: reaped process 4242 (x), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB") == nil)
        #expect(try kill("oom_reaper: reaped process 4242 (x), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB") == nil)
        #expect(try summary("") == nil && kill("") == nil)
    }

    @Test(arguments: ["oom-kill:constraint=", "oom-kill:constraint=X,task=a,pid=1,uid=x", "oom-kill:constraint=X,pid=1,uid=1",
                      "oom-kill:constraint=X,oom_memcg=t,task_memcg=/t,task=a,pid=1,uid=0",
                      "oom-kill:constraint=X,oom_memcg=/t,task_memcg=/u,task=a,pid=1,uid=0",
                      "oom-kill:constraint=X,oom_memcg=/t,task_memcg=/t,task=0123456789abcdef,pid=1,uid=0",
                      "oom-kill:constraint=X,oom_memcg=/t,task_memcg=/t,task=a,pid=99999999999,uid=0",
                      "oom-kill:constraint=X,oom_memcg=/t/../u,task_memcg=/t/../u,task=a,pid=1,uid=0"])
    func malformedSummaries(_ text: String) {
        #expect(throws: ParseError.self) { try summary(text) }
    }

    @Test func theKillLine() throws {
        let k = try #require(try kill(String(KernelLogRecordTests.kill.split(separator: ";", maxSplits: 1)[1].dropLast())))
        #expect(k.context == "Memory cgroup out of memory" && k.groupLimit)
        #expect(k.pid == 4242 && k.command == "cgwarden-testlo")
        #expect(k.totalVM == 70084 * 1024 && k.anonRSS == 32412 * 1024 && k.fileRSS == 1280 * 1024 && k.shmemRSS == 0)
        #expect(k.uid == 0 && k.pageTables == 120 * 1024 && k.oomScoreAdj == 0)
    }

    @Test func theNodesKillLineAndOlderForms() throws {
        let node = try #require(try kill("Out of memory: Killed process 9 (a) b) total-vm:8kB, anon-rss:4kB, file-rss:0kB, "
                                         + "shmem-rss:0kB, UID:1000 pgtables:4kB oom_score_adj:-999"))
        #expect(node.command == "a) b" && !node.groupLimit && node.uid == 1000 && node.oomScoreAdj == -999)
        // 4.9: no UID, pgtables or oom_score_adj; 4.4: no shmem-rss either.
        let old = try #require(try kill("Killed process 12 (x) total-vm:8kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB"))
        #expect(old.context == "" && old.shmemRSS == 0 && old.uid == nil && old.oomScoreAdj == nil)
        let older = try #require(try kill("Killed process 12 (x) total-vm:8kB, anon-rss:4kB, file-rss:0kB"))
        #expect(older.shmemRSS == nil)
        // A command that holds ") total-vm:": the last one is the real one.
        let tricky = try #require(try kill("Out of memory: Killed process 3 (a) total-vm:1) total-vm:8kB, anon-rss:4kB, file-rss:0kB"))
        #expect(tricky.command == "a) total-vm:1" && tricky.totalVM == 8192)
    }

    @Test(arguments: ["Out of memory: Killed process x (a) total-vm:8kB, anon-rss:4kB, file-rss:0kB",
                      "Out of memory: Killed process 1 (a) total-vm:8kB, anon-rss:4kB",
                      "Out of memory: Killed process 1 (a) total-vm:8MB, anon-rss:4kB, file-rss:0kB",
                      "Out of memory: Killed process 1 (a) total-vm:18446744073709551615kB, anon-rss:4kB, file-rss:0kB",
                      "Out of memory: Killed process 1 (a) total-vm:8kB, anon-rss:4kB, file-rss:0kB, UID:-1",
                      "Out of memory: Killed process 1 (a) total-vm:8kB, anon-rss:4kB, file-rss:0kB, oom_score_adj:1001",
                      "Out of memory: Killed process 1 a"])
    func malformedKillLines(_ text: String) {
        #expect(throws: ParseError.self) { try kill(text) }
    }
}

@Suite struct KernelOOMAssemblerTests {
    @Test func aSummaryAndItsKillLineMakeOneReport() throws {
        var a = KernelOOMAssembler()
        #expect(a.add(try record(KernelLogRecordTests.summary)).isEmpty)
        let reports = a.add(try record(KernelLogRecordTests.kill))
        #expect(reports.count == 1)
        let t = try #require(reports.first?.task)
        #expect(t.command == "cgwarden-testlo" && t.pid == 4242 && t.uid == 0 && t.constraint == "CONSTRAINT_MEMCG")
        #expect(t.taskGroup == CgroupPath("/cgwarden-test/oom/a") && t.oomGroup == t.taskGroup)
        #expect(t.anonRSS == 32412 * 1024 && t.fileRSS == 1280 * 1024 && t.shmemRSS == 0 && t.rss == (32412 + 1280) * 1024)
        #expect(reports.first?.sequence == 1235 && reports.first?.timestampMicros == 5_140_950)
        #expect(a.lost == 0 && a.nextExpiryNanos == nil)
    }

    @Test func aSummaryWithoutItsKillLineExpires() throws {
        var a = KernelOOMAssembler()
        _ = a.add(try record(KernelLogRecordTests.summary), readNanos: 7_000_000_000)
        #expect(a.expire(nowNanos: 8_999_999_999).isEmpty)
        #expect(a.nextExpiryNanos == 9_000_000_000)
        let r = a.expire(nowNanos: 9_000_000_000)
        #expect(r.count == 1 && r.first?.task.command == "cgwarden-testlo" && r.first?.task.rss == nil)
        #expect(r.first?.timestampMicros == 5_140_900)
        #expect(a.expire(nowNanos: .max).isEmpty)
    }

    @Test func aSecondSummaryFlushesTheFirstAndKillLinesOfAnOOMGroupKeepItsGroup() throws {
        var a = KernelOOMAssembler()
        _ = a.add(try record(KernelLogRecordTests.summary))
        let second = "6,1236,5140990,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
            + "oom_memcg=/g,task_memcg=/g/w,task=w1,pid=10,uid=0\n"
        #expect(a.add(try record(second)).map(\.task.pid) == [4242])
        let k1 = a.add(try record("3,1237,5141000,-;Memory cgroup out of memory: Killed process 10 (w1) total-vm:8kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB\n"))
        #expect(k1.first?.task.taskGroup == CgroupPath("/g/w"))
        let k2 = a.add(try record("3,1238,5141001,-;Memory cgroup out of memory: Killed process 11 (w2) total-vm:8kB, anon-rss:8kB, file-rss:0kB, shmem-rss:0kB\n"))
        #expect(k2.first?.task.pid == 11 && k2.first?.task.taskGroup == nil && k2.first?.task.oomGroup == CgroupPath("/g"))
    }

    @Test func fragmentsAreJoinedGapsCountedAndUserRecordsIgnored() throws {
        var a = KernelOOMAssembler()
        _ = a.add(try record("6,10,1,c;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0"))
        _ = a.add(try record("6,11,1,+;,oom_memcg=/t,task_memcg=/t,task=x,pid=3,uid=0"))
        // A forged kill line from a process (facility 1) is not the kernel's.
        #expect(a.add(try record("11,12,2,-;Memory cgroup out of memory: Killed process 3 (x) total-vm:8kB, anon-rss:4kB, file-rss:0kB\n")).isEmpty)
        let r = a.add(try record("3,20,2,-;Memory cgroup out of memory: Killed process 3 (x) total-vm:8kB, anon-rss:4kB, file-rss:0kB\n"))
        #expect(r.count == 1 && r.first?.task.taskGroup == CgroupPath("/t") && r.first?.task.anonRSS == 4096)
        #expect(a.lost == 7)
    }

    @Test func malformedLinesAreNotedAndBounded() throws {
        var a = KernelOOMAssembler()
        for i in 0..<20 { _ = a.add(try record("3,\(i),1,-;Out of memory: Killed process x (a)\n")) }
        #expect(a.takeMalformed().count == 8)
        #expect(a.takeMalformed().isEmpty)
    }

    /// Garbage never traps: every prefix, and bytes flipped through the two real records.
    @Test func garbageIsAnErrorOrNothing() {
        var a = KernelOOMAssembler()
        for base in [KernelLogRecordTests.summary, KernelLogRecordTests.kill] {
            let bytes = Array(base.utf8)
            for cut in 0...bytes.count {
                let prefix = Array(bytes.prefix(cut))
                if let r = try? prefix.withUnsafeBufferPointer({ b throws(ParseError) in try Parse.kernelLogRecord(b) }) { _ = a.add(r) }
            }
            for i in bytes.indices {
                for v: UInt8 in [0, 0x2c, 0x2f, 0x3b, 0x5c, 0xff] {
                    var m = bytes
                    m[i] = v
                    if let r = try? m.withUnsafeBufferPointer({ b throws(ParseError) in try Parse.kernelLogRecord(b) }) { _ = a.add(r) }
                    _ = try? Parse.kernelOOMSummary(m)
                    _ = try? Parse.kernelOOMKill(m)
                }
            }
        }
        _ = a.expire(nowNanos: .max)
    }
}
