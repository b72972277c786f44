#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
import CGWardenSystem

/// Takes repeated snapshots of a hierarchy, as the daemon does every
/// interval: directory and file descriptors stay open between samples and
/// files are re-read with one `pread` each (three times cheaper than
/// open/read/close on cgroupfs; Docs/performance.md).
///
/// Kernel cost: every open control file holds a seq_file buffer of one page
/// in the kernel after its first read, so keeping 13 files of 10,000 groups
/// open pins ~0.5 GiB of kernel memory. `keepOpen` therefore names the
/// fields worth it; the others are read with open/read/close each time.
public final class Sampler {
    public let root: String
    let fs: FileSystem
    let buffer = ReadBuffer()
    public let keepOpen: SnapshotFields
    private var top: Node?
    private var topPath = CgroupPath.root

    /// One cgroup's open descriptors between samples.
    final class Node {
        let name: CgroupName
        /// Made once: a path per group and sample would be an allocation each.
        let path: CgroupPath
        let dir: Int32
        let inode: UInt64
        /// Kept-open descriptors by `CgroupFile.index`, -1 where none. A
        /// buffer of its own, not an array property: read for every file of
        /// every sample, an array in a class pays a dynamic exclusivity check
        /// per access.
        let files: UnsafeMutableBufferPointer<Int32> = {
            let b = UnsafeMutableBufferPointer<Int32>.allocate(capacity: CgroupFile.allCases.count)
            b.initialize(repeating: -1)
            return b
        }()
        /// Files this live group does not have (the root's cgroup.events,
        /// memory.peak before 5.19): not probed again while the memory
        /// controller setting stays the same.
        var absent: Set<CgroupFile> = []
        var memoryEnabled: Bool?
        var subtreeControl: Int32?
        var children: [CgroupName: Node] = [:]
        /// `children` by name, as the last listing left them.
        var ordered: [Node] = []
        /// The inotify watch on this directory, once listed.
        var watch: Int32?
        /// Listed since the watch last reported a change.
        var listed = false

        init(name: CgroupName, path: CgroupPath, dir: Int32, inode: UInt64) {
            self.name = name
            self.path = path
            self.dir = dir
            self.inode = inode
        }

        deinit { files.deallocate() }
    }

    let watcher: DirectoryWatcher?
    private var watched: [Int32: Node] = [:]
    /// The groups held, by id: a group's files read between samples.
    private var byID: [UInt64: Node] = [:]

    /// `watcher`: which directories to list again (default inotify); nil
    /// lists every directory at every sample.
    public init(root: String, keepOpen: SnapshotFields = .all, fileSystem: FileSystem = LinuxFileSystem(),
                watcher: DirectoryWatcher? = InotifyWatcher()) {
        self.root = root
        self.keepOpen = keepOpen
        self.fs = fileSystem
        self.watcher = watcher
    }

    deinit { if let top { close(top) } }

    /// Descriptors currently held (directories and files).
    public var openDescriptors: Int {
        var total = 0
        var stack = top.map { [$0] } ?? []
        while let n = stack.popLast() {
            total += 1 + n.files.filter { $0 >= 0 }.count + (n.subtreeControl == nil ? 0 : 1)
            stack += n.children.values
        }
        return total
    }

    /// One snapshot of `subtree`; same result as `Walker.walk`, cheaper when repeated.
    public func sample(subtree: CgroupPath = .root, maxDepth: Int? = nil,
                       fields: SnapshotFields) throws(WalkError) -> WalkResult {
        var result = WalkResult(cgroups: [], problems: [], vanished: [])
        result.cgroups.reserveCapacity(lastCount)
        if top == nil || topPath != subtree {
            if let top { close(top) }
            top = nil
            let (fd, inode, memory) = try openSubtree(subtree, root: root, fs: fs, buffer: buffer)
            top = Node(name: subtree.name ?? CgroupName(""), path: subtree, dir: fd, inode: inode)
            byID[inode] = top
            topPath = subtree
            topMemory = memory
        }
        if let watcher {
            let (changed, all) = watcher.changes()
            if all {
                for n in watched.values { n.listed = false }
            } else {
                for w in changed { watched[w]?.listed = false }
            }
        }
        visit(top!, memoryEnabled: topMemory, maxDepth: maxDepth, fields: fields, into: &result)
        if result.vanished.first == subtree, let t = top {
            close(t)
            top = nil
        }
        lastCount = result.cgroups.count
        return result
    }

