#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSystem

/// What a walk found.
public struct WalkResult: Sendable {
    /// Pre-order, siblings by name.
    public var cgroups: [CgroupSnapshot]
    /// Files that could not be read or parsed (their fields are nil), and
    /// groups that could not be read at all: never silently left out.
    public var problems: [CgroupReadError]
    /// Groups that disappeared while being read: skipped, as is normal on a
    /// node where pods come and go. For debug output only.
    public var vanished: [CgroupPath]
    /// Groups whose children are not listed because their paths would be
    /// longer than `WalkLimits.maxPathBytes` (their usage still counts in
    /// these groups, and a kill of one takes all below it).
    public var cut: [CgroupPath] = []

    public init(cgroups: [CgroupSnapshot] = [], problems: [CgroupReadError] = [], vanished: [CgroupPath] = []) {
        self.cgroups = cgroups
        self.problems = problems
        self.vanished = vanished
    }
}

/// Why a walk could not start.
public struct WalkError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The one bound of a snapshot walk.
public enum WalkLimits {
    /// Groups are listed down to paths of PATH_MAX - 1 bytes: an operator
    /// cannot name a longer one (nor can one `openat`), and a tenant who
    /// nests deeper gains nothing by it: its groups' memory counts in their
    /// ancestors, which are listed, and a kill of an ancestor takes the whole
    /// subtree (the helper's own walk of it, for protected groups, has no
    /// bound). Without the bound a chain of n groups would cost O(n²) bytes
    /// of paths. The depth itself is unbounded: no recursion, no descriptor
    /// per level.
    public static let maxPathBytes = PathText.maxLength
}

/// Walks a cgroup v2 hierarchy from a root directory, relative to directory
/// descriptors, reading only the fields asked for.
///
/// A walk never fails because a cgroup disappeared during it: that group (and
/// its subtree) is left out. Only an unusable root fails a walk.
///
/// Depth costs neither stack nor descriptors: the walk keeps one descriptor
/// of the group it is in, goes down into a child with `openat(name)` and
/// back up with `openat("..")` (checked by inode; a cgroup cannot be moved
/// to another parent, and `..` of a removed one still leads to its parent).
public final class Walker {
    /// The directory walked: `/sys/fs/cgroup` or a fixture tree.
    public let root: String
    let fs: FileSystem
    let buffer = ReadBuffer()

    public init(root: String, fileSystem: FileSystem = LinuxFileSystem()) {
        self.root = root
        self.fs = fileSystem
    }

    /// A group whose children are being visited.
    private struct Level {
        var path: CgroupPath
        var inode: UInt64
        var children: [DirectoryEntry]
        var next = 0
        var childMemory: Bool
    }

    /// Reads `subtree` (default: the whole root) down to `maxDepth` levels
    /// below it (nil: all).
    public func walk(subtree: CgroupPath = .root, maxDepth: Int? = nil,
                     fields: SnapshotFields) throws(WalkError) -> WalkResult {
        var result = WalkResult()
        let (topFD, topID, topMemory) = try openSubtree(subtree, root: root, fs: fs, buffer: buffer)
        var current = topFD
        defer { fs.close(current) }
        guard read(current, path: subtree, id: topID, memory: topMemory, fields: fields, into: &result) else {
            return result
        }
        var levels: [Level] = []
        if maxDepth.map({ $0 > 0 }) ?? true, let level = list(current, path: subtree, inode: topID, into: &result) {
            levels.append(level)
        }
        while !levels.isEmpty {
            let k = levels.count - 1
            guard levels[k].next < levels[k].children.count else {
                levels.removeLast()
                guard let up = levels.last else { break }
                // Back up one level.
                do throws(SystemError) {
                    let parent = try fs.openDirectory(CgroupName(".."), in: current)
                    let ok = (try? fs.status(parent).inode) == up.inode
                    fs.close(current)
                    current = parent
                    if !ok { throw SystemError(call: "openat ..", path: "", errno: ESTALE) }
                } catch {
                    result.problems.append(CgroupReadError(cgroup: up.path, kind: .system(error.at(up.path.description))))
                    return result
                }
                continue
            }
            let entry = levels[k].children[levels[k].next]
            levels[k].next += 1
            let path = levels[k].path.appending(entry.name)
            let fd: Int32
            do {
                fd = try fs.openDirectory(entry.name, in: current)
            } catch {
                // Removed since the listing (ENOENT), or not a directory after all.
                if error.isVanished { result.vanished.append(path) } else if error.errno != ENOTDIR {
                    result.problems.append(CgroupReadError(cgroup: path, kind: .unread(error.at(path.description))))
                }
                continue
            }
            // The inode of what was opened, not of what was listed: the group
            // may have been removed and re-created in between.
            let id: UInt64
            do {
                id = try fs.status(fd).inode
            } catch {
                result.problems.append(CgroupReadError(cgroup: path, kind: .unread(error.at(path.description))))
                fs.close(fd)
                continue
            }
            guard read(fd, path: path, id: id, memory: levels[k].childMemory, fields: fields, into: &result) else {
                fs.close(fd)
                continue
            }
            let depth = levels.count
            guard maxDepth.map({ depth < $0 }) ?? true, let level = list(fd, path: path, inode: id, into: &result) else {
                fs.close(fd)
                continue
            }
            // Down one level: only the deepest group's descriptor stays open.
            fs.close(current)
            current = fd
            levels.append(level)
        }
        return result
    }

