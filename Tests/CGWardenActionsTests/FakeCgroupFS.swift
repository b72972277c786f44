#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import CGWardenCore
import CGWardenSystem
import CGWardenIO
@testable import CGWardenActions

/// A clock that moves only when the code under test waits.
final class FakeClock: Clock, Sendable {
    let nanos = Atomic<UInt64>(1_000_000_000)
    func now() -> Timestamp { Timestamp(monotonicNanos: nanos.load(ordering: .relaxed), wallNanos: 0) }
    func advance(milliseconds: Int32) { nanos.add(UInt64(max(milliseconds, 1)) * 1_000_000, ordering: .relaxed) }
    func sleep(until monotonicNanos: UInt64) {
        let now = nanos.load(ordering: .relaxed)
        if monotonicNanos > now { nanos.add(monotonicNanos - now, ordering: .relaxed) }
    }
}

/// An in-memory cgroupfs with the kernel behaviours the kill path relies on:
/// cgroup.kill empties a subtree, cgroup.freeze stops forks, cgroup.events
/// reflects both, symlinks and mount points refuse resolution.
final class FakeCgroupFS: HelperFileSystem {
    enum Kind { case group, symlink, mountPoint, file }

    final class Node {
        var kind: Kind
        var inode: UInt64
        var uid: UInt32 = 0
        var children: [CgroupName: Node] = [:]
        var procs: [Int32] = []
        var memoryCurrent: UInt64? = 0
        var xattrs: [String: [UInt8]] = [:]
        var frozen = false
        var hasKill = true
        var killUnsupported = false
        var hasFreeze = true
        /// Removed as soon as it is empty (systemd's transient units): its
        /// files then read ENODEV.
        var removedWhenEmpty = false
        var removed = false
        /// Processes that survive cgroup.kill (stuck in D state, say).
        var ignoresKill = false
        /// Each listing of cgroup.procs while not frozen lets one more child
        /// in after the list was taken, this many times.
        var forkBudget = 0
        var nextPid: Int32 = 50_000
        weak var parent: Node?

        init(_ kind: Kind, inode: UInt64) {
            self.kind = kind
            self.inode = inode
        }

        /// Without recursion: chains 100,000 deep are part of the tests.
        var subtree: [Node] {
            var out: [Node] = []
            var stack = [self]
            while let n = stack.popLast() {
                out.append(n)
                stack += n.children.values.filter { $0.kind == .group }
            }
            return out
        }
        var populated: Bool { subtree.contains { !$0.procs.isEmpty } }
    }

    let clock: FakeClock
    let root: Node
    private var nextInode: UInt64 = 1000
    private var fds: [Int32: (node: Node, file: String?)] = [:]
    private var nextFD: Int32 = 100
    var writes: [(file: String, value: String)] = []
    var signalled: [Int32] = []

    init(clock: FakeClock) {
        self.clock = clock
        root = Node(.group, inode: 1)
        root.memoryCurrent = nil
        root.hasKill = false
        root.hasFreeze = false
    }

    var openDescriptors: Int { fds.count }

    /// Adds a group (parents must exist) and returns it.
    @discardableResult
    func add(_ path: String, _ kind: Kind = .group, procs: [Int32] = [], memory: UInt64? = 0) -> Node {
        add(CgroupPath(path)!, kind, procs: procs, memory: memory)
    }

    @discardableResult
    func add(_ p: CgroupPath, _ kind: Kind = .group, procs: [Int32] = [], memory: UInt64? = 0) -> Node {
        var parent = root
        for c in p.names.dropLast() { parent = parent.children[c]! }
        return add(p.name!, to: parent, kind, procs: procs, memory: memory)
    }

    /// Adds a child to `parent` directly (deep chains without a path each).
    @discardableResult
    func add(_ name: CgroupName, to parent: Node, _ kind: Kind = .group, procs: [Int32] = [], memory: UInt64? = 0) -> Node {
        nextInode += 1
        let n = Node(kind, inode: nextInode)
        n.procs = procs
        n.memoryCurrent = memory
        n.parent = parent
        parent.children[name] = n
        return n
    }

    func node(_ path: String) -> Node { find(path)! }

    func find(_ path: String) -> Node? {
        guard let p = CgroupPath(path) else { return nil }
        var n: Node? = root
        for c in p.names { n = n?.children[c] }
        return n
    }