    /// A group's own `memory.events.local`, read now through the descriptors
    /// the sampler holds (`read`; a group that just emptied, before it is removed):
    /// nil when the group is not one of the last sample, is gone, has no
    /// such file (no memory controller, before 5.2), or the file did not parse.
    public func eventsLocal(of id: UInt64) -> MemoryEvents? {
        read(.eventsLocal, of: id) { try Parse.memoryEvents($0, file: CgroupFile.eventsLocal.name) }
    }

    /// One file of a group of the last sample, read now through the
    /// descriptor the sampler keeps open for it (or its directory) and
    /// parsed: nil when the group is not one of the last sample, is gone,
    /// or the file is absent or did not parse. What the daemon reads of
    /// the groups near a threshold between two snapshots.
    public func read<T>(_ file: CgroupFile, of id: UInt64, _ parse: (Bytes) throws -> T) -> T? {
        guard let node = byID[id] else { return nil }
        let fd = node.files[file.index]
        guard let bytes = fd >= 0 ? try? buffer.read(fd, fs: fs) : try? buffer.readFile(file.name, in: node.dir, fs: fs) else {
            return nil
        }
        return try? parse(bytes)
    }

    private var topMemory = false
    private var lastCount = 0

    /// Closes `n` and everything below it, without recursion (a chain of
    /// nodes thousands deep must not exhaust the stack, here or in deinit).
    private func close(_ n: Node) {
        var stack = [n]
        while let node = stack.popLast() {
            stack += node.children.values
            if let w = node.watch {
                watcher?.unwatch(w)
                watched[w] = nil
                node.watch = nil
            }
            if byID[node.inode] === node { byID[node.inode] = nil }
            for fd in node.files where fd >= 0 { fs.close(fd) }
            if let s = node.subtreeControl { fs.close(s) }
            node.subtreeControl = nil
            fs.close(node.dir)
            node.children = [:]
            node.ordered = []
            node.listed = false
            node.files.update(repeating: -1)
        }
    }

    /// A group whose children are being visited.
    private struct Level {
        var node: Node
        var next = 0
        var childMemory: Bool
    }

    /// Pre-order over the kept tree, without recursion: the same order and
    /// result as `Walker.walk`, at any depth.
    private func visit(_ top: Node, memoryEnabled: Bool, maxDepth: Int?,
                       fields: SnapshotFields, into result: inout WalkResult) {
        guard read(top, memoryEnabled: memoryEnabled, fields: fields, into: &result) else { return }
        var levels: [Level] = []
        if maxDepth.map({ $0 > 0 }) ?? true, let level = enter(top, into: &result) { levels.append(level) }
        while !levels.isEmpty {
            let k = levels.count - 1
            let node = levels[k].node
            guard levels[k].next < node.ordered.count else {
                levels.removeLast()
                continue
            }
            let child = node.ordered[levels[k].next]
            levels[k].next += 1
            guard read(child, memoryEnabled: levels[k].childMemory, fields: fields, into: &result) else {
                close(child)
                node.children[child.name] = nil
                node.ordered.removeAll { $0 === child }
                levels[k].next -= 1
                continue
            }
            if maxDepth.map({ levels.count < $0 }) ?? true, let level = enter(child, into: &result) {
                levels.append(level)
            }
        }
    }

    /// Reads one group; false when it vanished.
    private func read(_ node: Node, memoryEnabled: Bool, fields: SnapshotFields, into result: inout WalkResult) -> Bool {
        if node.memoryEnabled != memoryEnabled {
            // Enabling the controller creates memory.* files; disabling removes them.
            for f in CgroupFile.allCases where f.needsMemoryController && node.files[f.index] >= 0 {
                fs.close(node.files[f.index])
                node.files[f.index] = -1
            }
            node.absent = []
            node.memoryEnabled = memoryEnabled
        }
        var access = KeptOpenAccess(node: node, fs: fs, buffer: buffer, keepOpen: keepOpen)
        do {
            result.cgroups.append(try GroupReader.read(path: node.path, id: node.inode, memoryEnabled: memoryEnabled,
                                                       fields: fields, access: &access, problems: &result.problems))
            return true
        } catch {
            result.vanished.append(node.path)
            return false
        }
    }

    /// The level to visit below `node`, after listing it again where it
    /// changed; nil for a leaf, a cut or a group gone.
    private func enter(_ node: Node, into result: inout WalkResult) -> Level? {
        if !node.listed {
            guard relist(node, into: &result) else { return nil }
        }
        if node.ordered.isEmpty { return nil }
        return Level(node: node, childMemory: subtreeHasMemory(node))
    }

