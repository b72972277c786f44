#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSystem
import CShims
import Synchronization

/// How ``openBeneath(_:_:flags:resolver:)`` resolves a path.
public enum BeneathResolver: Sendable, Hashable {
    /// `openat2` with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
    /// RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV; on ENOSYS (kernel before 5.6)
    /// the component walk, remembered for later calls.
    case automatic
    /// Only `openat2`.
    case openat2
    /// Only the component walk (tests; kernels without openat2).
    case componentWalk
}

/// Opens `path` (not the root: at least one component) strictly beneath the
/// directory `directory`: no component may be a symbolic link (ELOOP) or a
/// magic link, and resolution may not cross a mount point (EXDEV). The path
/// comes from ``HelperPath`` (no `..`, `.`, empty or absolute components), so
/// the kernel's checks are a second line. O_CLOEXEC | O_NOFOLLOW are added.
///
/// Both resolvers give the same errno for the same cause: ELOOP for a
/// symlink (ENOTDIR when the *last* component is one and `flags` has
/// O_DIRECTORY: that is the kernel's answer either way), EXDEV, ENOENT, ENOTDIR.
/// The component walk tells mounts apart by `statx` mount ID (Linux 5.8+),
/// exactly like openat2; before 5.8, by `st_dev` of directories only.
public func openBeneath(_ directory: Int32, _ path: CgroupPath, flags: Int32,
                        resolver: BeneathResolver = .automatic) throws(SystemError) -> Int32 {
    precondition(!path.isRoot, "openBeneath needs a path below the directory")
    if directory < 0 { throw SystemError(call: "openBeneath", path: path.description, errno: EBADF) }
    let f = flags | O_CLOEXEC | O_NOFOLLOW
    switch resolver {
    case .openat2:
        return try openat2Beneath(directory, path, flags: f)
    case .componentWalk:
        return try walkBeneath(directory, path, flags: f)
    case .automatic:
        if !openat2Missing.load(ordering: .relaxed) {
            do {
                return try openat2Beneath(directory, path, flags: f)
            } catch where error.errno == ENOSYS {
                openat2Missing.store(true, ordering: .relaxed)
            }
        }
        return try walkBeneath(directory, path, flags: f)
    }
}

/// Opens a directory to resolve beneath later: O_PATH | O_DIRECTORY |
/// O_CLOEXEC (it grants no reading; a symlink in `path` itself is followed:
/// this path is configuration, not a request).
public func openPathDirectory(_ path: String) throws(SystemError) -> Int32 {
    try Files.open(path, cgw_o_path | O_DIRECTORY | O_CLOEXEC)
}

/// Set once openat2 answered ENOSYS.
private let openat2Missing = Atomic<Bool>(false)

private let beneathResolve: UInt64 =
    cgw_resolve_beneath | cgw_resolve_no_symlinks | cgw_resolve_no_magiclinks | cgw_resolve_no_xdev

private func openat2Beneath(_ directory: Int32, _ path: CgroupPath, flags: Int32) throws(SystemError) -> Int32 {
    try Files.open(path, beneath: directory, flags, resolve: beneathResolve)
}

/// Every intermediate component opened with O_PATH | O_NOFOLLOW |
/// O_DIRECTORY, the last with `flags`, each checked with `statx`: a symlink
/// is ELOOP, another mount than `directory`'s is EXDEV.
private func walkBeneath(_ directory: Int32, _ path: CgroupPath, flags: Int32) throws(SystemError) -> Int32 {
    func fail(_ call: String, _ e: Int32) -> SystemError { SystemError(call: call, path: path.description, errno: e) }
    let root = try Files.identity(directory, path: path.description)
    if !root.isDirectory { throw fail("openBeneath", ENOTDIR) }
    var current = directory   // not ours to close while it is `directory`
    defer { if current != directory { Files.close(current) } }
    let names = path.names
    for (i, name) in names.enumerated() {
        let isLast = i == names.count - 1
        let f = isLast ? flags : (cgw_o_path | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC)
        let fd: Int32
        do {
            fd = try Files.open(name, in: current, f)
        } catch {
            // O_DIRECTORY on a symlink says ENOTDIR: openat2 says ELOOP there.
            if error.errno == ENOTDIR && !isLast && isSymlink(current, name) { throw fail("openat", ELOOP) }
            throw fail("openat", error.errno)
        }
        let id: FileIdentity
        do { id = try Files.identity(fd, path: path.description) } catch { Files.close(fd); throw error }
        var e: Int32 = 0
        if id.isSymlink { e = ELOOP } else if !id.isOnSameMount(as: root) { e = EXDEV } else if !isLast && !id.isDirectory { e = ENOTDIR }
        if e != 0 {
            Files.close(fd)
            throw fail("openBeneath", e)
        }
        if isLast { return fd }
        if current != directory { Files.close(current) }
        current = fd
    }
    preconditionFailure("a path below the root has a component")
}

extension FileIdentity {
    /// Mount IDs where the kernel has them (exact, bind mounts included);
    /// else `st_dev` of directories only: overlayfs reports the lower or
    /// upper layer's `st_dev` for files (a false EXDEV), and a mount point is
    /// almost always a directory.
    func isOnSameMount(as root: FileIdentity) -> Bool {
        if let mine = mountID, let theirs = root.mountID { return mine == theirs }
        return !isDirectory || device == root.device
    }
}

private func isSymlink(_ directory: Int32, _ name: CgroupName) -> Bool {
    (try? Files.status(of: name, in: directory))?.isSymlink ?? false
}