    func target(_ path: String) -> CgroupTarget { CgroupTarget(path: CgroupPath(path)!, id: node(path).inode) }

    /// The deepest open descriptors at once: a walk must not hold one per level.
    private(set) var mostOpen = 0

    private func fd(for node: Node, file: String? = nil) -> Int32 {
        nextFD += 1
        fds[nextFD] = (node, file)
        mostOpen = max(mostOpen, fds.count)
        return nextFD
    }

    private func lookup(_ fd: Int32) throws(SystemError) -> (node: Node, file: String?) {
        guard let e = fds[fd] else { throw SystemError(call: "fake", path: "", errno: EBADF) }
        return e
    }

    // MARK: HelperFileSystem

    func openGroup(_ path: CgroupPath, beneath root: Int32) throws(SystemError) -> Int32 {
        var n = try lookup(root).node
        let names = path.names
        for (i, c) in names.enumerated() {
            guard let next = n.children[c] else { throw SystemError(call: "openat2", path: path.description, errno: ENOENT) }
            switch next.kind {
            case .symlink: throw SystemError(call: "openat2", path: path.description, errno: ELOOP)
            case .mountPoint: throw SystemError(call: "openat2", path: path.description, errno: EXDEV)
            case .file where i < names.count - 1: throw SystemError(call: "openat2", path: path.description, errno: ENOTDIR)
            default: n = next
            }
        }
        return fd(for: n)
    }

    func openFile(_ name: String, in dir: Int32, forWriting: Bool) throws(SystemError) -> Int32 {
        let n = try lookup(dir).node
        let exists: Bool
        switch name {
        case "cgroup.events", "cgroup.procs", "cgroup.threads": exists = true
        case "cgroup.kill": exists = n.hasKill
        case "cgroup.freeze": exists = n.hasFreeze
        case "memory.current": exists = n.memoryCurrent != nil
        default: exists = false
        }
        guard exists else { throw SystemError(call: "openat", path: name, errno: ENOENT) }
        return fd(for: n, file: name)
    }

    func openParent(_ dir: Int32) throws(SystemError) -> Int32 {
        let n = try lookup(dir).node
        return fd(for: n.parent ?? n)
    }

    func openSubgroup(_ name: CgroupName, in dir: Int32) throws(SystemError) -> Int32 {
        guard let c = try lookup(dir).node.children[name] else { throw SystemError(call: "openat", path: name.description, errno: ENOENT) }
        switch c.kind {
        case .group: return fd(for: c)
        case .mountPoint: throw SystemError(call: "openat2", path: name.description, errno: EXDEV)
        default: throw SystemError(call: "openat2", path: name.description, errno: ENOTDIR)
        }
    }

