#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
import CGWardenSystem
import CGWardenIO
@testable import CGWardenActions

/// The fake cgroupfs, except that `cgroup.procs` never ends (a /dev/zero in
/// its place): every read fills the buffer, however large.
final class EndlessProcs: HelperFileSystem {
    let fs: FakeCgroupFS
    var names: [Int32: String] = [:]
    var largestRead = 0

    init(_ fs: FakeCgroupFS) { self.fs = fs }

    func openGroup(_ path: CgroupPath, beneath root: Int32) throws(SystemError) -> Int32 { try fs.openGroup(path, beneath: root) }
    func openFile(_ name: String, in dir: Int32, forWriting: Bool) throws(SystemError) -> Int32 {
        let fd = try fs.openFile(name, in: dir, forWriting: forWriting)
        names[fd] = name
        return fd
    }
    func openSubgroup(_ name: CgroupName, in dir: Int32) throws(SystemError) -> Int32 { try fs.openSubgroup(name, in: dir) }
    func openParent(_ dir: Int32) throws(SystemError) -> Int32 { try fs.openParent(dir) }
    func subgroupNames(_ dir: Int32) throws(SystemError) -> [CgroupName] { try fs.subgroupNames(dir) }
    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        guard names[fd] == "cgroup.procs" else { return try fs.read(fd, into: buffer) }
        memset(buffer.baseAddress!, 0x31, buffer.count)   // "1111…": no end in sight
        largestRead = max(largestRead, buffer.count)
        return buffer.count
    }
    func write(_ fd: Int32, _ bytes: [UInt8]) throws(SystemError) { try fs.write(fd, bytes) }
    func status(_ fd: Int32) throws(SystemError) -> FileStatus { try fs.status(fd) }
    func attribute(_ name: String, of fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int? {
        try fs.attribute(name, of: fd, into: buffer)
    }
    func waitForChange(_ fd: Int32, milliseconds: Int32) { fs.waitForChange(fd, milliseconds: milliseconds) }
    func armPressure(in dir: Int32, _ spec: PressureTriggerSpec) throws(SystemError) -> Int32 { try fs.armPressure(in: dir, spec) }
    func close(_ fd: Int32) {
        names[fd] = nil
        fs.close(fd)
    }
}

@Suite struct HostileKillTests {
    func tree(memory: UInt64 = 64 << 20) -> FakeCgroupFS {
        let fs = FakeCgroupFS(clock: FakeClock())
        fs.add("/t")
        fs.add("/t/a", procs: [101], memory: memory)
        return fs
    }

    /// The helper's buffer grows to the bound and no further: EFBIG, not all memory.
    @Test func aCgroupProcsThatNeverEndsIsRefusedAtTheBound() throws {
        let fake = tree()
        let fs = EndlessProcs(fake)
        let executor = KillExecutor(fs: fs, signaller: FakeSignaller(fs: fake), clock: fake.clock)
        let dir = try fs.openGroup(CgroupPath("/t/a")!, beneath: fake.rootDescriptor())
        let a = CgroupPath("/t/a")!
        #expect(executor.check(dir, at: a, id: fake.node("/t/a").inode) == .failed(HelperStepFailure(.walkSubtree, path: a, errno: EFBIG)))
        #expect(fs.largestRead == ControlFileSize.maximum)
        #expect(executor.kill(dir, timeoutMillis: 1000, forceFallback: true) == .failed(HelperStepFailure(.readProcs, errno: EFBIG)))
    }

    @Test func memoryAtTheTopInReports() throws {
        let fs = tree(memory: .max)
        let executor = KillExecutor(fs: fs, signaller: FakeSignaller(fs: fs), clock: fs.clock)
        let dir = try fs.openGroup(CgroupPath("/t/a")!, beneath: fs.rootDescriptor())
        #expect(executor.check(dir, at: CgroupPath("/t/a")!, id: fs.node("/t/a").inode)
                == .checked(CheckReport(processes: 1, groups: 1, memoryCurrent: .max)))
        guard case .killed(let r) = executor.kill(dir, timeoutMillis: .max, forceFallback: false) else {
            Issue.record("not killed")
            return
        }
        #expect(r.memoryBefore == .max)
        // The reply carries it whole.
        #expect(try HelperReply.decode(HelperReply.killed(r).encoded(requestID: 7)).reply == .killed(r))
    }
}
