#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
import CGWardenSystem
@testable import CGWardenIO
import CGWardenTestSupport

@Suite struct WalkerFixtureTests {
    func tenants() -> FixtureTree {
        let t = FixtureTree()
        var slice = FixtureGroup()
        slice.current = "402653184"
        t.add("/tenants.slice", slice)
        var a = FixtureGroup()
        a.current = "67100000"
        a.max = "67108864"
        a.high = "60000000"
        a.swapMax = "0"
        a.procs = [101, 102]
        a.events = FixtureGroup.events(high: 1204, max: 61, oom: 1, oomKill: 1)
        a.pressure = FixtureGroup.pressure(some: "12.50", full: "3.25")
        t.add("/tenants.slice/a.slice", a)
        t.add("/tenants.slice/b.slice")
        return t
    }

    @Test func walksPreOrderWithValues() throws {
        let t = tenants()
        let r = try Walker(root: t.root).walk(fields: .status)
        #expect(r.cgroups.map(\.path.description) == ["/", "/tenants.slice", "/tenants.slice/a.slice", "/tenants.slice/b.slice"])
        #expect(r.problems.isEmpty)
        #expect(r.vanished.isEmpty)
        let a = r.cgroups[2]
        let m = try #require(a.memory)
        #expect(m.current == 67_100_000)
        #expect(m.max == .bytes(67_108_864))
        #expect(m.high == .bytes(60_000_000))
        #expect(m.swapMax == .bytes(0))
        #expect(r.cgroups[3].memory?.max == .max)
        #expect(m.events?.oomKill == 1)
        #expect(m.events?.high == 1204)
        #expect(a.pressure?.some.avg10 == 12.5)
        #expect(a.nrProcs == 2)
        #expect(a.events?.populated == true)
        #expect(a.identity.unit == "a.slice")
        // Every id is the directory's inode.
        var st = stat()
        stat(t.root + "/tenants.slice/a.slice", &st)
        #expect(a.id == UInt64(st.st_ino))
        // The root has no memory.current: no memory state, but pressure.
        #expect(r.cgroups[0].memory == nil)
        #expect(r.cgroups[0].pressure != nil)
    }

    @Test func readsOnlyWhatIsAsked() throws {
        let t = tenants()
        let r = try Walker(root: t.root).walk(fields: [.usage])
        let a = r.cgroups[2]
        #expect(a.memory?.current == 67_100_000)
        #expect(a.memory?.max == nil)
        #expect(a.memory?.events == nil)
        #expect(a.pressure == nil)
        #expect(a.nrProcs == nil)
    }

    @Test func procsListsPids() throws {
        let t = tenants()
        let r = try Walker(root: t.root).walk(fields: [.procs])
        #expect(r.cgroups[2].procs == [101, 102])
        #expect(r.cgroups[2].nrProcs == 2)
    }

    @Test func subtreeAndDepth() throws {
        let t = tenants()
        let w = Walker(root: t.root)
        let sub = try w.walk(subtree: CgroupPath("/tenants.slice")!, fields: .status)
        #expect(sub.cgroups.map(\.path.description) == ["/tenants.slice", "/tenants.slice/a.slice", "/tenants.slice/b.slice"])
        #expect(sub.cgroups[0].memory?.current == 402_653_184)
        let shallow = try w.walk(maxDepth: 1, fields: .status)
        #expect(shallow.cgroups.map(\.path.description) == ["/", "/tenants.slice"])
        let only = try w.walk(subtree: CgroupPath("/tenants.slice/a.slice")!, maxDepth: 0, fields: .status)
        #expect(only.cgroups.count == 1)
        #expect(only.cgroups[0].memory?.max == .bytes(67_108_864))
    }

    @Test func missingSubtreeIsAClearError() {
        let t = tenants()
        #expect(throws: WalkError.self) { try Walker(root: t.root).walk(subtree: CgroupPath("/nope")!, fields: .status) }
        #expect(throws: WalkError.self) { try Walker(root: t.dir.path + "/nothing-here").walk(fields: .status) }
    }

    @Test func memoryControllerOffMeansNoMemoryState() throws {
        let t = FixtureTree()
        var off = FixtureGroup()
        off.memoryEnabled = false
        off.subtreeControl = ""
        t.add("/nomem.slice", off)
        var child = FixtureGroup()
        child.memoryEnabled = false
        t.add("/nomem.slice/child", child)
        t.setSubtreeControl("/", "pids")
        let r = try Walker(root: t.root).walk(fields: .status)
        let g = try #require(r.cgroups.first { $0.path.description == "/nomem.slice" })
        #expect(g.memory == nil)
        #expect(g.pressure != nil)  // memory.pressure is a core file
        #expect(r.cgroups.first { $0.path.description == "/nomem.slice/child" }?.memory == nil)
        #expect(r.problems.isEmpty)
    }

