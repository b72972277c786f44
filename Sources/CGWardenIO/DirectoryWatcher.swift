#if canImport(Glibc)
import Glibc
#endif
import CGWardenSystem

/// Tells which directories gained or lost entries since the last look, so
/// that repeated snapshots list only those (a cgroup directory lists ~50
/// control files per child; listing all of them every interval costs as
/// much as reading a quarter of the group's files).
public protocol DirectoryWatcher: AnyObject {
    /// Starts watching the directory open at `dir`; nil when the kernel
    /// refuses (e.g. `fs.inotify.max_user_watches` reached): that directory
    /// is then simply listed every time.
    func watch(_ dir: Int32) -> Int32?
    func unwatch(_ watch: Int32)
    /// The watches that saw a child created, removed or renamed since the
    /// last call; `all` when events were lost (queue overflow).
    func changes() -> (watches: Set<Int32>, all: Bool)
}

/// inotify(7) on the directories: `IN_CREATE | IN_DELETE | IN_MOVED_*` fire on
/// cgroupfs for `mkdir`/`rmdir` of child groups (checked on the test kernel).
public final class InotifyWatcher: DirectoryWatcher {
    private let inotify: Inotify

    /// nil when inotify is unavailable.
    public init?() {
        guard let i = try? Inotify() else { return nil }
        inotify = i
    }

    static let events = UInt32(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)

    public func watch(_ dir: Int32) -> Int32? {
        // inotify takes a path; the descriptor's magic link names exactly the
        // directory already open, whatever happened to its path since.
        try? inotify.add("/proc/self/fd/\(dir)", mask: InotifyWatcher.events | UInt32(IN_ONLYDIR))
    }

    public func unwatch(_ watch: Int32) {
        inotify.remove(watch)
    }

    public func changes() -> (watches: Set<Int32>, all: Bool) {
        var changed = Set<Int32>()
        var all = false
        inotify.drain(bufferSize: 64 * 1024) { watch, mask in
            if mask & UInt32(IN_Q_OVERFLOW) != 0 { all = true }
            if mask & InotifyWatcher.events != 0 { changed.insert(watch) }
        }
        return (changed, all)
    }
}
