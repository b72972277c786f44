#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenSystem
import CGWardenTestSupport
@testable import CGWardenService

/// The state directory prepared as root: its top stays root's (systemd takes
/// a top given away back at every command of the unit, recursively), its two
/// subdirectories and the store's files are given to the daemon's user, and
/// never a symbolic link's target or another file's hard link (the
/// subdirectories are the user's: it could plant either).
@Suite(.enabled(if: geteuid() == 0, "chown to another user needs root (CAP_CHOWN)"))
struct StateDirectoryTests {
    static let user: (uid: UInt32, gid: UInt32) = (65534, 65534)

    func owner(_ path: String) -> (UInt32, UInt32)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (st.st_uid, st.st_gid)
    }

    func mode(_ path: String) -> mode_t? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return st.st_mode & 0o7777
    }

    @Test func theSubdirectoriesAndTheStoresFilesAreGivenButNotTheTopOrLinks() throws {
        let temp = TempDir()
        defer { temp.remove() }
        let dir = temp.path + "/state", events = dir + "/events"
        #expect(mkdir(dir, 0o750) == 0 && mkdir(events, 0o750) == 0)
        let outside = temp.path + "/outside"
        for f in [events + "/events.db", events + "/unrelated", outside] { #expect(creat(f, 0o600) >= 0) }
        #expect(symlink(outside, events + "/events.db-wal") == 0)
        #expect(link(outside, events + "/events.db-shm") == 0)
        try StateDirectory.prepare(dir, owner: Self.user)
        #expect(owner(dir)! == (0, 0) && mode(dir) == 0o751, "the top stays root's; the user may pass")
        #expect(owner(events)! == Self.user && owner(dir + "/recordings")! == Self.user)
        #expect(owner(events + "/events.db")! == Self.user)
        // Not followed, not given: the link, its target, the hard link, another file.
        #expect(owner(events + "/events.db-wal")! == (0, 0))
        #expect(owner(outside)! == (0, 0))
        #expect(owner(events + "/unrelated")! == (0, 0))
        // A second start after systemd gave everything back to root: given again.
        #expect(chown(events + "/events.db", 0, 0) == 0 && chown(events, 0, 0) == 0)
        try StateDirectory.prepare(dir, owner: Self.user)
        #expect(owner(events)! == Self.user && owner(events + "/events.db")! == Self.user && owner(dir)! == (0, 0))
    }

    @Test func aLinkInPlaceOfASubdirectoryIsNotFollowed() throws {
        let temp = TempDir()
        defer { temp.remove() }
        let dir = temp.path + "/state", outside = temp.path + "/elsewhere"
        #expect(mkdir(dir, 0o711) == 0 && mkdir(outside, 0o700) == 0)
        #expect(symlink(outside, dir + "/recordings") == 0)
        try StateDirectory.prepare(dir, owner: Self.user)
        #expect(owner(outside)! == (0, 0), "the link's target is not given")
        #expect(owner(dir + "/events")! == Self.user)
    }

    @Test func anEarlierVersionsLayoutMovesIn() throws {
        let temp = TempDir()
        defer { temp.remove() }
        // Earlier versions: the store at the top, the top given to the user.
        let dir = temp.path + "/state"
        #expect(mkdir(dir, 0o750) == 0 && chown(dir, Self.user.uid, Self.user.gid) == 0)
        #expect(creat(dir + "/events.db", 0o600) >= 0 && creat(dir + "/events.db-wal", 0o600) >= 0)
        #expect(StateDirectory.storeDirectoryToRead(dir) == dir, "read where it is until the daemon moves it")
        try StateDirectory.prepare(dir, owner: Self.user)
        #expect(owner(dir)! == (0, 0), "taken back")
        #expect(access(dir + "/events.db", F_OK) != 0)
        #expect(owner(dir + "/events/events.db")! == Self.user && owner(dir + "/events/events.db-wal")! == Self.user)
        #expect(StateDirectory.storeDirectoryToRead(dir) == dir + "/events")
    }

    @Test func aMissingDirectoryIsMadeRootsWithTheUsersSubdirectories() throws {
        let temp = TempDir()
        defer { temp.remove() }
        let dir = temp.path + "/new"
        try StateDirectory.prepare(dir, owner: Self.user)
        #expect(owner(dir)! == (0, 0) && mode(dir) == 0o711)
        #expect(owner(dir + "/events")! == Self.user && mode(dir + "/events") == 0o750)
        #expect(owner(dir + "/recordings")! == Self.user && mode(dir + "/recordings") == 0o750)
    }
}