    @Test func absentOptionalFilesAreNil() throws {
        let t = FixtureTree()
        var g = FixtureGroup()
        g.peak = nil          // kernel before 5.19
        g.swapCurrent = nil   // no swap accounting
        g.swapMax = nil
        g.eventsLocal = nil   // before 5.2
        t.add("/old.slice", g)
        let r = try Walker(root: t.root).walk(fields: .status)
        let m = try #require(r.cgroups.last?.memory)
        #expect(m.peak == nil)
        #expect(m.swapCurrent == nil)
        #expect(m.eventsLocal == nil)
        #expect(m.current == 0)
        #expect(r.problems.isEmpty)
    }

    @Test func malformedFileIsAProblemNotGarbage() throws {
        let t = FixtureTree()
        var g = FixtureGroup()
        g.events = "low 0\nhigh zz\n"
        g.max = "lots"
        t.add("/bad.slice", g)
        t.add("/good.slice")
        let r = try Walker(root: t.root).walk(fields: .status)
        let bad = try #require(r.cgroups.first { $0.path.description == "/bad.slice" })
        #expect(bad.memory?.events == nil)
        #expect(bad.memory?.max == nil)
        #expect(bad.memory?.current == 0)
        #expect(r.problems.count == 2)
        #expect(r.problems.map(\.description).contains("cgroup /bad.slice: memory.events line 2: value of 'high' is not a number: \"zz\""))
        #expect(r.problems.map(\.description).contains("cgroup /bad.slice: memory.max line 1: value is not a number: \"lots\""))
        #expect(r.cgroups.contains { $0.path.description == "/good.slice" })
    }

    @Test func oddNames() throws {
        let t = FixtureTree()
        let names = ["with space", "ünïcödé.slice", "tab\there", "new\nline", "-dash", "a.b.c", String(repeating: "x", count: 255)]
        for n in names { t.add("/" + n) }
        let r = try Walker(root: t.root).walk(fields: .status)
        #expect(Set(r.cgroups.dropFirst().compactMap(\.path.name)) == Set(names.map(CgroupName.init)))
        #expect(r.problems.isEmpty)
    }

    @Test func veryDeep() throws {
        let t = FixtureTree()
        var path = ""
        for i in 0..<100 {
            path += "/level\(i)"
            t.add(path)
        }
        let r = try Walker(root: t.root).walk(fields: .status)
        #expect(r.cgroups.count == 101)
        #expect(r.cgroups.last?.path.depth == 100)
        // No descriptor leaks: the walk closes everything it opens.
        let counting = CountingFileSystem()
        _ = try Walker(root: t.root, fileSystem: counting).walk(fields: .status)
        #expect(counting.opened > 1000)
        #expect(counting.open == 0)
    }

    @Test func symlinksAreNotFollowed() throws {
        let t = tenants()
        let outside = TempDir()
        defer { outside.remove() }
        makeDirectories(outside.path + "/evil")
        writeFile(outside.path + "/evil/memory.current", "1\n")
        symlink(outside.path + "/evil", t.root + "/tenants.slice/link")
        let r = try Walker(root: t.root).walk(fields: .status)
        #expect(!r.cgroups.contains { $0.path.name == CgroupName("link") })
        // Nor is a symlinked subtree argument.
        #expect(throws: WalkError.self) { try Walker(root: t.root).walk(subtree: CgroupPath("/tenants.slice/link")!, fields: .status) }
    }

}

/// Counts descriptors opened and not yet closed.
final class CountingFileSystem: FileSystem, @unchecked Sendable {
    let real = LinuxFileSystem()
    private(set) var open = 0
    private(set) var opened = 0
    /// The most descriptors open at once.
    private(set) var mostOpen = 0

