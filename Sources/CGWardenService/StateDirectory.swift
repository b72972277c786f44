#if canImport(Glibc)
import Glibc
#endif
import CGWardenStore
import CGWardenSystem

/// The daemon's state directory (`/var/lib/cgwarden`, the unit's
/// `StateDirectory=`, or `--state-dir`):
///
///     STATE/              root's, searchable by the daemon's user (0711)
///     STATE/events/       the event store (events.db, -wal, -shm): the user's, 0750
///     STATE/recordings/   the flight recordings: the user's, 0750
///
/// The top stays root's because systemd, before every command of a unit
/// without `User=` (`ExecReload=` too), gives a `StateDirectory=` back to
/// root, recursively, unless its top is root's already: a top given to the
/// daemon's user was taken back at each `systemctl reload`, under the
/// running daemon, and its next recording could not be made. In a container
/// root may have no CAP_DAC_OVERRIDE: it can still make and give the
/// subdirectories of a top it owns, by name, without entering them.
public enum StateDirectory {
    public static let events = "events"
    public static let recordings = "recordings"

    /// The store's files: the database, its write-ahead log and its shared memory index.
    public static let storeFiles = [EventStore.fileName, EventStore.fileName + "-wal", EventStore.fileName + "-shm"]

    /// Mode of a top directory made here: the user passes through to its
    /// subdirectories, and lists nothing.
    static let topMode: mode_t = 0o711
    static let subdirectoryMode: mode_t = 0o750

    /// Where the event store of `state` is.
    public static func storeDirectory(_ state: String) -> String { join(state, events) }

    /// Where the store of `state` is for a reader: `STATE/events`, or `STATE`
    /// itself when only an earlier version's store is there (not moved yet:
    /// the daemon moves it at its next start).
    public static func storeDirectoryToRead(_ state: String) -> String {
        let current = storeDirectory(state)
        if (try? Paths.status(EventStore.path(in: current))) == nil, (try? Paths.status(EventStore.path(in: state))) != nil {
            return state
        }
        return current
    }

    public static func recordingsDirectory(_ state: String) -> String { join(state, recordings) }

    /// Makes the layout above; as root (`owner` given), before the drop,
    /// gives the subdirectories and the store's files to the daemon's user.
    ///
    /// - The top is made when missing; one the user owns (as earlier
    ///   versions left it) is taken back by root; one the user cannot pass
    ///   through gets the search bits (`o+x`, `g+x`).
    /// - An earlier version's store at the top moves into `events/`
    ///   (a name taken there is left alone).
    /// - Root gives only what it finds by name: regular files of one link,
    ///   directories, never through a link (the user could plant either).
    /// Not root (`owner` nil): the directories are made, nothing is given.
    public static func prepare(_ state: String, owner: (uid: UInt32, gid: UInt32)?) throws(SystemError) {
        do { try Paths.makeDirectory(state, mode: topMode) } catch where error.errno == EEXIST {}
        if let owner, let status = try? Paths.status(state).status, status.uid == owner.uid, owner.uid != 0 {
            try Paths.changeOwner(state, uid: 0, gid: 0)
        }
        let top = try Files.open(state, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        defer { Files.close(top) }
        if owner != nil {
            let status = try Files.status(top, path: state)
            if status.mode & 0o011 != 0o011 { try Paths.changeMode(top, mode: mode_t(status.mode & 0o7777) | 0o011, path: state) }
        }
        for name in [events, recordings] {
            do { try Paths.makeDirectory(name, in: top, mode: subdirectoryMode) } catch where error.errno == EEXIST {}
        }
        moveEarlierStore(top)
        guard let owner else { return }
        // The store's files first: root enters `events/` while it is not the
        // user's yet, or with CAP_DAC_OVERRIDE; a container's root on a
        // second start cannot, and need not (the user made them).
        if let fd = try? Files.open(events, in: top, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) {
            defer { Files.close(fd) }
            for name in storeFiles { try Paths.giveFile(name, in: fd, uid: owner.uid, gid: owner.gid) }
        }
        for name in [events, recordings] {
            try Paths.giveDirectory(name, in: top, uid: owner.uid, gid: owner.gid)
        }
    }

    /// The store's files of an earlier version, at the top, into `events/`.
    private static func moveEarlierStore(_ top: Int32) {
        for name in storeFiles {
            _ = try? Paths.moveIfAbsent(name, in: top, to: events + "/" + name)
        }
    }

    private static func join(_ dir: String, _ name: String) -> String {
        dir.hasSuffix("/") ? dir + name : dir + "/" + name
    }
}
