#if canImport(Glibc)
import Glibc
#endif
import CShims
import CGWardenCore

/// What `fstat` says of an open file: the fields cgwarden uses.
public struct FileStatus: Equatable, Sendable {
    /// For a cgroup directory, its cgroup id.
    public var inode: UInt64
    /// `st_mode`: type and permission bits.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    /// `st_mtim` in nanoseconds since the epoch (0 before it): a directory's
    /// changes when an entry is added or removed.
    public var modifiedNanos: UInt64

    public init(inode: UInt64, mode: UInt32, uid: UInt32, gid: UInt32, modifiedNanos: UInt64 = 0) {
        self.inode = inode
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.modifiedNanos = modifiedNanos
    }

    public var isDirectory: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFDIR) }
    public var isSymlink: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFLNK) }
    public var isRegularFile: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFREG) }
    public var isSocket: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFSOCK) }

    init(_ st: stat) {
        let seconds = UInt64(clamping: st.st_mtim.tv_sec), nanos = UInt64(clamping: st.st_mtim.tv_nsec)
        self.init(inode: UInt64(st.st_ino), mode: UInt32(st.st_mode), uid: st.st_uid, gid: st.st_gid,
                  modifiedNanos: seconds.multipliedSaturated(by: 1_000_000_000).addingSaturated(nanos))
    }
}

/// Type and mount of an open file, from `statx` (what resolving beneath a
/// directory checks on each component).
public struct FileIdentity: Sendable {
    public var mode: UInt32
    public var device: UInt64
    /// stx_mnt_id (Linux 5.8+).
    public var mountID: UInt64?

    public var isDirectory: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFDIR) }
    public var isSymlink: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFLNK) }
}

/// statfs magic numbers (linux/magic.h).
public enum FileSystemMagic {
    public static let cgroup2 = Int64(CGW_CGROUP2_SUPER_MAGIC)
    public static let cgroup1 = Int64(CGW_CGROUP_SUPER_MAGIC)
    public static let tmpfs = Int64(CGW_TMPFS_MAGIC)
}

/// The file calls: open, read, write, close, status, attributes. Each is one
/// system call through `syscall(_:path:retryOnInterrupt:_:)`, named in its
/// error as before the layer existed (`openat`, `read`, `write`, `fstat`...);
/// `path` is what the error names (callers that know more fill it in later).
public enum Files {
    /// `open(path, flags, mode)`.
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(SystemError) -> Int32 {
        try syscall("open", path: path) { Glibc.open(path, flags, mode) }
    }

    /// `openat(dir, name, flags)`.
    public static func open(_ name: String, in dir: Int32, _ flags: Int32, path: @autoclosure () -> String = "")
        throws(SystemError) -> Int32
    {
        try syscall("openat", path: path()) { openat(dir, name, flags) }
    }

    /// `openat(dir, name, flags)` with a name as the kernel listed it (any bytes but `/` and NUL).
    public static func open(_ name: CgroupName, in dir: Int32, _ flags: Int32, path: @autoclosure () -> String = "")
        throws(SystemError) -> Int32
    {
        try name.withCString { n throws(SystemError) in try syscall("openat", path: path()) { openat(dir, n, flags, 0) } }
    }

    /// `openat2(dir, path, {flags, resolve})` (Linux 5.6+; ENOSYS before).
    public static func open(_ path: CgroupPath, beneath dir: Int32, _ flags: Int32, resolve: UInt64) throws(SystemError) -> Int32 {
        try path.withCString { p throws(SystemError) in
            try syscall("openat2", path: path.description) {
                cgw_openat2(dir, p, UInt64(UInt32(bitPattern: flags)), 0, resolve)
            }
        }
    }

