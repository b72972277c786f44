#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenIO
import CGWardenSandbox
import CGWardenSystem
import CShims

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

/// The real calls, all in the helper's seccomp allow-list.
public struct LinuxHelperFileSystem: HelperFileSystem {
    public var resolver: BeneathResolver

    public init(resolver: BeneathResolver = .automatic) { self.resolver = resolver }

    public func openGroup(_ path: CgroupPath, beneath root: Int32) throws(SystemError) -> Int32 {
        let flags = O_RDONLY | O_NONBLOCK
        if path.isRoot { return try openat(root, ".", flags | O_DIRECTORY | O_NOFOLLOW, "/") }
        return try openBeneath(root, path, flags: flags, resolver: resolver)
    }

    public func openFile(_ name: String, in dir: Int32, forWriting: Bool) throws(SystemError) -> Int32 {
        try openat(dir, name, (forWriting ? O_WRONLY : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, name)
    }

    public func openSubgroup(_ name: CgroupName, in dir: Int32) throws(SystemError) -> Int32 {
        try openBeneath(dir, CgroupPath(names: [name]), flags: O_RDONLY | O_DIRECTORY, resolver: resolver)
    }

    public func openParent(_ dir: Int32) throws(SystemError) -> Int32 {
        try openat(dir, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW, "..")
    }

    private func openat(_ dir: Int32, _ name: String, _ flags: Int32, _ what: String) throws(SystemError) -> Int32 {
        while true {
            let fd = Glibc.openat(dir, name, flags | O_CLOEXEC)
            if fd >= 0 { return fd }
            if errno != EINTR { throw SystemError(call: "openat", path: what, errno: errno) }
        }
    }

    public func subgroupNames(_ dir: Int32) throws(SystemError) -> [CgroupName] {
        // A fresh descriptor: its offset starts at 0 (no lseek in the allow-list).
        let fd = try openat(dir, ".", O_RDONLY | O_DIRECTORY, ".")
        defer { Glibc.close(fd) }
        return try readSubdirectories(fd).map(\.name).sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
    }

    public func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        while true {
            let n = Glibc.pread(fd, buffer.baseAddress!, buffer.count, 0)
            if n >= 0 { return n }
            if errno != EINTR { throw SystemError(call: "read", path: "", errno: errno) }
        }
    }

    public func write(_ fd: Int32, _ bytes: [UInt8]) throws(SystemError) {
        while true {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n >= 0 { return }
            if errno != EINTR { throw SystemError(call: "write", path: "", errno: errno) }
        }
    }

    public func status(_ fd: Int32) throws(SystemError) -> FileStatus {
        try Files.status(fd)
    }

    public func attribute(_ name: String, of fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int? {
        while true {
            let n = cgw_fgetxattr(fd, name, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            switch errno {
            case EINTR: continue
            case ENODATA, EOPNOTSUPP, ERANGE: return nil
            default: throw SystemError(call: "fgetxattr", path: name, errno: errno)
            }
        }
    }

    public func waitForChange(_ fd: Int32, milliseconds: Int32) {
        var p = pollfd(fd: fd, events: Int16(POLLPRI), revents: 0)
        _ = poll(&p, 1, max(0, milliseconds))
    }

    public func close(_ fd: Int32) { _ = Glibc.close(fd) }

    public func armPressure(in dir: Int32, _ spec: PressureTriggerSpec) throws(SystemError) -> Int32 {
        let fd = try openat(dir, "memory.pressure", O_RDWR | O_NONBLOCK | O_NOFOLLOW, "memory.pressure")
        var text = Array(spec.description.utf8)
        text.append(0)
        while true {
            let n = text.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n >= 0 { return fd }
            if errno != EINTR {
                let e = errno
                Glibc.close(fd)
                throw SystemError(call: "write", path: "memory.pressure", errno: e)
            }
        }
    }
}

public struct LinuxSignaller: ProcessSignaller {
    public init() {}

    public func sigkill(_ pid: Int32) throws(SystemError) {
        if Glibc.kill(pid, SIGKILL) != 0 && errno != ESRCH {
            throw SystemError(call: "kill", path: String(pid), errno: errno)
        }
    }

    public func pidfd(_ pid: Int32) -> Int32? {
        let fd = cgw_pidfd_open(pid)
        return fd >= 0 ? fd : nil
    }

    public func releaseMemory(_ pidfd: Int32) -> Bool { cgw_process_mrelease(pidfd) == 0 }

    public func closeHandle(_ pidfd: Int32) { _ = Glibc.close(pidfd) }
}
