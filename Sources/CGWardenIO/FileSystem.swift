#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CShims
import CGWardenCore
import CGWardenSystem

/// One entry of a directory listing.
public struct DirectoryEntry: Equatable, Sendable {
    /// `unknown`: the file system did not say (d_type DT_UNKNOWN); opening it
    /// with O_DIRECTORY tells.
    public enum Kind: Sendable { case directory, unknown }
    /// The name's bytes as the kernel lists them.
    public var name: CgroupName
    /// For a cgroup directory, its cgroup id.
    public var inode: UInt64
    public var kind: Kind
}

/// The file-system calls of the read side, behind one small type that tests
/// can replace (e.g. to make a cgroup vanish in the middle of a walk).
///
/// Every descriptor is opened relative to a directory descriptor, with
/// `O_CLOEXEC` (so none leaks into the spawned kill helper) and `O_NOFOLLOW`
/// (a cgroup tree has no symlinks; one in a fixture or a forged tree is refused).
/// Errors carry the call and errno; the caller fills in the path it knows
/// (building a path string per file would cost more than the read).
public protocol FileSystem: Sendable {
    /// `openat(dir, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC)`: a child group.
    func openDirectory(_ name: CgroupName, in dir: Int32) throws(SystemError) -> Int32
    /// `openat(AT_FDCWD, path, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC)`: the
    /// root of a walk, or /proc (configuration, not a tenant's name).
    func openDirectory(path: String) throws(SystemError) -> Int32
    /// `openat(dir, name, O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK|O_NOCTTY)`:
    /// a FIFO or a terminal in place of a control file cannot block the open
    /// or the read (pread on them fails: ESPIPE).
    func openFile(_ name: String, in dir: Int32) throws(SystemError) -> Int32
    /// One `pread` from `offset`; returns the byte count (0 at EOF).
    ///
    /// A control file is generated whole by the kernel (seq_file) and one read
    /// with a larger buffer returns all of it, so callers treat a read that
    /// does not fill the buffer as the whole file: one syscall per file.
    func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: Int) throws(SystemError) -> Int
    func close(_ fd: Int32)
    /// The entries of `dir` that are (or may be) directories, from the start
    /// (rewinds first): `getdents64`, skipping regular files and symlinks
    /// before their names are even decoded (a cgroup directory lists ~50
    /// control files for each child group).
    func subdirectories(_ dir: Int32) throws(SystemError) -> [DirectoryEntry]
    func status(_ fd: Int32) throws(SystemError) -> FileStatus
    /// `fstatfs(fd).f_type`: tells cgroup2 from tmpfs and from an ordinary directory.
    func fileSystemType(_ fd: Int32) throws(SystemError) -> Int64
    /// `fgetxattr`: the value of an extended attribute, nil when not set
    /// (ENODATA; `trusted.*` also reads as not set without CAP_SYS_ADMIN).
    func extendedAttribute(_ fd: Int32, _ name: String) throws(SystemError) -> String?
}

/// The real calls.
public struct LinuxFileSystem: FileSystem {
    public init() {}

    public func openDirectory(_ name: CgroupName, in dir: Int32) throws(SystemError) -> Int32 {
        let fd = name.withCString { n in retryEINTR { openat(dir, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) } }
        if fd < 0 { throw SystemError(call: "openat", path: "", errno: errno) }
        return fd
    }

    public func openDirectory(path: String) throws(SystemError) -> Int32 {
        let fd = retryEINTR { openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        if fd < 0 { throw SystemError(call: "openat", path: "", errno: errno) }
        return fd
    }

    public func openFile(_ name: String, in dir: Int32) throws(SystemError) -> Int32 {
        let fd = retryEINTR { openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY) }
        if fd < 0 { throw SystemError(call: "openat", path: "", errno: errno) }
        return fd
    }

