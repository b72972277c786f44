import CGWardenCore

/// Takes whole snapshots: the node figures from /proc and a walk of the cgroup tree.
public final class Snapshotter {
    public let walker: Walker
    public let proc: ProcReader
    public let clock: Clock

    public init(root: String, proc: String = "/proc", clock: Clock = SystemClock(),
                fileSystem: FileSystem = LinuxFileSystem()) {
        self.walker = Walker(root: root, fileSystem: fileSystem)
        self.proc = ProcReader(proc: proc, fileSystem: fileSystem)
        self.clock = clock
    }

    /// One snapshot; `problems` lists what could not be read (fields left nil).
    public func take(subtree: CgroupPath = .root, maxDepth: Int? = nil,
                     fields: SnapshotFields) throws -> (snapshot: Snapshot, problems: [CgroupReadError]) {
        let time = clock.now()
        let system = try proc.system()
        let walk = try walker.walk(subtree: subtree, maxDepth: maxDepth, fields: fields)
        return (Snapshot(root: walker.root, time: time, system: system, cgroups: walk.cgroups), walk.problems)
    }
}
