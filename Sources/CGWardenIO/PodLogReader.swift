#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGWardenCore
import CGWardenSystem

/// Lists the kubelet's pod log directory (`/var/log/pods`, or `--pod-logs
/// DIR`) for `PodNames`: one open and one `fstat` per snapshot, and a listing
/// only when the directory changed (an entry is added or removed when a pod
/// comes or goes, and that changes the directory's mtime).
public final class PodLogReader {
    public let directory: String
    /// Entries listed at most (`maximumEntries`; smaller in tests).
    public let limit: Int
    let fs: FileSystem

    /// Entries listed at most: a node runs at most a few hundred pods
    /// (kubelet's default max-pods is 110), and the table of 20,000 names is
    /// ~2 MB; a directory with more is cut there, and said so.
    public static let maximumEntries = 20_000
    /// A listing is reused only if it was taken at least this long after the
    /// mtime it saw: a file system keeps mtimes at a coarse grain (a jiffy on
    /// ext4, a second or two on others), so an entry added in the same grain
    /// just after a listing leaves the mtime as it was.
    public static let mtimeGrainNanos: UInt64 = 2_000_000_000

    private var cached: (inode: UInt64, modified: UInt64, listedAt: UInt64, names: PodNames)?
    /// Listings taken (for tests and benchmarks: the cache at work).
    public private(set) var listings = 0

    public init(directory: String = "/var/log/pods", limit: Int = PodLogReader.maximumEntries,
                fileSystem: FileSystem = LinuxFileSystem()) {
        self.directory = directory
        self.limit = max(0, limit)
        self.fs = fileSystem
    }

    /// The table as of `time` (the snapshot's: `wallNanos` is compared with
    /// the directory's mtime). A directory that does not exist is no pods.
    public func read(at time: Timestamp) -> PodNames {
        let fd: Int32
        do {
            fd = try fs.openDirectory(path: directory)
        } catch {
            cached = nil
            if error.errno == ENOENT { return .empty }
            var names = PodNames.empty
            names.directory = directory
            names.problem = "cannot open \(error.at(directory))"
            return names
        }
        defer { fs.close(fd) }
        let status: FileStatus
        do { status = try fs.status(fd) } catch {
            cached = nil
            var names = PodNames.empty
            names.directory = directory
            names.problem = "cannot read \(error.at(directory))"
            return names
        }
        if let c = cached, c.inode == status.inode, c.modified == status.modifiedNanos,
           c.listedAt >= status.modifiedNanos.addingSaturated(PodLogReader.mtimeGrainNanos) {
            return c.names
        }
        let entries: [DirectoryEntry]
        do {
            entries = try fs.subdirectories(fd, limit: limit.addingSaturated(1))
        } catch {
            cached = nil
            var names = PodNames.empty
            names.directory = directory
            names.problem = "cannot list \(error.at(directory))"
            return names
        }
        listings += 1
        var names = PodNames(entries: entries.prefix(limit).lazy.map(\.name.bytes), directory: directory)
        if entries.count > limit { names.truncatedAt = limit }
        cached = (status.inode, status.modifiedNanos, time.wallNanos, names)
        return names
    }
}
