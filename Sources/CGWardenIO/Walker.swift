#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore

/// What a walk found.
public struct WalkResult: Sendable {
    /// Pre-order, siblings by name.
    public var cgroups: [CgroupSnapshot]
    /// Files that could not be read or parsed (their fields are nil).
    public var problems: [CgroupReadError]
    /// Groups that disappeared while being read: skipped, as is normal on a
    /// node where pods come and go. For debug output only.
    public var vanished: [CgroupPath]
}

/// Why a walk could not start.
public struct WalkError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Walks a cgroup v2 hierarchy from a root directory, relative to directory
/// descriptors, reading only the fields asked for.
///
/// A walk never fails because a cgroup disappeared during it: that group (and
/// its subtree) is left out. Only an unusable root fails a walk.
public final class Walker {
    /// The directory walked: `/sys/fs/cgroup` or a fixture tree.
    public let root: String
    let fs: FileSystem
    let buffer = ReadBuffer()

    /// Deepest nesting followed. Each level keeps one directory descriptor
    /// open while its subtree is read; 256 stays far below the default
    /// RLIMIT_NOFILE of 1024 (the kernel's own default `cgroup.max.depth` is unlimited).
    public static let maxNesting = 256

    public init(root: String, fileSystem: FileSystem = LinuxFileSystem()) {
        self.root = root
        self.fs = fileSystem
    }

    /// Reads `subtree` (default: the whole root) down to `maxDepth` levels
    /// below it (nil: all).
    public func walk(subtree: CgroupPath = .root, maxDepth: Int? = nil,
                     fields: SnapshotFields) throws(WalkError) -> WalkResult {
        var result = WalkResult(cgroups: [], problems: [], vanished: [])
        let (fd, id, memoryEnabled) = try openSubtree(subtree, root: root, fs: fs, buffer: buffer)
        defer { fs.close(fd) }
        let path = subtree
        visit(fd, path: path, id: id, memoryEnabled: memoryEnabled, depth: 0,
              maxDepth: min(maxDepth ?? Walker.maxNesting, Walker.maxNesting), fields: fields, into: &result)
        return result
    }

    private func visit(_ dir: Int32, path: CgroupPath, id: UInt64, memoryEnabled: Bool, depth: Int,
                       maxDepth: Int, fields: SnapshotFields, into result: inout WalkResult) {
        var access = OneShotAccess(dir: dir, fs: fs, buffer: buffer)
        do {
            let g = try GroupReader.read(path: path, id: id, memoryEnabled: memoryEnabled, fields: fields,
                                         access: &access, problems: &result.problems)
            result.cgroups.append(g)
        } catch {
            result.vanished.append(path)
            return
        }
        guard depth < maxDepth else { return }

        let entries: [DirectoryEntry]
        do {
            entries = try fs.subdirectories(dir)
        } catch {
            if !error.isVanished {
                result.problems.append(CgroupReadError(cgroup: path, kind: .system(error.at(path.description))))
            }
            return
        }
        let children = entries.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        guard !children.isEmpty else { return }
        let childMemory = subtreeControlHasMemory(dir)
        for entry in children {
            let childPath = path.appending(entry.name)
            let fd: Int32
            do {
                fd = try fs.openDirectory(entry.name, in: dir)
            } catch {
                // Removed since the listing (ENOENT), or not a directory after all.
                if error.isVanished { result.vanished.append(childPath) }
                continue
            }
            defer { fs.close(fd) }
            // The inode of what was opened, not of what was listed: the group
            // may have been removed and re-created in between.
            guard let childID = try? fs.status(fd).inode else { continue }
            visit(fd, path: childPath, id: childID, memoryEnabled: childMemory, depth: depth + 1,
                  maxDepth: maxDepth, fields: fields, into: &result)
        }
    }

    private func subtreeControlHasMemory(_ dir: Int32) -> Bool {
        CGWardenIO.subtreeControlHasMemory(dir, fs: fs, buffer: buffer)
    }
}

/// Whether children of `dir` have the memory controller.
func subtreeControlHasMemory(_ dir: Int32, fs: FileSystem, buffer: ReadBuffer) -> Bool {
    guard let bytes = try? buffer.readFile(CgroupFile.subtreeControl.name, in: dir, fs: fs),
          let list = try? Parse.controllers(bytes, file: CgroupFile.subtreeControl.name) else { return false }
    return list.contains("memory")
}

/// Opens `subtree` below `root`, one level at a time (never through a
/// symlink): its directory descriptor (the caller closes it), its id, and
/// whether it has the memory controller (its parent's `subtree_control`; for
/// the walked root itself, whether it has `memory.current`).
func openSubtree(_ subtree: CgroupPath, root: String, fs: FileSystem,
                 buffer: ReadBuffer) throws(WalkError) -> (fd: Int32, id: UInt64, memory: Bool) {
    var fd: Int32
    do {
        fd = try fs.openDirectory(root, in: nil)
    } catch {
        throw WalkError(message: "cannot open cgroup root \(error.at(root))")
    }
    var memory = (try? fs.openFile(CgroupFile.current.name, in: fd)).map { fs.close($0); return true } ?? false
    var path = CgroupPath.root
    for name in subtree.components {
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
