#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSandbox
import CGWardenSystem

/// The file calls of the kill helper, behind one small type that tests
/// replace (a fake cgroupfs in memory). Every descriptor is relative to a
/// directory descriptor and close-on-exec; errors carry the errno.
public protocol HelperFileSystem {
    /// The group's directory: `openBeneath(root, path)` with O_RDONLY |
    /// O_NONBLOCK (no O_DIRECTORY, so that a symlink as the last component
    /// is ELOOP, not ENOTDIR; the caller checks it is a directory). The root
    /// itself is `openat(root, ".")`.
    func openGroup(_ path: CgroupPath, beneath root: Int32) throws(SystemError) -> Int32
    /// `openat(dir, name, O_RDONLY or O_WRONLY | O_NOFOLLOW | O_NONBLOCK)`: a
    /// control file (O_NONBLOCK: a FIFO in its place cannot block the helper).
    func openFile(_ name: String, in dir: Int32, forWriting: Bool) throws(SystemError) -> Int32
    /// A child group, opened like `openGroup` beneath `dir` (O_DIRECTORY:
    /// a symlink is ENOTDIR, a mount point EXDEV; both are no child group).
    func openSubgroup(_ name: CgroupName, in dir: Int32) throws(SystemError) -> Int32
    /// `openat(dir, "..", O_RDONLY|O_DIRECTORY|O_NOFOLLOW)`: back up one
    /// level in a walk (the caller checks the inode).
    func openParent(_ dir: Int32) throws(SystemError) -> Int32
    /// The names of the child directories (`getdents64` on a fresh
    /// descriptor of `dir`), as the kernel lists them, sorted by bytes.
    func subgroupNames(_ dir: Int32) throws(SystemError) -> [CgroupName]
    /// One `pread` at offset 0 (a control file is generated whole).
    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int
    /// One `write` of the whole value (`1` to cgroup.kill).
    func write(_ fd: Int32, _ bytes: [UInt8]) throws(SystemError)
    func status(_ fd: Int32) throws(SystemError) -> FileStatus
    /// `fgetxattr`: the value's length, or nil when the attribute is not set
    /// (ENODATA), the file system has none (ENOTSUP) or it is over `buffer`
    /// (ERANGE: no valid preference is that long).
    func attribute(_ name: String, of fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int?
    /// `poll(POLLPRI)` on a kernfs file (cgroup.events): returns when it
    /// changed since it was last read, or after `milliseconds`.
    func waitForChange(_ fd: Int32, milliseconds: Int32)
    func close(_ fd: Int32)
    /// Opens `memory.pressure` of the group `dir` read-write and writes the
    /// trigger (with its NUL, as the kernel wants): the armed descriptor.
    func armPressure(in dir: Int32, _ spec: PressureTriggerSpec) throws(SystemError) -> Int32
}

/// Sends SIGKILL (the fallback's per-pid kill) and gives a dying process's
/// memory back early, behind a type tests replace.
public protocol ProcessSignaller {
    /// `kill(pid, SIGKILL)`; a process already gone (ESRCH) is not an error.
    func sigkill(_ pid: Int32) throws(SystemError)
    /// `pidfd_open(pid)`: a handle on the process that outlives its pid's reuse; nil when it is gone.
    func pidfd(_ pid: Int32) -> Int32?
    /// `process_mrelease(pidfd)` (Linux 5.15+): reaps the memory of a process
    /// that was SIGKILLed without waiting for its exit to complete (a task in
    /// D state, a big address space). True when it did.
    func releaseMemory(_ pidfd: Int32) -> Bool
    func closeHandle(_ pidfd: Int32)
}

/// The real calls (CGWardenSystem's wrappers), all in the helper's seccomp allow-list.
public struct LinuxHelperFileSystem: HelperFileSystem {
    public var resolver: BeneathResolver

    public init(resolver: BeneathResolver = .automatic) { self.resolver = resolver }

    public func openGroup(_ path: CgroupPath, beneath root: Int32) throws(SystemError) -> Int32 {
        let flags = O_RDONLY | O_NONBLOCK
        if path.isRoot { return try Files.open(".", in: root, flags | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, path: "/") }
        return try openBeneath(root, path, flags: flags, resolver: resolver)
    }

    public func openFile(_ name: String, in dir: Int32, forWriting: Bool) throws(SystemError) -> Int32 {
        try Files.open(name, in: dir, (forWriting ? O_WRONLY : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
                       path: name)
    }

    public func openSubgroup(_ name: CgroupName, in dir: Int32) throws(SystemError) -> Int32 {
        try openBeneath(dir, CgroupPath(names: [name]), flags: O_RDONLY | O_DIRECTORY, resolver: resolver)
    }

    public func openParent(_ dir: Int32) throws(SystemError) -> Int32 {
        try Files.open("..", in: dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, path: "..")
    }

    public func subgroupNames(_ dir: Int32) throws(SystemError) -> [CgroupName] {
        // A fresh descriptor: its offset starts at 0 (no lseek in the allow-list).
        let fd = try Files.open(".", in: dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, path: ".")
        defer { Files.close(fd) }
        return try Directories.subdirectories(fd).map(\.name).sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
    }

    public func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        try Files.pread(fd, into: buffer, offset: 0)
    }

    public func write(_ fd: Int32, _ bytes: [UInt8]) throws(SystemError) {
        try Files.write(fd, bytes)
    }

    public func status(_ fd: Int32) throws(SystemError) -> FileStatus {
        try Files.status(fd)
    }

    public func attribute(_ name: String, of fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int? {
        do {
            return try Files.extendedAttribute(name, of: fd, into: buffer, path: name)
        } catch where error.errno == ENODATA || error.errno == EOPNOTSUPP || error.errno == ERANGE {
            return nil
        }
    }

    public func waitForChange(_ fd: Int32, milliseconds: Int32) {
        _ = try? Poller.wait([Poller.Interest(fd: fd, events: Int16(POLLPRI))], milliseconds: max(0, milliseconds))
    }

    public func close(_ fd: Int32) { Files.close(fd) }

    public func armPressure(in dir: Int32, _ spec: PressureTriggerSpec) throws(SystemError) -> Int32 {
        let fd = try Files.open("memory.pressure", in: dir, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC, path: "memory.pressure")
        var text = Array(spec.description.utf8)
        text.append(0)
        do {
            try Files.write(fd, text, path: "memory.pressure")
        } catch {
            Files.close(fd)
            throw error
        }
        return fd
    }
}

public struct LinuxSignaller: ProcessSignaller {
    public init() {}

    public func sigkill(_ pid: Int32) throws(SystemError) {
        do {
            try Processes.signal(pid, SIGKILL)
        } catch where error.errno == ESRCH {}
    }

    public func pidfd(_ pid: Int32) -> Int32? { try? Processes.pidfd(pid) }

    public func releaseMemory(_ pidfd: Int32) -> Bool { (try? Processes.releaseMemory(pidfd)) != nil }

    public func closeHandle(_ pidfd: Int32) { Files.close(pidfd) }
}
