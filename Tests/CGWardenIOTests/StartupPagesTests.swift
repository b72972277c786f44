#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
import CGWardenSystem
import CGWardenTestSupport

/// Records the calls instead of making them; fails the ranges listed.
final class RecordedAdvice: PageAdvice {
    var calls: [String] = []
    var failDrop: Set<UInt64> = []
    var failLock = false

    func unlock(start: UInt64, length: UInt64) throws(SystemError) { calls.append("unlock \(start) \(length)") }
    func drop(start: UInt64, length: UInt64) throws(SystemError) {
        calls.append("drop \(start) \(length)")
        if failDrop.contains(start) { throw SystemError(call: "madvise(MADV_DONTNEED)", path: "", errno: EINVAL) }
    }
    func lockOnFault(start: UInt64, length: UInt64) throws(SystemError) {
        calls.append("lock \(start) \(length)")
        if failLock { throw SystemError(call: "mlock2(MLOCK_ONFAULT)", path: "", errno: ENOMEM) }
    }
}

@Suite struct StartupPagesTests {
    static let maps = """
        1000-3000 r-xp 00000000 fe:01 7 /usr/bin/cgwarden
        Rss: 8 kB
        Anonymous: 0 kB
        VmFlags: rd ex mr mw me lo
        3000-4000 r--p 00002000 fe:01 7 /usr/bin/cgwarden
        Rss: 4 kB
        Anonymous: 4 kB
        VmFlags: rd mr mw me lo
        4000-5000 rw-p 00000000 00:00 0 [heap]
        Rss: 4 kB
        Anonymous: 4 kB
        VmFlags: rd wr mr mw me lo
        5000-6000 r--p 00000000 fe:01 8 /usr/lib/libc.so.6
        Rss: 4 kB
        Anonymous: 0 kB
        VmFlags: rd mr mw me
        6000-7000 r--p 00000000 fe:01 9 /usr/lib/never-touched.so
        Rss: 0 kB
        Anonymous: 0 kB
        VmFlags: rd mr mw me
        """

    @Test func dropsOnlyCleanFileCopiesAndLocksThemAgain() throws {
        let advice = RecordedAdvice()
        let outcome = StartupPages.drop(try Parse.smaps(Self.maps), advice: advice)
        // The locked text: unlocked, dropped, locked on fault again. The
        // relocated data and the heap: untouched. The unlocked library: only
        // dropped. Nothing resident: nothing to do.
        #expect(advice.calls == ["unlock 4096 8192", "drop 4096 8192", "lock 4096 8192", "drop 20480 4096"])
        #expect(outcome == StartupPages.Outcome(mappings: 2, residentKiB: 12, failure: nil))
    }

    @Test func aFailureIsReportedAndTheLockIsTakenAgain() throws {
        let advice = RecordedAdvice()
        advice.failDrop = [4096]
        let outcome = StartupPages.drop(try Parse.smaps(Self.maps), advice: advice)
        #expect(advice.calls == ["unlock 4096 8192", "drop 4096 8192", "lock 4096 8192", "drop 20480 4096"])
        #expect(outcome.mappings == 1 && outcome.residentKiB == 4)
        #expect(outcome.failure?.call == "madvise(MADV_DONTNEED)")
        let relock = RecordedAdvice()
        relock.failLock = true
        #expect(StartupPages.drop(try Parse.smaps(Self.maps), advice: relock).failure?.call == "mlock2(MLOCK_ONFAULT)")
    }

    /// The kernel's: a read-only private mapping of a file is dropped (its
    /// bytes come back from the file), and one that was written before it
    /// was made read-only (as the loader does to relocated data) keeps its
    /// written bytes.
    @Test func theKernelDropsCleanPagesAndKeepsWrittenOnes() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let path = dir.path + "/pages"
        let size = 16 * 4096
        writeFile(path, String(repeating: "a", count: size))
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        #expect(fd >= 0)
        defer { close(fd) }
        guard let clean = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), clean != MAP_FAILED,
              let written = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), written != MAP_FAILED else {
            Issue.record("mmap: \(errno)")
            return
        }
        defer {
            munmap(clean, size)
            munmap(written, size)
        }
        var sum = 0
        for i in stride(from: 0, to: size, by: 4096) { sum += Int(clean.load(fromByteOffset: i, as: UInt8.self)) }
        written.storeBytes(of: UInt8(ascii: "b"), toByteOffset: 4096, as: UInt8.self)
        for i in stride(from: 0, to: size, by: 4096) { sum += Int(written.load(fromByteOffset: i, as: UInt8.self)) }
        #expect(mprotect(written, size, PROT_READ) == 0)
        func mapping(_ p: UnsafeMutableRawPointer) throws -> MemoryMapping? {
            let text = readFile("/proc/self/smaps") ?? ""
            return try Parse.smaps(text).first { $0.start == UInt64(UInt(bitPattern: p)) }
        }
        #expect(try mapping(clean)?.residentKiB == 64)
        #expect(try mapping(written)?.anonymousKiB == 4)

        let outcome = try StartupPages.dropOwn()
        #expect(outcome.failure == nil)
        #expect(outcome.residentKiB >= 64)
        #expect(try mapping(clean)?.residentKiB == 0)
        #expect(try mapping(written)?.anonymousKiB == 4)
        #expect(written.load(fromByteOffset: 4096, as: UInt8.self) == UInt8(ascii: "b"))
        #expect(clean.load(fromByteOffset: 4096, as: UInt8.self) == UInt8(ascii: "a"))
        #expect(sum == 32 * Int(UInt8(ascii: "a")) + 1)
    }
}

@Suite struct TransparentHugePagesTests {
    /// The kernel's own account of the process (/proc/self/status,
    /// `THP_enabled:`) follows the switch both ways.
    @Test func theDaemonTurnsThemOffForItself() throws {
        func status() -> String? {
            readFile("/proc/self/status")?.split(separator: "\n").first { $0.hasPrefix("THP_enabled:") }
                .map { String($0.split(whereSeparator: { $0 == " " || $0 == "\t" }).last ?? "") }
        }
        let was = ProcessLimits.transparentHugePagesDisabled
        defer { try? ProcessLimits.disableTransparentHugePages(was) }
        try ProcessLimits.disableTransparentHugePages()
        #expect(ProcessLimits.transparentHugePagesDisabled)
        #expect(status() == "0")
        try ProcessLimits.disableTransparentHugePages(false)
        #expect(!ProcessLimits.transparentHugePagesDisabled)
        #expect(status() == "1")
    }
}