    /// One `pread` from `offset`: the byte count (0 at end of file).
    public static func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: Int) throws(SystemError) -> Int {
        try syscall("read") { Glibc.pread(fd, buffer.baseAddress!, buffer.count, off_t(offset)) }
    }

    /// One `read` from the descriptor's offset: the byte count (0 at end of file).
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: @autoclosure () -> String = "")
        throws(SystemError) -> Int
    {
        try syscall("read", path: path()) { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// `read` until end of file, `chunk` bytes at a time.
    public static func readToEnd(_ fd: Int32, chunk: Int, path: @autoclosure () -> String = "") throws(SystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 1)
        defer { buffer.deallocate() }
        while true {
            let n = try read(fd, into: buffer, path: path())
            if n == 0 { return bytes }
            bytes += UnsafeRawBufferPointer(rebasing: buffer[0..<n])
        }
    }

    /// One `write`: the byte count written.
    @discardableResult
    public static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: @autoclosure () -> String = "")
        throws(SystemError) -> Int
    {
        try syscall("write", path: path()) { Glibc.write(fd, bytes.baseAddress, bytes.count) }
    }

    /// One `write` of `bytes`: the byte count written.
    @discardableResult
    public static func write(_ fd: Int32, _ bytes: [UInt8], path: @autoclosure () -> String = "") throws(SystemError) -> Int {
        try bytes.withUnsafeBytes { b in Result { () throws(SystemError) in try write(fd, b, path: path()) } }.get()
    }

    /// `write` until every byte is written (a pipe or terminal may take part of it).
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: @autoclosure () -> String = "") throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            offset += try write(fd, UnsafeRawBufferPointer(rebasing: bytes[offset...]), path: path())
        }
    }

    /// `write` until every byte of `text` is written.
    public static func writeAll(_ fd: Int32, _ text: String, path: @autoclosure () -> String = "") throws(SystemError) {
        var text = text
        try text.withUTF8 { b in Result { () throws(SystemError) in try writeAll(fd, UnsafeRawBufferPointer(b), path: path()) } }.get()
    }

    /// `close`, never retried: Linux releases the descriptor even when it reports EINTR.
    /// `pipe2(O_CLOEXEC)`, the write end non-blocking when asked (a writer
    /// that must never wait for its reader).
    public static func pipe(nonBlockingWrite: Bool = false) throws(SystemError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        _ = try syscall("pipe2") { cgw_pipe_cloexec(&fds) }
        if nonBlockingWrite { _ = try syscall("fcntl") { fcntl(fds[1], F_SETFL, O_NONBLOCK) } }
        return (fds[0], fds[1])
    }

    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// `fstat`.
    public static func status(_ fd: Int32, path: @autoclosure () -> String = "") throws(SystemError) -> FileStatus {
        var st = stat()
        _ = try syscall("fstat", path: path()) { fstat(fd, &st) }
        return FileStatus(st)
    }

    /// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`: the entry itself, a symlink not followed.
    public static func status(of name: CgroupName, in dir: Int32) throws(SystemError) -> FileStatus {
        var st = stat()
        _ = try name.withCString { n throws(SystemError) in
            try syscall("fstatat") { fstatat(dir, n, &st, AT_SYMLINK_NOFOLLOW) }
        }
        return FileStatus(st)
    }

    /// `statx(fd, "", AT_EMPTY_PATH)`: type, device and mount ID.
    public static func identity(_ fd: Int32, path: @autoclosure () -> String = "") throws(SystemError) -> FileIdentity {
        var raw = cgw_file_identity()
        _ = try syscall("statx", path: path()) { cgw_file_identity(fd, &raw) }
        return FileIdentity(mode: raw.mode, device: raw.device, mountID: raw.has_mount_id != 0 ? raw.mount_id : nil)
    }

    /// `fstatfs(fd).f_type`: tells cgroup2 from tmpfs and from an ordinary directory.
    public static func fileSystemType(_ fd: Int32) throws(SystemError) -> Int64 {
        Int64(try syscall("fstatfs") { cgw_fstatfs_type(fd) })
    }

    /// `fgetxattr`: the value's length in `buffer` (ENODATA when not set,
    /// ERANGE when over `buffer`: callers decide what they take for absent).
    public static func extendedAttribute(_ name: String, of fd: Int32, into buffer: UnsafeMutableRawBufferPointer,
                                         path: @autoclosure () -> String = "") throws(SystemError) -> Int {
        try syscall("fgetxattr", path: path()) { cgw_fgetxattr(fd, name, buffer.baseAddress, buffer.count) }
    }

    /// `lseek(fd, 0, SEEK_SET)`: a directory listed again from its start.
    public static func rewind(_ fd: Int32) throws(SystemError) {
        _ = try syscall("lseek") { lseek(fd, 0, SEEK_SET) }
    }

    /// `fcntl(fd, F_SETFD, FD_CLOEXEC)`.
    public static func setCloseOnExec(_ fd: Int32) throws(SystemError) {
        _ = try syscall("fcntl") { fcntl(fd, F_SETFD, FD_CLOEXEC) }
    }

    /// `fcntl(fd, F_DUPFD_CLOEXEC, lowest)`: a copy numbered `lowest` or above.
    public static func duplicate(_ fd: Int32, atLeast lowest: Int32) throws(SystemError) -> Int32 {
        try syscall("fcntl(F_DUPFD_CLOEXEC)") { fcntl(fd, F_DUPFD_CLOEXEC, lowest) }
    }
}
