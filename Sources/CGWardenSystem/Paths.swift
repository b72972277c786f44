#if canImport(Glibc)
import Glibc
#endif
import CShims

/// Calls on paths of cgwarden's own files (the state directory and what
/// is written in it), never on cgroupfs, where groups are reached by
/// directory descriptor.
public enum Paths {
    /// `stat(path)`, and the size in bytes.
    public static func status(_ path: String) throws(SystemError) -> (status: FileStatus, size: UInt64) {
        var st = stat()
        _ = try syscall("stat", path: path) { stat(path, &st) }
        return (FileStatus(st), UInt64(max(0, st.st_size)))
    }

    /// `mkdir(path, mode)` (EEXIST when it is there).
    public static func makeDirectory(_ path: String, mode: mode_t) throws(SystemError) {
        _ = try syscall("mkdir", path: path) { mkdir(path, mode) }
    }

    /// `rename(from, to)`: atomic within a file system.
    public static func rename(_ from: String, to: String) throws(SystemError) {
        _ = try syscall("rename", path: from) { Glibc.rename(from, to) }
    }

    /// `unlink(path)`.
    public static func remove(_ path: String) throws(SystemError) {
        _ = try syscall("unlink", path: path) { unlink(path) }
    }

    /// `fchown(fd, uid, gid)`.
    public static func changeOwner(_ fd: Int32, uid: UInt32, gid: UInt32, path: @autoclosure () -> String = "") throws(SystemError) {
        _ = try syscall("fchown", path: path()) { fchown(fd, uid, gid) }
    }

    /// `lchown(path, uid, gid)`: the path itself, never a link's target.
    public static func changeOwner(_ path: String, uid: UInt32, gid: UInt32) throws(SystemError) {
        _ = try syscall("lchown", path: path) { lchown(path, uid, gid) }
    }

    // Below a directory held open: after a drop of privileges, the
    // directory's own permissions are checked, not its ancestors' (the
    // state directory may stay root's).

    /// `openat(dir, name, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, mode)`: a new file.
    public static func createFile(_ name: String, in dir: Int32, mode: mode_t, path: @autoclosure () -> String = "") throws(SystemError) -> Int32 {
        try syscall("openat", path: path()) { openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode) }
    }

    /// `renameat(dir, from, dir, to)`.
    public static func rename(_ from: String, to: String, in dir: Int32) throws(SystemError) {
        _ = try syscall("renameat", path: from) { renameat(dir, from, dir, to) }
    }

    /// `mkdirat(dir, name, mode)` (EEXIST when it is there).
    public static func makeDirectory(_ name: String, in dir: Int32, mode: mode_t) throws(SystemError) {
        _ = try syscall("mkdirat", path: name) { mkdirat(dir, name, mode) }
    }

    /// Moves `name` in `dir` to `target` (relative to `dir`) when `target`
    /// does not exist; false when `name` does not exist or `target` does.
    /// The entry itself moves: a link is moved, not followed.
    @discardableResult
    public static func moveIfAbsent(_ name: String, in dir: Int32, to target: String) throws(SystemError) -> Bool {
        var st = stat()
        guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0, fstatat(dir, target, &st, AT_SYMLINK_NOFOLLOW) != 0,
              errno == ENOENT else { return false }
        _ = try syscall("renameat", path: name) { renameat(dir, name, dir, target) }
        return true
    }

    /// Gives the directory `name` in `dir` to `uid`:`gid` when it is a
    /// directory and not theirs yet; a link or any other file is left alone.
    /// True when it was changed.
    @discardableResult
    public static func giveDirectory(_ name: String, in dir: Int32, uid: UInt32, gid: UInt32) throws(SystemError) -> Bool {
        var st = stat()
        _ = try syscall("fstatat", path: name) { fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) }
        guard st.st_mode & S_IFMT == S_IFDIR, st.st_uid != uid || st.st_gid != gid else { return false }
        _ = try syscall("fchownat", path: name) { fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW) }
        return true
    }

    /// Gives `name` in `dir` to `uid`:`gid` when it is a regular file with
    /// one link and not theirs yet; nothing else (a symbolic link, another
    /// file's hard link) is touched. True when it was changed.
    @discardableResult
    public static func giveFile(_ name: String, in dir: Int32, uid: UInt32, gid: UInt32) throws(SystemError) -> Bool {
        var st = stat()
        do {
            _ = try syscall("fstatat", path: name) { fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) }
        } catch where error.errno == ENOENT {
            return false
        }
        guard st.st_mode & S_IFMT == S_IFREG, st.st_nlink == 1, st.st_uid != uid || st.st_gid != gid else { return false }
        _ = try syscall("fchownat", path: name) { fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW) }
        return true
    }

    /// `unlinkat(dir, name, 0)`.
    public static func remove(_ name: String, in dir: Int32) throws(SystemError) {
        _ = try syscall("unlinkat", path: name) { unlinkat(dir, name, 0) }
    }

    /// `fchmod(fd, mode)`.
    public static func changeMode(_ fd: Int32, mode: mode_t, path: @autoclosure () -> String = "") throws(SystemError) {
        _ = try syscall("fchmod", path: path()) { fchmod(fd, mode) }
    }

    /// `access(path, W_OK)` with the effective ids.
    public static func isWritable(_ path: String) -> Bool { faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0 }
}

extension ProcessControl {
    /// `setfsgid(gid)`, `setfsuid(uid)`: the ids the kernel checks file
    /// access with and gives the files this process creates, the others
    /// unchanged. The calls report no error: the ids are read back.
    public static func setFileSystemIDs(uid: UInt32, gid: UInt32) throws(SystemError) {
        _ = cgw_setfsgid(gid)
        _ = cgw_setfsuid(uid)
        // setfsuid(-1) fails and returns the current id.
        guard UInt32(bitPattern: cgw_setfsuid(UInt32.max)) == uid, UInt32(bitPattern: cgw_setfsgid(UInt32.max)) == gid else {
            throw SystemError(call: "setfsuid(\(uid))/setfsgid(\(gid))", path: "", errno: EPERM)
        }
    }
}
