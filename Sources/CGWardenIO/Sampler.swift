#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore

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
        let name: String
        let dir: Int32
        let inode: UInt64
        var files: [CgroupFile: Int32] = [:]
        /// Files this live group does not have (the root's cgroup.events,
        /// memory.peak before 5.19): not probed again while the memory
        /// controller setting stays the same.
        var absent: Set<CgroupFile> = []
        var memoryEnabled: Bool?
        var subtreeControl: Int32?
        var children: [String: Node] = [:]

        init(name: String, dir: Int32, inode: UInt64) {
            self.name = name
            self.dir = dir
            self.inode = inode
        }
    }

    public init(root: String, keepOpen: SnapshotFields = .all, fileSystem: FileSystem = LinuxFileSystem()) {
        self.root = root
        self.keepOpen = keepOpen
        self.fs = fileSystem
    }

    deinit { if let top { close(top) } }

    /// Descriptors currently held (directories and files).
    public var openDescriptors: Int {
        func count(_ n: Node) -> Int {
            1 + n.files.count + (n.subtreeControl == nil ? 0 : 1) + n.children.values.reduce(0) { $0 + count($1) }
        }
        return top.map(count) ?? 0
    }

    /// One snapshot of `subtree`; same result as `Walker.walk`, cheaper when repeated.
    public func sample(subtree: CgroupPath = .root, maxDepth: Int? = nil,
                       fields: SnapshotFields) throws(WalkError) -> WalkResult {
        var result = WalkResult(cgroups: [], problems: [], vanished: [])
        if top == nil || topPath != subtree {
            if let top { close(top) }
            top = nil
            // The walker opens the top group the same way (no symlinks, clear errors).
            let (fd, memory) = try openTop(subtree)
            let inode: UInt64
            do { inode = try fs.status(fd).inode } catch {
                fs.close(fd)
                throw WalkError(message: "cannot stat \(error.at(subtree.description))")
            }
            top = Node(name: subtree.name, dir: fd, inode: inode)
            topPath = subtree
            topMemory = memory
        }
        visit(top!, path: subtree, memoryEnabled: topMemory, depth: 0,
              maxDepth: min(maxDepth ?? Walker.maxNesting, Walker.maxNesting), fields: fields, into: &result)
        if result.vanished.first == subtree, let t = top {
            close(t)
            top = nil
        }
        return result
    }

    private var topMemory = false

    private func openTop(_ subtree: CgroupPath) throws(WalkError) -> (Int32, Bool) {
        var fd: Int32
        do { fd = try fs.openDirectory(root, in: nil) } catch {
            throw WalkError(message: "cannot open cgroup root \(error.at(root))")
        }
        var memory = (try? fs.openFile(CgroupFile.current.name, in: fd)).map { fs.close($0); return true } ?? false
        var path = CgroupPath.root
        for name in subtree.components {
            memory = (try? buffer.readFile(CgroupFile.subtreeControl.name, in: fd, fs: fs))
                .flatMap { try? Parse.controllers($0) }?.contains("memory") ?? false
            let child: Int32
            do { child = try fs.openDirectory(name, in: fd) } catch {
                fs.close(fd)
                throw WalkError(message: "no cgroup \(subtree) below \(root): \(error.at(path.appending(name).description))")
            }
            fs.close(fd)
            fd = child
            path = path.appending(name)
        }
        return (fd, memory)
    }

    private func close(_ n: Node) {
        for c in n.children.values { close(c) }
        for fd in n.files.values { fs.close(fd) }
        if let s = n.subtreeControl { fs.close(s) }
        fs.close(n.dir)
        n.children = [:]
        n.files = [:]
    }

    private func visit(_ node: Node, path: CgroupPath, memoryEnabled: Bool, depth: Int, maxDepth: Int,
                       fields: SnapshotFields, into result: inout WalkResult) {
        if node.memoryEnabled != memoryEnabled {
            // Enabling the controller creates memory.* files; disabling removes them.
            for f in CgroupFile.allCases where f.name.hasPrefix("memory.") && f != .pressure {
                if let fd = node.files.removeValue(forKey: f) { fs.close(fd) }
            }
            node.absent = []
            node.memoryEnabled = memoryEnabled
        }
        var access = KeptOpenAccess(node: node, fs: fs, buffer: buffer, keepOpen: keepOpen)
        do {
            result.cgroups.append(try GroupReader.read(path: path, id: node.inode, memoryEnabled: memoryEnabled,
                                                       fields: fields, access: &access, problems: &result.problems))
        } catch {
            result.vanished.append(path)
            return
        }
        guard depth < maxDepth else { return }
        let entries: [DirectoryEntry]
        do { entries = try fs.list(node.dir) } catch {
            if !error.isVanished {
                result.problems.append(CgroupReadError(cgroup: path, kind: .system(error.at(path.description))))
            }
            return
        }
        let listed = entries.filter { $0.kind == .directory || $0.kind == .unknown }
        // Forget children that are gone or were re-created under the same name.
        let current = Dictionary(listed.map { ($0.name, $0.inode) }, uniquingKeysWith: { a, _ in a })
        for (name, child) in node.children where current[name] != child.inode {
            close(child)
            node.children[name] = nil
        }
        guard !listed.isEmpty else { return }
        let childMemory = subtreeHasMemory(node)
        for entry in listed.sorted(by: { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }) {
            let childPath = path.appending(entry.name)
            let child: Node
            if let known = node.children[entry.name] {
                child = known
            } else {
                guard let fd = try? fs.openDirectory(entry.name, in: node.dir) else {
                    result.vanished.append(childPath)
                    continue
                }
                guard let inode = try? fs.status(fd).inode else {
                    fs.close(fd)
                    continue
                }
                child = Node(name: entry.name, dir: fd, inode: inode)
                node.children[entry.name] = child
            }
            let before = result.vanished.count
            visit(child, path: childPath, memoryEnabled: childMemory, depth: depth + 1, maxDepth: maxDepth,
                  fields: fields, into: &result)
            if result.vanished.count > before, result.vanished.last == childPath {
                close(child)
                node.children[entry.name] = nil
            }
        }
    }

    private func subtreeHasMemory(_ node: Node) -> Bool {
        if node.subtreeControl == nil {
            node.subtreeControl = try? fs.openFile(CgroupFile.subtreeControl.name, in: node.dir)
        }
        guard let fd = node.subtreeControl, let bytes = try? buffer.read(fd, fs: fs),
              let list = try? Parse.controllers(bytes, file: CgroupFile.subtreeControl.name) else { return false }
        return list.contains("memory")
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
        if let fd = node.files[file] { return try buffer.read(fd, fs: fs) }
        if node.absent.contains(file) { return nil }
        guard !keepOpen.isDisjoint(with: KeptOpenAccess.field(of: file)) else {
            return try buffer.readFile(file.name, in: node.dir, fs: fs)
        }
        let fd: Int32
        do {
            fd = try fs.openFile(file.name, in: node.dir)
        } catch where error.errno == EMFILE || error.errno == ENFILE {
            return try buffer.readFile(file.name, in: node.dir, fs: fs)
        }
        node.files[file] = fd
        return try buffer.read(fd, fs: fs)
    }

    mutating func groupExists() -> Bool {
        guard let fd = try? fs.openFile(CgroupFile.procs.name, in: node.dir) else { return false }
        fs.close(fd)
        return true
    }

    mutating func markAbsent(_ file: CgroupFile) { node.absent.insert(file) }

    static func field(of file: CgroupFile) -> SnapshotFields {
        switch file {
        case .current: return .usage
        case .max, .high, .low, .min: return .limits
        case .peak: return .peak
        case .swapCurrent, .swapMax: return .swap
        case .events: return .events
        case .eventsLocal: return .eventsLocal
        case .pressure: return .pressure
        case .stat: return .stat
        case .cgroupEvents: return .populated
        case .procs: return [.procs, .procCount]
        case .cgroupStat: return .cgroupStat
        case .subtreeControl, .controllers: return []
        }
    }
}