    func openDirectory(_ name: CgroupName, in dir: Int32) throws(SystemError) -> Int32 {
        let fd = try real.openDirectory(name, in: dir)
        open += 1; opened += 1
        mostOpen = max(mostOpen, open)
        return fd
    }
    func openDirectory(path: String) throws(SystemError) -> Int32 {
        let fd = try real.openDirectory(path: path)
        open += 1; opened += 1
        mostOpen = max(mostOpen, open)
        return fd
    }
    func openFile(_ name: String, in dir: Int32) throws(SystemError) -> Int32 {
        let fd = try real.openFile(name, in: dir)
        open += 1; opened += 1
        mostOpen = max(mostOpen, open)
        return fd
    }
    func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: Int) throws(SystemError) -> Int {
        try real.pread(fd, into: buffer, offset: offset)
    }
    func close(_ fd: Int32) { open -= 1; real.close(fd) }
    private(set) var listings = 0
    func subdirectories(_ dir: Int32) throws(SystemError) -> [DirectoryEntry] {
        listings += 1
        return try real.subdirectories(dir)
    }
    func status(_ fd: Int32) throws(SystemError) -> FileStatus { try real.status(fd) }
    func fileSystemType(_ fd: Int32) throws(SystemError) -> Int64 { try real.fileSystemType(fd) }
    func extendedAttribute(_ fd: Int32, _ name: String) throws(SystemError) -> String? { try real.extendedAttribute(fd, name) }
}

/// Makes one directory vanish after some of its files were read, as a pod
/// exiting during a walk does: open files answer ENODEV, new opens ENOENT.
final class VanishingFileSystem: FileSystem, @unchecked Sendable {
    let real = LinuxFileSystem()
    let directory: String
    let filesBeforeVanishing: Int
    let errnoOnRead: Int32
    private var doomed: Set<Int32> = []
    private var filesRead = 0
    private var fileDir: [Int32: Int32] = [:]

    init(directory: String, filesBeforeVanishing: Int, errnoOnRead: Int32 = ENODEV) {
        self.directory = directory
        self.filesBeforeVanishing = filesBeforeVanishing
        self.errnoOnRead = errnoOnRead
    }

    var gone: Bool { filesRead >= filesBeforeVanishing }

    func openDirectory(_ name: CgroupName, in dir: Int32) throws(SystemError) -> Int32 {
        let fd = try real.openDirectory(name, in: dir)
        if name == CgroupName(directory) { doomed.insert(fd) }
        return fd
    }
    func openDirectory(path: String) throws(SystemError) -> Int32 { try real.openDirectory(path: path) }

    func openFile(_ name: String, in dir: Int32) throws(SystemError) -> Int32 {
        if doomed.contains(dir) && gone { throw SystemError(call: "openat", path: "", errno: ENOENT) }
        let fd = try real.openFile(name, in: dir)
        fileDir[fd] = dir
        return fd
    }

    func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: Int) throws(SystemError) -> Int {
        if let d = fileDir[fd], doomed.contains(d) {
            if gone { throw SystemError(call: "read", path: "", errno: errnoOnRead) }
            filesRead += 1
        }
        return try real.pread(fd, into: buffer, offset: offset)
    }

    func close(_ fd: Int32) {
        fileDir[fd] = nil
        doomed.remove(fd)
        real.close(fd)
    }

    func subdirectories(_ dir: Int32) throws(SystemError) -> [DirectoryEntry] {
        if doomed.contains(dir) && gone { throw SystemError(call: "getdents64", path: "", errno: ENOENT) }
        return try real.subdirectories(dir)
    }

    func status(_ fd: Int32) throws(SystemError) -> FileStatus { try real.status(fd) }
    func fileSystemType(_ fd: Int32) throws(SystemError) -> Int64 { try real.fileSystemType(fd) }
    func extendedAttribute(_ fd: Int32, _ name: String) throws(SystemError) -> String? { try real.extendedAttribute(fd, name) }
}

@Suite struct HostileTreeWalkTests {
    @Test func aTreeDeeperThanTheOldBoundIsWalkedWithFewDescriptors() throws {
        let t = FixtureTree()
        var path = ""
        for _ in 0..<400 {
            path += "/n"
            t.add(path)
        }
        let counting = CountingFileSystem()
        let walk = try Walker(root: t.root, fileSystem: counting).walk(fields: .status)
        #expect(walk.cgroups.count == 401 && walk.problems.isEmpty && walk.cut.isEmpty)
        #expect(counting.mostOpen <= 4, "\(counting.mostOpen) descriptors at once")
        #expect(counting.open == 0)
        // The sampler reads the same tree the same way (one descriptor per group is its design).
        let sampled = try Sampler(root: t.root, watcher: nil).sample(fields: .status)
        #expect(sampled.cgroups.map(\.path) == walk.cgroups.map(\.path))
        // Depth limits still apply where asked.
        #expect(try Walker(root: t.root).walk(maxDepth: 10, fields: .status).cgroups.count == 11)
    }