    func subgroupNames(_ dir: Int32) throws(SystemError) -> [CgroupName] {
        try lookup(dir).node.children.filter { $0.value.kind == .group || $0.value.kind == .mountPoint }.keys
            .sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
    }

    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        let (n, file) = try lookup(fd)
        if n.removed { throw SystemError(call: "read", path: file ?? "", errno: ENODEV) }
        let text: String
        switch file {
        case "cgroup.events": text = "populated \(n.populated ? 1 : 0)\nfrozen \(n.frozen ? 1 : 0)\n"
        case "cgroup.procs":
            text = n.procs.map { "\($0)\n" }.joined()
            if n.forkBudget > 0 && !n.frozen && !n.procs.isEmpty {
                n.forkBudget -= 1
                n.nextPid += 1
                n.procs.append(n.nextPid)
            }
        case "memory.current": text = "\(n.memoryCurrent ?? 0)\n"
        default: throw SystemError(call: "read", path: file ?? "", errno: EINVAL)
        }
        let b = Array(text.utf8)
        let count = min(b.count, buffer.count)
        b.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        return count
    }

    func write(_ fd: Int32, _ bytes: [UInt8]) throws(SystemError) {
        let (n, file) = try lookup(fd)
        let value = String(decoding: bytes, as: UTF8.self)
        writes.append((file ?? "", value))
        switch (file, value) {
        case ("cgroup.kill", "1"):
            if n.killUnsupported { throw SystemError(call: "write", path: "cgroup.kill", errno: EOPNOTSUPP) }
            for g in n.subtree where !g.ignoresKill {
                g.procs = []
                g.forkBudget = 0
                g.memoryCurrent = g.memoryCurrent.map { _ in 0 }
            }
            if n.removedWhenEmpty && !n.populated { n.removed = true }
        case ("cgroup.freeze", "1"): for g in n.subtree { g.frozen = true }
        case ("cgroup.freeze", "0"): for g in n.subtree { g.frozen = false }
        default: throw SystemError(call: "write", path: file ?? "", errno: EINVAL)
        }
    }

    func status(_ fd: Int32) throws(SystemError) -> FileStatus {
        let (n, file) = try lookup(fd)
        return FileStatus(inode: n.inode, mode: UInt32(file == nil && n.kind != .file ? S_IFDIR : S_IFREG), uid: n.uid, gid: 0)
    }

    func attribute(_ name: String, of fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int? {
        guard let v = try lookup(fd).node.xattrs[name], v.count <= buffer.count else { return nil }
        v.withUnsafeBytes { buffer.copyMemory(from: $0) }
        return v.count
    }

    func waitForChange(_ fd: Int32, milliseconds: Int32) { clock.advance(milliseconds: milliseconds) }

    /// Triggers armed: the group and what was written.
    var armedTriggers: [(node: Node, text: String)] = []

    func armPressure(in dir: Int32, _ spec: PressureTriggerSpec) throws(SystemError) -> Int32 {
        let n = try lookup(dir).node
        guard n.memoryCurrent != nil else { throw SystemError(call: "openat", path: "memory.pressure", errno: ENOENT) }
        armedTriggers.append((n, spec.description))
        return fd(for: n, file: "memory.pressure")
    }

    func close(_ fd: Int32) { fds[fd] = nil }

    /// Opens the root as the helper's root descriptor.
    func rootDescriptor() -> Int32 { fd(for: root) }

    /// pidfds: handle -> pid; the pids whose memory was released early.
    private(set) var handles: [Int32: Int32] = [:]
    private(set) var releasedPIDs: [Int32] = []
    private var nextHandle: Int32 = 9000

    func handle(_ pid: Int32) -> Int32? {
        nextHandle += 1
        handles[nextHandle] = pid
        return nextHandle
    }

    /// Released only once killed (the kernel answers EINVAL for a live process).
    func release(_ handle: Int32) -> Bool {
        guard let pid = handles[handle], !root.subtree.contains(where: { $0.procs.contains(pid) && !$0.ignoresKill }) else { return false }
        releasedPIDs.append(pid)
        return true
    }

    func closeHandle(_ handle: Int32) { handles[handle] = nil }

    /// SIGKILL as the fake kernel sees it: the process leaves its group.
    func sigkill(_ pid: Int32) {
        signalled.append(pid)
        for g in root.subtree where !g.ignoresKill { g.procs.removeAll { $0 == pid } }
    }
}

struct FakeSignaller: ProcessSignaller {
    let fs: FakeCgroupFS
    func sigkill(_ pid: Int32) throws(SystemError) { fs.sigkill(pid) }
    func pidfd(_ pid: Int32) -> Int32? { fs.handle(pid) }
    func releaseMemory(_ pidfd: Int32) -> Bool { fs.release(pidfd) }
    func closeHandle(_ pidfd: Int32) { fs.closeHandle(pidfd) }
}

/// A server over a fake tree.
func fakeServer(_ fs: FakeCgroupFS, own: CgroupPath? = nil, ownState: OwnCgroup? = nil, protected: [String] = [],
                rootIsCgroup2: Bool = true, testHooks: Bool = false, tunables: KillTunables = .standard,
                forbidden: @escaping () -> Void = {}) -> HelperServer {
    let executor = KillExecutor(fs: fs, signaller: FakeSignaller(fs: fs), clock: fs.clock, tunables: tunables)
    let state = ownState ?? own.map { OwnCgroup.at($0, id: fs.find($0.description)?.inode ?? 0) } ?? .outside
    let info = HelperInfo(pid: 4242, seccomp: true, rootIsCgroup2: rootIsCgroup2, testHooks: testHooks, own: state)
    return HelperServer(root: fs.rootDescriptor(), rules: KillRules(protected: protected.map { CgroupPattern($0) }, own: state),
                        info: info, fs: fs, executor: executor, forbidden: forbidden)
}
