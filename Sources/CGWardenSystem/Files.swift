#if canImport(Glibc)
import Glibc
#endif

/// What `fstat` says of an open file: the fields cgwarden uses.
public struct FileStatus: Equatable, Sendable {
    /// For a cgroup directory, its cgroup id.
    public var inode: UInt64
    /// `st_mode`: type and permission bits.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32

    public init(inode: UInt64, mode: UInt32, uid: UInt32, gid: UInt32) {
        self.inode = inode
        self.mode = mode
        self.uid = uid
        self.gid = gid
    }

    public var isDirectory: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFDIR) }
    public var isSymlink: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFLNK) }
    public var isRegularFile: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFREG) }
    public var isSocket: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFSOCK) }

    init(_ st: stat) {
        self.init(inode: UInt64(st.st_ino), mode: UInt32(st.st_mode), uid: st.st_uid, gid: st.st_gid)
    }
}

/// The file calls.
public enum Files {
    /// `fstat`.
    public static func status(_ fd: Int32, path: String = "") throws(SystemError) -> FileStatus {
        var st = stat()
        _ = try syscall("fstat", path: path) { fstat(fd, &st) }
        return FileStatus(st)
    }
}
