#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
import CGWardenStore
@testable import CGWardenSystem
import CGWardenTestSupport

/// The calls a drop makes, in order.
final class AdviceLog: PageAdvice {
    var calls: [String] = []
    func unlock(start: UInt64, length: UInt64) throws(SystemError) { calls.append("unlock \(start) \(length)") }
    func drop(start: UInt64, length: UInt64) throws(SystemError) { calls.append("drop \(start) \(length)") }
    func lockOnFault(start: UInt64, length: UInt64) throws(SystemError) { calls.append("lock \(start) \(length)") }
}

@Suite struct LibraryPagesTests {
    /// The loader's view of SQLite agrees with the kernel's: every range is
    /// page-aligned and lies in private, non-writable mappings of the
    /// library's file, one of them its code.
    @Test func sqlitesCodeAndConstantsAreFoundFromTheLoader() throws {
        let pages = try LibraryPages(containing: SQLiteDatabase.libraryAddress, locked: false)
        #expect(pages.object.contains("libsqlite3"), "\(pages.object)")
        let address = UInt64(UInt(bitPattern: SQLiteDatabase.libraryAddress))
        #expect(pages.ranges.contains { address >= $0.start && address - $0.start < $0.length }, "the version string is a constant of its own")
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        let smaps = try #require(readFile("/proc/self/smaps"))
        let maps = try Array(smaps.utf8).withUnsafeBufferPointer { b throws(ParseError) in try Parse.smaps(b, file: "/proc/self/smaps") }
        var executable = false
        for r in pages.ranges {
            #expect(r.start % page == 0 && r.length % page == 0 && r.length > 0)
            let over = maps.filter { $0.start < r.start + r.length && r.start < $0.end }
            #expect(over.reduce(0) { $0 + min($1.end, r.start + r.length) - max($1.start, r.start) } == r.length, "the range is mapped whole")
            for m in over {
                #expect(!m.writable && !m.shared && String(decoding: m.path, as: UTF8.self).contains("libsqlite3"),
                        "\(String(decoding: m.path, as: UTF8.self)) at \(m.start)")
                executable = executable || m.executable
            }
        }
        #expect(executable, "SQLite's code is among the ranges")
    }

    /// Dropped, its pages come back from the file as they were: SQLite still
    /// answers (a page that had been written would come back unrelocated).
    @Test func droppedPagesComeBackAsTheFilesBytes() throws {
        let pages = try LibraryPages(containing: SQLiteDatabase.libraryAddress, locked: false)
        let outcome = pages.drop()
        #expect(outcome.failure == nil)
        #expect(outcome.mappings == pages.ranges.count)
        let tmp = TempDir("cgwarden-library-pages"); defer { tmp.remove() }
        let db = try SQLiteDatabase(path: tmp.path + "/t.db", readOnly: false, create: true)
        try db.execute("CREATE TABLE t (x INTEGER)")
        try db.execute("INSERT INTO t VALUES (6), (7)")
        #expect(try db.integer("SELECT x * (SELECT max(x) FROM t) FROM t WHERE x = 6") == 42)
        #expect(SQLiteDatabase.libraryVersion.hasPrefix("3."))
    }

    /// A process that locked its memory: each range unlocked, dropped, and
    /// locked on fault again, in that order.
    @Test func aLockedRangeIsUnlockedDroppedAndLockedAgain() {
        let pages = LibraryPages(object: "/usr/lib/libsqlite3.so.0",
                                 ranges: [.init(start: 0x1000, length: 0x2000), .init(start: 0x8000, length: 0x1000)], locked: true)
        let log = AdviceLog()
        let outcome = pages.drop(advice: log)
        #expect(log.calls == ["unlock 4096 8192", "drop 4096 8192", "lock 4096 8192",
                              "unlock 32768 4096", "drop 32768 4096", "lock 32768 4096"])
        #expect(outcome.mappings == 2 && outcome.failure == nil)
        let unlocked = LibraryPages(object: "x", ranges: [.init(start: 0x1000, length: 0x1000)], locked: false)
        let plain = AdviceLog()
        _ = unlocked.drop(advice: plain)
        #expect(plain.calls == ["drop 4096 4096"])
    }

    @Test func anAddressNoObjectHoldsIsRefused() {
        let heap = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
        defer { heap.deallocate() }
        #expect(throws: LibraryPages.LookupError.noObject) { try LibraryPages(containing: UnsafeRawPointer(heap), locked: false) }
    }
}