    /// Reads one group into the result; false when it vanished.
    private func read(_ dir: Int32, path: CgroupPath, id: UInt64, memory: Bool, fields: SnapshotFields,
                      into result: inout WalkResult) -> Bool {
        var access = OneShotAccess(dir: dir, fs: fs, buffer: buffer)
        do {
            result.cgroups.append(try GroupReader.read(path: path, id: id, memoryEnabled: memory, fields: fields,
                                                       access: &access, problems: &result.problems))
            return true
        } catch {
            result.vanished.append(path)
            return false
        }
    }

    /// The children of a group, by name; nil when it has none to visit.
    private func list(_ dir: Int32, path: CgroupPath, inode: UInt64, into result: inout WalkResult) -> Level? {
        let entries: [DirectoryEntry]
        do {
            entries = try fs.subdirectories(dir)
        } catch {
            if !error.isVanished {
                result.problems.append(CgroupReadError(cgroup: path, kind: .system(error.at(path.description))))
            }
            return nil
        }
        guard !entries.isEmpty else { return nil }
        // A child's path is this path, a slash and its name.
        let longest = entries.reduce(0) { max($0, $1.name.bytes.count) }
        if path.bytes.count + 1 + longest > WalkLimits.maxPathBytes {
            result.cut.append(path)
            return nil
        }
        let children = entries.sorted { $0.name.bytes.lexicographicallyPrecedes($1.name.bytes) }
        return Level(path: path, inode: inode, children: children, childMemory: subtreeControlHasMemory(dir, fs: fs, buffer: buffer))
    }
}

/// Whether children of `dir` have the memory controller.
func subtreeControlHasMemory(_ dir: Int32, fs: FileSystem, buffer: ReadBuffer) -> Bool {
    guard let bytes = try? buffer.readFile(CgroupFile.subtreeControl.name, in: dir, fs: fs),
          let has = try? Parse.listsController(bytes, "memory", file: CgroupFile.subtreeControl.name) else { return false }
    return has
}

/// Opens `subtree` below `root`, one level at a time (never through a
/// symlink): its directory descriptor (the caller closes it), its id, and
/// whether it has the memory controller (its parent's `subtree_control`; for
/// the walked root itself, whether it has `memory.current`).
func openSubtree(_ subtree: CgroupPath, root: String, fs: FileSystem,
                 buffer: ReadBuffer) throws(WalkError) -> (fd: Int32, id: UInt64, memory: Bool) {
    var fd: Int32
    do {
        fd = try fs.openDirectory(path: root)
    } catch {
        throw WalkError(message: "cannot open cgroup root \(error.at(root))")
    }
    var memory = (try? fs.openFile(CgroupFile.current.name, in: fd)).map { fs.close($0); return true } ?? false
    var path = CgroupPath.root
    for name in subtree.names {
        memory = subtreeControlHasMemory(fd, fs: fs, buffer: buffer)
        let child: Int32
        do {
            child = try fs.openDirectory(name, in: fd)
        } catch {
            fs.close(fd)
            throw WalkError(message: "no cgroup \(subtree) below \(root): \(error.at(path.appending(name).description))")
        }
        fs.close(fd)
        fd = child
        path = path.appending(name)
    }
    do {
        return (fd, try fs.status(fd).inode, memory)
    } catch {
        fs.close(fd)
        throw WalkError(message: "cannot stat \(error.at(path.description))")
    }
}

/// open/read/close per file: the cheapest access for a single walk.
struct OneShotAccess: GroupFileAccess {
    let dir: Int32
    let fs: FileSystem
    let buffer: ReadBuffer

    mutating func contents(of file: CgroupFile) throws(SystemError) -> Bytes? {
        try buffer.readFile(file.name, in: dir, fs: fs)
    }

    mutating func markAbsent(_ file: CgroupFile) {}

    mutating func attributes() throws(SystemError) -> CgroupAttributes {
        try Self.readAttributes(dir: dir, fs: fs)
    }

    mutating func groupExists() -> Bool {
        guard let fd = try? fs.openFile(CgroupFile.procs.name, in: dir) else { return false }
        fs.close(fd)
        return true
    }
}
