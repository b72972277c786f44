#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenSystem
import CGWardenTestSupport
@testable import CGWardenService

/// The state directory given to the daemon's user as root: the directory and
/// the store's own files, never a symbolic link's target or another file's
/// hard link (the directory is the user's: it could plant either).
@Suite(.enabled(if: geteuid() == 0, "chown to another user needs root (CAP_CHOWN)"))
struct StateDirectoryTests {
    static let user: (uid: UInt32, gid: UInt32) = (65534, 65534)

    func owner(_ path: String) -> (UInt32, UInt32)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (st.st_uid, st.st_gid)
    }

    @Test func theDirectoryAndTheStoresFilesAreGivenButNotLinks() throws {
        let temp = TempDir()
        defer { temp.remove() }
        let dir = temp.path + "/state"
        #expect(mkdir(dir, 0o750) == 0)
        let outside = temp.path + "/outside"
        for f in [dir + "/events.db", dir + "/unrelated", outside] { #expect(creat(f, 0o600) >= 0) }
        #expect(symlink(outside, dir + "/events.db-wal") == 0)
        #expect(link(outside, dir + "/events.db-shm") == 0)
        try StateDirectory.prepare(dir, uid: Self.user.uid, gid: Self.user.gid)
        #expect(owner(dir)! == Self.user)
        #expect(owner(dir + "/events.db")! == Self.user)
        // Not followed, not given: the link, its target, the hard link, another file.
        #expect(owner(dir + "/events.db-wal")! == (0, 0))
        #expect(owner(outside)! == (0, 0))
        #expect(owner(dir + "/unrelated")! == (0, 0))
        // A second start (systemd gave everything back to root): given again.
        #expect(chown(dir + "/events.db", 0, 0) == 0 && chown(dir, 0, 0) == 0)
        try StateDirectory.prepare(dir, uid: Self.user.uid, gid: Self.user.gid)
        #expect(owner(dir)! == Self.user && owner(dir + "/events.db")! == Self.user)
    }

    @Test func aMissingDirectoryIsMadeForTheUser() throws {
        let temp = TempDir()
        defer { temp.remove() }
        try StateDirectory.prepare(temp.path + "/new", uid: Self.user.uid, gid: Self.user.gid)
        #expect(owner(temp.path + "/new")! == Self.user)
    }
}