    /// Lists a directory again: opens new children, forgets removed or
    /// re-created ones. False when the directory itself is gone.
    private func relist(_ node: Node, into result: inout WalkResult) -> Bool {
        // Watch first, list second: a child made in between is then both
        // listed now and reported next time, never missed.
        if node.watch == nil, let watcher, let w = watcher.watch(node.dir) {
            node.watch = w
            watched[w] = node
        }
        let entries: [DirectoryEntry]
        do { entries = try fs.subdirectories(node.dir) } catch {
            if !error.isVanished {
                result.problems.append(CgroupReadError(cgroup: node.path, kind: .system(error.at(node.path.description))))
            }
            return false
        }
        let longest = entries.reduce(0) { max($0, $1.name.bytes.count) }
        if !entries.isEmpty && node.path.bytes.count + 1 + longest > WalkLimits.maxPathBytes {
            // Children's paths would pass the bound: none is kept (WalkLimits).
            for c in node.children.values { close(c) }
            node.children = [:]
            node.ordered = []
            result.cut.append(node.path)
            return true
        }
        // Without a watch (inotify refused) the directory is listed every time.
        node.listed = node.watch != nil
        if entries.isEmpty && node.children.isEmpty { return true }
        if !node.children.isEmpty {
            let current = Dictionary(entries.map { ($0.name, $0.inode) }, uniquingKeysWith: { a, _ in a })
            for (name, child) in node.children where current[name] != child.inode {
                close(child)
                node.children[name] = nil
            }
        }
        for entry in entries where node.children[entry.name] == nil {
            let childPath = node.path.appending(entry.name)
            let fd: Int32
            do {
                fd = try fs.openDirectory(entry.name, in: node.dir)
            } catch {
                if error.isVanished {
                    result.vanished.append(childPath)
                } else if error.errno != ENOTDIR {
                    // Out of descriptors, or refused: said, and tried again next time.
                    result.problems.append(CgroupReadError(cgroup: childPath, kind: .unread(error.at(childPath.description))))
                    node.listed = false
                }
                continue
            }
            let inode: UInt64
            do {
                inode = try fs.status(fd).inode
            } catch {
                result.problems.append(CgroupReadError(cgroup: childPath, kind: .unread(error.at(childPath.description))))
                node.listed = false
                fs.close(fd)
                continue
            }
            let child = Node(name: entry.name, path: childPath, dir: fd, inode: inode)
            node.children[entry.name] = child
            byID[inode] = child
        }
        node.ordered = node.children.values.sorted { $0.name.bytes.lexicographicallyPrecedes($1.name.bytes) }
        return true
    }

    private func subtreeHasMemory(_ node: Node) -> Bool {
        if node.subtreeControl == nil {
            node.subtreeControl = try? fs.openFile(CgroupFile.subtreeControl.name, in: node.dir)
        }
        guard let fd = node.subtreeControl, let bytes = try? buffer.read(fd, fs: fs),
              let has = try? Parse.listsController(bytes, "memory", file: CgroupFile.subtreeControl.name) else { return false }
        return has
    }
}

/// Kept-open descriptors, re-read with pread; files outside `keepOpen` (and
/// any file once the descriptor table is full) are read open/read/close.
struct KeptOpenAccess: GroupFileAccess {
    let node: Sampler.Node
    let fs: FileSystem
    let buffer: ReadBuffer
    let keepOpen: SnapshotFields

    mutating func contents(of file: CgroupFile) throws(SystemError) -> Bytes? {
        let fd = node.files[file.index]
        if fd >= 0 { return try buffer.read(fd, fs: fs) }
        if node.absent.contains(file) { return nil }
        guard !keepOpen.isDisjoint(with: file.field) else {
            return try buffer.readFile(file.name, in: node.dir, fs: fs)
        }
        let opened: Int32
        do {
            opened = try fs.openFile(file.name, in: node.dir)
        } catch where error.errno == EMFILE || error.errno == ENFILE {
            return try buffer.readFile(file.name, in: node.dir, fs: fs)
        }
        node.files[file.index] = opened
        return try buffer.read(opened, fs: fs)
    }

    mutating func groupExists() -> Bool {
        guard let fd = try? fs.openFile(CgroupFile.procs.name, in: node.dir) else { return false }
        fs.close(fd)
        return true
    }

    mutating func markAbsent(_ file: CgroupFile) { node.absent.insert(file) }

    mutating func attributes() throws(SystemError) -> CgroupAttributes {
        try Self.readAttributes(dir: node.dir, fs: fs)
    }
}
