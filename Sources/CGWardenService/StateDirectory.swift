#if canImport(Glibc)
import Glibc
#endif
import CGWardenSystem

/// The daemon's state directory (`/var/lib/cgwarden`, the unit's
/// `StateDirectory=`): the event store lives there.
public enum StateDirectory {
    /// As root, before the drop: makes the directory (0750) when missing and
    /// gives it, and the store's own files in it, to the daemon's user, who
    /// writes the store after the drop. systemd gives a `StateDirectory=`
    /// and everything in it back to root before each command of a unit
    /// without `User=` (an `ExecStartPre=+chown` is undone before
    /// `ExecStart=`), so this runs at every start. Other files are left
    /// alone, and so are links: root chowns only regular files of one link
    /// by their fixed names.
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
        for name in storeFiles { try Paths.giveFile(name, in: fd, uid: uid, gid: gid) }
    }

    /// The store's files: the database, its write-ahead log and its shared memory index.
    public static let storeFiles = ["events.db", "events.db-wal", "events.db-shm"]
}