    @Test func aGroupThatCannotBeOpenedIsReportedNotDropped() throws {
        let t = FixtureTree()
        t.add("/a.slice")
        t.add("/b.slice")
        t.add("/b.slice/child")
        let fs = RefusingFileSystem(refused: CgroupName("b.slice"))
        let walk = try Walker(root: t.root, fileSystem: fs).walk(fields: .status)
        #expect(walk.cgroups.map(\.path.description) == ["/", "/a.slice"])
        #expect(walk.problems.map(\.description) == ["cgroup /b.slice not read: /b.slice: Too many open files (openat)"])
        let sampled = try Sampler(root: t.root, fileSystem: fs, watcher: nil).sample(fields: .status)
        #expect(sampled.problems.map(\.description) == walk.problems.map(\.description))
    }

    @Test func namesThatAreNotUTF8AreWalked() throws {
        let t = FixtureTree()
        t.add("/t")
        t.add(bytes: [0xff, 0xfe], below: "/t", procs: [7])
        let walk = try Walker(root: t.root).walk(fields: .status)
        let odd = CgroupPath(names: [CgroupName("t"), CgroupName(bytes: [0xff, 0xfe])])
        #expect(walk.cgroups.map(\.path).contains(odd))
        #expect(walk.cgroups.first { $0.path == odd }?.nrProcs == 1)
        #expect(try Walker(root: t.root).walk(subtree: odd, fields: .status).cgroups.count == 1)
    }
}

/// Refuses to open one group (as with EMFILE), passing everything else through.
final class RefusingFileSystem: FileSystem, @unchecked Sendable {
    let real = LinuxFileSystem()
    let refused: CgroupName
    init(refused: CgroupName) { self.refused = refused }
    func openDirectory(_ name: CgroupName, in dir: Int32) throws(SystemError) -> Int32 {
        if name == refused { throw SystemError(call: "openat", path: "", errno: EMFILE) }
        return try real.openDirectory(name, in: dir)
    }
    func openDirectory(path: String) throws(SystemError) -> Int32 { try real.openDirectory(path: path) }
    func openFile(_ name: String, in dir: Int32) throws(SystemError) -> Int32 { try real.openFile(name, in: dir) }
    func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: Int) throws(SystemError) -> Int {
        try real.pread(fd, into: buffer, offset: offset)
    }
    func close(_ fd: Int32) { real.close(fd) }
    func subdirectories(_ dir: Int32) throws(SystemError) -> [DirectoryEntry] { try real.subdirectories(dir) }
    func status(_ fd: Int32) throws(SystemError) -> FileStatus { try real.status(fd) }
    func fileSystemType(_ fd: Int32) throws(SystemError) -> Int64 { try real.fileSystemType(fd) }
    func extendedAttribute(_ fd: Int32, _ name: String) throws(SystemError) -> String? { try real.extendedAttribute(fd, name) }
}

@Suite struct VanishingGroupTests {
    func tree() -> FixtureTree {
        let t = FixtureTree()
        t.add("/a.slice")
        var b = FixtureGroup()
        b.current = "777"
        t.add("/b.slice", b)
        t.add("/b.slice/child")
        t.add("/c.slice")
        return t
    }

    @Test(arguments: [0, 1, 3, 6, 9], [ENODEV, ENOENT])
    func aGroupRemovedMidReadIsSkippedWhole(filesBefore: Int, readErrno: Int32) throws {
        let t = tree()
        let fs = VanishingFileSystem(directory: "b.slice", filesBeforeVanishing: filesBefore, errnoOnRead: readErrno)
        let r = try Walker(root: t.root, fileSystem: fs).walk(fields: .status)
        #expect(r.cgroups.map(\.path.description) == ["/", "/a.slice", "/c.slice"])
        #expect(r.vanished.map(\.description) == ["/b.slice"])
        #expect(r.problems.isEmpty)
    }

    @Test func aGroupReadWholeBeforeVanishingKeepsItsValues() throws {
        let t = tree()
        // b.slice is removed right after its 13 status files were read: it is
        // reported with its values; its subtree, listed afterwards, is gone.
        let fs = VanishingFileSystem(directory: "b.slice", filesBeforeVanishing: 13)
        let r = try Walker(root: t.root, fileSystem: fs).walk(fields: .status)
        #expect(r.cgroups.map(\.path.description) == ["/", "/a.slice", "/b.slice", "/c.slice"])
        #expect(r.cgroups[2].memory?.current == 777)
        #expect(r.problems.isEmpty)
    }
}
