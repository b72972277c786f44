import CGWardenCore
import CGWardenIO
import CGWardenSystem

/// The one source of snapshots for the policy: `explain`, `record` and the
/// daemon take them the same way. The node figures from /proc, then the tree
/// through a `Sampler` (descriptors kept open between samples), at the time
/// of the injected clock.
public final class SnapshotSource {
    public let sampler: Sampler
    public let proc: ProcReader
    public let clock: Clock
    public let fields: SnapshotFields
    /// The kubelet's pod log directory, for pod names (nil: none read).
    public let pods: PodLogReader?

    /// What the triggers read at every sample, kept open; the rest is read
    /// open/read/close (a kept-open file pins ~3 KB of kernel memory).
    public static let keptOpen: SnapshotFields = [.usage, .limits, .events, .pressure, .populated]

    public init(root: String, proc: String = "/proc", clock: Clock = SystemClock(),
                fields: SnapshotFields = .policy, fileSystem: FileSystem = LinuxFileSystem(),
                watcher: DirectoryWatcher? = InotifyWatcher(), podLogs: String? = nil) {
        sampler = Sampler(root: root, keepOpen: SnapshotSource.keptOpen, fileSystem: fileSystem, watcher: watcher)
        self.proc = ProcReader(proc: proc, fileSystem: fileSystem)
        self.pods = podLogs.map { PodLogReader(directory: $0, fileSystem: fileSystem) }
        self.clock = clock
        self.fields = fields
    }

    public var root: String { sampler.root }

    /// Why no snapshot could be taken at all (unreadable /proc, or a root gone).
    public struct Failure: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// One snapshot, and what of it could not be read (those fields are nil;
    /// groups that could not be read are named there, never dropped silently;
    /// the pod table's own, in `snapshot.pods.warnings`).
    public func take() throws(Failure) -> (snapshot: Snapshot, walk: WalkResult) {
        let time = clock.now()
        let system: SystemSnapshot
        do { system = try proc.system() } catch { throw Failure(message: error.message) }
        let walk: WalkResult
        do { walk = try sampler.sample(fields: fields) } catch { throw Failure(message: error.message) }
        let names = pods?.read(at: time) ?? .empty
        return (Snapshot(root: sampler.root, time: time, system: system, cgroups: walk.cgroups, pods: names), walk)
    }
}