    public func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: Int) throws(SystemError) -> Int {
        while true {
            let n = Glibc.pread(fd, buffer.baseAddress!, buffer.count, off_t(offset))
            if n >= 0 { return n }
            if errno != EINTR { throw SystemError(call: "read", path: "", errno: errno) }
        }
    }

    public func close(_ fd: Int32) {
        // Linux releases the descriptor even when close reports EINTR: never retry.
        _ = Glibc.close(fd)
    }

    public func subdirectories(_ dir: Int32) throws(SystemError) -> [DirectoryEntry] {
        if lseek(dir, 0, SEEK_SET) < 0 { throw SystemError(call: "lseek", path: "", errno: errno) }
        return try readSubdirectories(dir)
    }

    public func status(_ fd: Int32) throws(SystemError) -> FileStatus {
        try Files.status(fd)
    }

    public func extendedAttribute(_ fd: Int32, _ name: String) throws(SystemError) -> String? {
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { cgw_fgetxattr(fd, name, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == ENODATA || errno == ENOTSUP || errno == EPERM { return nil }
            throw SystemError(call: "fgetxattr", path: "", errno: errno)
        }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    public func fileSystemType(_ fd: Int32) throws(SystemError) -> Int64 {
        let type = cgw_fstatfs_type(fd)
        if type == -1 { throw SystemError(call: "fstatfs", path: "", errno: errno) }
        return Int64(type)
    }
}

@inline(__always)
func retryEINTR(_ body: () -> Int32) -> Int32 {
    while true {
        let r = body()
        if r >= 0 || errno != EINTR { return r }
    }
}

/// statfs magic numbers (linux/magic.h).
public enum FileSystemMagic {
    public static let cgroup2 = Int64(CGW_CGROUP2_SUPER_MAGIC)
    public static let cgroup1 = Int64(CGW_CGROUP_SUPER_MAGIC)
    public static let tmpfs = Int64(CGW_TMPFS_MAGIC)
}

/// The entries of a directory that are (or may be) directories, read with
/// `getdents64` from the descriptor's current offset to the end. Regular
/// files and symlinks are skipped before their names are decoded.
/// (The kill helper calls this on a fresh descriptor: its allow-list has no lseek.)
public func readSubdirectories(_ dir: Int32) throws(SystemError) -> [DirectoryEntry] {
    var out: [DirectoryEntry] = []
    // 32 KiB holds ~800 entries: a cgroup with few children lists in one call.
    let size = 32 * 1024
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
    defer { buffer.deallocate() }
    while true {
        let n = cgw_getdents64(dir, buffer, size)
        if n < 0 {
            if errno == EINTR { continue }
            throw SystemError(call: "getdents64", path: "", errno: errno)
        }
        if n == 0 { return out }
        var offset = 0
        while offset < n {
            var ino: UInt64 = 0
            var type: UInt8 = 0
            var namePtr: UnsafePointer<CChar>?
            offset += cgw_dirent_at(buffer, offset, &ino, &type, &namePtr)
            let kind: DirectoryEntry.Kind
            switch Int32(type) {
            case Int32(DT_DIR): kind = .directory
            case Int32(DT_UNKNOWN): kind = .unknown
            default: continue
            }
            let length = strlen(namePtr!)
            let name = UnsafeRawBufferPointer(start: namePtr!, count: length)
            if name.elementsEqual(".".utf8) || name.elementsEqual("..".utf8) { continue }
            out.append(DirectoryEntry(name: CgroupName(bytes: Array(name)), inode: ino, kind: kind))
        }
    }
}

extension ReadBuffer {
    /// Reads the whole file open at `fd` with one `pread` from offset 0
    /// through `fs` (see `ReadBuffer.read`).
    func read(_ fd: Int32, fs: FileSystem) throws(SystemError) -> Bytes {
        try read { b throws(SystemError) in try fs.pread(fd, into: b, offset: 0) }
    }

    /// Opens `name` below `dir`, reads it whole and closes it.
    func readFile(_ name: String, in dir: Int32, fs: FileSystem) throws(SystemError) -> Bytes {
        let fd = try fs.openFile(name, in: dir)
        defer { fs.close(fd) }
        return try read(fd, fs: fs)
    }
}
