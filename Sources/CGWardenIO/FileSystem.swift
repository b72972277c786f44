#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGWardenCore
import CGWardenSystem

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
    /// The same, stopping after `limit` entries (a directory that is not a
    /// cgroup's may hold any number).
    func subdirectories(_ dir: Int32, limit: Int) throws(SystemError) -> [DirectoryEntry]
    func status(_ fd: Int32) throws(SystemError) -> FileStatus
    /// `fstatfs(fd).f_type`: tells cgroup2 from tmpfs and from an ordinary directory.
    func fileSystemType(_ fd: Int32) throws(SystemError) -> Int64
    /// `fgetxattr`: the value of an extended attribute, nil when not set
    /// (ENODATA; `trusted.*` also reads as not set without CAP_SYS_ADMIN).
    func extendedAttribute(_ fd: Int32, _ name: String) throws(SystemError) -> String?
}

extension FileSystem {
    /// For replacements that list everything anyway.
    public func subdirectories(_ dir: Int32, limit: Int) throws(SystemError) -> [DirectoryEntry] {
        Array(try subdirectories(dir).prefix(limit))
    }
}

/// The real calls (CGWardenSystem's wrappers).
public struct LinuxFileSystem: FileSystem {
    public init() {}

    public func openDirectory(_ name: CgroupName, in dir: Int32) throws(SystemError) -> Int32 {
        try Files.open(name, in: dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    }

    public func openDirectory(path: String) throws(SystemError) -> Int32 {
        try Files.open(path, in: AT_FDCWD, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    }

    public func openFile(_ name: String, in dir: Int32) throws(SystemError) -> Int32 {
        try Files.open(name, in: dir, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
    }

    public func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: Int) throws(SystemError) -> Int {
        try Files.pread(fd, into: buffer, offset: offset)
    }

    public func close(_ fd: Int32) { Files.close(fd) }

    public func subdirectories(_ dir: Int32) throws(SystemError) -> [DirectoryEntry] {
        try Files.rewind(dir)
        return try Directories.subdirectories(dir)
    }

    public func subdirectories(_ dir: Int32, limit: Int) throws(SystemError) -> [DirectoryEntry] {
        try Files.rewind(dir)
        return try Directories.subdirectories(dir, limit: limit)
    }

    public func status(_ fd: Int32) throws(SystemError) -> FileStatus {
        try Files.status(fd)
    }

    public func extendedAttribute(_ fd: Int32, _ name: String) throws(SystemError) -> String? {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 1)
        defer { buffer.deallocate() }
        do {
            let n = try Files.extendedAttribute(name, of: fd, into: buffer)
            return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[0..<n]), as: UTF8.self)
        } catch where error.errno == ENODATA || error.errno == ENOTSUP || error.errno == EPERM {
            return nil
        }
    }

    public func fileSystemType(_ fd: Int32) throws(SystemError) -> Int64 {
        try Files.fileSystemType(fd)
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
