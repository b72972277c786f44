#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
import CGWardenSystem
import CGWardenIO
import CGWardenSandbox
import CGWardenTestSupport

/// `openBeneath` with both resolvers (openat2 and the component walk for
/// kernels without it) on a temporary tree:
///
///     a/b/c.txt          "nested"
///     abs -> /etc        (absolute symlink)
///     rel -> a           (relative symlink, stays inside)
///     a/file-link -> b/c.txt
@Suite struct OpenBeneathTests {
    static let resolvers: [BeneathResolver] = [.automatic, .openat2, .componentWalk]

    func withRoot(_ body: (Int32) throws -> Void) throws {
        let t = TempDir("cgwarden-beneath")
        defer { t.remove() }
        makeDirectories(t.path + "/a/b")
        writeFile(t.path + "/a/b/c.txt", "nested")
        _ = symlink("/etc", t.path + "/abs")
        _ = symlink("a", t.path + "/rel")
        _ = symlink("b/c.txt", t.path + "/a/file-link")
        let root = try openPathDirectory(t.path)
        defer { close(root) }
        try body(root)
    }

    func p(_ s: String) -> CgroupPath { CgroupPath(s)! }

    @Test(arguments: resolvers) func opensNestedPaths(resolver: BeneathResolver) throws {
        try withRoot { root in
            let fd = try openBeneath(root, p("/a/b/c.txt"), flags: O_RDONLY, resolver: resolver)
            defer { close(fd) }
            var buf = [UInt8](repeating: 0, count: 16)
            #expect(read(fd, &buf, 16) == 6)
            #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
            close(try openBeneath(root, p("/a/b"), flags: O_RDONLY | O_DIRECTORY, resolver: resolver))
        }
    }

    @Test(arguments: resolvers) func refusesSymlinksWithELOOP(resolver: BeneathResolver) throws {
        try withRoot { root in
            for path in ["/abs/passwd", "/abs", "/rel/b/c.txt", "/rel", "/a/file-link"] {
                let e = #expect(throws: SystemError.self, "\(path)") { try openBeneath(root, p(path), flags: O_RDONLY, resolver: resolver) }
                #expect(e?.errno == ELOOP, "\(path): \(String(describing: e))")
            }
            // With O_DIRECTORY the kernel reports a final symlink as ENOTDIR (either resolver): still refused.
            let e = #expect(throws: SystemError.self) { try openBeneath(root, p("/rel"), flags: O_RDONLY | O_DIRECTORY, resolver: resolver) }
            #expect(e?.errno == ENOTDIR)
        }
    }

    @Test(arguments: resolvers) func missingAndNotADirectory(resolver: BeneathResolver) throws {
        try withRoot { root in
            #expect(#expect(throws: SystemError.self) { try openBeneath(root, p("/a/nope"), flags: O_RDONLY, resolver: resolver) }?.errno == ENOENT)
            #expect(#expect(throws: SystemError.self) { try openBeneath(root, p("/a/b/c.txt/x"), flags: O_RDONLY, resolver: resolver) }?.errno == ENOTDIR)
        }
    }

    @Test(arguments: resolvers) func refusesCrossingAMountWithEXDEV(resolver: BeneathResolver) throws {
        let root = try openPathDirectory("/")
        defer { close(root) }
        // /proc is its own mount, here and in the VM.
        let e = #expect(throws: SystemError.self) { try openBeneath(root, p("/proc/version"), flags: O_RDONLY, resolver: resolver) }
        #expect(e?.errno == EXDEV)
    }
}

@Suite struct PrivilegesTests {
    @Test func parsesProcStatus() {
        let c = Credentials.parse("""
            Name:\tcgwarden
            Uid:\t65534\t65534\t65534\t65534
            Gid:\t65534\t65534\t65534\t65534
            Groups:\t
            NoNewPrivs:\t1
            Seccomp:\t0
            CapPrm:\t0000000000000000
            CapEff:\t0000000000000000
            CapAmb:\t0000000000000000
            """)
        #expect(c == Credentials(uid: 65534, gid: 65534, groups: [], capEff: 0, capPrm: 0, capAmb: 0, noNewPrivs: true))
        let root = Credentials.parse("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t0 4 \nCapEff:\t000001ffffffffff\n")
        #expect(root.capEff == 0x1ff_ffff_ffff && root.groups == [0, 4])
        #expect(Privileges.hexMask(0x1ff_ffff_ffff) == "000001ffffffffff")
    }

    @Test func namesResolve() {
        #expect(Privileges.userID("root") == 0)
        #expect(Privileges.userID("65534") == 65534)
        #expect(Privileges.userID("no-such-user-here") == nil)
        #expect(Privileges.groupID("root") == 0)
    }

    @Test func refusesToDropToRoot() {
        #expect(throws: PrivilegeError.self) { try Privileges.drop(toUser: 0, group: 65534) }
    }
}
