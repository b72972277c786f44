#if canImport(Glibc)
import Glibc
#endif
import CGWardenSystem

/// The daemon's state directory (`/var/lib/cgwarden`, the unit's
/// `StateDirectory=`): the event store lives there.
public enum StateDirectory {
    /// As root, before the drop: makes the directory (0750) when missing and
    /// gives it to the daemon's user, who writes the store after the drop
    /// (systemd makes a StateDirectory root's when the unit has no `User=`).
    /// The files in it are left alone: a file the user cannot write is
    /// reported by the store, not chowned by root.
    public static func prepare(_ dir: String, uid: UInt32, gid: UInt32) throws(SystemError) {
        do {
            try Paths.makeDirectory(dir, mode: 0o750)
        } catch where error.errno == EEXIST {
        }
        let fd = try Files.open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        defer { Files.close(fd) }
        let status = try Files.status(fd, path: dir)
        if status.uid != uid || status.gid != gid {
            try Paths.changeOwner(fd, uid: uid, gid: gid, path: dir)
        }
    }
}
